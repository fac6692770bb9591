"""Domain events: what the note step and the failure recorder put on the deployment's bus, each detail valid
against its schema, none with transcript or note text, and the same event id for the same fact."""

from __future__ import annotations

import json

import pytest

from choreography import write_note
from clinical import domain_events
from clinical.errors import DomainEventNotPublished
from tests.support.domain_events import SCHEMAS, contract_errors
from tests.support.events import object_created, sqs_event
from tests.unit.conftest import BUCKET, TRANSCRIPT_TEXT, converse_answer


def run(lambda_context, key: str, receive_count: int = 1):
    return write_note.handler(sqs_event(object_created(BUCKET, key), receive_count=receive_count), lambda_context)


def test_every_detail_type_has_a_closed_schema():
    for detail_type in domain_events.DETAIL_TYPES:
        schema = json.loads((SCHEMAS / f"{detail_type}.schema.json").read_text())
        assert schema["additionalProperties"] is False and {"version", "event_id", "encounter_id"} <= set(
            schema["required"]
        )


def test_a_written_note_puts_note_drafted_and_a_repeat_delivery_the_same_event(cloud, lambda_context, bus):
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer())
    run(lambda_context, "transcripts/enc-0001.json")
    [event] = bus()
    assert (event["detail-type"], contract_errors(event)) == ("NoteDrafted", [])
    detail = event["detail"]
    assert (detail["encounter_id"], detail["status"], detail["statements"], detail["template"]) == (
        "enc-0001",
        "draft",
        5,
        "soap",
    )
    run(lambda_context, "transcripts/enc-0001.json")  # a duplicate delivery: no model call, the same event again
    [again] = bus()
    assert again["detail"]["event_id"] == detail["event_id"]
    assert "productive cough" not in json.dumps([event, again]) and TRANSCRIPT_TEXT[:40] not in json.dumps(event)


def test_a_note_for_review_also_puts_note_needs_review(cloud, lambda_context, bus):
    cloud.put_transcript("enc-0002")
    answer = json.loads(converse_answer()["output"]["message"]["content"][0]["text"])
    answer["plan"].append({"text": "Start warfarin 5 mg daily.", "evidence": [4]})
    cloud.model_answers(converse_answer(json.dumps(answer)))
    run(lambda_context, "transcripts/enc-0002.json")
    found = {event["detail-type"]: event for event in bus()}
    assert sorted(found) == ["NoteDrafted", "NoteNeedsReview"]
    assert all(contract_errors(event) == [] for event in found.values())
    assert found["NoteNeedsReview"]["detail"]["flagged_statements"] == 1
    assert "warfarin" not in json.dumps(found)


def test_a_failure_record_puts_encounter_failed_without_its_message(cloud, lambda_context, bus):
    cloud.put_transcript("enc-0003", "   ")
    run(lambda_context, "transcripts/enc-0003.json")
    [event] = bus()
    assert (event["detail-type"], contract_errors(event)) == ("EncounterFailed", [])
    detail = event["detail"]
    assert (detail["record_key"], detail["stage"], detail["error_type"]) == (
        "failures/enc-0003.json",
        "note",
        "EmptyTranscript",
    )
    assert "message" not in detail


def test_an_event_eventbridge_does_not_take_is_a_transient_error(cloud, monkeypatch):
    monkeypatch.setenv(domain_events.BUS_ENVIRONMENT, "no-such-bus")

    class Refusing:
        def put_events(self, Entries):
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}

    monkeypatch.setattr(domain_events.clients, "events", lambda: Refusing())
    with pytest.raises(DomainEventNotPublished) as raised:
        domain_events.publish([("NoteDrafted", {"encounter_id": "enc-1"})])
    assert raised.value.retryable and "InternalFailure" in raised.value.message


def test_a_detail_that_breaks_its_schema_is_caught_by_the_contract():
    event = {"source": "clinical-scribe", "detail-type": "NoteDrafted", "detail": {"version": "1", "text": "x"}}
    assert any("'text' was unexpected" in error or "Additional properties" in error for error in contract_errors(event))
    assert contract_errors({**event, "detail-type": "NoteArchived"}) == ["no schema for detail type 'NoteArchived'"]
