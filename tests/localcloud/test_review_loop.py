"""The clinician closes the loop, in both variants on the local cloud: a draft awaits review (orchestration's
execution waits on a task token, choreography has only the record); signing with an edit ends it with
NoteSigned; with no action, a reminder, then REVIEW_EXPIRED with its event and alarm, and nothing signs it;
sent back, the note is drafted again and awaits review again.
"""

from __future__ import annotations

import base64
import json

import pytest
from fhir.resources.R4B.documentreference import DocumentReference

from clinical.executions import execution_arn, execution_history
from clinical.layout import fhir_export_key, review_key, signed_key
from clinical.review import ReviewRefused, note_of, read_review, send_back, sign
from clinical.revisions import Changes
from localcloud.bedrock_converse import UNSUPPORTED_STATEMENT
from localcloud.faults import FaultPlan
from tests.localcloud.conftest import DICTATION, STACKS, keys, read_json, upload
from tests.support.domain_events import contract_errors, received, subscribe

AUDIO = b"RIFF....WAVEfmt review loop dictation"
CLINICIAN = "arn:aws:iam::123456789012:user/dr-rivera"


@pytest.fixture
def drafted(local_cloud):
    """Both variants drafted enc-1's note and wait for its review; each bus read by a queue."""
    events, sqs = local_cloud.client("events"), local_cloud.client("sqs")
    urls = {
        stack: subscribe(events, sqs, local_cloud.outputs[stack]["DomainEventBusName"], f"review-{stack}")
        for stack in STACKS
    }
    local_cloud.transcribe.register(AUDIO, DICTATION)
    for stack in STACKS:
        upload(local_cloud, stack, "audio/enc-1.wav", AUDIO)
    local_cloud.run_until_quiet()
    local_cloud.bus = lambda stack: received(sqs, urls[stack])
    return local_cloud


def bucket(cloud, stack: str) -> str:
    return cloud.outputs[stack]["EncounterBucketName"]


def execution(cloud, stack: str) -> dict:
    sfn = cloud.client("stepfunctions")
    arn = execution_arn(cloud.outputs[stack]["StateMachineArn"], "enc-1")
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in execution_history(sfn, arn) if "stateEnteredEventDetails" in e
    ]
    return {"status": sfn.describe_execution(executionArn=arn)["status"], "entered": entered}


def review_status(cloud, stack: str) -> str:
    return read_review(cloud.client("s3"), bucket(cloud, stack), "enc-1")[0].status


def test_a_draft_awaits_review_then_an_edited_signature_ends_it_with_note_signed(drafted):
    cloud = drafted
    orchestration = STACKS[1]
    # The run is quiet with the orchestration execution waiting for a person, its token in the record.
    assert execution(cloud, orchestration)["status"] == "RUNNING"
    assert execution(cloud, orchestration)["entered"][-1] == "AwaitReview"
    assert read_review(cloud.client("s3"), bucket(cloud, orchestration), "enc-1")[0].task_token
    assert read_review(cloud.client("s3"), bucket(cloud, STACKS[0]), "enc-1")[0].task_token is None
    for stack in STACKS:
        assert [e["detail-type"] for e in cloud.bus(stack)] == ["NoteDrafted"]
        s3 = cloud.client("s3")
        record, _etag = read_review(s3, bucket(cloud, stack), "enc-1")
        [plan] = [s for s in note_of(s3, bucket(cloud, stack), record).sections if s.name == "plan"]
        new_text = "Discussed with the patient: " + plan.statements[0].text
        signed = sign(
            s3,
            bucket(cloud, stack),
            "enc-1",
            clinician=CLINICIAN,
            changes=Changes(edits={plan.statements[0].id: new_text}),
            bus=cloud.outputs[stack]["DomainEventBusName"],
            stepfunctions=cloud.client("stepfunctions"),
            patient="Patient/123",
        )
        assert signed.version == 2
    cloud.run_until_quiet()
    for stack in STACKS:
        assert review_status(cloud, stack) == "SIGNED"
        assert read_json(cloud, stack, signed_key("enc-1"))["signed_by"] == CLINICIAN
        [event] = cloud.bus(stack)
        assert (event["detail-type"], contract_errors(event), event["detail"]["edited_statements"]) == (
            "NoteSigned",
            [],
            1,
        )
        assert "Discussed with the patient" not in json.dumps(event)
        # The edge's consumer of NoteSigned wrote the FHIR document, valid for fhir.resources, as built.
        document = read_json(cloud, stack, fhir_export_key("enc-1"))
        resource = DocumentReference.model_validate(document)
        assert json.loads(resource.model_dump_json(exclude_none=True)) == document
        assert (document["docStatus"], document["subject"]["reference"]) == ("final", "Patient/123")
        attachment = base64.b64decode(document["content"][0]["attachment"]["data"]).decode()
        assert "Discussed with the patient: " in attachment and f"Signed by {CLINICIAN}" in attachment
    ended = execution(cloud, orchestration)
    assert (ended["status"], ended["entered"][-4:]) == (
        "SUCCEEDED", ["AwaitReview", "CheckReview", "ReviewOutcome", "NoteSigned"],
    )  # fmt: skip


