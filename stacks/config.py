"""Deployment configuration from CDK context, validated with clear errors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from clinical.conversation import MAX_SPEAKER_LABELS, SPEAKER_IDENTIFICATION, job_settings
from clinical.fhir_endpoint import HEALTHLAKE_ENDPOINT
from clinical.policy import (
    DEFAULT,
    MAX_REDRAFTS,
    MAX_SQS_RECEIVES,
    TRANSCRIPT_WAIT_SECONDS,
    Policy,
    PolicyError,
    ReviewWindow,
    flat_names,
    hours_outside_review,
)

if TYPE_CHECKING:
    from constructs import Node

# Batch Transcribe Medical (StartMedicalTranscriptionJob) accepts only this Specialty.
SPECIALTIES = ("PRIMARYCARE",)
MEDICAL_TYPES = ("DICTATION", "CONVERSATION")
# Where a call naming a cross-region inference profile may come from (the source Regions), per geography
# prefix of its id: Amazon Bedrock user guide, "Supported Regions and models for inference profiles" and
# "Geographic cross-Region inference". The union over models: a model's own page may list fewer. A
# `global.` profile may be called from any commercial Region, so it is not restricted here.
PROFILE_SOURCE_REGIONS = {
    "us.": ("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
    "us-gov.": ("us-gov-east-1", "us-gov-west-1"),
    "eu.": ("eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3"),
    "apac.": (
        "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
        "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
    ),
    "jp.": ("ap-northeast-1", "ap-northeast-3"),
    "au.": ("ap-southeast-2", "ap-southeast-4"),
}  # fmt: skip
INFERENCE_PROFILE_PREFIXES = (*PROFILE_SOURCE_REGIONS, "global.")
# Where batch Transcribe Medical (StartMedicalTranscriptionJob) is offered: the list `scribe doctor` checks, with
# its source, kept in one file (scribe/regions.json). Standard Transcribe is offered in far more regions.
TRANSCRIBE_MEDICAL_BATCH_REGIONS = tuple(
    json.loads((Path(__file__).resolve().parents[1] / "scribe" / "regions.json").read_text())[
        "transcribe_medical_batch"
    ]["regions"]
)
MAX_RECEIVE_COUNT = (1, 1000)  # SQS RedrivePolicy maxReceiveCount
BOOLEANS = {"true": True, "false": False}
# Matched whole (fullmatch): `^...$` with match() would take a trailing newline.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_BUCKET_ARN = re.compile(r"arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+")
# Numbers as cdk.json or -c writes them, in ASCII digits: int() and float() would also take other scripts'
# digits, '1_000', 'nan' and 'inf'.
_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip
# CloudWatch Logs' retention periods, in days, and their names in aws_logs.RetentionDays (read in the
# foundation construct: this module loads no CDK, so tools read cdk.json without starting jsii).
LOG_RETENTION_DAYS = _RETENTION_NAMES
# The shortest retention of signed notes: six years, leap days included, HIPAA's documentation retention
# (45 CFR 164.316(b)(2)(i)); state medical-record laws often ask longer, so the default is to keep them.
SIGNED_RETENTION_FLOOR_DAYS = 2192
# Step Functions ends a Standard execution after a year (its quotas page: maximum execution time).
MAX_EXECUTION_HOURS = 365 * 24


class ConfigError(ValueError):
    """A CDK context value AWS would not accept: one line naming the key, the value and what is allowed."""


@dataclass(frozen=True)
class PipelineConfig:
    bedrock_model_id: str = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    medical_specialty: str = "PRIMARYCARE"
    medical_type: str = "CONVERSATION"
    # Who spoke: Transcribe's speaker labels (up to max_speaker_labels people in one recording), channel
    # identification (two-channel recordings), or none (clinical.transcription.job_settings).
    speaker_identification: str = "labels"
    max_speaker_labels: int = 2
    retention_days: int = 365
    # Days before signed notes and their FHIR exports expire; None (the default) keeps them, every version.
    signed_retention_days: int | None = None
    log_retention_days: int = 365
    alarm_email: str | None = None
    stalled_job_minutes: int = 120
    watchdog_interval_minutes: int = 15
    upload_grace_minutes: int = 15
    upload_window_hours: int = 24
    quota_wait_minutes: int = 180
    # How long a draft note awaits a clinician's review.
    review_window_hours: int = 72
    # How many hours before the review window ends the clinician is reminded (ReviewReminder).
    review_reminder_hours: int = 12
    max_receive_count: int = 5
    oldest_message_alarm_seconds: int = 900
    powertools_layer_version: int = 27
    deploy_in_vpc: bool = False
    # Opt-in: reserving concurrency takes it from the account's pool, and Lambda refuses a reservation
    # that leaves less than 100 unreserved (new accounts may have a lower total), failing the deploy.
    reserve_concurrency: bool = False
    replication_destination_bucket_arn: str | None = None
    replication_destination_kms_key_arn: str | None = None
    # Optional: a FHIR endpoint (an AWS HealthLake data store's, as DescribeFHIRDatastore gives it) the FHIR
    # export sends each signed note's DocumentReference to, besides writing it under exports/fhir/.
    fhir_endpoint: str | None = None
    # Opt-in: the clinician's review page on AWS, behind a Cognito user pool of the stack's own (API Gateway,
    # a function, managed login). Off by default: an internet-facing page of PHI is a choice.
    review_page: bool = False
    # Retries, backoff and timeouts of both variants (clinical.policy); cdk.json overrides a value by its
    # flat name (note_tries, note_backoff_rate, note_timeout_seconds, ...), and quota_wait_minutes sets the
    # transcription start's tries.
    policy: Policy = field(default=DEFAULT)

    def __post_init__(self) -> None:
        _one_of("medical_specialty", self.medical_specialty, SPECIALTIES, "batch Transcribe Medical accepts no other")
        _one_of("medical_type", self.medical_type, MEDICAL_TYPES)
        _one_of("speaker_identification", self.speaker_identification, SPEAKER_IDENTIFICATION)
        low, high = MAX_SPEAKER_LABELS
        if not low <= self.max_speaker_labels <= high:
            raise ConfigError(
                f"max_speaker_labels must be from {low} to {high} (what Transcribe accepts), not {self.max_speaker_labels!r}"
            )
        _one_of("log_retention_days", self.log_retention_days, tuple(LOG_RETENTION_DAYS))
        for name in (
            "retention_days",
            "stalled_job_minutes",
            "watchdog_interval_minutes",
            "upload_grace_minutes",
            "upload_window_hours",
            "quota_wait_minutes",
            "review_window_hours",
            "review_reminder_hours",
            "oldest_message_alarm_seconds",
            "powertools_layer_version",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer (1 or more), not {getattr(self, name)!r}")
        if self.signed_retention_days is not None and self.signed_retention_days < SIGNED_RETENTION_FLOOR_DAYS:
            raise ConfigError(
                f"signed_retention_days must be at least {SIGNED_RETENTION_FLOOR_DAYS} (six years: HIPAA's documentation "
                "retention, 45 CFR 164.316(b)(2)(i); state medical-record laws are often longer), or left out to keep "
                f"signed notes, not {self.signed_retention_days!r}"
            )
        if self.review_reminder_hours >= self.review_window_hours:
            raise ConfigError(
                f"review_reminder_hours ({self.review_reminder_hours}) must be less than review_window_hours "
                f"({self.review_window_hours}): the reminder goes that many hours before the window ends"
            )
        if self.upload_grace_minutes + self.watchdog_interval_minutes > self.upload_window_hours * 60:
            raise ConfigError(
                f"upload_window_hours ({self.upload_window_hours}) must cover upload_grace_minutes "
                f"({self.upload_grace_minutes}) plus watchdog_interval_minutes ({self.watchdog_interval_minutes}): "
                "a sweep takes in only uploads aged between the grace and the window, so a shorter window lets a lost "
                "upload pass between two sweeps unseen"
            )
        shortest = 2 * TRANSCRIPT_WAIT_SECONDS // 60
        if self.stalled_job_minutes < shortest:
            raise ConfigError(
                f"stalled_job_minutes must be at least {shortest} (two of the state machine's "
                f"{TRANSCRIPT_WAIT_SECONDS // 60}-minute transcript waits; a job can take longer than that), "
                f"not {self.stalled_job_minutes!r}"
            )
        try:
            self.policy.check()  # the values as given, before the quota wait sets the start's tries
        except PolicyError as error:
            raise ConfigError(str(error)) from None
        mean_wait = self.policy.transcription_start.max_delay_seconds / 2
        longest_quota_wait = int(MAX_SQS_RECEIVES * mean_wait // 60)
        if self.quota_wait_minutes > longest_quota_wait:
            raise ConfigError(
                f"quota_wait_minutes must be at most {longest_quota_wait} ({MAX_SQS_RECEIVES} tries of a start, at "
                f"{mean_wait:g} s a try on average: half of transcription_start_max_delay_seconds), "
                f"not {self.quota_wait_minutes!r}"
            )
        object.__setattr__(self, "policy", self.policy.with_quota_wait(self.quota_wait_minutes).check())
        outside = hours_outside_review(self.policy, self.stalled_job_minutes)
        longest_window = (MAX_EXECUTION_HOURS - outside) // (1 + MAX_REDRAFTS)
        if longest_window < 1:
            raise ConfigError(
                f"the retry policy lets an encounter's execution run {outside} hours outside its reviews (every try "
                "and wait of its steps at their longest), and Step Functions ends an execution after a year: lower "
                "the tries or the delays"
            )
        if ReviewWindow(self.review_window_hours).longest_hours + outside > MAX_EXECUTION_HOURS:
            raise ConfigError(
                f"review_window_hours must be at most {longest_window} (an execution waits a window for the draft and "
                f"each of {MAX_REDRAFTS} redrafts, up to {outside} hours outside them, and Step Functions ends an "
                f"execution after a year), not {self.review_window_hours!r}"
            )
        low, high = MAX_RECEIVE_COUNT
        if not low <= self.max_receive_count <= high:
            raise ConfigError(
                f"max_receive_count must be an integer from {low} to {high}, not {self.max_receive_count!r}"
            )
        if not self.bedrock_model_id or "/" in self.bedrock_model_id:
            raise ConfigError(
                f"bedrock_model_id must be a model or inference profile id (e.g. us.anthropic.claude-haiku-4-5-20251001-v1:0), "
                f"not an ARN: {self.bedrock_model_id!r}"
            )
        if self.alarm_email is not None and not _EMAIL.fullmatch(self.alarm_email):
            raise ConfigError(f"alarm_email must be an email address (name@domain), not {self.alarm_email!r}")
        if bool(self.replication_destination_bucket_arn) != bool(self.replication_destination_kms_key_arn):
            raise ConfigError("replication_destination_bucket_arn and replication_destination_kms_key_arn go together")
        for name, pattern, example in (
            ("replication_destination_bucket_arn", _BUCKET_ARN, "arn:aws:s3:::BUCKET"),
            ("replication_destination_kms_key_arn", _KEY_ARN, "arn:aws:kms:REGION:ACCOUNT:key/KEY-ID"),
        ):
            value = getattr(self, name)
            if value is not None and not pattern.fullmatch(value):
                raise ConfigError(f"{name} must be an ARN like {example}, not {value!r}")
        if self.fhir_endpoint is not None and not HEALTHLAKE_ENDPOINT.fullmatch(self.fhir_endpoint):
            raise ConfigError(
                "fhir_endpoint must be a HealthLake data store's FHIR endpoint, "
                f"https://healthlake.REGION.amazonaws.com/datastore/DATASTORE-ID/r4/, not {self.fhir_endpoint!r}"
            )

    @property
    def fhir_datastore(self) -> tuple[str, str] | None:
        """The Region and id of the HealthLake data store fhir_endpoint names, if it names one."""
        found = HEALTHLAKE_ENDPOINT.fullmatch(self.fhir_endpoint or "")
        return (found.group(1), found.group(2)) if found else None

    @property
    def profile_source_regions(self) -> tuple[str, ...] | None:
        """The Regions the configured inference profile may be called from; None when any Region may."""
        for prefix, regions in PROFILE_SOURCE_REGIONS.items():
            if self.bedrock_model_id.startswith(prefix):
                return regions
        return None

    @property
    def deploy_regions(self) -> tuple[str, ...]:
        """The Regions the stacks can work in: batch Transcribe Medical is offered there and the configured
        inference profile (if its geography limits it) may be called from there."""
        profile = self.profile_source_regions
        return tuple(r for r in TRANSCRIBE_MEDICAL_BATCH_REGIONS if profile is None or r in profile)

    def check_region(self, region: str) -> None:
        """Refuse a deploy Region without batch Transcribe Medical, or one the inference profile cannot be
        called from."""
        if region not in TRANSCRIBE_MEDICAL_BATCH_REGIONS:
            raise ConfigError(
                f"region {region!r} does not offer Transcribe Medical batch transcription: "
                f"allowed regions are {', '.join(self.deploy_regions)}"
            )
        regions = self.profile_source_regions
        if regions is not None and region not in regions:
            raise ConfigError(
                f"bedrock_model_id {self.bedrock_model_id!r} cannot be called from region {region!r}: "
                f"allowed regions are {', '.join(self.deploy_regions)}"
            )

    @property
    def transcription_settings(self) -> dict:
        """The Settings every Transcribe job of both variants starts with."""
        return job_settings(self.speaker_identification, self.max_speaker_labels)

    @property
    def is_inference_profile(self) -> bool:
        return self.bedrock_model_id.startswith(INFERENCE_PROFILE_PREFIXES)

    @property
    def foundation_model_id(self) -> str:
        if self.is_inference_profile:
            return self.bedrock_model_id.split(".", 1)[1]
        return self.bedrock_model_id

    @classmethod
    def from_context_file(cls, path: Path) -> PipelineConfig:
        """What cdk.json's context configures, for a tool that runs without a synth (scribe draft)."""
        context = json.loads(path.read_text()).get("context", {})
        return cls.from_context(SimpleNamespace(try_get_context=context.get))  # type: ignore[arg-type]

    @classmethod
    def from_context(cls, node: Node) -> PipelineConfig:
        """Read every field from CDK context (cdk.json or -c); a value AWS would refuse fails in one line."""
        values, policy_values = {}, {}
        for name, kind in flat_names().items():
            raw = node.try_get_context(name)
            if raw is not None and raw != "":
                policy_values[name] = _number(name, raw, kind)
        for name, field_ in cls.__dataclass_fields__.items():
            raw = node.try_get_context(name)
            if raw is None or raw == "" or name == "policy":
                continue
            if field_.type in ("int", "int | None"):
                raw = _number(name, raw, "int")
            elif field_.type == "bool":
                if not isinstance(raw, bool):
                    _one_of(name, str(raw).lower(), tuple(BOOLEANS))
                    raw = BOOLEANS[str(raw).lower()]
            else:
                raw = str(raw)
            values[name] = raw
        try:
            policy = DEFAULT.with_values(policy_values)
        except PolicyError as error:
            raise ConfigError(str(error)) from None
        return cls(**values, policy=policy)


def _number(name: str, raw: object, kind: str) -> int | float:
    """A context value as the integer (or number, for a backoff rate) it must be."""
    text = str(raw).strip()
    if kind == "int":
        if isinstance(raw, bool) or not _INTEGER.fullmatch(text):
            raise ConfigError(f"context {name} must be an integer, not {raw!r}")
        return int(text)
    if isinstance(raw, bool) or not _DECIMAL.fullmatch(text):
        raise ConfigError(f"context {name} must be a number, not {raw!r}")
    return float(text)


def _one_of(name: str, value: object, allowed: tuple, why: str = "") -> None:
    if value not in allowed:
        reason = f" ({why})" if why else ""
        raise ConfigError(f"{name} must be one of {', '.join(map(str, allowed))}{reason}, not {value!r}")
