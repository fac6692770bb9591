"""One small test per moto shim: each fails loudly if a moto upgrade changes what it patches."""

import json
import logging
import warnings
from datetime import timedelta
from unittest import mock

import boto3
import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter
from moto import mock_aws
from moto.transcribe.models import transcribe_backends

from experiments.pairing import step_work
from localcloud.cloudformation_shims import applied_types_unannounced, state_machines_in_the_interpreter
from localcloud.events_shims import scheduled_rules_ignore_events
from localcloud.faults import FaultPlan
from localcloud.lambda_runtime import in_process_lambdas
from localcloud.simulation import Simulation
from localcloud.stepfunctions_shims import aws_error_names, on_simulated_time
from localcloud.transcribe_medical import LocalTranscribeMedical
from localcloud.transcribe_shims import failure_reason_in_get, jobs_listed_newest_first
from localcloud.xray_traces import SegmentDocuments, traced_in_process
from tests.support.orchestration import deploy_function, finished

REGION = "us-east-1"


@pytest.fixture
def moto():
    """moto with the interpreter on simulated time (executions are actors of the simulation)."""
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        Simulation() as simulation,
        on_simulated_time(),
    ):
        yield simulation


def run_machine(definition: dict, name: str = "shim") -> dict:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="run", input="{}")["executionArn"]
    return finished(execution)


def start_job(name: str) -> dict:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:transcribe:startMedicalTranscriptionJob",
        "Parameters": {
            "MedicalTranscriptionJobName": name,
            "LanguageCode": "en-US",
            "Media": {"MediaFileUri": "s3://bucket/audio/a.wav"},
            "OutputBucketName": "bucket",
            "Specialty": "PRIMARYCARE",
            "Type": "DICTATION",
        },
    }


