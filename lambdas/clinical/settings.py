"""Deployment settings, read from the function's environment (set by the stack from CDK context)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from clinical.environment import require_env
from clinical.errors import ConfigurationError
from clinical.policy import DEFAULT, Policy


@dataclass(frozen=True)
class PipelineSettings:
    variant: str
    job_name_prefix: str
    kms_key_arn: str
    medical_specialty: str
    medical_type: str
    model_id: str
    max_receive_count: int
    stalled_job_minutes: int
    # The lost-upload sweep examines uploads older than the grace period and younger than the window.
    upload_grace_minutes: int = 15
    upload_window_hours: int = 24
    # How long a throttled Transcribe start keeps trying (clinical.throttling), and where choreography
    # puts a throttled request back (its own work queue).
    quota_wait_minutes: int = 180
    work_queue_url: str = ""
    # Where choreography puts a request woken from the line for Transcribe's slots (clinical.waiting_line).
    transcription_requests_url: str = ""
    # Retries, backoff and timeouts of both variants (PIPELINE_POLICY, written by the stack).
    policy: Policy = DEFAULT
    # The Transcribe job's Settings (TRANSCRIPTION_SETTINGS, clinical.transcription.job_settings).
    transcription_settings: dict = field(default_factory=dict)
    # How long a draft note awaits the clinician's review (clinical.review).
    review_window_hours: int = 72
    # How many hours before the window ends the clinician is reminded.
    review_reminder_hours: int = 12

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineSettings:
        env = os.environ if env is None else env

        def required(name: str) -> str:
            return require_env(name, env)

        def integer(name: str) -> int:
            value = required(name)
            try:
                return int(value)
            except ValueError:
                raise ConfigurationError(f"environment variable {name} must be an integer") from None

        return cls(
            variant=required("PIPELINE_VARIANT"),
            job_name_prefix=required("TRANSCRIPTION_JOB_PREFIX"),
            kms_key_arn=required("KMS_KEY_ARN"),
            medical_specialty=env.get("MEDICAL_SPECIALTY", "PRIMARYCARE"),
            medical_type=env.get("MEDICAL_TYPE", "CONVERSATION"),
            model_id=required("BEDROCK_MODEL_ID"),
            max_receive_count=integer("MAX_RECEIVE_COUNT"),
            stalled_job_minutes=integer("STALLED_JOB_MINUTES") if env.get("STALLED_JOB_MINUTES") else 120,
            upload_grace_minutes=integer("UPLOAD_GRACE_MINUTES") if env.get("UPLOAD_GRACE_MINUTES") else 15,
            upload_window_hours=integer("UPLOAD_WINDOW_HOURS") if env.get("UPLOAD_WINDOW_HOURS") else 24,
            quota_wait_minutes=integer("QUOTA_WAIT_MINUTES") if env.get("QUOTA_WAIT_MINUTES") else 180,
            work_queue_url=env.get("WORK_QUEUE_URL", ""),
            transcription_requests_url=env.get("TRANSCRIPTION_REQUESTS_QUEUE_URL", ""),
            policy=policy_from(env),
            transcription_settings=transcription_settings_from(env),
            review_window_hours=integer("REVIEW_WINDOW_HOURS") if env.get("REVIEW_WINDOW_HOURS") else 72,
            review_reminder_hours=integer("REVIEW_REMINDER_HOURS") if env.get("REVIEW_REMINDER_HOURS") else 12,
        )


def policy_from(env: Mapping[str, str]) -> Policy:
    text = env.get("PIPELINE_POLICY", "")
    if not text:
        return DEFAULT
    try:
        return Policy.from_json(text)
    except (ValueError, TypeError):
        raise ConfigurationError("environment variable PIPELINE_POLICY is not a pipeline policy") from None


def transcription_settings_from(env: Mapping[str, str]) -> dict:
    """The job Settings the stack wrote (a JSON object), or none."""
    text = env.get("TRANSCRIPTION_SETTINGS", "")
    if not text:
        return {}
    try:
        settings = json.loads(text)
    except ValueError:
        settings = None
    if not isinstance(settings, dict):
        raise ConfigurationError("environment variable TRANSCRIPTION_SETTINGS is not a JSON object")
    return settings
