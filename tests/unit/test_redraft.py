"""A note sent back is drafted again: the reason goes to the model as feedback, the redraft is the next
version, the review opens again with a new window, and the bus says so; at most MAX_REDRAFTS times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from choreography import write_note
from clinical import domain_events, review
from clinical.dead_letters import encounter_of_body
from clinical.policy import MAX_REDRAFTS
from clinical.review import REDRAFT_OVERDUE, ReviewRefused, read_review, send_back, sign, sweep_deadlines
from tests.support.domain_events import contract_errors
from tests.support.events import sqs_event
from tests.unit.conftest import BUCKET, DOMAIN_BUS, converse_answer

DR = "arn:aws:sts::123456789012:assumed-role/clinician/dr-lee"
REASON = "The plan misses the follow-up in two weeks."


@pytest.fixture
def drafted(drafted):
    """enc-0001's note drafted by choreography's writer, its review open (conftest), and what the model is asked
    from now on."""
    cloud = drafted
    cloud.prompts = []

    def asked(params, **_):
        cloud.prompts.append(params["messages"][0]["content"][0]["text"])

    cloud.bedrock.meta.events.register("provide-client-params.bedrock-runtime.Converse", asked)
    return cloud


def snapshot(cloud) -> dict:
    return {key: cloud.read_json(key) for prefix in ("reviews/", "signed/", "notes/") for key in cloud.keys(prefix)}


def redraft(cloud, lambda_context, event: dict, answers: int = 1) -> dict:
    """Deliver the NoteSentBack event to choreography's note writer, as its rule on the bus does."""
    cloud.model_answers(*[converse_answer()] * answers)
    return write_note.handler(sqs_event(event), lambda_context)


def test_a_send_back_puts_note_sent_back_with_no_word_of_the_reason(drafted, bus):
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON)
    [event] = bus()
    assert (event["detail-type"], contract_errors(event)) == ("NoteSentBack", [])
    assert (event["detail"]["note_version"], event["detail"]["redrafts"]) == (1, 0)
    assert "follow-up" not in json.dumps(event)


def test_the_note_is_drafted_again_with_the_reason_as_feedback_and_its_review_opens_again(drafted, bus, lambda_context):
    first_draft = drafted.read_json("notes/enc-0001.json")
    sent_back_at = datetime.now(UTC)
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON, now=sent_back_at)
    [event] = bus()
    assert redraft(drafted, lambda_context, event) == {"batchItemFailures": []}
    drafted.bedrock_stub.assert_no_pending_responses()
    [prompt] = drafted.prompts
    assert f"<clinician_feedback>\n{REASON}\n</clinician_feedback>" in prompt and "<transcript>" in prompt
    record, _ = read_review(drafted.s3, BUCKET, "enc-0001")
    assert (record.status, record.redrafts, [v.version for v in record.versions]) == ("AWAITING_REVIEW", 1, [1, 2])
    assert (record.versions[-1].feedback, record.versions[-1].by.startswith("model ")) == (REASON, True)
    assert record.opened_at >= sent_back_at and record.due_at - record.opened_at == timedelta(hours=72)
    assert (record.reminded_at, record.task_token) == (None, None)
    assert drafted.read_json("notes/enc-0001.json") == first_draft, "the first draft is kept as it was"
    key = record.versions[-1].key
    assert (
        key.startswith("reviews/enc-0001/v2-model-")
        and drafted.read_json(key)["provenance"]["encounter_id"] == "enc-0001"
    )
    [redrafted] = bus()
    assert (redrafted["detail-type"], contract_errors(redrafted)) == ("NoteRedrafted", [])
    assert (redrafted["detail"]["note_key"], redrafted["detail"]["note_version"]) == (key, 2)
    # The redraft is signed like any version: the signed note says which.
    assert sign(drafted.s3, BUCKET, "enc-0001", clinician=DR).version == 2


def test_a_second_delivery_of_the_send_back_changes_nothing_and_puts_nothing(drafted, bus, lambda_context):
    """The redraft's record says its NoteRedrafted was put (settled): a later delivery finds nothing owed."""
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON)
    [event] = bus()
    redraft(drafted, lambda_context, event)
    [first] = bus()
    assert first["detail-type"] == "NoteRedrafted"
    before = snapshot(drafted)
    # No model answer is queued: a call to the model would fail the delivery.
    assert write_note.handler(sqs_event(event), lambda_context) == {"batchItemFailures": []}
    assert snapshot(drafted) == before and len(drafted.prompts) == 1
    assert bus() == []


def test_a_try_that_wrote_the_version_but_not_the_record_keeps_what_it_wrote(drafted, bus, lambda_context, monkeypatch):
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON)
    [event] = bus()
    real, stopped = review._decide, []

    def decide_after_a_crash(*args, **kwargs):
        if not stopped:
            stopped.append(True)
            raise RuntimeError("the function's runtime died here")
        return real(*args, **kwargs)

    monkeypatch.setattr(review, "_decide", decide_after_a_crash)
    assert redraft(drafted, lambda_context, event)["batchItemFailures"], "the first try stopped after the version"
    [staged] = [key for key in drafted.keys("reviews/enc-0001/") if "-model-" in key]
    # The next delivery: no model answer is queued, so a second call to the model would fail it.
    assert write_note.handler(sqs_event(event), lambda_context) == {"batchItemFailures": []}
    assert len(drafted.prompts) == 1
    record, _ = read_review(drafted.s3, BUCKET, "enc-0001")
    assert (record.status, record.versions[-1].key, record.versions[-1].by.startswith("model ")) == (
        "AWAITING_REVIEW",
        staged,
        True,
    )