def test_aws_sdk_errors_carry_the_aws_service_name(moto):
    definition = {
        "StartAt": "First",
        "States": {
            "First": {**start_job("job-1"), "Next": "Again"},
            "Again": {
                **start_job("job-1"),
                "Catch": [{"ErrorEquals": ["Transcribe.ConflictException"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    with aws_error_names():
        assert run_machine(definition)["status"] == "SUCCEEDED"


def test_an_hour_long_wait_state_takes_an_hour_of_simulated_time(moto):
    result = run_machine({"StartAt": "Hour", "States": {"Hour": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    assert result["status"] == "SUCCEEDED"
    assert (result["stopDate"] - result["startDate"]).total_seconds() == 3600
    assert moto.now() == 3600, "the clock jumped to the Wait's end: nothing else was scheduled"


def test_get_job_includes_the_failure_reason(moto):
    transcribe = boto3.client("transcribe", region_name=REGION)
    transcribe.start_medical_transcription_job(**start_job("job-2")["Parameters"])
    job = transcribe_backends["123456789012"][REGION].medical_transcriptions["job-2"]
    job.status, job.failure_reason = "FAILED", "Unsupported media"
    with failure_reason_in_get():
        got = transcribe.get_medical_transcription_job(MedicalTranscriptionJobName="job-2")["MedicalTranscriptionJob"]
    assert got["FailureReason"] == "Unsupported media"


def test_jobs_are_listed_newest_first_and_matched_whatever_the_case(moto):
    """As AWS documents ListMedicalTranscriptionJobs: by creation date, the newest job first; JobNameContains is
    not case sensitive. moto lists them in the order they were started (a job dated back is started last here)."""
    transcribe = boto3.client("transcribe", region_name=REGION)
    jobs = transcribe_backends["123456789012"][REGION].medical_transcriptions
    for name in ("Stack-a", "Stack-b", "Stack-c", "Stack-old"):
        transcribe.start_medical_transcription_job(**start_job(name)["Parameters"])
    base = jobs["Stack-a"].creation_time
    for offset, name in enumerate(("Stack-a", "Stack-b", "Stack-c")):
        jobs[name].creation_time = base + timedelta(minutes=offset)
    jobs["Stack-old"].creation_time = base - timedelta(days=3)
    with jobs_listed_newest_first():
        pages = [transcribe.list_medical_transcription_jobs(JobNameContains="stack-", MaxResults=2)]
        pages.append(transcribe.list_medical_transcription_jobs(JobNameContains="stack-", MaxResults=2,
                                                                NextToken=pages[0]["NextToken"]))  # fmt: skip
    names = [job["MedicalTranscriptionJobName"] for page in pages for job in page["MedicalTranscriptionJobSummaries"]]
    assert names == ["Stack-c", "Stack-b", "Stack-a", "Stack-old"] and "NextToken" not in pages[1]


def test_lambda_handlers_run_in_process_with_their_own_environment_and_error_type(moto):
    with in_process_lambdas():
        deploy_function("hello", "tests.support.lambda_handlers.report_environment", {"GREETING": "hi"})
        deploy_function("broken", "tests.support.lambda_handlers.fail", {})
        lambda_ = boto3.client("lambda", region_name=REGION)
        ok = lambda_.invoke(FunctionName="hello", Payload=b'{"n": 1}')
        assert json.loads(ok["Payload"].read()) == {"greeting": "hi", "function": "hello", "event": {"n": 1}}
        failed = lambda_.invoke(FunctionName="broken", Payload=b"{}")
        assert failed["FunctionError"]
        assert json.loads(failed["Payload"].read())["errorType"] == "DeliberateFailure"


def test_concurrent_invocations_on_simulated_time_each_trace_their_own_and_nothing_goes_to_a_daemon(moto, monkeypatch):
    monkeypatch.setattr(UDPEmitter, "send_entity", lambda _emitter, _entity: pytest.fail("a document went over UDP"))
    documents, answers = SegmentDocuments(), {}
    lambda_ = boto3.client("lambda", region_name=REGION)

    def invoke(name: str, seconds: float) -> None:
        answer = lambda_.invoke(FunctionName=name, Payload=json.dumps({"seconds": seconds}).encode())
        answers[name] = json.loads(answer["Payload"].read())

    with in_process_lambdas(), traced_in_process(documents):
        for name, environment in (("slow", {}), ("quick", {}), ("untraced", {"POWERTOOLS_TRACE_DISABLED": "true"})):
            deploy_function(name, "tests.support.lambda_handlers.traced_wait", environment)
        for name, seconds in (("slow", 60), ("quick", 5), ("untraced", 1)):
            moto.spawn(lambda name=name, seconds=seconds: invoke(name, seconds), name)
        moto.run_until(lambda: len(answers) == 3)
        assert not global_sdk_config.sdk_enabled(), "outside an invocation, the SDK is as this process left it"
    sent = documents.by_function()
    assert set(sent) == {"slow", "quick"} and answers["untraced"]["tracer_disabled"], "its own switch turned it off"
    for name, seconds in (("slow", 60), ("quick", 5)):
        header = dict(part.split("=") for part in answers[name]["trace_header"].split(";"))
        assert header["Sampled"] == "1" and answers[name]["tracer_disabled"] is False
        handler, wait, call = (next(d for d in sent[name] if d["name"] == n) for n in
                               ("## traced_wait", "## tests.support.lambda_handlers.wait", "s3"))  # fmt: skip
        assert {d["trace_id"] for d in sent[name]} == {header["Root"]} and handler["parent_id"] == header["Parent"]
        assert wait["parent_id"] == call["parent_id"] == handler["id"]
        assert wait["end_time"] - wait["start_time"] == pytest.approx(seconds, abs=0.01), "in simulated time"
        assert call["aws"]["operation"] == "ListBuckets"


def test_cloudformation_state_machines_get_their_substitutions_and_run(moto):
    template = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "substituted",
                    "RoleArn": "arn:aws:iam::123456789012:role/sfn",
                    "DefinitionString": '{"StartAt":"S","States":{"S":{"Type":"Pass","Result":"${Greeting}","End":true}}}',
                    "DefinitionSubstitutions": {"Greeting": "hello"},
                },
            }
        }
    }
    with state_machines_in_the_interpreter():
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="shim", TemplateBody=json.dumps(template)
        )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:substituted"
    assert '"Result":"hello"' in sfn.describe_state_machine(stateMachineArn=arn)["definition"]
    execution = sfn.start_execution(stateMachineArn=arn, name="run", input="{}")["executionArn"]
    assert finished(execution)["status"] == "SUCCEEDED"


def test_moto_says_it_skips_only_what_the_local_cloud_does_not_apply(moto, caplog):
    """A queue policy (the local cloud applies it) goes unannounced; a schedule (nothing applies it) still warns."""
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "QueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {"Queues": [{"Ref": "Queue"}], "PolicyDocument": {"Version": "2012-10-17"}},
            },
            "Schedule": {"Type": "AWS::Scheduler::Schedule", "Properties": {"ScheduleExpression": "rate(1 hour)"}},
        }
    }
    with warnings.catch_warnings(record=True) as warned, caplog.at_level(logging.WARNING, logger="moto"):
        warnings.simplefilter("always")
        applied_types_unannounced()
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="skips", TemplateBody=json.dumps(template)
        )
    said = [str(w.message) for w in warned] + caplog.messages
    assert [line for line in said if "AWS::SQS::QueuePolicy" in line] == []
    assert [line for line in said if "AWS::Scheduler::Schedule" in line] == [
        "Tried to parse AWS::Scheduler::Schedule but it's not supported by moto's CloudFormation implementation",
        "No Moto CloudFormation support for AWS::Scheduler::Schedule",
    ]


