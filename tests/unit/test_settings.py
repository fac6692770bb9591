"""A function deployed without a setting fails with a message that names it."""

import pytest

from clinical.errors import ConfigurationError
from clinical.settings import PipelineSettings

COMPLETE = {
    "PIPELINE_VARIANT": "choreography",
    "TRANSCRIPTION_JOB_PREFIX": "Stack",
    "KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/1",
    "BEDROCK_MODEL_ID": "model",
    "MAX_RECEIVE_COUNT": "5",
    "STALLED_JOB_MINUTES": "120",
}


def test_complete_environment_gives_settings_with_defaults():
    settings = PipelineSettings.from_env(COMPLETE)
    assert (settings.medical_specialty, settings.medical_type, settings.max_receive_count) == (
        "PRIMARYCARE",
        "CONVERSATION",
        5,
    )
    assert settings.transcription_settings == {}


def test_the_job_settings_the_stack_wrote_are_read_and_anything_else_is_named():
    written = '{"ShowSpeakerLabels": true, "MaxSpeakerLabels": 2}'
    settings = PipelineSettings.from_env({**COMPLETE, "TRANSCRIPTION_SETTINGS": written})
    assert settings.transcription_settings == {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
    for bad in ("labels", "[1, 2]"):
        with pytest.raises(ConfigurationError, match="TRANSCRIPTION_SETTINGS is not a JSON object"):
            PipelineSettings.from_env({**COMPLETE, "TRANSCRIPTION_SETTINGS": bad})


@pytest.mark.parametrize("missing", sorted(set(COMPLETE) - {"STALLED_JOB_MINUTES"}))
def test_missing_setting_is_named(missing):
    env = {k: v for k, v in COMPLETE.items() if k != missing}
    with pytest.raises(ConfigurationError, match=missing):
        PipelineSettings.from_env(env)


def test_non_integer_setting_is_named():
    with pytest.raises(ConfigurationError, match="MAX_RECEIVE_COUNT must be an integer"):
        PipelineSettings.from_env({**COMPLETE, "MAX_RECEIVE_COUNT": "five"})
