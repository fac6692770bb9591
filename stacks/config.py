"""Deployment configuration from CDK context, validated with clear errors."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_logs as logs
from constructs import Node

SPECIALTIES = ("PRIMARYCARE", "CARDIOLOGY", "NEUROLOGY", "ONCOLOGY", "RADIOLOGY", "UROLOGY")
MEDICAL_TYPES = ("DICTATION", "CONVERSATION")
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "global.")
_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip
LOG_RETENTION_DAYS = {days: getattr(logs.RetentionDays, name) for days, name in _RETENTION_NAMES.items()}


@dataclass(frozen=True)
class PipelineConfig:
    bedrock_model_id: str = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    medical_specialty: str = "PRIMARYCARE"
    medical_type: str = "DICTATION"
    retention_days: int = 365
    log_retention_days: int = 365
    alarm_email: str | None = None
    stalled_job_minutes: int = 120
    watchdog_interval_minutes: int = 15
    upload_grace_minutes: int = 15
    upload_window_hours: int = 24
    quota_wait_minutes: int = 180
    max_receive_count: int = 5
    oldest_message_alarm_seconds: int = 900
    powertools_layer_version: int = 27
    deploy_in_vpc: bool = False
    replication_destination_bucket_arn: str | None = None
    replication_destination_kms_key_arn: str | None = None

    def __post_init__(self) -> None:
        if self.medical_specialty not in SPECIALTIES:
            raise ValueError(
                f"medical_specialty must be one of {', '.join(SPECIALTIES)}, not {self.medical_specialty!r}"
            )
        if self.medical_type not in MEDICAL_TYPES:
            raise ValueError(f"medical_type must be one of {', '.join(MEDICAL_TYPES)}, not {self.medical_type!r}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"log_retention_days must be one of {sorted(LOG_RETENTION_DAYS)}")
        for name in (
            "retention_days",
            "stalled_job_minutes",
            "watchdog_interval_minutes",
            "upload_grace_minutes",
            "upload_window_hours",
            "quota_wait_minutes",
            "max_receive_count",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer")
        if not self.bedrock_model_id or "/" in self.bedrock_model_id:
            raise ValueError("bedrock_model_id must be a model or inference profile id, not an ARN")
        if bool(self.replication_destination_bucket_arn) != bool(self.replication_destination_kms_key_arn):
            raise ValueError("replication_destination_bucket_arn and replication_destination_kms_key_arn go together")

    @property
    def is_inference_profile(self) -> bool:
        return self.bedrock_model_id.startswith(INFERENCE_PROFILE_PREFIXES)

    @property
    def foundation_model_id(self) -> str:
        if self.is_inference_profile:
            return self.bedrock_model_id.split(".", 1)[1]
        return self.bedrock_model_id

    @classmethod
    def from_context(cls, node: Node) -> PipelineConfig:
        values = {}
        for name, field in cls.__dataclass_fields__.items():
            raw = node.try_get_context(name)
            if raw is None or raw == "":
                continue
            if field.type in ("int",):
                try:
                    raw = int(raw)
                except (TypeError, ValueError):
                    raise ValueError(f"context {name} must be an integer, not {raw!r}") from None
            elif field.type == "bool":
                raw = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
            else:
                raw = str(raw)
            values[name] = raw
        return cls(**values)