def test_a_scheduled_rule_does_not_swallow_s3_events_meant_for_other_rules(moto):
    s3, events, sqs = (boto3.client(s, region_name=REGION) for s in ("s3", "events", "sqs"))
    with in_process_lambdas():
        function_arn = deploy_function("scheduled", "tests.support.lambda_handlers.report_environment", {})
    events.put_rule(Name="a-schedule", ScheduleExpression="rate(5 minutes)")
    events.put_targets(Rule="a-schedule", Targets=[{"Id": "fn", "Arn": function_arn}])
    queue_url = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="z-uploads", EventPattern=json.dumps({"source": ["aws.s3"]}))
    events.put_targets(Rule="z-uploads", Targets=[{"Id": "q", "Arn": queue_arn}])
    s3.create_bucket(Bucket="bucket")
    s3.put_bucket_notification_configuration(
        Bucket="bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    with scheduled_rules_ignore_events():
        s3.put_object(Bucket="bucket", Key="audio/a.wav", Body=b"x")
    assert len(sqs.receive_message(QueueUrl=queue_url).get("Messages", [])) == 1


def test_the_transcribe_stand_in_fails_a_job_whose_media_is_missing_and_writes_real_output_otherwise(moto):
    clock = [0.0]
    stand_in = LocalTranscribeMedical(lambda: clock[0], job_seconds=lambda _audio: 60)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bucket")
    s3.put_object(Bucket="bucket", Key="audio/present.wav", Body=b"present audio")
    stand_in.register(b"present audio", "Patient reports a cough.")
    transcribe = boto3.client("transcribe", region_name=REGION)
    with stand_in.installed():
        for name, key in (("missing", "audio/missing.wav"), ("present", "audio/present.wav")):
            params = {**start_job(name)["Parameters"], "Media": {"MediaFileUri": f"s3://bucket/{key}"}}
            transcribe.start_medical_transcription_job(**params, OutputKey=f"transcripts/{name}.json")
        assert stand_in.advance() == 0, "nothing finishes before its simulated duration"
        clock[0] = 61
        assert stand_in.advance() == 2
        jobs = {
            name: transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=name)["MedicalTranscriptionJob"]
            for name in ("missing", "present")
        }
    assert jobs["missing"]["TranscriptionJobStatus"] == "FAILED"
    assert jobs["present"]["TranscriptionJobStatus"] == "COMPLETED"
    output = json.loads(s3.get_object(Bucket="bucket", Key="transcripts/present.json")["Body"].read())
    assert output["results"]["transcripts"][0]["transcript"] == "Patient reports a cough."
    assert output["jobName"] == "present"


