"""Cloud assemblies with one grant taken away, to see on the local cloud what AWS would do without it.

    python -m experiments.mutations cdk.out /tmp/no-model --without invoke-the-model
    make demo CDK_OUT=/tmp/no-model

Each grant the pipeline needs is named here with the policy statements that give it: the identity
statements of every role of a stack (an action, on resources whose template text contains a marker),
or a resource policy's statement for a service principal. Taking it away removes that action from
those statements (a statement left with no action goes). `as-landed` rebuilds the two breakages the
first wave shipped: StartMedicalTranscriptionJob granted on a job ARN, and an alarm topic policy
without the CloudWatch allow.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from experiments import SAMPLES
from localcloud.assets import not_an_assembly
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK

RESOURCE_POLICIES = ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy")


def _documents(template: dict, *, identity: bool):
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if identity and resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield properties["PolicyDocument"]
        elif identity and resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                yield policy["PolicyDocument"]
        elif not identity and resource["Type"] in RESOURCE_POLICIES:
            yield properties["PolicyDocument"]
        elif not identity and resource["Type"] == "AWS::KMS::Key":
            yield properties["KeyPolicy"]


def _actions(statement: dict) -> list[str]:
    actions = statement.get("Action", [])
    return actions if isinstance(actions, list) else [actions]


def _strip(document: dict, keep: Callable[[dict, str], bool]) -> int:
    """Remove the actions `keep` refuses from each statement; returns how many were removed."""
    removed, statements = 0, []
    for statement in document.get("Statement", []):
        actions = _actions(statement)
        kept = [a for a in actions if keep(statement, a)]
        removed += len(actions) - len(kept)
        if kept:
            statements.append({**statement, "Action": kept if len(kept) > 1 else kept[0]})
    document["Statement"] = statements
    return removed


def remove_identity_grant(template: dict, action: str, marker: str | None = None) -> int:
    """Take `action` away from every role of the stack, on the resources whose text contains `marker`."""

    def keep(statement: dict, candidate: str) -> bool:
        if candidate.lower() != action.lower():
            return True
        return marker is not None and marker not in json.dumps(statement.get("Resource"))

    return sum(_strip(document, keep) for document in _documents(template, identity=True))


def remove_service_grant(template: dict, service: str, action: str) -> int:
    """Take `action` away from the service principal in every resource policy (bucket, queue, topic, key)."""

    def keep(statement: dict, candidate: str) -> bool:
        principal = json.dumps(statement.get("Principal"))
        return not (candidate.lower() == action.lower() and service in principal and statement["Effect"] == "Allow")

    return sum(_strip(document, keep) for document in _documents(template, identity=False))


def without_logs_key_use(cdk_out: Path, out: Path, stack: str = ORCHESTRATION_STACK) -> Path:
    """A copy of the assembly whose key policy no longer lets CloudWatch Logs use the key: creating the stack's
    encrypted log groups is refused, so the stack does not deploy. Returns the copy."""
    shutil.copytree(cdk_out, out)
    path = out / f"{stack}.template.json"
    template = json.loads(path.read_text())
    if not remove_service_grant(template, "logs.", "kms:Decrypt*") + remove_service_grant(
        template, "logs.", "kms:Decrypt"
    ):
        raise ValueError(f"{stack}'s key policy grants CloudWatch Logs nothing to take away")
    path.write_text(json.dumps(template))
    return out


def start_granted_on_job_arn(template: dict) -> int:
    """The first wave's grant: StartMedicalTranscriptionJob on this stack's job ARNs, no conditions."""
    changed = 0
    for document in _documents(template, identity=True):
        for statement in document.get("Statement", []):
            if "transcribe:StartMedicalTranscriptionJob" in _actions(statement):
                statement["Resource"] = {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":transcribe:",
                            {"Ref": "AWS::Region"},
                            ":",
                            {"Ref": "AWS::AccountId"},
                            ":medical-transcription-job/*",
                        ],
                    ]
                }
                statement.pop("Condition", None)
                changed += 1
    return changed


def as_landed(template: dict) -> int:
    return start_granted_on_job_arn(template) + remove_service_grant(
        template, "cloudwatch.amazonaws.com", "sns:Publish"
    )


@dataclass(frozen=True)
class Grant:
    name: str
    what: str
    take_away: Callable[[dict], int]


GRANTS = {
    grant.name: grant
    for grant in (
        Grant("start-the-job", "transcribe:StartMedicalTranscriptionJob (every role)",
              lambda t: remove_identity_grant(t, "transcribe:StartMedicalTranscriptionJob")),
        Grant("read-audio", "s3:GetObject on audio/* (every role)",
              lambda t: remove_identity_grant(t, "s3:GetObject", "/audio/*")),
        Grant("write-the-transcript", "s3:PutObject on transcripts/* (every role)",
              lambda t: remove_identity_grant(t, "s3:PutObject", "/transcripts/*")),
        Grant("read-the-transcript", "s3:GetObject on transcripts/* (every role)",
              lambda t: remove_identity_grant(t, "s3:GetObject", "/transcripts/*")),
        Grant("invoke-the-model", "bedrock:InvokeModel (every role)",
              lambda t: remove_identity_grant(t, "bedrock:InvokeModel")),
        Grant("write-the-note", "s3:PutObject on notes/* (every role)",
              lambda t: remove_identity_grant(t, "s3:PutObject", "/notes/*")),
        Grant("write-a-failure-record", "s3:PutObject on failures/* (every role)",
              lambda t: remove_identity_grant(t, "s3:PutObject", "/failures/*")),
        Grant("publish-an-alarm", "sns:Publish for cloudwatch.amazonaws.com (topic policy)",
              lambda t: remove_service_grant(t, "cloudwatch.amazonaws.com", "sns:Publish")),
        Grant("eventbridge-to-the-queues", "sqs:SendMessage for events.amazonaws.com (queue policies)",
              lambda t: remove_service_grant(t, "events.amazonaws.com", "sqs:SendMessage")),
        Grant("send-task-success", "states:SendTaskSuccess (every role)",
              lambda t: remove_identity_grant(t, "states:SendTaskSuccess")),
        Grant("encrypt-with-the-key", "kms:GenerateDataKey on the stack's key (every role)",
              lambda t: remove_identity_grant(t, "kms:GenerateDataKey")),
        Grant("as-landed", "the first wave's two breakages: the job start on a job ARN, no CloudWatch allow",
              as_landed),
    )
}  # fmt: skip


def mutated_assembly(cdk_out: Path, out: Path, grant: str, stacks=(CHOREOGRAPHY_STACK, ORCHESTRATION_STACK)) -> dict:
    """Copy the cloud assembly to `out` with `grant` taken away in each stack; returns what changed per stack."""
    if grant not in GRANTS:
        raise KeyError(f"unknown grant {grant!r}; known: {', '.join(GRANTS)}")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(cdk_out, out)
    changed = {}
    for stack in stacks:
        path = out / f"{stack}.template.json"
        template = json.loads(path.read_text())
        changed[stack] = GRANTS[grant].take_away(template)
        path.write_text(json.dumps(template, indent=1))
    return changed


SWEEP_WAIT_SECONDS = 4 * 3600  # uploads: grace 15 min + a sweep; a transcript without a note: 120 min stalled + a sweep


@dataclass
class Observation:
    """What one variant did with a good encounter (a known dictation) and a failing one (audio the
    stand-in cannot transcribe) when the grant was missing."""

    variant: str
    good: str  # "note", "failure record (<error>)" or "nothing"
    failing: str
    denied: list[str]  # "<action> -> <error code>", in the order first seen
    alarms: list[str]  # alarms that went to ALARM
    failed_alarm_actions: int  # alarm actions CloudWatch could not execute


def _outcome(cloud, stack: str, encounter: str) -> str:
    from clinical.layout import failure_key, note_key

    s3, bucket = cloud.client("s3"), cloud.outputs[stack]["EncounterBucketName"]
    listing = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    if note_key(encounter) in listing:
        return "note"
    if failure_key(encounter) in listing:
        record = json.loads(s3.get_object(Bucket=bucket, Key=failure_key(encounter))["Body"].read())
        return f"failure record ({record.get('error_type') or record.get('error') or record.get('reason')})"
    return "nothing"


def observe(
    cdk_out: Path, *, horizon: float = 2 * 24 * 3600, quiet: bool = True, then: Callable | None = None
) -> list[Observation]:
    """Deploy both variants of `cdk_out` on a local cloud, send each a good and a failing encounter, and
    report what happened; `then(cloud)` runs before the local cloud stops (a test's own look)."""
    from localcloud.cloud import LocalCloud

    good_audio = (SAMPLES / "cough-visit.wav").read_bytes()
    failing_audio = (SAMPLES / "ankle-sprain.wav").read_bytes()  # no reference transcript registered
    observations = []
    with LocalCloud(cdk_out) as cloud:
        cloud.transcribe.register(good_audio, (SAMPLES / "cough-visit.txt").read_text().strip())
        for stack in (CHOREOGRAPHY_STACK, ORCHESTRATION_STACK):
            cloud.deploy(stack)
        if quiet:  # the handlers' logs and metrics are not this report's story
            from clinical import observability
            from localcloud.lambda_runtime import send_handler_output_to

            send_handler_output_to(io.StringIO())
            observability.logger.registered_handler.setStream(io.StringIO())
        s3 = cloud.client("s3")
        for stack in (CHOREOGRAPHY_STACK, ORCHESTRATION_STACK):
            bucket = cloud.outputs[stack]["EncounterBucketName"]
            s3.put_object(Bucket=bucket, Key="audio/enc-good.wav", Body=good_audio)
            s3.put_object(Bucket=bucket, Key="audio/enc-failing.wav", Body=failing_audio)
        cloud.run_until_quiet(horizon=horizon)
        # An upload whose event never arrived waits for the scheduled sweeps (past their grace period).
        cloud.run_for(SWEEP_WAIT_SECONDS)
        cloud.run_until_quiet(horizon=horizon)
        for stack in (CHOREOGRAPHY_STACK, ORCHESTRATION_STACK):
            denied = []
            for denial in cloud.access.denials:
                if stack in denial.principal or stack in denial.resource:
                    entry = f"{denial.action} -> {denial.code}"
                    if entry not in denied:
                        denied.append(entry)
            alarms = sorted({f.alarm_name.removeprefix(f"{stack}-") for f in cloud.alarms.fired
                             if f.alarm_name.startswith(stack)})  # fmt: skip
            failed_actions = sum(1 for h in cloud.alarms.failed_actions() if h["AlarmName"].startswith(stack))
            observations.append(
                Observation(
                    variant=stack,
                    good=_outcome(cloud, stack, "enc-good"),
                    failing=_outcome(cloud, stack, "enc-failing"),
                    denied=denied,
                    alarms=alarms,
                    failed_alarm_actions=failed_actions,
                )
            )
        if then is not None:
            then(cloud)
    return observations


def table(cdk_out: Path, work: Path) -> str:
    """The docs' table: each grant taken away, what each variant showed."""
    lines = [
        "| grant taken away | variant | good encounter | failing encounter | denied (action -> error) | alarms (failed actions) |",
        "|---|---|---|---|---|---|",
    ]
    for grant in GRANTS.values():
        mutated_assembly(cdk_out, work / grant.name, grant.name)
        for seen in observe(work / grant.name):
            variant = "choreography" if seen.variant == CHOREOGRAPHY_STACK else "orchestration"
            alarms = ", ".join(a.rsplit("Alarm", 1)[0] for a in seen.alarms) or "none"
            lines.append(
                f"| `{grant.name}` | {variant} | {seen.good} | {seen.failing} | "
                f"{'<br>'.join(seen.denied) or 'none'} | {alarms} ({seen.failed_alarm_actions}) |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.mutations", description=__doc__.splitlines()[0])
    parser.add_argument("cdk_out", type=Path)
    parser.add_argument("out", type=Path, help="where to write the mutated assembly (with --table: a work folder)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--without", choices=sorted(GRANTS), help="the grant to take away")
    what.add_argument("--table", action="store_true", help="run every grant's mutation and print the table")
    args = parser.parse_args(argv)
    if problem := not_an_assembly(args.cdk_out):
        print(problem, file=sys.stderr)
        return 2
    if args.table:
        print(table(args.cdk_out, args.out))
        return 0
    changed = mutated_assembly(args.cdk_out, args.out, args.without)
    for stack, count in changed.items():
        print(f"{stack}: {count} grant(s) taken away")
    if not any(changed.values()):
        print(f"nothing to take away for {args.without}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
