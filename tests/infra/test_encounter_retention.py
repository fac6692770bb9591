"""The encounter bucket's lifecycle: the draft and its inputs expire after retention_days, the signed note and
its FHIR export (the medical record) are kept, every version of them, unless signed_retention_days is set."""

from aws_cdk.assertions import Template

from clinical.prefixes import DATA_PREFIXES, SIGNED_NOTE_PREFIXES
from tests.infra.conftest import resources, synthesized

SIGNED = set(SIGNED_NOTE_PREFIXES)
DRAFT_AND_INPUTS = set(DATA_PREFIXES) - SIGNED


def encounter_lifecycle(template: Template) -> dict[str, dict]:
    """The encounter bucket's lifecycle rules by prefix (the KMS-encrypted bucket; the access-log bucket is SSE-S3)."""
    [bucket] = [
        b["Properties"]
        for b in resources(template, "AWS::S3::Bucket").values()
        if b["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    ]
    return {rule["Prefix"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}


def test_by_default_signed_notes_and_their_exports_never_expire_and_keep_every_version(variant):
    rules = encounter_lifecycle(variant)
    assert set(rules) == set(DATA_PREFIXES)
    for prefix in SIGNED:
        assert "ExpirationInDays" not in rules[prefix] and "NoncurrentVersionExpiration" not in rules[prefix]
        assert rules[prefix]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_the_draft_and_its_inputs_still_expire_after_retention_days(variant):
    rules = encounter_lifecycle(variant)
    for prefix in DRAFT_AND_INPUTS:
        assert rules[prefix]["ExpirationInDays"] == 365, prefix
        assert rules[prefix]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}, prefix


def test_a_configured_signed_retention_expires_signed_notes_and_their_versions_after_it(tmp_path_factory):
    """GIVEN signed_retention_days 3653 (ten years) WHEN synthesized THEN signed/ and exports/fhir/ expire after
    it, each old version as long after it was replaced; the other prefixes keep their rules."""
    rules = encounter_lifecycle(synthesized(tmp_path_factory, {"signed_retention_days": 3653}))
    for prefix in SIGNED:
        assert rules[prefix]["ExpirationInDays"] == 3653
        assert rules[prefix]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 3653}
    assert {rules[prefix]["ExpirationInDays"] for prefix in DRAFT_AND_INPUTS} == {365}