def test_fault_decisions_depend_on_seed_kind_and_subject_not_on_call_order():

    first, second = (
        FaultPlan(rates={"bedrock_throttle": 0.5}, seed=11),
        FaultPlan(rates={"bedrock_throttle": 0.5}, seed=11),
    )
    subjects = [f"transcript-{n}" for n in range(40)]
    forwards = {s: [first.draw("bedrock_throttle", s) for _ in range(3)] for s in subjects}
    backwards = {s: [second.draw("bedrock_throttle", s) for _ in range(3)] for s in reversed(subjects)}
    assert forwards == backwards
    assert 0 < first.injected["bedrock_throttle"] < 120
    other_seed = FaultPlan(rates={"bedrock_throttle": 0.5}, seed=12)
    assert {s: [other_seed.draw("bedrock_throttle", s) for _ in range(3)] for s in subjects} != forwards
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan(rates={"disk_full": 0.1})


def test_s3_objects_and_handlers_share_the_simulated_wall_clock(moto):
    from datetime import UTC

    import clinical.notes

    moto.run_for(50)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="clock")
    s3.put_object(Bucket="clock", Key="a", Body=b"x")
    assert s3.head_object(Bucket="clock", Key="a")["LastModified"] == moto.wall(50), "LastModified is simulated"
    assert clinical.notes.datetime.now(UTC) == moto.wall(50), "handlers read the same clock"


def test_an_ended_execution_puts_its_status_change_event_on_the_default_bus(moto):
    from localcloud.stepfunctions_shims import execution_status_events

    sqs, events = boto3.client("sqs", region_name=REGION), boto3.client("events", region_name=REGION)
    queue = sqs.create_queue(QueueName="ended")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="ended",
        EventPattern=json.dumps({"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"]}),
    )
    events.put_targets(Rule="ended", Targets=[{"Id": "q", "Arn": queue_arn}])
    with execution_status_events():
        run_machine({"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Broken", "Cause": "test"}}})
    # The event follows the status by a moment (the worker thread emits it after recording the end).
    [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert (detail["status"], detail["name"]) == ("FAILED", "run")


def test_redrive_execution_continues_at_the_failed_state_with_its_input_and_keeps_the_history(moto):
    from localcloud.stepfunctions_shims import redrive_execution

    definition = {
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Result": {"step": "second"}, "Next": "Gate"},
            "Gate": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.open", "IsPresent": True, "Next": "Done"}],
                "Default": "Closed",
            },
            "Closed": {"Type": "Fail", "Error": "Closed"},
            "Done": {"Type": "Succeed"},
        },
    }
    sfn = boto3.client("stepfunctions", region_name=REGION)
    with redrive_execution():
        failed = run_machine(definition, name="redrive")
        assert failed["status"] == "FAILED"
        succeeded = run_machine({"StartAt": "Ok", "States": {"Ok": {"Type": "Succeed"}}}, name="fine")
        with pytest.raises(sfn.exceptions.ExecutionNotRedrivable):
            sfn.redrive_execution(executionArn=succeeded["executionArn"])
        sfn.redrive_execution(executionArn=failed["executionArn"])
        again = finished(failed["executionArn"])
        assert (again["status"], again["redriveCount"]) == ("FAILED", 1), "the Fail state failed again"
        history = sfn.get_execution_history(executionArn=failed["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered == ["First", "Gate", "Closed", "Closed"], "First is not run again"
    assert [e["type"] for e in history].count("ExecutionRedriven") == 1
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))


def test_a_dlq_message_move_task_returns_messages_to_the_source_queue(moto):
    from localcloud.sqs_shims import dlq_redrive

    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    work = sqs.create_queue(
        QueueName="work",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody="one")
    sqs.send_message(QueueUrl=dlq, MessageBody="two")
    with dlq_redrive():
        sqs.start_message_move_task(SourceArn=dlq_arn)
        [task] = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("COMPLETED", 2)
    bodies = {m["Body"] for m in sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10)["Messages"]}
    assert bodies == {"one", "two"}
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq)


