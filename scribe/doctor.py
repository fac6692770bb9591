"""`scribe doctor`: is this account and region ready for the pipelines? Read-only checks, each OK or a fix.

The region is the target's: on AWS the one the standard chain gives (AWS_REGION, the profile), which is
the one `cdk deploy` uses; on the local cloud us-east-1. Nothing is created or changed; the one call
that does work is a one-token Converse call with a prompt that holds no patient data, made only once
Bedrock says the account's access to the model is complete (so the doctor never starts a Marketplace
subscription itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from clinical.policy import BEDROCK_TRANSIENT_CODES
from scribe.target import VARIANTS, Deployment, Target

REGIONS = json.loads((Path(__file__).resolve().parent / "regions.json").read_text())
# The CheckBootstrapVersion rule CDK writes into every synthesized template ("CDK bootstrap stack
# version 6 required"), also the manifest's requiresBootstrapStackVersion; a test keeps them in step.
MINIMUM_BOOTSTRAP_VERSION = 6
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
# Lambda refuses a reservation that leaves fewer unreserved executions (Lambda developer guide,
# configuration-concurrency); below it the account is a new one's reduced quota.
UNRESERVED_FLOOR = 100
LAMBDA_CONCURRENCY_QUOTA = "Service Quotas > AWS Lambda > Concurrent executions (L-B99A9384)"
FIRST_USE_STEPS = (
    "submit Anthropic's first-time-use form (Bedrock console > Model catalog > the model), and have an "
    "administrator make the first call, which subscribes the account in AWS Marketplace "
    "(aws-marketplace:Subscribe); then wait a few minutes and run `scribe doctor` again"
)


@dataclass(frozen=True)
class Check:
    """One line of the report: `what` was found; `fix` says how to mend it (None: OK)."""

    what: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.fix is None

    def to_json(self) -> dict:
        return {"check": self.what, "ok": self.ok, "fix": self.fix}


def examine(
    target: Target, *, cdk_json: Path, default_model_id: str, cdk_out: Path, stack: str | None = None
) -> list[Check]:
    """Every check, in the order a person mends them: deployments, region, model, bootstrap, Lambda, the review
    page's logging role (when a stack serves the page or cdk.json asks for it), alarms."""
    region = target.region_name
    deployments = [d for found in target.deployments().values() for d in found if stack in (None, d.stack_name)]
    checks = [deployed(target, deployments, region), transcribe_medical_region(region)]
    for model_id, source in configured_models(deployments, cdk_json, default_model_id).items():
        geography = profile_geography(model_id, source, region)
        checks.append(geography)
        if not geography.ok:
            checks.append(Check(f"Bedrock model {model_id} access", "not tried: mend the region or the profile first"))
            continue
        availability = model_availability(target, model_id)
        checks.append(availability)
        if availability.ok:
            checks.append(model_access(target, model_id))
        else:
            checks.append(Check(f"Bedrock model {model_id} call", "not tried: mend the model's access first"))
    checks.append(bootstrap_version(target, region))
    checks.append(lambda_headroom(target, {d.variant for d in deployments}, cdk_out))
    if review_page_wanted(deployments, cdk_json):
        checks.append(api_gateway_logging_role(target, region))
    checks += [alarm_subscribers(d) for d in deployments]
    checks += [alarm_actions(d) for d in deployments]
    return checks


def alarm_actions(deployment: Deployment) -> Check:
    """An alarm whose action CloudWatch could not execute (the topic or its key refuses CloudWatch) went
    off and told nobody: its history says so."""
    from scribe.encounters import failed_alarm_actions

    what = f"alarm actions of {deployment.variant} ({deployment.stack_name})"
    try:
        failed = failed_alarm_actions(deployment)
    except ClientError as error:
        return unanswered(what, error)
    if not failed:
        return Check(f"{what}: none failed in the alarms' history")
    return Check(
        f"{what}: {len(failed)} failed, e.g. {failed[0]}",
        "let cloudwatch.amazonaws.com publish to the alarm topic (topic policy) and use its key (key policy), then redeploy",
    )