def test_with_no_action_a_reminder_then_review_expired_with_its_event_and_alarm(drafted):
    cloud = drafted
    for stack in STACKS:
        assert [e["detail-type"] for e in cloud.bus(stack)] == ["NoteDrafted"]
    cloud.run_for(61 * 3600)  # the reminder is due 12 h before the 72 h window ends, at 60 h
    for stack in STACKS:
        [reminder] = cloud.bus(stack)
        assert (reminder["detail-type"], contract_errors(reminder)) == ("ReviewReminder", [])
        assert review_status(cloud, stack) == "AWAITING_REVIEW"
    cloud.run_for(12 * 3600)
    for stack in STACKS:
        assert review_status(cloud, stack) == "REVIEW_EXPIRED"
        [expired] = cloud.bus(stack)
        assert (expired["detail-type"], contract_errors(expired)) == ("ReviewExpired", [])
        # An expired review is refused, and nothing changes: no signed note, the record as it was.
        before = read_json(cloud, stack, review_key("enc-1"))
        with pytest.raises(ReviewRefused, match="REVIEW_EXPIRED, not awaiting review"):
            sign(cloud.client("s3"), bucket(cloud, stack), "enc-1", clinician=CLINICIAN,
                 stepfunctions=cloud.client("stepfunctions"))  # fmt: skip
        assert read_json(cloud, stack, review_key("enc-1")) == before
        assert signed_key("enc-1") not in keys(cloud, stack, "signed/")
    fired = {(event.alarm_name.split("-", 1)[0], event.metric) for event in cloud.alarms.fired}
    assert {(stack, "ReviewsExpired") for stack in STACKS} <= fired
    orchestration = execution(cloud, STACKS[1])
    assert orchestration["status"] == "SUCCEEDED"
    # The wait times out at the reminder, then at the window's end; each time the record decides.
    assert orchestration["entered"][-9:] == [
        "CheckReview", "ReviewOutcome", "AwaitReview",
        "CheckReview", "ReviewOutcome", "AwaitReview",
        "CheckReview", "ReviewOutcome", "ReviewExpired",
    ]  # fmt: skip


@pytest.fixture
def drafted_with_a_slip(local_cloud, request):
    """As `drafted`, with the first draft of each variant carrying a statement nobody said (the warfarin the
    local model adds): the clinician's reason to send it back."""
    local_cloud.faults = FaultPlan(rates={"bedrock_unsupported": 1.0}, first={"bedrock_unsupported": 1})
    return request.getfixturevalue("drafted")


