"""CDK context values AWS would refuse fail synth with one line naming the key, the value and what is allowed."""

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template

from stacks.app_factory import FEATURE_FLAGS
from stacks.choreography_stack import ChoreographyStack
from stacks.config import ConfigError, PipelineConfig
from tests.infra.conftest import resources, synthesized


def config_error(context: dict) -> str:
    with pytest.raises(ValueError) as raised:
        PipelineConfig.from_context(App(context=context).node)
    return str(raised.value)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {"medical_specialty": "CARDIOLOGY"},
            "medical_specialty must be one of PRIMARYCARE (batch Transcribe Medical accepts no other), not 'CARDIOLOGY'",
        ),
        ({"medical_type": "NOTES"}, "medical_type must be one of DICTATION, CONVERSATION, not 'NOTES'"),
        (
            {"speaker_identification": "both"},
            "speaker_identification must be one of labels, channels, none, not 'both'",
        ),
        ({"max_speaker_labels": 1}, "max_speaker_labels must be from 2 to 30 (what Transcribe accepts), not 1"),
        ({"log_retention_days": 42}, "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90,"),
        (
            {"signed_retention_days": 365},
            "signed_retention_days must be at least 2192 (six years: HIPAA's documentation retention, "
            "45 CFR 164.316(b)(2)(i); state medical-record laws are often longer), or left out to keep signed notes, "
            "not 365",
        ),
        ({"signed_retention_days": "ten years"}, "context signed_retention_days must be an integer, not 'ten years'"),
        ({"max_receive_count": "five"}, "context max_receive_count must be an integer, not 'five'"),
        ({"max_receive_count": 1001}, "max_receive_count must be an integer from 1 to 1000, not 1001"),
        # Only ASCII digits are numbers: int() would take a fullwidth 5 and fail on a superscript 2.
        ({"max_receive_count": "\uff15"}, "context max_receive_count must be an integer, not '\uff15'"),
        ({"max_receive_count": "\u00b2"}, "context max_receive_count must be an integer, not '\u00b2'"),
        ({"note_interval_seconds": "\u0663"}, "context note_interval_seconds must be an integer, not '\u0663'"),
        ({"note_backoff_rate": "nan"}, "context note_backoff_rate must be a number, not 'nan'"),
        ({"note_backoff_rate": "inf"}, "context note_backoff_rate must be a number, not 'inf'"),
        ({"watchdog_interval_minutes": 0}, "watchdog_interval_minutes must be a positive integer (1 or more), not 0"),
        (
            {"stalled_job_minutes": 20},
            "stalled_job_minutes must be at least 30 (two of the state machine's 15-minute transcript waits",
        ),
        ({"deploy_in_vpc": "maybe"}, "deploy_in_vpc must be one of true, false, not 'maybe'"),
        (
            {"review_window_hours": 24, "review_reminder_hours": 24},
            "review_reminder_hours (24) must be less than review_window_hours (24)",
        ),
        ({"review_reminder_hours": 0}, "review_reminder_hours must be a positive integer (1 or more), not 0"),
        ({"note_tries": -2}, "note_tries must be from 1 to 1000 tries in all, not -2"),
        ({"note_backoff_rate": "0.5"}, "note_backoff_rate must be at least 1.0 (Step Functions' BackoffRate"),
        ({"note_backoff_rate": "fast"}, "context note_backoff_rate must be a number, not 'fast'"),
        ({"note_timeout_seconds": 20}, "note_timeout_seconds must be from 60 (a model call may take that long)"),
        ({"transcript_wait_tries": "many"}, "context transcript_wait_tries must be an integer, not 'many'"),
        ({"reserve_concurrency": "yes"}, "reserve_concurrency must be one of true, false, not 'yes'"),
        ({"alarm_email": "oncall"}, "alarm_email must be an email address (name@domain), not 'oncall'"),
        # A value is matched whole: `$` alone would let a trailing newline through.
        (
            {"alarm_email": "oncall@example.org\n"},
            "alarm_email must be an email address (name@domain), not 'oncall@example.org\\n'",
        ),
        (
            {"bedrock_model_id": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"},
            "bedrock_model_id must be a model or inference profile id",
        ),
        (
            {"fhir_endpoint": "https://fhir.example.org/r4/"},
            "fhir_endpoint must be a HealthLake data store's FHIR endpoint, https://healthlake.REGION.amazonaws.com/",
        ),
        (
            {"fhir_endpoint": f"https://healthlake.us-east-1.amazonaws.com/datastore/{'0f' * 16}/r4/\n"},
            "fhir_endpoint must be a HealthLake data store's FHIR endpoint, https://healthlake.REGION.amazonaws.com/",
        ),
        (
            {"replication_destination_bucket_arn": "replica", "replication_destination_kms_key_arn": "key"},
            "replication_destination_bucket_arn must be an ARN like arn:aws:s3:::BUCKET, not 'replica'",
        ),
        ({"replication_destination_bucket_arn": "arn:aws:s3:::replica"}, "go together"),
        (
            {
                "replication_destination_bucket_arn": "arn:aws:s3:::replica\n",
                "replication_destination_kms_key_arn": "arn:aws:kms:us-west-2:123456789012:key/abc-123",
            },
            "replication_destination_bucket_arn must be an ARN like arn:aws:s3:::BUCKET, not 'arn:aws:s3:::replica\\n'",
        ),
        (
            {
                "replication_destination_bucket_arn": "arn:aws:s3:::replica",
                "replication_destination_kms_key_arn": "arn:aws:kms:us-west-2:\uff11\uff12\uff13456789012:key/abc-123",
            },
            "replication_destination_kms_key_arn must be an ARN like arn:aws:kms:REGION:ACCOUNT:key/KEY-ID",
        ),
    ],
)
def test_a_value_aws_would_refuse_fails_in_one_line_naming_key_value_and_allowed(context, expected):
    message = config_error(context)
    assert message.startswith(expected) or expected in message
    assert "\n" not in message


