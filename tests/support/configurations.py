"""The configuration matrix: every CDK context key docs/reference.md documents, set to a value other than its
default, alone where the key changes what the stacks are made of and together where keys interact.

A key whose only effect is a number written into the templates (a retention, a period, a retry policy's tries
and waits) is not synthesized alone: every such key is set at once to the lowest value it accepts
(`lowest-numbers`), and again to the highest (`highest-numbers`), the ends of each range being where a
template could break. Each configuration is synthesized with the cdk-nag packs and cached by content
(tests/support/synth_cache.py), checked by cfn-lint and checkov (tests/support/template_scan.py, run by
`make test` and `make scan`) and deployed on the local cloud (tests/localcloud/test_configuration_matrix.py).

`python -m tests.support.configurations` prints each configuration's synth directory, synthesizing what is
missing.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import synth_cache

REFERENCE = synth_cache.ROOT / "docs" / "reference.md"

ALARM_EMAIL = "oncall@example.org"
FHIR_ENDPOINT = "https://healthlake.us-east-1.amazonaws.com/datastore/0123456789abcdef0123456789abcdef/r4/"
REPLICATION = {
    "replication_destination_bucket_arn": "arn:aws:s3:::encounters-replica",
    "replication_destination_kms_key_arn": "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}
# What each stack outputs whatever the context, and what an option adds.
OUTPUTS = ("EncounterBucketName", "AlarmTopicArn")
REVIEW_PAGE_OUTPUTS = ("ReviewPageUrl", "ReviewUserPoolId")

# Every number at the lowest value synth accepts (stacks/config.py, lambdas/clinical/policy.py).
LOWEST_NUMBERS = {
    "max_speaker_labels": 2,
    "retention_days": 1,
    "log_retention_days": 1,
    "stalled_job_minutes": 30,
    "watchdog_interval_minutes": 1,
    "upload_grace_minutes": 1,
    "upload_window_hours": 1,
    "quota_wait_minutes": 1,
    "review_window_hours": 2,
    "review_reminder_hours": 1,
    "max_receive_count": 1,
    "oldest_message_alarm_seconds": 1,
    "powertools_layer_version": 1,
    "note_tries": 1,
    "note_timeout_seconds": 60,
    **{
        f"{step}_{name}": value
        for step in ("note", "model_output", "transcription_start", "transcription_status", "transcript_wait", "review")
        for name, value in (("interval_seconds", 1), ("backoff_rate", 1), ("max_delay_seconds", 1))
    },
    "model_output_tries": 1,
    "transcription_status_tries": 1,
    "transcript_wait_tries": 1,
    "review_tries": 1,
}
# Every number at the highest value synth accepts, or, where nothing bounds it, a large one.
HIGHEST_NUMBERS = {
    "max_speaker_labels": 30,
    "retention_days": 3653,
    "signed_retention_days": 36525,
    "log_retention_days": 3653,
    "stalled_job_minutes": 1440,
    "watchdog_interval_minutes": 1440,
    "upload_grace_minutes": 1440,
    "upload_window_hours": 720,
    # The most the start's 1000 tries wait, at 450 s a try on average (its longest delay, 900 s, halved).
    "quota_wait_minutes": 7500,
    # The longest review window the rest leaves in Step Functions' one-year execution: three windows (the draft's
    # and two redrafts') after the 2048 hours the retry policy below may take outside them (clinical.policy).
    "review_window_hours": 2237,
    "review_reminder_hours": 2236,
    "max_receive_count": 1000,
    "oldest_message_alarm_seconds": 1209600,
    "note_timeout_seconds": 900,
    **{
        f"{step}_{name}": value
        for step in ("note", "model_output", "transcription_status", "transcript_wait", "review")
        # The most tries, each wait at most a minute: 1000 tries of waits of up to 12 hours would run past the
        # execution's year on their own (refused at synth; LONGEST_RETRY_DELAYS has those delays).
        for name, value in (("tries", 1000), ("interval_seconds", 1), ("backoff_rate", 10), ("max_delay_seconds", 60))
    },
    "transcription_start_interval_seconds": 900,
    "transcription_start_backoff_rate": 10,
    "transcription_start_max_delay_seconds": 900,
}
# Every retry step's longest waits (12 hours, SQS's longest visibility), with a second try to wait for.
LONGEST_RETRY_DELAYS = {
    f"{step}_{name}": value
    for step in ("note", "model_output", "transcription_status", "transcript_wait", "review")
    for name, value in (("tries", 2), ("interval_seconds", 43200), ("backoff_rate", 10), ("max_delay_seconds", 43200))
}


@dataclass(frozen=True)
class Configuration:
    """One deployment's context, and the outputs each of its stacks must have."""

    name: str
    context: dict = field(default_factory=dict)
    outputs: tuple[str, ...] = OUTPUTS

    def cdk_out(self) -> Path:
        """Its synth (with the cdk-nag packs), built if no process has built it for the current sources."""
        return synth_cache.cdk_out(self.context)


