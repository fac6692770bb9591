// Decides access requests with @cloud-copilot/iam-simulate, a second evaluator for the local cloud's.
// stdin: a JSON list of requests {principal, action, resource, account, context, identityPolicies, resourcePolicy};
// stdout: a JSON list, one answer per request, in order:
//   {result, errors, resource, ignoredContextKeys, unvalidatedContextKeys}
// result is Allowed, ExplicitlyDenied or ImplicitlyDenied; null when the simulator refused the input (errors say why).
import { isWildcardOnlyAction, runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate'

// Condition keys AWS evaluates that the simulator's validation drops: it matches a key with a variable part
// only after a '/' (aws:PrincipalTag/x), and kms:EncryptionContext:<key> has none (Service Authorization
// Reference, AWS KMS: kms:EncryptionContext:${EncryptionContextKey}). A request carrying one is decided again
// by the simulator's entry point that takes the context as given.
const UNVALIDATED_KEY = /^kms:encryptioncontext:.+/i

// The unvalidated entry point loads the resource policy without a name, which the simulator then reads: give it
// the policy as iam-policy's ValidatedPolicy (already validated by the first run), which carries one.
function named(policy) {
  return { __validated: true, policyDocument: policy, metadata: { name: 'resource-policy' }, errors: [] }
}

function simulation(request, resource, resourcePolicy = request.resourcePolicy) {
  return {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource, accountId: request.account },
      contextVariables: request.context
    },
    identityPolicies: request.identityPolicies.map((policy, index) => ({ name: `identity-${index}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(resourcePolicy ? { resourcePolicy } : {})
  }
}

async function decide(request) {
  const [service, action] = request.action.split(':')
  // An action that supports no resource type is authorized on "*" (Service Authorization Reference).
  const resource = (await isWildcardOnlyAction(service, action)) ? '*' : request.resource
  const response = await runSimulation(simulation(request, resource), { simulationMode: 'Strict' })
  if (response.resultType === 'error') {
    return { result: null, errors: response.errors, resource, ignoredContextKeys: [], unvalidatedContextKeys: [] }
  }
  const results = response.resultType === 'single' ? [response.result] : response.results
  const ignored = [...new Set(results.flatMap((r) => r.ignoredContextKeys ?? []))]
  const unvalidated = ignored.filter((key) => UNVALIDATED_KEY.test(key))
  if (unvalidated.length > 0 && unvalidated.length === ignored.length) {
    const resourcePolicy = request.resourcePolicy ? named(request.resourcePolicy) : undefined
    const result = runUnsafeSimulation(simulation(request, resource, resourcePolicy), { simulationMode: 'Strict' })
    return { result, errors: null, resource, ignoredContextKeys: [], unvalidatedContextKeys: unvalidated }
  }
  return { result: response.overallResult, errors: null, resource, ignoredContextKeys: ignored, unvalidatedContextKeys: [] }
}

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const requests = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const answers = []
for (const request of requests) answers.push(await decide(request))
process.stdout.write(JSON.stringify(answers))