def test_a_callback_skips_executions_whose_worker_has_not_built_its_environment_yet(moto):
    from types import SimpleNamespace

    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from localcloud.stepfunctions_shims import callbacks_skip_unstarted_executions

    backend = stepfunctions_parser_backends["123456789012"][REGION]
    starting = SimpleNamespace(status=ExecutionStatus.RUNNING, exec_worker=SimpleNamespace(env=None))
    backend.state_machines.append(SimpleNamespace(executions=[starting]))
    sfn = boto3.client("stepfunctions", region_name=REGION)
    with pytest.raises(AttributeError):
        backend.send_task_success("token", "{}")  # moto alone trips over the unstarted execution
    with callbacks_skip_unstarted_executions(), pytest.raises(sfn.exceptions.InvalidToken):
        sfn.send_task_success(taskToken="token", output="{}")  # the token is simply unknown


def test_execution_dates_and_history_timestamps_follow_the_simulated_clock(moto):
    moto.run_for(50)
    result = run_machine({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}, name="clocked")
    history = boto3.client("stepfunctions", region_name=REGION).get_execution_history(
        executionArn=result["executionArn"]
    )["events"]
    assert result["startDate"] == moto.wall(50)
    assert result["stopDate"] == moto.wall(50), "no modelled latency here: the run took no simulated time"
    assert {event["timestamp"] for event in history} == {moto.wall(50)}


@pytest.mark.parametrize("name", ["has space", "slash/name", "ünï", "x" * 201])
def test_the_transcribe_stand_in_refuses_a_job_name_transcribe_would_refuse(moto, name):
    stand_in = LocalTranscribeMedical(lambda: 0.0, job_seconds=lambda _audio: 60)
    transcribe = boto3.client("transcribe", region_name=REGION)
    with stand_in.installed(), pytest.raises(transcribe.exceptions.BadRequestException, match="regular expression"):
        transcribe.start_medical_transcription_job(**start_job(name)["Parameters"], OutputKey="transcripts/x.json")
    assert transcribe.list_medical_transcription_jobs()["MedicalTranscriptionJobSummaries"] == []


def sqs_batch(*keys: str) -> dict:
    return {"Records": [{"body": json.dumps({"detail": {"object": {"key": key}}})} for key in keys]}


def test_a_batch_crashes_when_any_of_its_items_draws_a_crash_and_each_item_counts_a_try():
    plan = FaultPlan(first={"lambda_crash": 1}, work=step_work)
    batch = sqs_batch("transcripts/enc-1.json", "transcripts/enc-2.json")
    # enc-1's first try was alone (and crashed): in the batch only enc-2 is at its first try, and crashes it.
    assert plan.crash("WriteNote", "choreography.write_note.handler", sqs_batch("transcripts/enc-1.json"), "c")
    assert plan.crash("WriteNote", "choreography.write_note.handler", batch, "c")
    assert not plan.crash("WriteNote", "choreography.write_note.handler", batch, "c")
    assert plan.attempts("lambda_crash") == {("note:enc-1", "c"): 3, ("note:enc-2", "c"): 2}