def test_context_from_the_command_line_is_parsed_as_cdk_json_would_be():
    config = PipelineConfig.from_context(App(context={"max_receive_count": "3", "reserve_concurrency": "true"}).node)
    assert (config.max_receive_count, config.reserve_concurrency) == (3, True)


def stack_in(region: str, model: str = "us.anthropic.claude-haiku-4-5-20251001-v1:0") -> ChoreographyStack:
    return ChoreographyStack(
        App(context=FEATURE_FLAGS),
        "Stack",
        config=PipelineConfig(bedrock_model_id=model),
        env=Environment(region=region),
    )


def test_a_us_profile_in_a_known_eu_region_fails_synth_naming_the_allowed_regions():
    with pytest.raises(ValueError) as raised:
        stack_in("eu-west-1")
    assert str(raised.value) == (
        "bedrock_model_id 'us.anthropic.claude-haiku-4-5-20251001-v1:0' cannot be called from region 'eu-west-1': "
        "allowed regions are us-east-1, us-east-2, us-west-2"
    )


@pytest.mark.parametrize(
    ("region", "model"),
    [
        ("us-west-2", "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("eu-central-1", "eu.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("ap-southeast-2", "apac.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("ca-central-1", "global.anthropic.claude-haiku-4-5-20251001-v1:0"),
    ],
)
def test_a_profile_in_its_own_geography_synthesizes(region, model):
    assert stack_in(region, model).region == region


@pytest.mark.parametrize(
    ("region", "model"),
    [
        ("us-gov-west-1", "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("us-east-1", "eu.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("eu-west-2", "apac.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("us-east-1", "us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ],
)
def test_a_profile_outside_its_geography_fails_synth(region, model):
    with pytest.raises(ValueError, match=f"cannot be called from region '{region}'"):
        stack_in(region, model)


def test_an_environment_agnostic_stack_carries_a_rule_that_stops_deploy_outside_its_regions(choreography):
    """The region is unknown at synth: CloudFormation evaluates Rules before it creates anything."""
    rule = choreography.to_json()["Rules"]["DeployRegion"]
    [assertion] = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [list(PipelineConfig().deploy_regions), {"Ref": "AWS::Region"}]}
    assert "us-east-1, us-east-2, us-west-2:" in assertion["AssertDescription"]


def test_a_region_without_transcribe_medical_batch_fails_synth_whatever_the_model():
    with pytest.raises(ValueError, match="region 'sa-east-1' does not offer Transcribe Medical batch transcription"):
        stack_in("sa-east-1", "global.anthropic.claude-haiku-4-5-20251001-v1:0")


def test_reserving_concurrency_is_opt_in_and_stays_compliant(tmp_path_factory):
    template = synthesized(tmp_path_factory, {"reserve_concurrency": True})
    reserved = [
        f["Properties"].get("ReservedConcurrentExecutions")
        for f in resources(template, "AWS::Lambda::Function").values()
    ]
    assert reserved and all(r and r >= 1 for r in reserved)


def test_the_app_refuses_a_bad_context_value_in_one_line_without_a_traceback(tmp_path):
    """What `cdk synth -c ...` prints: one line naming the key, the value and the allowed values; exit 1."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    # How the CDK CLI hands `-c key=value` to the app.
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"medical_specialty": "CARDIOLOGY"}),
        "CDK_OUTDIR": str(tmp_path),
    }
    done = subprocess.run([sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "cdk.json context: medical_specialty must be one of PRIMARYCARE (batch Transcribe Medical accepts no other), "
        "not 'CARDIOLOGY'"
    )
    assert "Traceback" not in done.stderr


def both_templates(tmp_path_factory, context: dict) -> tuple[Template, dict]:
    """The choreography template and the state machine's states, synthesized with this context."""
    import json

    from stacks.app_factory import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK, build_app

    app = build_app(context=context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    choreography = Template.from_stack(app.node.find_child(CHOREOGRAPHY_STACK))
    orchestration = Template.from_stack(app.node.find_child(ORCHESTRATION_STACK))
    [machine] = resources(orchestration, "AWS::StepFunctions::StateMachine").values()
    return choreography, json.loads(machine["Properties"]["DefinitionString"])["States"]


def handler_environment(template: Template, handler: str) -> dict:
    [environment] = [
        f["Properties"]["Environment"]["Variables"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == handler
    ]
    return environment


def test_one_stall_limit_in_cdk_json_changes_both_templates(tmp_path_factory):
    """stalled_job_minutes drives choreography's watchdog and orchestration's count of transcript waits."""
    choreography, states = both_templates(tmp_path_factory, {"stalled_job_minutes": 60})
    assert handler_environment(choreography, "choreography.watchdog.handler")["STALLED_JOB_MINUTES"] == "60"
    [limit] = [c for c in states["TranscriptionJobStatus"]["Choices"] if c.get("Variable") == "$.waits.count"]
    assert limit["NumericGreaterThanEquals"] == 3, "4 waits of 15 minutes make 60"
    assert states["TranscriptionStalled"]["Cause"].startswith("no transcript after 4 callback timeouts of 15 minutes")


def test_one_retry_policy_value_in_cdk_json_changes_both_templates(tmp_path_factory):
    """note_tries is the note step's tries in both: choreography's note queue delivers a message that many
    times and its handler reads the same policy; the state machine's GenerateNote retries one fewer."""
    import json

    def note_tries(context: dict) -> tuple[int, set[int], int]:
        choreography, states = both_templates(tmp_path_factory, context)
        writer = handler_environment(choreography, "choreography.write_note.handler")
        queues = resources(choreography, "AWS::SQS::Queue")
        note_queue = {
            q["Properties"]["RedrivePolicy"]["maxReceiveCount"]
            for name, q in queues.items()
            if name.startswith("NoteRequestsQueue") and "RedrivePolicy" in q["Properties"]
        }
        [note] = states["GenerateNote"]["Retry"][:1]
        return json.loads(writer["PIPELINE_POLICY"])["note"]["tries"], note_queue, note["MaxAttempts"] + 1

    assert note_tries({}) == (5, {5}, 5)
    assert note_tries({"note_tries": 3}) == (3, {3}, 3)


def test_how_speakers_are_told_apart_is_one_setting_for_both_templates(tmp_path_factory):
    """speaker_identification gives every Transcribe job of both variants the same Settings: speaker labels
    (the default, with max_speaker_labels), channel identification, or none; never both at once."""
    import json

    def job_settings(context: dict) -> tuple[dict, dict | None]:
        choreography, states = both_templates(tmp_path_factory, context)
        starter = handler_environment(choreography, "choreography.start_transcription.handler")
        start = states["StartTranscription"]["Parameters"]
        assert start["Type"] == "${MedicalType}" and starter["MEDICAL_TYPE"] == "CONVERSATION"
        return json.loads(starter["TRANSCRIPTION_SETTINGS"]), start.get("Settings")

    labels = {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
    assert job_settings({}) == (labels, labels)
    assert job_settings({"max_speaker_labels": 3}) == ({**labels, "MaxSpeakerLabels": 3},) * 2
    assert job_settings({"speaker_identification": "channels"}) == ({"ChannelIdentification": True},) * 2
    assert job_settings({"speaker_identification": "none"}) == ({}, None)


@pytest.mark.parametrize(
    ("context", "why"),
    [
        (
            {"upload_window_hours": 1, "upload_grace_minutes": 45, "watchdog_interval_minutes": 30},
            "upload_window_hours (1) must cover upload_grace_minutes (45) plus watchdog_interval_minutes (30): a sweep "
            "takes in only uploads aged between the grace and the window, so a shorter window lets a lost upload pass "
            "between two sweeps unseen",
        ),
        (
            {"quota_wait_minutes": 501},
            "quota_wait_minutes must be at most 500 (1000 tries of a start, at 30 s a try on average: half of "
            "transcription_start_max_delay_seconds), not 501",
        ),
        (
            {"quota_wait_minutes": 7501, "transcription_start_max_delay_seconds": 900},
            "quota_wait_minutes must be at most 7500 (1000 tries of a start, at 450 s a try on average: half of "
            "transcription_start_max_delay_seconds), not 7501",
        ),
        (
            {"review_window_hours": 2905},
            "review_window_hours must be at most 2904 (an execution waits a window for the draft and each of 2 "
            "redrafts, up to 48 hours outside them, and Step Functions ends an execution after a year), not 2905",
        ),
        (
            {"note_tries": 1000, "note_interval_seconds": 43200, "note_max_delay_seconds": 43200},
            "the retry policy lets an encounter's execution run 36103 hours outside its reviews (every try and wait "
            "of its steps at their longest), and Step Functions ends an execution after a year: lower the tries or "
            "the delays",
        ),
        (
            {"stalled_job_minutes": 3000, "review_window_hours": 2904},
            "review_window_hours must be at most 2890 (an execution waits a window for the draft and each of 2 "
            "redrafts, up to 88 hours outside them, and Step Functions ends an execution after a year), not 2904",
        ),
    ],
    ids=["upload-window-shorter-than-grace-and-interval", "quota-wait-beyond-the-starts-tries",
         "quota-wait-beyond-the-longest-delays-tries", "review-windows-beyond-a-year",
         "retries-beyond-a-year", "review-windows-after-a-long-stall-limit"],
)  # fmt: skip
def test_a_combination_that_cannot_work_fails_synth_in_one_line_saying_why(context, why):
    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context(App(context=context).node)
    assert str(raised.value) == why


@pytest.mark.parametrize(
    "context",
    [
        {"upload_window_hours": 1, "upload_grace_minutes": 30, "watchdog_interval_minutes": 30},
        {"quota_wait_minutes": 500},
        {"review_window_hours": 2904, "review_reminder_hours": 1},
    ],
)
def test_the_edge_of_each_refusal_is_accepted(context):
    config = PipelineConfig.from_context(App(context=context).node)
    assert {key: getattr(config, key) for key in context} == context