def test_a_note_sent_back_is_drafted_again_awaits_review_again_and_its_redraft_is_signed(drafted_with_a_slip):
    cloud = drafted_with_a_slip
    orchestration = STACKS[1]
    s3 = cloud.client("s3")
    for stack in STACKS:
        cloud.bus(stack)
        assert UNSUPPORTED_STATEMENT in json.dumps(read_json(cloud, stack, "notes/enc-1.json"))
        send_back(s3, bucket(cloud, stack), "enc-1", clinician=CLINICIAN, reason="Warfarin was never discussed.",
                  bus=cloud.outputs[stack]["DomainEventBusName"], stepfunctions=cloud.client("stepfunctions"))  # fmt: skip
        with pytest.raises(ReviewRefused, match="SENT_BACK, not awaiting review"):
            sign(s3, bucket(cloud, stack), "enc-1", clinician=CLINICIAN)
    cloud.run_until_quiet()
    for stack in STACKS:
        record, _etag = read_review(s3, bucket(cloud, stack), "enc-1")
        assert (record.status, record.redrafts, record.versions[-1].feedback) == (
            "AWAITING_REVIEW", 1, "Warfarin was never discussed.",
        )  # fmt: skip
        # The redraft is a new draft (the slip was the first call's), kept beside the first.
        assert UNSUPPORTED_STATEMENT not in json.dumps(read_json(cloud, stack, record.versions[-1].key))
        assert UNSUPPORTED_STATEMENT in json.dumps(read_json(cloud, stack, "notes/enc-1.json"))
        kinds = [(e["detail-type"], contract_errors(e)) for e in cloud.bus(stack)]
        assert kinds == [("NoteSentBack", []), ("NoteRedrafted", [])]
    waiting = execution(cloud, orchestration)
    assert (waiting["status"], waiting["entered"][-8:]) == (
        "RUNNING",
        ["AwaitReview", "CheckReview", "ReviewOutcome", "RedraftNote", "RedraftOutcome", "CheckReview",
         "ReviewOutcome", "AwaitReview"],
    )  # fmt: skip
    assert read_review(s3, bucket(cloud, orchestration), "enc-1")[0].task_token, "the new wait's token"
    for stack in STACKS:
        signed = sign(s3, bucket(cloud, stack), "enc-1", clinician=CLINICIAN,
                      bus=cloud.outputs[stack]["DomainEventBusName"], stepfunctions=cloud.client("stepfunctions"))  # fmt: skip
        assert signed.version == 2
    cloud.run_until_quiet()
    for stack in STACKS:
        [event] = cloud.bus(stack)
        assert (event["detail-type"], event["detail"]["note_version"]) == ("NoteSigned", 2)
    ended = execution(cloud, orchestration)
    assert (ended["status"], ended["entered"][-1]) == ("SUCCEEDED", "NoteSigned")


@pytest.mark.parametrize(
    "redeem",
    [
        lambda sfn, token: sfn.send_task_success(
            taskToken=token, output=json.dumps({"signed_key": "signed/enc-1.json"})
        ),
        lambda sfn, token: sfn.send_task_failure(taskToken=token, error="ReviewExpired", cause="forged"),
        lambda sfn, token: sfn.send_task_failure(taskToken=token, error="NoteSentBack", cause="forged"),
    ],
    ids=["success", "expired", "sent-back"],
)
def test_a_token_redeemed_without_the_records_transition_does_not_end_the_review(drafted, redeem):
    """The defect: a direct SendTaskSuccess with the stored token ended the execution at NoteSigned while the record
    awaited review. The token only wakes the execution: CheckReview reads the record and waits again."""
    cloud, orchestration = drafted, STACKS[1]
    s3, sfn = cloud.client("s3"), cloud.client("stepfunctions")
    record, _ = read_review(s3, bucket(cloud, orchestration), "enc-1")
    redeem(sfn, record.task_token)
    cloud.run_until_quiet()
    waiting = execution(cloud, orchestration)
    assert (waiting["status"], waiting["entered"][-1]) == ("RUNNING", "AwaitReview")
    after, _ = read_review(s3, bucket(cloud, orchestration), "enc-1")
    assert (after.status, after.task_token != record.task_token) == ("AWAITING_REVIEW", True), "waits with a new token"
    assert signed_key("enc-1") not in keys(cloud, orchestration, "signed/")
    # The review's deadlines are the record's: the reminder still comes at 60 h, not 60 h after the forgery.
    cloud.run_for(cloud.clock.at(record.remind_at) - cloud.clock.now() + 60)
    assert [e["detail-type"] for e in cloud.bus(orchestration)] == ["NoteDrafted", "ReviewReminder"]
    # And the clinician's real signature ends it.
    sign(s3, bucket(cloud, orchestration), "enc-1", clinician=CLINICIAN, stepfunctions=sfn,
         bus=cloud.outputs[orchestration]["DomainEventBusName"])  # fmt: skip
    cloud.run_until_quiet()
    assert execution(cloud, orchestration)["status"] == "SUCCEEDED"