def deployed(target: Target, deployments: list[Deployment], region: str) -> Check:
    if not deployments:
        where, how = (
            ("the local cloud", "`make localcloud`") if target.local else (f"this account's {region}", "`make deploy`")
        )
        return Check(
            f"no choreography or orchestration stack in {where}",
            f"deploy first ({how}); the account checks below ran anyway",
        )
    return Check("deployed: " + ", ".join(f"{d.variant} ({d.stack_name})" for d in deployments))


def transcribe_medical_region(region: str) -> Check:
    offered = REGIONS["transcribe_medical_batch"]["regions"]
    if region in offered:
        return Check(f"region {region} offers Transcribe Medical batch transcription")
    return Check(
        f"region {region} does not offer Transcribe Medical batch transcription",
        f"deploy in one of {', '.join(offered)} (set AWS_REGION or your profile's region)",
    )


def configured_models(deployments: list[Deployment], cdk_json: Path, default_model_id: str) -> dict[str, str]:
    """Model id -> where it was found: the deployed functions' BEDROCK_MODEL_ID, else cdk.json's context."""
    found: dict[str, list[str]] = {}
    for deployment in deployments:
        model_id = deployed_model_id(deployment)
        if model_id:
            found.setdefault(model_id, []).append(deployment.stack_name)
    if found:
        return {model_id: "configured in " + ", ".join(stacks) for model_id, stacks in found.items()}
    context = json.loads(cdk_json.read_text()).get("context", {}) if cdk_json.exists() else {}
    if context.get("bedrock_model_id"):
        return {context["bedrock_model_id"]: f"from {cdk_json}"}
    return {default_model_id: "the stacks' default"}


def deployed_model_id(deployment: Deployment) -> str | None:
    """Every pipeline function carries BEDROCK_MODEL_ID in its environment (stacks/pipeline_stack.py)."""
    cloudformation, lambda_ = deployment.client("cloudformation"), deployment.client("lambda")
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=deployment.stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] != "AWS::Lambda::Function":
                continue
            configuration = lambda_.get_function_configuration(FunctionName=resource["PhysicalResourceId"])
            model_id = configuration.get("Environment", {}).get("Variables", {}).get("BEDROCK_MODEL_ID")
            if model_id:
                return model_id
    return None


def profile_prefix(model_id: str) -> str | None:
    """The geography prefix of a cross-Region inference profile's id (`us.`, `global.`, ...); None for a model."""
    geographies = REGIONS["bedrock_inference_profile_geographies"]["prefixes"]
    return next((p for p in sorted(geographies, key=len, reverse=True) if model_id.startswith(p)), None)


def profile_geography(model_id: str, source: str, region: str) -> Check:
    """A cross-Region profile may be called only from a source Region of its geography."""
    geographies = REGIONS["bedrock_inference_profile_geographies"]["prefixes"]
    prefix = profile_prefix(model_id)
    if prefix is None:
        return Check(f"Bedrock model {model_id} ({source}) is invoked in {region} itself, not through a profile")
    if region.startswith(tuple(geographies[prefix])):
        return Check(f"Bedrock profile {model_id} ({source}) may be called from {region}")
    home = next(
        (p for p, starts in geographies.items() if p != "global." and region.startswith(tuple(starts))),
        None,
    )
    instead = f" (here: {home}{model_id.removeprefix(prefix)}, if offered)" if home else ""
    return Check(
        f"Bedrock profile {model_id} ({source}) cannot be called from {region}",
        f"a {prefix} profile is called only from Regions named {', '.join(s + '*' for s in geographies[prefix])}: "
        f"deploy in one of them, or set bedrock_model_id in cdk.json to a profile of this Region's "
        f"geography{instead} and redeploy",
    )


