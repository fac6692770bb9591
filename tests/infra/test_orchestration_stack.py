"""What the synthesized orchestration template guarantees."""

import json
import re

from clinical.policy import DEFAULT, definition_values
from stacks.config import PipelineConfig
from stacks.orchestration_stack import DEFINITION_FILE, TRANSCRIPTION_SETTINGS, encounter_definition
from tests.infra.conftest import ref_id, resources


def machine(template) -> dict:
    [props] = [r["Properties"] for r in resources(template, "AWS::StepFunctions::StateMachine").values()]
    return props


def test_the_asl_placeholders_are_the_stacks_substitutions_and_the_policys_values(orchestration):
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", DEFINITION_FILE.read_text()))
    substituted, policy = set(machine(orchestration)["DefinitionSubstitutions"]), set(definition_values(120))
    settings = {TRANSCRIPTION_SETTINGS[2:-1]}  # an object, filled at synth (the job's Settings)
    assert placeholders == substituted | policy | settings and not substituted & policy
    assert (len(substituted), len(policy)) == (12, 9)
    left = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", machine(orchestration)["DefinitionString"]))
    assert left == substituted, "synth fills in every policy value; CloudFormation the rest"


def test_the_definition_is_inline_so_cfn_lint_validates_it(orchestration):
    props = machine(orchestration)
    assert props["DefinitionString"] == encounter_definition(DEFAULT, 120, PipelineConfig().transcription_settings)
    assert "DefinitionS3Location" not in props


def test_standard_machine_logs_all_without_execution_data_and_is_traced(orchestration):
    props = machine(orchestration)
    assert props["StateMachineType"] == "STANDARD"
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["TracingConfiguration"] == {"Enabled": True}


def test_executions_failed_timed_out_aborted_and_throttled_raise_alarms(orchestration):
    [machine_id] = resources(orchestration, "AWS::StepFunctions::StateMachine")
    alarmed = {
        a["Properties"]["MetricName"]
        for a in resources(orchestration, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/States"
        and ref_id(a["Properties"]["Dimensions"][0]["Value"]) == machine_id
    }
    assert alarmed == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "ExecutionThrottled"}


def test_the_task_functions_are_the_ones_the_substitutions_name(orchestration):
    functions = resources(orchestration, "AWS::Lambda::Function")
    named = {
        name: functions[ref_id(value)]["Properties"]["Handler"]
        for name, value in machine(orchestration)["DefinitionSubstitutions"].items()
        if name.endswith("FunctionArn")
    }
    assert named == {
        "AwaitTranscriptFunctionArn": "orchestration.await_transcript.handler",
        "AwaitSlotFunctionArn": "orchestration.await_slot.handler",
        "GenerateNoteFunctionArn": "orchestration.generate_note.handler",
        "AwaitReviewFunctionArn": "orchestration.await_review.handler",
        "ReviewDeadlineFunctionArn": "orchestration.review_deadline.handler",
    }