def test_without_work_items_the_function_is_the_subject():
    plan = FaultPlan(first={"lambda_crash": 1})
    assert plan.crash("Sweep", "orchestration.upload_sweep.handler", {}, "o")
    assert not plan.crash("Sweep", "orchestration.upload_sweep.handler", {}, "o")
    assert plan.attempts("lambda_crash") == {("Sweep", "o"): 2}


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        ({"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2, "ChannelIdentification": True}, "cannot both"),
        ({"ShowSpeakerLabels": True, "ChannelIdentification": False}, "cannot both"),
        ({"ShowSpeakerLabels": True}, "must also give MaxSpeakerLabels"),
        ({"MaxSpeakerLabels": 2}, "must set ShowSpeakerLabels"),
        ({"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}, None),
        ({"ChannelIdentification": True}, None),
        ({}, None),
    ],
)
def test_the_job_settings_transcribe_refuses_are_refused_here(settings, refused):
    """StartMedicalTranscriptionJob answers speaker labels with channel identification, or ShowSpeakerLabels
    and MaxSpeakerLabels one without the other, with BadRequestException."""
    from localcloud.transcribe_medical import settings_refusal

    found = settings_refusal(settings)
    assert (found is None) if refused is None else (refused in found)


@pytest.mark.parametrize(
    ("settings", "speakers"),
    [({"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}, {"spk_0"}), ({"ChannelIdentification": True}, {"ch_0"})],
)
def test_the_output_document_labels_speakers_as_its_settings_ask(settings, speakers):
    from clinical.conversation import segments_of
    from localcloud.transcribe_medical import transcribe_output

    document = transcribe_output("job", "123456789012", "Cough for three days. No fever, no chills.", settings)
    segments = segments_of(document)
    assert [(s.number, s.text) for s in segments] == [(1, "Cough for three days."), (2, "No fever, no chills.")]
    assert {s.speaker for s in segments} == speakers


def test_a_reference_transcript_tagged_by_turn_is_a_conversation_and_its_tags_are_not_words():
    from clinical.conversation import segments_of
    from localcloud.transcribe_medical import transcribe_output

    text = "[spk_1] Any fever? [spk_0] No fever. [spk_1] Good."
    for settings, labels in (
        ({"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}, ["spk_1", "spk_0", "spk_1"]),
        ({"ChannelIdentification": True}, ["ch_1", "ch_0", "ch_1"]),
    ):
        document = transcribe_output("job", "123456789012", text, settings)
        assert document["results"]["transcripts"][0]["transcript"] == "Any fever? No fever. Good."
        assert [(s.speaker, s.text) for s in segments_of(document)] == list(
            zip(labels, ["Any fever?", "No fever.", "Good."], strict=True)
        )


def _versions_listing(s3, **paging) -> list:
    pages = s3.get_paginator("list_object_versions").paginate(Bucket="layout", **paging)
    return [
        (
            [(v["Key"], v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])],
            [(m["Key"], m["VersionId"]) for m in page.get("DeleteMarkers", [])],
            [p["Prefix"] for p in page.get("CommonPrefixes", [])],
        )
        for page in pages
    ]


def test_a_version_listing_answers_as_before_and_copies_only_what_is_under_its_prefix():
    from moto.s3.models import FakeKey

    from localcloud.s3_shims import version_listings_copy_only_their_prefix

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="layout")
        s3.put_bucket_versioning(Bucket="layout", VersioningConfiguration={"Status": "Enabled"})
        for n in range(4):
            s3.put_object(Bucket="layout", Key=f"audio/enc-{n}.wav", Body=b"RIFF" + bytes(2048))
            for body in (b"{}", b'{"v": 2}'):
                s3.put_object(Bucket="layout", Key=f"notes/enc-{n}.json", Body=body)
            s3.put_object(Bucket="layout", Key=f"notes/sub/enc-{n}.json", Body=b"{}")
        s3.delete_object(Bucket="layout", Key="notes/enc-1.json")
        asks = [
            {"Prefix": "notes/"},
            {"Prefix": "notes/", "PaginationConfig": {"PageSize": 3}},
            {"Prefix": "notes/", "Delimiter": "/"},
            {},
            {"Prefix": "notes/enc-2.json"},
        ]
        before = [_versions_listing(s3, **ask) for ask in asks]
        spy = mock.patch.object(FakeKey, "__getstate__", autospec=True, side_effect=FakeKey.__getstate__)
        with version_listings_copy_only_their_prefix(), spy as copied:
            after = [_versions_listing(s3, **ask) for ask in asks[:-2]]
            assert not [c.args[0].name for c in copied.call_args_list if not c.args[0].name.startswith("notes/")]
            after += [_versions_listing(s3, **ask) for ask in asks[-2:]]
        assert after == before
        assert len(before[1]) > 1  # the small pages did page


def _queries(ddb) -> list:
    asks = [
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "waiting"}}},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "waiting"}}, "Limit": 2},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "waiting"}},
         "ScanIndexForward": False, "Limit": 3},
        {"KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
         "ExpressionAttributeValues": {":p": {"S": "ended"}, ":s": {"S": "2026-12-07T10"}}},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nobody"}}},
        {"IndexName": "byKind", "KeyConditionExpression": "kind = :k", "ExpressionAttributeValues": {":k": {"S": "b"}}},
    ]  # fmt: skip
    answers = []
    for ask in asks:
        pages = ddb.get_paginator("query").paginate(TableName="line", **ask)
        answers.append([[(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]] for page in pages])
    return answers


