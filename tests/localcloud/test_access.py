"""The local cloud denies what AWS would deny, and a denial never loses an upload.

Each test takes one grant away from the synthesized templates (experiments.mutations), deploys both
variants on the local cloud, sends a good and a failing encounter, and checks where the failure shows,
with AWS's error name. docs/access.md has the table these tests stand behind.
"""

from __future__ import annotations

import json
import shutil

import pytest

from experiments.mutations import GRANTS, mutated_assembly, observe
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK

CHOREOGRAPHY, ORCHESTRATION = CHOREOGRAPHY_STACK, ORCHESTRATION_STACK


def observed(cdk_out, tmp_path, grant: str) -> dict:
    changed = mutated_assembly(cdk_out, tmp_path / grant, grant)
    assert any(changed.values()), f"{grant} took nothing away: the mutation no longer matches the templates"
    return {seen.variant: seen for seen in observe(tmp_path / grant)}


def assert_nothing_lost(seen) -> None:
    """Every upload ends in a note or a failure record; where even the failure record is denied, an alarm."""
    for outcome in (seen.good, seen.failing):
        assert outcome != "nothing" or seen.alarms, f"{seen.variant}: an upload ended in silence"


def test_the_deployed_templates_run_without_a_single_denial(cdk_out, tmp_path):
    """The control: nothing taken away, both encounters end as they should and nothing is refused."""
    shutil.copytree(cdk_out, tmp_path / "as-synthesized")
    for seen in observe(tmp_path / "as-synthesized"):
        assert seen.denied == [], seen
        assert seen.good == "note"
        assert seen.failing.startswith("failure record")
        assert seen.failed_alarm_actions == 0


def test_the_templates_as_they_landed_fail_at_the_job_start_with_an_alarm_nobody_receives(
    cdk_out, tmp_path, monkeypatch
):
    """The first wave's two breakages, seen locally as AWS would show them, and by `scribe status`."""
    from click.testing import CliRunner

    from scribe.cli import main
    from scribe.target import Target

    monkeypatch.setattr(Target, "choose", classmethod(lambda cls, _local: cls(region="us-east-1", local=True)))
    status = {}

    def scribe_status(_cloud) -> None:
        status["output"] = CliRunner().invoke(main, ["--local", "status", "enc-good"]).stdout

    mutated_assembly(cdk_out, tmp_path / "as-landed", "as-landed")
    seen = {s.variant: s for s in observe(tmp_path / "as-landed", then=scribe_status)}
    assert "WARNING alarm notified nobody: choreography: EncounterFailures" in status["output"]
    assert "Failed to execute action arn:aws:sns:" in status["output"]
    choreography, orchestration = seen[CHOREOGRAPHY], seen[ORCHESTRATION]
    assert "transcribe:StartMedicalTranscriptionJob -> AccessDeniedException" in choreography.denied
    assert "transcribe:StartMedicalTranscriptionJob -> AccessDeniedException" in orchestration.denied
    assert choreography.good == "failure record (AccessDeniedException)"
    assert orchestration.good == "failure record (Transcribe.AccessDeniedException)"
    for variant in (choreography, orchestration):
        assert "sns:Publish -> AuthorizationError" in variant.denied
        assert variant.alarms, "the failures raise alarms"
        assert variant.failed_alarm_actions >= 1, "and CloudWatch records that it could not notify anyone"


# grant -> (variant -> (what the good encounter ends in, a denial that must be seen))
EXPECTED = {
    "start-the-job": {
        CHOREOGRAPHY: ("failure record (AccessDeniedException)", "transcribe:StartMedicalTranscriptionJob -> AccessDeniedException"),
        ORCHESTRATION: ("failure record (Transcribe.AccessDeniedException)", "transcribe:StartMedicalTranscriptionJob -> AccessDeniedException"),
    },
    "read-audio": {
        CHOREOGRAPHY: ("failure record (AccessDenied)", "s3:GetObject -> AccessDenied"),
        ORCHESTRATION: ("failure record (AccessDenied)", "s3:GetObject -> AccessDenied"),
    },
    "write-the-transcript": {
        CHOREOGRAPHY: ("failure record (TranscriptionRejected)", "s3:PutObject -> AccessDenied"),
        ORCHESTRATION: ("failure record (Transcribe.BadRequestException)", "s3:PutObject -> AccessDenied"),
    },
    "read-the-transcript": {
        CHOREOGRAPHY: ("failure record (AccessDenied)", "s3:GetObject -> AccessDenied"),
        ORCHESTRATION: ("failure record (AccessDenied)", "s3:GetObject -> AccessDenied"),
    },
    "invoke-the-model": {
        CHOREOGRAPHY: ("failure record (NoteModelRejected)", "bedrock:InvokeModel -> AccessDeniedException"),
        ORCHESTRATION: ("failure record (NoteModelRejected)", "bedrock:InvokeModel -> AccessDeniedException"),
    },
    "write-the-note": {
        CHOREOGRAPHY: ("failure record (AccessDenied)", "s3:PutObject -> AccessDenied"),
        ORCHESTRATION: ("failure record (AccessDenied)", "s3:PutObject -> AccessDenied"),
    },
    "write-a-failure-record": {
        CHOREOGRAPHY: ("note", "s3:PutObject -> AccessDenied"),
        ORCHESTRATION: ("note", "s3:PutObject -> AccessDenied"),
    },
    "publish-an-alarm": {
        CHOREOGRAPHY: ("note", "sns:Publish -> AuthorizationError"),
        ORCHESTRATION: ("note", "sns:Publish -> AuthorizationError"),
    },
    "eventbridge-to-the-queues": {
        # The lost upload event is recovered by the sweep; a lost transcript event in choreography has no
        # second path to the note: the watchdog records it once the job has sat without a note too long.
        CHOREOGRAPHY: ("failure record (TranscriptNotProcessed)", "sqs:SendMessage -> AccessDenied"),
        ORCHESTRATION: ("note", "sqs:SendMessage -> AccessDenied"),
    },
    "encrypt-with-the-key": {
        # Every write needs the key, the failure record's too: only the alarms are left to tell.
        CHOREOGRAPHY: ("nothing", "kms:GenerateDataKey -> AccessDenied"),
        ORCHESTRATION: ("nothing", "kms:GenerateDataKey -> AccessDenied"),
    },
    "send-task-success": {
        ORCHESTRATION: ("note", "states:SendTaskSuccess -> AccessDeniedException"),
    },
}  # fmt: skip