def model_availability(target: Target, model_id: str) -> Check:
    """Bedrock's own read-only answer (GetFoundationModelAvailability) for the profile's foundation model: offered
    in the Region, its AWS Marketplace agreement accepted (what the first call to an Anthropic model starts),
    the account authorized and entitled. The API Reference documents the values, not their meanings."""
    foundation_model = model_id.removeprefix(profile_prefix(model_id) or "")
    what = f"Bedrock model {foundation_model}"
    try:
        found = target.client("bedrock").get_foundation_model_availability(modelId=foundation_model)
    except ClientError as error:
        return unanswered(f"{what} availability", error)
    agreement = found["agreementAvailability"]
    if found["regionAvailability"] != "AVAILABLE":
        return Check(
            f"{what} is not offered in {target.region_name} (regionAvailability {found['regionAvailability']})",
            "set bedrock_model_id in cdk.json to a model or profile this Region offers (Bedrock console > Model "
            "catalog) and redeploy",
        )
    if agreement["status"] == "PENDING":
        return Check(
            f"{what}: its AWS Marketplace agreement is pending",
            "wait a few minutes for the subscription to complete, then run `scribe doctor` again",
        )
    state = f"agreement {agreement['status']}, {found['authorizationStatus']}, entitlement {found['entitlementAvailability']}"
    if (agreement["status"], found["authorizationStatus"], found["entitlementAvailability"]) != (
        "AVAILABLE",
        "AUTHORIZED",
        "AVAILABLE",
    ):
        reason = f": {agreement['errorMessage']}" if agreement.get("errorMessage") else ""
        return Check(f"{what} is not yet usable by this account ({state}{reason})", FIRST_USE_STEPS)
    return Check(f"{what} is available to this account ({state})")


def model_access(target: Target, model_id: str) -> Check:
    """A one-token Converse call with a prompt that holds no patient data."""
    what = f"Bedrock model {model_id}"
    try:
        target.client("bedrock-runtime").converse(
            modelId=model_id,
            messages=[{"role": "user", "content": [{"text": "ping"}]}],
            inferenceConfig={"maxTokens": 1},
        )
    except ClientError as error:
        code, message = error.response["Error"]["Code"], error.response["Error"].get("Message", "")
        if code in BEDROCK_TRANSIENT_CODES:
            return Check(f"{what} answers (busy just now: {code}; access is granted)")
        if "aws-marketplace" in message:
            return Check(f"{what} is not subscribed ({code})", FIRST_USE_STEPS)
        if "not authorized to perform" in message:
            return Check(
                f"{what}: these credentials may not call it ({code})",
                "run the doctor with credentials allowed bedrock:InvokeModel on the profile and its models "
                "(the functions use their own role)",
            )
        if code == "AccessDeniedException" or "use case" in message.lower():
            return Check(f"{what} is not enabled for this account ({code}: {message})", FIRST_USE_STEPS)
        return Check(
            f"{what} refused a one-token call ({code}: {message})",
            "check the id and that the model is offered in this Region's geography (Bedrock console > Model catalog)",
        )
    return Check(f"{what} answers a one-token Converse call")


def review_page_wanted(deployments: list[Deployment], cdk_json: Path) -> bool:
    """A deployment serves the review page (its ReviewPageUrl output), or cdk.json asks for it."""
    context = json.loads(cdk_json.read_text()).get("context", {}) if cdk_json.exists() else {}
    return any("ReviewPageUrl" in d.outputs for d in deployments) or str(context.get("review_page")).lower() == "true"


def api_gateway_logging_role(target: Target, region: str) -> Check:
    """The review page's stage logs through the account's API Gateway CloudWatch Logs role: one setting per
    account and Region, which the stacks leave alone (a stack setting it would overwrite everyone's)."""
    what = f"API Gateway CloudWatch Logs role in {region} (the review page's stage logs through it)"
    try:
        role_arn = target.client("apigateway").get_account().get("cloudwatchRoleArn")
    except ClientError as error:
        return unanswered(what, error)
    if role_arn:
        return Check(f"{what}: {role_arn}")
    return Check(
        f"{what} is not set",
        "create a role apigateway.amazonaws.com may assume with the AWS-managed policy "
        "AmazonAPIGatewayPushToCloudWatchLogs, then set it once: aws apigateway update-account "
        "--patch-operations op=replace,path=/cloudwatchRoleArn,value=ROLE_ARN",
    )