def test_a_query_on_the_tables_own_key_answers_as_before_and_reads_only_its_partition():
    from moto.dynamodb.models.table import Table

    from localcloud.dynamodb_shims import queries_read_their_partition

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="line",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "kind")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {"IndexName": "byKind", "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "ALL"}}
            ],
        )  # fmt: skip
        for n in range(7):
            for partition in ("waiting", "ended", "chain"):
                sk = f"2026-12-07T{10 + n % 3}:0{n}:00#enc-{n}"
                ddb.put_item(
                    TableName="line", Item={"pk": {"S": partition}, "sk": {"S": sk}, "kind": {"S": "ab"[n % 2]}}
                )
        before = _queries(ddb)
        spy = mock.patch.object(Table, "all_items", autospec=True, side_effect=Table.all_items)
        with queries_read_their_partition(), spy as whole_table_read:
            after = _queries(ddb)
        assert after == before
        assert len(before[1]) > 1 and before[3] and before[5]  # paged, matched a prefix, found by the index
        # only the query on the index read the whole table
        assert [c.args[0].name for c in whole_table_read.call_args_list] == ["line"]


def test_s3_reads_its_url_table_once_until_the_custom_endpoints_change(monkeypatch):
    import moto.s3.urls as urls
    from moto.s3.models import s3_backends

    from localcloud.s3_shims import CUSTOM_ENDPOINTS, url_table_read_once

    monkeypatch.delenv(CUSTOM_ENDPOINTS, raising=False)
    with mock_aws(), url_table_read_once():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="layout")
        table = urls.url_bases  # each run of moto.s3.urls makes a new list
        for n in range(5):
            s3.put_object(Bucket="layout", Key=f"notes/{n}.json", Body=b"{}")
        assert s3.get_object(Bucket="layout", Key="notes/4.json")["Body"].read() == b"{}"
        assert urls.url_bases is table
        monkeypatch.setenv(CUSTOM_ENDPOINTS, "https://s3.example.test")
        assert "https://s3.example.test" in s3_backends["123456789012"]["aws"].url_bases


def test_a_response_serializes_as_before_and_works_out_each_members_names_once():
    """moto's serializer asked six alias providers for every member of every object of a list (each event of an
    execution history); the serializer of one response now does it once per member of a shape, with the same
    answer, for dicts; an object with attributes is still asked as moto asks."""
    from datetime import UTC, datetime

    from moto.core.serialize import JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model

    from localcloud.serializer_shims import member_names_worked_out_once

    class Event:  # an object, not a dict: moto's own path
        def __init__(self, n):
            self.id, self.type, self.timestamp = n, "TaskStateEntered", datetime(2026, 12, 8, tzinfo=UTC)
            self.state_entered_event_details = {"name": "AwaitSlot", "input": "{}"}

    def history(events: int) -> dict:
        dicts = [
            {
                "id": n,
                "type": "LambdaFunctionSucceeded",
                "timestamp": datetime(2026, 12, 8, tzinfo=UTC),
                "previousEventId": n - 1,
                "lambdaFunctionSucceededEventDetails": {"output": '{"ok": true}'},
            }
            for n in range(1, events + 1)
        ]
        return {"events": [*dicts, Event(events + 1)], "nextToken": "more"}

    operation = get_service_model("stepfunctions").operation_model("GetExecutionHistory")

    def serialized(events: int) -> tuple[str, int]:
        picker = XFormedAttributePicker()
        real = XFormedAttributePicker.get_possible_keys
        with mock.patch.object(XFormedAttributePicker, "get_possible_keys", autospec=True, side_effect=real) as spy:
            body = JSONSerializer(operation_model=operation, value_picker=picker).serialize(history(events))["body"]
        return body, spy.call_count

    before = {n: serialized(n) for n in (5, 50)}
    with member_names_worked_out_once():
        after = {n: serialized(n) for n in (5, 50)}
    for n in (5, 50):
        assert json.loads(after[n][0]) == json.loads(before[n][0]), n
        assert json.loads(after[n][0])["events"][-1]["stateEnteredEventDetails"] == {"name": "AwaitSlot", "input": "{}"}
    assert before[50][1] > 5 * before[5][1], "moto asks again for every event"
    assert after[50][1] == after[5][1], "once per member of a shape, however many events"