def test_every_grant_has_an_expectation():
    assert set(EXPECTED) | {"as-landed"} == set(GRANTS)


@pytest.mark.parametrize("grant", sorted(EXPECTED))
def test_without_the_grant_the_failure_shows_where_aws_would_show_it(cdk_out, tmp_path, grant):
    seen = observed(cdk_out, tmp_path, grant)
    for variant, (good, denial) in EXPECTED[grant].items():
        assert denial in seen[variant].denied, seen[variant]
        assert seen[variant].good == good, seen[variant]
    for variant in seen.values():
        assert_nothing_lost(variant)


def test_a_key_policy_that_refuses_cloudwatch_logs_fails_the_deployment(cdk_out, tmp_path):
    """CloudWatch Logs refuses to create a log group whose key it may not use: the stack does not deploy."""
    from experiments.mutations import without_logs_key_use
    from localcloud.cloud import LocalCloud

    mutated = without_logs_key_use(cdk_out, tmp_path / "no-logs-key", ORCHESTRATION)
    with LocalCloud(mutated) as cloud, pytest.raises(RuntimeError, match="not allowed to be used with Arn"):
        cloud.deploy(ORCHESTRATION)


def test_audio_is_written_once_even_by_a_principal_allowed_everything(local_cloud):
    """The bucket policy denies a PutObject under audio/ that does not carry If-None-Match: *, and any write
    under transcripts/ and notes/ by a principal other than the pipeline's."""
    from localcloud.iam_policy import Principal

    iam = local_cloud.client("iam")
    role = iam.create_role(
        RoleName="operator", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "kms:*"], "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="operator", PolicyName="all", PolicyDocument=json.dumps(everything))
    operator = Principal(role["Arn"], "123456789012")
    for stack in (CHOREOGRAPHY, ORCHESTRATION):
        bucket = local_cloud.outputs[stack]["EncounterBucketName"]
        audio = f"arn:aws:s3:::{bucket}/audio/enc-1.wav"
        put = {"s3:ObjectCreationOperation": "true"}  # what S3 evaluates a PutObject with
        plain = local_cloud.access.decide(operator, "s3:PutObject", audio, put)
        assert not plain.allowed and "explicit deny in a resource-based policy" in plain.reason
        conditional = local_cloud.access.decide(operator, "s3:PutObject", audio, {**put, "s3:if-none-match": "*"})
        assert conditional.allowed
        # Transcripts and notes are written only by the pipeline's own roles; failure records are not fenced.
        for prefix in ("notes/", "transcripts/"):
            fenced = local_cloud.access.decide(
                operator, "s3:PutObject", f"arn:aws:s3:::{bucket}/{prefix}enc-1.json", put
            )
            assert not fenced.allowed and "explicit deny" in fenced.reason
        assert local_cloud.access.decide(
            operator, "s3:PutObject", f"arn:aws:s3:::{bucket}/failures/x.json", put
        ).allowed


def test_a_multipart_upload_to_audio_needs_if_none_match_only_where_s3_takes_it(local_cloud):
    """The real sequence, as S3 authorizes it: CreateMultipartUpload and UploadPart (s3:PutObject with
    s3:ObjectCreationOperation false, no conditional header) are allowed; CompleteMultipartUpload is
    refused without If-None-Match and allowed with it."""
    from localcloud.iam_policy import Principal

    iam = local_cloud.client("iam")
    role = iam.create_role(
        RoleName="uploader", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]
    writes = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}
    iam.put_role_policy(RoleName="uploader", PolicyName="writes", PolicyDocument=json.dumps(writes))
    uploader = Principal(role["Arn"], "123456789012")
    table = local_cloud.access.table

    def allowed(operation: str, params: dict) -> bool:
        action = table.action("s3", operation, params)
        [resource] = table.resources(action, params)
        return local_cloud.access.decide(uploader, action, resource, table.context(action, params, operation)).allowed

    for stack in (CHOREOGRAPHY, ORCHESTRATION):
        target = {"Bucket": local_cloud.outputs[stack]["EncounterBucketName"], "Key": "audio/enc-9.wav"}
        assert allowed("CreateMultipartUpload", target)
        assert allowed("UploadPart", {**target, "UploadId": "u", "PartNumber": 1})
        assert not allowed("CompleteMultipartUpload", {**target, "UploadId": "u"})
        assert allowed("CompleteMultipartUpload", {**target, "UploadId": "u", "IfNoneMatch": "*"})
        assert not allowed("PutObject", target)
        assert allowed("PutObject", {**target, "IfNoneMatch": "*"})
