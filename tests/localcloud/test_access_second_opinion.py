"""A second opinion on every access decision: each request the local cloud decides while both variants take an
encounter to a signed note, while a person writes under the bucket's write-once rule, and while each grant of
experiments.mutations is taken away, is decided again by an independent IAM simulator
(@cloud-copilot/iam-simulate, pinned in package.json) from the same inputs AWS would see. Both must agree,
except where a known disagreement below says why (mirrored in docs/access.md, "A second opinion").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from clinical.review import sign
from experiments.mutations import GRANTS, mutated_assembly, without_logs_key_use
from localcloud.access import TASK_RESPONSES, AccessControl
from localcloud.cloud import LocalCloud
from localcloud.iam_policy import Principal
from stacks.names import ORCHESTRATION_STACK
from tests.localcloud.conftest import STACKS, deploy_both, upload_to_both
from tests.support import iam_simulate
from tests.support.iam_simulate import Answer, Request, second_opinions

AUDIO = b"RIFF....WAVEfmt second opinion dictation"
UNHEARD = b"RIFF....WAVEfmt audio the stand-in cannot transcribe"
ACCOUNT = "123456789012"
CLINICIAN = "arn:aws:iam::123456789012:user/dr-rivera"


@dataclass(frozen=True)
class KnownDisagreement:
    """A class of request the two evaluators decide differently, with AWS's documented answer and why the
    local cloud keeps its own."""

    name: str
    covers: Callable[[Request], bool]
    ours: bool  # what the local cloud decides
    aws_documented: str
    why_ours: str


def _granted_only_on_named_resources(request: Request) -> bool:
    """The caller's identity policies allow the action, but never on '*'."""
    resources = [
        resource
        for policy in json.loads(request.identity_policies)
        for statement in _as_list(policy.get("Statement"))
        if statement.get("Effect") == "Allow" and request.action in _as_list(statement.get("Action"))
        for resource in _as_list(statement.get("Resource"))
    ]
    return bool(resources) and "*" not in resources


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value] if value is not None else []


# Each disagreement kept on purpose, with AWS's documented answer and why the local cloud keeps its own (docs/access.md
# lists them). None today: the task responses granted on the state machine only, once such an entry, are decided on
# "*" as the Service Authorization Reference documents (test_task_responses_granted_on_the_state_machine_are_denied).
KNOWN_DISAGREEMENTS: tuple[KnownDisagreement, ...] = ()


@dataclass(frozen=True)
class Seen:
    allowed: bool
    where: str  # "encounter and review", "write-once", "callback grant", or the grant taken away


def _record(cases: dict[Request, list[Seen]], where: str, recorded) -> None:
    for decision in recorded:
        cases.setdefault(Request.of(decision), []).append(Seen(decision.allowed, where))


def _encounter(cloud: LocalCloud, *, signing: bool) -> None:
    """One encounter through each variant to its note and, if `signing`, the clinician's signature; another whose
    transcription fails, to its failure record."""
    upload_to_both(cloud, "audio/enc-1.wav", AUDIO)
    upload_to_both(cloud, "audio/enc-2.wav", UNHEARD)
    cloud.run_until_quiet()
    if not signing:
        return
    for stack in STACKS:
        outputs = cloud.outputs[stack]
        sign(cloud.client("s3"), outputs["EncounterBucketName"], "enc-1", clinician=CLINICIAN,
             bus=outputs["DomainEventBusName"], stepfunctions=cloud.client("stepfunctions"), patient="Patient/123")  # fmt: skip
    cloud.run_until_quiet()


def _role(cloud: LocalCloud, name: str, statements: list[dict]) -> Principal:
    iam = cloud.client("iam")
    trust = {"Version": "2012-10-17", "Statement": []}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": statements}
    iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return Principal(arn, ACCOUNT)


def _write_once(cloud: LocalCloud) -> None:
    """A person allowed every S3 and KMS action writes, reads and deletes under each prefix (the bucket policy's
    write-once and pipeline-only rules), each multipart step with and without If-None-Match."""
    operator = _role(cloud, "operator", [{"Effect": "Allow", "Action": ["s3:*", "kms:*"], "Resource": "*"}])
    table = cloud.access.table
    for stack in STACKS:
        for key in ("audio/enc-9.wav", "notes/enc-9.json", "transcripts/enc-9.json", "failures/enc-9.json"):
            target = {"Bucket": cloud.outputs[stack]["EncounterBucketName"], "Key": key}
            for operation, params in (
                ("CreateMultipartUpload", target),
                ("UploadPart", {**target, "UploadId": "u", "PartNumber": 1}),
                ("CompleteMultipartUpload", {**target, "UploadId": "u"}),
                ("CompleteMultipartUpload", {**target, "UploadId": "u", "IfNoneMatch": "*"}),
                ("PutObject", target),
                ("PutObject", {**target, "IfNoneMatch": "*"}),
                ("GetObject", target),
                ("DeleteObject", target),
            ):
                action = table.action("s3", operation, params)
                for resource in table.resources(action, params):
                    cloud.access.decide(operator, action, resource, table.context(action, params, operation))