def bootstrap_version(target: Target, region: str) -> Check:
    bootstrap = "`npx cdk bootstrap` with these credentials and region"
    try:
        value = target.client("ssm").get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ParameterNotFound":
            return Check(f"CDK bootstrap: {BOOTSTRAP_VERSION_PARAMETER} not found in {region}", f"run {bootstrap}")
        return unanswered("CDK bootstrap version", error)
    if not value.isdigit() or int(value) < MINIMUM_BOOTSTRAP_VERSION:
        return Check(
            f"CDK bootstrap version {value} in {region}, the templates need {MINIMUM_BOOTSTRAP_VERSION} or later",
            f"run {bootstrap} again (it upgrades in place)",
        )
    return Check(f"CDK bootstrap version {value} (the templates need {MINIMUM_BOOTSTRAP_VERSION} or later)")


def lambda_headroom(target: Target, deployed_variants: set[str], cdk_out: Path) -> Check:
    """What is unreserved now, less what deploying the missing variants would reserve, must stay >= 100."""
    try:
        limit = target.client("lambda").get_account_settings()["AccountLimit"]
    except ClientError as error:
        return unanswered("Lambda concurrency", error)
    total, unreserved = limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]
    planned = planned_reservations(cdk_out, deployed_variants)
    after = unreserved - planned
    found = f"Lambda concurrency: {unreserved} of {total} unreserved" + (
        f", {after} once the missing stacks reserve {planned}" if planned else ""
    )
    if after >= UNRESERVED_FLOOR:
        return Check(f"{found} (Lambda keeps {UNRESERVED_FLOOR})")
    return Check(
        f"{found}, below the {UNRESERVED_FLOOR} Lambda keeps unreserved",
        f"request a higher quota ({LAMBDA_CONCURRENCY_QUOTA})"
        + (", or deploy without reserved concurrency" if planned else ""),
    )


def planned_reservations(cdk_out: Path, deployed_variants: set[str]) -> int:
    """Reserved concurrency in the synthesized templates of variants not deployed yet (0 without cdk.out)."""
    total = 0
    for path in sorted(cdk_out.glob("*.template.json")):
        template = json.loads(path.read_text())
        variant = template.get("Outputs", {}).get("Variant", {}).get("Value")
        if variant not in VARIANTS or variant in deployed_variants:
            continue
        for resource in template.get("Resources", {}).values():
            if resource.get("Type") == "AWS::Lambda::Function":
                total += int(resource.get("Properties", {}).get("ReservedConcurrentExecutions", 0))
    return total


def alarm_subscribers(deployment: Deployment) -> Check:
    """An alarm reaches a person only through a confirmed subscription to the stack's alarm topic."""
    what = f"alarm topic of {deployment.variant} ({deployment.stack_name})"
    topic_arn = deployment.outputs.get("AlarmTopicArn")
    if not topic_arn:
        return Check(f"{what}: the stack has no AlarmTopicArn output", "redeploy the stack from this repository")
    sns = deployment.client("sns")
    try:
        subscriptions = [
            s
            for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
            for s in page["Subscriptions"]
        ]
    except ClientError as error:
        return unanswered(what, error)
    confirmed = [s for s in subscriptions if s["SubscriptionArn"].startswith("arn:")]
    pending = [s["Endpoint"] for s in subscriptions if s["SubscriptionArn"] == "PendingConfirmation"]
    if confirmed:
        return Check(f"{what} has {len(confirmed)} confirmed subscriber(s)")
    if pending:
        return Check(
            f"{what}: {', '.join(pending)} has not confirmed the subscription",
            "confirm the email (the link in the message from AWS Notifications); its alarms reach nobody until then",
        )
    return Check(
        f"{what} has no subscriber, so its alarms reach nobody",
        'set "alarm_email" in cdk.json\'s context and redeploy, then confirm the email '
        f"(or: aws sns subscribe --topic-arn {topic_arn} --protocol email --notification-endpoint YOU)",
    )


def unanswered(what: str, error: ClientError) -> Check:
    code, message = error.response["Error"]["Code"], error.response["Error"].get("Message", "")
    return Check(f"{what}: not answered ({code}: {message})", "run the doctor with credentials that may read it")