def test_after_the_last_redraft_a_send_back_is_refused_and_nothing_changes(drafted, bus, lambda_context):
    for _ in range(MAX_REDRAFTS):
        send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON)
        [event] = bus()
        redraft(drafted, lambda_context, event)
        bus()
    before = snapshot(drafted)
    with pytest.raises(ReviewRefused) as refused:
        send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON)
    assert refused.value.message == (
        f"encounter enc-0001's note was drafted again {MAX_REDRAFTS} times, the most it is: edit and sign it"
    )
    assert snapshot(drafted) == before and bus() == []
    assert read_review(drafted.s3, BUCKET, "enc-0001")[0].versions[-1].version == 1 + MAX_REDRAFTS


@pytest.mark.parametrize(
    ("clinician", "reason", "says"),
    [
        (DR, "x" * 1001, "a reason is at most 1000 characters (1001 given)"),
        (" ", REASON, "sending a note back needs the clinician's identity"),
    ],
)
def test_a_send_back_without_an_identity_or_with_an_essay_is_refused(drafted, bus, clinician, reason, says):
    before = snapshot(drafted)
    with pytest.raises(ReviewRefused, match=r"^" + says.replace("(", r"\(").replace(")", r"\)")):
        send_back(drafted.s3, BUCKET, "enc-0001", clinician=clinician, reason=reason)
    assert snapshot(drafted) == before and bus() == []


def test_a_transcript_replaced_since_the_review_opened_is_not_redrafted(drafted, bus, lambda_context):
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON)
    [event] = bus()
    drafted.put_transcript("enc-0001", "Doctor: A new recording of the visit. Patient: Yes, a new one.")
    before = snapshot(drafted)
    assert write_note.handler(sqs_event(event), lambda_context) == {"batchItemFailures": []}
    assert snapshot(drafted) == before and drafted.prompts == []
    assert read_review(drafted.s3, BUCKET, "enc-0001")[0].status == "SENT_BACK"


def test_the_sweep_puts_an_overdue_send_back_again_unless_a_failure_is_recorded(drafted, bus, monkeypatch):
    # The send-back's own put did not happen (here: no bus for it), as if EventBridge had refused it.
    monkeypatch.delenv(domain_events.BUS_ENVIRONMENT)
    sent_back_at = datetime.now(UTC)
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON, now=sent_back_at)
    monkeypatch.setenv(domain_events.BUS_ENVIRONMENT, DOMAIN_BUS)
    assert bus() == []
    assert sweep_deadlines(drafted.s3, BUCKET, now=sent_back_at + timedelta(minutes=15)).sent_back_again == []
    kept = sweep_deadlines(drafted.s3, BUCKET, now=sent_back_at + REDRAFT_OVERDUE)
    assert kept.sent_back_again == ["enc-0001"]
    [event] = bus()
    assert (event["detail-type"], contract_errors(event)) == ("NoteSentBack", [])
    drafted.s3.put_object(Bucket=BUCKET, Key="failures/enc-0001.json", Body=b"{}")
    assert sweep_deadlines(drafted.s3, BUCKET, now=sent_back_at + 2 * REDRAFT_OVERDUE).sent_back_again == []


def test_a_send_back_in_the_dead_letter_queue_names_its_encounter():
    event = {"source": "clinical-scribe", "detail-type": "NoteSentBack", "detail": {"encounter_id": "enc-0001"}}
    assert encounter_of_body(json.dumps(event)) == "enc-0001"
    assert encounter_of_body(json.dumps({**event, "detail": {"encounter_id": "../x"}})) is None
    assert encounter_of_body(json.dumps({**event, "source": "someone"})) is None


def test_a_redraft_the_model_refuses_is_a_failure_record_and_the_sweep_leaves_it_there(drafted, bus, lambda_context):
    sent_back_at = datetime.now(UTC)
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON, now=sent_back_at)
    [event] = bus()
    drafted.model_answers(converse_answer('{"cannot_generate": true}'))
    assert write_note.handler(sqs_event(event), lambda_context) == {"batchItemFailures": []}
    record = drafted.read_json("failures/enc-0001.json")
    assert (record["stage"], record["error_type"], record["source_key"]) == (
        "note",
        "ModelRefused",
        "reviews/enc-0001.json",
    )
    assert read_review(drafted.s3, BUCKET, "enc-0001")[0].status == "SENT_BACK"
    assert sweep_deadlines(drafted.s3, BUCKET, now=sent_back_at + 2 * REDRAFT_OVERDUE).sent_back_again == []


def test_a_redraft_whose_every_try_died_gets_its_record_from_the_dead_letter_queue(drafted, bus, monkeypatch):
    from choreography import watchdog
    from clinical.settings import PipelineSettings

    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason=REASON)
    [event] = bus()
    url = drafted.sqs.create_queue(QueueName="NoteRequestsDlq")["QueueUrl"]
    drafted.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
    settings = PipelineSettings.from_env()
    assert watchdog.surface_dead_note_requests(BUCKET, settings, url) == 1
    record = drafted.read_json("failures/enc-0001.json")
    assert (record["error_type"], record["source_key"]) == ("Lambda.Unknown", "reviews/enc-0001.json")
    # Once drafted again (by a redrive, say), a letter left in the queue records nothing.
    drafted.s3.delete_object(Bucket=BUCKET, Key="failures/enc-0001.json")
    reviewed = json.loads(drafted.s3.get_object(Bucket=BUCKET, Key="reviews/enc-0001.json")["Body"].read())
    reviewed["status"] = "AWAITING_REVIEW"
    drafted.s3.put_object(Bucket=BUCKET, Key="reviews/enc-0001.json", Body=json.dumps(reviewed))
    assert watchdog.surface_dead_note_requests(BUCKET, settings, url) == 0