def _callback_granted_on_the_state_machine(cloud: LocalCloud) -> None:
    """The task responses granted as CDK's grantTaskResponse writes them (on the state machine), decided as the
    local cloud decides a callback: on "*" (the actions have no resource type)."""
    machine = cloud.outputs[ORCHESTRATION_STACK]["StateMachineArn"]
    caller = _role(cloud, "callback", [{"Effect": "Allow", "Action": list(TASK_RESPONSES), "Resource": machine}])
    for action in TASK_RESPONSES:
        cloud.access.decide(caller, action, "*")


@pytest.fixture(scope="module")
def decided(cdk_out, tmp_path_factory) -> dict[Request, list[Seen]]:
    """Every request the local cloud decided, deduplicated, with each decision and where it was made."""
    cases: dict[Request, list[Seen]] = {}
    with LocalCloud(cdk_out) as cloud:
        with cloud.access.recording() as recorded:
            deploy_both(cloud, AUDIO)
            _encounter(cloud, signing=True)
        _record(cases, "encounter and review", recorded)
        for where, probe in (("write-once", _write_once), ("callback grant", _callback_granted_on_the_state_machine)):
            with cloud.access.recording() as recorded:
                probe(cloud)
            _record(cases, where, recorded)
    work = tmp_path_factory.mktemp("mutations")
    for grant in GRANTS:
        mutated_assembly(cdk_out, work / grant, grant)
        with LocalCloud(work / grant) as cloud, cloud.access.recording() as recorded:
            deploy_both(cloud, AUDIO)
            _encounter(cloud, signing=False)
        _record(cases, grant, recorded)
    # The log groups' key without its CloudWatch Logs statement: the deployment itself is refused.
    no_logs_key = without_logs_key_use(cdk_out, work / "no-logs-key", ORCHESTRATION_STACK)
    refused = pytest.raises(RuntimeError, match="not allowed to be used with Arn")
    with LocalCloud(no_logs_key) as cloud, cloud.access.recording() as recorded, refused:
        cloud.deploy(ORCHESTRATION_STACK)
    _record(cases, "no-logs-key", recorded)
    return cases


@pytest.fixture(scope="module")
def answers(decided) -> dict[Request, Answer]:
    if iam_simulate.node() is None:
        pytest.skip("node is not installed: no second opinion (make install needs it for the CDK CLI too)")
    assert iam_simulate.installed(), f"{iam_simulate.PACKAGE} is missing: `npm ci` (make install) did not install it"
    requests = list(decided)
    return dict(zip(requests, second_opinions(requests), strict=True))


def _ours(seen: list[Seen]) -> bool:
    return seen[0].allowed


def disagreements(decided: dict[Request, list[Seen]], answers: dict[Request, Answer]) -> list[Request]:
    return [request for request, seen in decided.items() if answers[request].allowed != _ours(seen)]


def _describe(request: Request, seen: list[Seen], answer: Answer) -> str:
    ours = "allowed" if _ours(seen) else "denied"
    places = sorted({s.where for s in seen})
    return (
        f"{request.principal} {request.action} on {request.resource}: local cloud {ours}, simulator "
        f"{answer.result or answer.errors} (context {request.context}; seen in {', '.join(places[:3])})"
    )


def test_the_local_cloud_decides_each_request_one_way(decided):
    """The same inputs always get the same decision (else there is no single answer to compare)."""
    split = [request for request, seen in decided.items() if len({s.allowed for s in seen}) > 1]
    assert split == [], [(r.principal, r.action, r.resource) for r in split]


def test_the_comparison_covers_the_pipeline_and_every_mutation(decided):
    """Allows and denials, roles and service principals, key policies, and a denial for every grant taken away."""
    allowed = [r for r, seen in decided.items() if _ours(seen)]
    denied = [r for r, seen in decided.items() if not _ours(seen)]
    assert len(allowed) > 100 and len(denied) > 20, (len(allowed), len(denied))
    principals = {r.principal for r in decided}
    assert {"events.amazonaws.com", "cloudwatch.amazonaws.com", "logs.us-east-1.amazonaws.com"} <= principals
    assert any(r.action.startswith("kms:") and ":assumed-role/" in r.principal for r in allowed)
    for where in (*GRANTS, "no-logs-key", "write-once"):
        assert any(s.where == where and not s.allowed for seen in decided.values() for s in seen), where