def test_every_unsuccessful_end_of_this_machines_executions_goes_to_record_failure(orchestration):
    [machine_id] = resources(orchestration, "AWS::StepFunctions::StateMachine")
    functions = resources(orchestration, "AWS::Lambda::Function")
    consumers = {
        ref_id(m["Properties"]["EventSourceArn"]): functions[ref_id(m["Properties"]["FunctionName"])]["Properties"][
            "Handler"
        ]
        for m in resources(orchestration, "AWS::Lambda::EventSourceMapping").values()
    }
    [rule] = [
        r["Properties"]
        for r in resources(orchestration, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.states"]
    ]
    assert rule["EventPattern"]["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    assert ref_id(rule["EventPattern"]["detail"]["stateMachineArn"][0]) == machine_id
    assert consumers[ref_id(rule["Targets"][0]["Arn"])] == "orchestration.record_failure.handler"


def test_callback_tokens_and_the_line_for_slots_live_in_encrypted_tables_with_ttl(orchestration):
    from clinical import waiting_line

    tables = {table_id.rstrip("0123456789ABCDEF"): table["Properties"]
              for table_id, table in resources(orchestration, "AWS::DynamoDB::Table").items()}  # fmt: skip
    assert set(tables) == {"TranscriptWaits", "TranscriptionLine"}
    for props in tables.values():
        assert props["TimeToLiveSpecification"] == {"AttributeName": waiting_line.TTL_ATTRIBUTE, "Enabled": True}
        assert props["SSESpecification"]["SSEType"] == "KMS"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert tables["TranscriptWaits"]["KeySchema"] == [{"AttributeName": "encounter_id", "KeyType": "HASH"}]
    assert tables["TranscriptionLine"]["KeySchema"] == [
        {"AttributeName": waiting_line.PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": waiting_line.SORT_KEY, "KeyType": "RANGE"},
    ]


def test_uploads_go_to_intake_and_transcripts_to_the_callback(orchestration):
    functions = resources(orchestration, "AWS::Lambda::Function")
    consumers = {
        ref_id(m["Properties"]["EventSourceArn"]): functions[ref_id(m["Properties"]["FunctionName"])]["Properties"][
            "Handler"
        ]
        for m in resources(orchestration, "AWS::Lambda::EventSourceMapping").values()
    }
    routes = {
        r["Properties"]["EventPattern"]["detail"]["object"]["key"][0]["prefix"]: consumers[
            ref_id(r["Properties"]["Targets"][0]["Arn"])
        ]
        for r in resources(orchestration, "AWS::Events::Rule").values()
        if "object" in r["Properties"].get("EventPattern", {}).get("detail", {})
    }
    assert routes == {
        "audio/": "orchestration.intake.handler",
        "transcripts/": "orchestration.transcript_ready.handler",
    }


def test_only_intake_and_the_lost_upload_sweep_may_start_executions_and_only_the_callbacks_may_resume_them(
    orchestration,
):
    roles = {}
    for policy in resources(orchestration, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                for role in policy["Properties"]["Roles"]:
                    roles.setdefault(action, set()).add(ref_id(role))
    functions = resources(orchestration, "AWS::Lambda::Function")
    handler_of_role = {ref_id(f["Properties"]["Role"]): f["Properties"]["Handler"] for f in functions.values()}
    assert {handler_of_role[r] for r in roles["states:StartExecution"]} == {
        "orchestration.intake.handler",
        "orchestration.upload_sweep.handler",
    }
    # The review's wait ends at once when the review was decided before it began, and CheckReview settles what a
    # decision still owes (the clinician's sign and send-back redeem it otherwise, with their own identity). A job's
    # end (its transcript, its execution's failure) and the sweep wake the head of the line for Transcribe's slots.
    assert {handler_of_role[r] for r in roles["states:SendTaskSuccess"]} == {
        "orchestration.await_transcript.handler",
        "orchestration.transcript_ready.handler",
        "orchestration.await_review.handler",
        "orchestration.review_deadline.handler",
        "orchestration.record_failure.handler",
        "orchestration.upload_sweep.handler",
    }
    assert json.dumps(sorted(roles["transcribe:StartMedicalTranscriptionJob"])) != "[]"


def test_a_send_back_redrafts_and_waits_again_and_the_execution_outlasts_every_review(orchestration):
    definition = json.loads(machine(orchestration)["DefinitionString"])
    states = definition["States"]
    # However the wait ends, the record decides: CheckReview reads it, then the outcome routes by its status.
    assert states["AwaitReview"]["Next"] == "CheckReview"
    assert [(c["ErrorEquals"], c["Next"]) for c in states["AwaitReview"]["Catch"]] == [
        (["States.Timeout", "NoteSentBack", "ReviewExpired"], "CheckReview")
    ]
    assert states["AwaitReview"]["ResultPath"] is None, "what the token was redeemed with is not read"
    assert states["AwaitReview"]["TimeoutSecondsPath"] == "$.review.wait_seconds"
    outcome = {c["StringEquals"]: c["Next"] for c in states["ReviewOutcome"]["Choices"]}
    assert outcome == {"SIGNED": "NoteSigned", "SENT_BACK": "RedraftNote", "REVIEW_EXPIRED": "ReviewExpired"}
    assert states["ReviewOutcome"]["Default"] == "AwaitReview"
    assert states["RedraftNote"]["Parameters"]["Payload"]["redraft"] is True
    assert states["RedraftNote"]["Next"] == "RedraftOutcome"
    assert states["RedraftOutcome"]["Default"] == "CheckReview"
    # Two days for the transcript and the note, then a 72 h window for the draft and each of its two redrafts.
    assert definition["TimeoutSeconds"] == (48 + 72 * 3) * 3600