def _with_review_page(name: str, context: dict) -> Configuration:
    return Configuration(name, {"review_page": True, **context}, (*OUTPUTS, *REVIEW_PAGE_OUTPUTS))


EVERYTHING_ON = {
    "medical_specialty": "PRIMARYCARE",  # its only accepted value, set explicitly
    "alarm_email": ALARM_EMAIL,
    "fhir_endpoint": FHIR_ENDPOINT,
    "deploy_in_vpc": True,
    "reserve_concurrency": True,
    "speaker_identification": "channels",
    "medical_type": "DICTATION",
    "bedrock_model_id": "amazon.nova-lite-v1:0",
    **REPLICATION,
    **HIGHEST_NUMBERS,
}

MATRIX: tuple[Configuration, ...] = (
    Configuration("default"),
    # Alone: each changes what the stacks are made of, or what IAM allows.
    Configuration("alarm-email", {"alarm_email": ALARM_EMAIL}),
    _with_review_page("review-page", {}),
    Configuration("fhir-endpoint", {"fhir_endpoint": FHIR_ENDPOINT}),
    Configuration("vpc", {"deploy_in_vpc": True}),
    Configuration("replication", REPLICATION),
    Configuration("signed-retention", {"signed_retention_days": 2192}),
    Configuration("speaker-channels", {"speaker_identification": "channels"}),
    Configuration("speaker-none", {"speaker_identification": "none"}),
    Configuration("dictation", {"medical_type": "DICTATION"}),
    Configuration("reserved-concurrency", {"reserve_concurrency": True}),
    Configuration("foundation-model", {"bedrock_model_id": "amazon.nova-lite-v1:0"}),
    Configuration("global-profile", {"bedrock_model_id": "global.anthropic.claude-haiku-4-5-20251001-v1:0"}),
    # Together: every number at each end of its range.
    Configuration("lowest-numbers", LOWEST_NUMBERS),
    Configuration("highest-numbers", HIGHEST_NUMBERS),
    Configuration("longest-retry-delays", LONGEST_RETRY_DELAYS),
    # Together: the options that interact.
    _with_review_page("review-page-in-vpc", {"deploy_in_vpc": True}),
    Configuration("fhir-endpoint-in-vpc", {"fhir_endpoint": FHIR_ENDPOINT, "deploy_in_vpc": True}),
    _with_review_page(
        "alarm-review-fhir-in-vpc", {"alarm_email": ALARM_EMAIL, "fhir_endpoint": FHIR_ENDPOINT, "deploy_in_vpc": True}
    ),
    Configuration("retention-with-signed", {"retention_days": 30, "signed_retention_days": 3653}),
    Configuration("review-window-with-reminder", {"review_window_hours": 168, "review_reminder_hours": 24}),
    Configuration("labels-dictation", {"medical_type": "DICTATION", "max_speaker_labels": 5}),
    _with_review_page("everything-on", EVERYTHING_ON),
)


BACKOFF_SUFFIXES = ("_tries", "_interval_seconds", "_backoff_rate", "_max_delay_seconds")


def documented_keys(reference: str) -> set[str]:
    """The context keys in the first column of docs/reference.md's tables under "## Configuration": each
    backquoted name, a `_suffix` completed with its row's step (`model_output_tries` (and `_interval_seconds`)),
    and "the three others" of a step's `_tries` as the retry table writes them."""
    section = reference.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    keys = set()
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) < 3 or set(cells[1].strip()) <= {"-"} or cells[1].strip() == "key":
            continue
        names = re.findall(r"`([a-z0-9_]+)`", cells[1])
        if not names:
            continue
        step = re.sub(r"_(tries|interval_seconds)$", "", names[0])
        keys.update(step + name if name.startswith("_") else name for name in names)
        if "the three others" in cells[1]:
            keys.update(step + suffix for suffix in BACKOFF_SUFFIXES)
    return keys


def matrix_keys() -> set[str]:
    return {key for configuration in MATRIX for key in configuration.context}


def cdk_outs() -> list[Path]:
    """Every configuration's synth, in the matrix's order."""
    return [configuration.cdk_out() for configuration in MATRIX]


if __name__ == "__main__":
    sys.stdout.write("".join(f"{path}\n" for path in cdk_outs()))