def test_the_simulator_takes_every_request_as_posed(decided, answers):
    """No request refused as malformed and no context key dropped: the second opinion saw what AWS would see."""
    refused = [_describe(r, decided[r], a) for r, a in answers.items() if a.result is None or a.ignored_context_keys]
    assert refused == [], "\n".join(refused[:10])


def test_the_simulator_decides_every_request_as_the_local_cloud_does(decided, answers):
    unexplained = [
        _describe(r, decided[r], answers[r])
        for r in disagreements(decided, answers)
        if not any(known.covers(r) and known.ours == _ours(decided[r]) for known in KNOWN_DISAGREEMENTS)
    ]
    assert unexplained == [], f"{len(unexplained)} disagreement(s):\n" + "\n".join(unexplained[:20])


def test_each_known_disagreement_is_still_seen(decided, answers):
    """An entry that no longer disagrees (or matches nothing) is taken off the list and out of docs/access.md."""
    for known in KNOWN_DISAGREEMENTS:
        covered = [r for r in decided if known.covers(r)]
        assert covered, f"{known.name}: no request of this kind was decided"
        assert all(r in disagreements(decided, answers) for r in covered), f"{known.name}: the evaluators now agree"


def test_task_responses_granted_on_the_state_machine_are_denied_by_both(decided, answers):
    """states:SendTask* has no resource type: the request is on "*", and a statement naming only the state machine
    (CDK's grantTaskResponse) does not match it, in the local cloud as in the simulator."""
    covered = [r for r in decided if r.action in TASK_RESPONSES and _granted_only_on_named_resources(r)]
    assert covered, "no task response was decided for a role granted them on the state machine only"
    assert not any(_ours(decided[r]) for r in covered)
    assert not disagreements({r: decided[r] for r in covered}, answers)


def test_the_docs_list_the_known_disagreements():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "access.md").read_text()
    for known in KNOWN_DISAGREEMENTS:
        assert f"`{known.name}`" in docs, known.name


def test_the_simulator_denies_what_the_pipeline_needs_once_the_grant_is_gone(decided, answers):
    """The second opinion evaluates rather than agrees: a request it allowed is denied without the caller's identity
    policies, and a service's key use is denied for another account's queue (the key policy allows its own account's)."""
    role_allowed = next(r for r, seen in decided.items() if _ours(seen) and r.action == "s3:PutObject" and
                        ":assumed-role/" in r.principal and r.resource.endswith("/notes/enc-1.json"))  # fmt: skip
    key_use = next(r for r, seen in decided.items() if _ours(seen) and r.principal == "events.amazonaws.com" and
                   "kms:EncryptionContext:aws:sqs:arn" in r.context)  # fmt: skip
    another_account = "arn:aws:sqs:us-east-1:210987654321:other"
    elsewhere = {**json.loads(key_use.context), "kms:EncryptionContext:aws:sqs:arn": another_account}
    probes = [replace(role_allowed, identity_policies="[]"), replace(key_use, context=json.dumps(elsewhere))]
    before = [answers[role_allowed], answers[key_use]]
    after = second_opinions(probes)
    assert [a.result for a in before] == ["Allowed", "Allowed"]
    assert [a.result for a in after] == ["ImplicitlyDenied", "ImplicitlyDenied"], after
    assert after[1].unvalidated_context_keys == ("kms:EncryptionContext:aws:sqs:arn",)


def test_decisions_are_recorded_only_while_recording():
    control = AccessControl(ACCOUNT, "us-east-1")
    events = Principal("events.amazonaws.com", ACCOUNT, source_arn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r")
    machine = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:m"
    control.decide(events, "states:StartExecution", machine)
    assert control.recorded is None
    with control.recording() as recorded:
        decision = control.decide(events, "states:StartExecution", machine, {"aws:RequestedRegion": "us-east-1"})
    assert control.recorded is None
    [entry] = recorded
    assert (entry.principal, entry.action, entry.resource, entry.allowed) == (events, "states:StartExecution", machine,
                                                                               decision.allowed)  # fmt: skip
    assert entry.context["aws:SourceArn"] == events.source_arn and entry.context["aws:RequestedRegion"] == "us-east-1"
    assert (entry.identity_policies, entry.resource_policy, entry.key_policy) == ((), None, False)
