"""A clinician's review: the draft step opens it; sign (with edits, re-checked) once, or send back with a
reason; every refused action changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber

from choreography import write_note
from clinical.review import (
    Deadlines,
    Edit,
    ReviewRefused,
    end_wait,
    expire,
    read_review,
    remind,
    reviews,
    send_back,
    sign,
    sweep_deadlines,
    wait_for,
)
from tests.support.events import object_created, sqs_event
from tests.unit.conftest import BUCKET, converse_answer

DR = "arn:aws:sts::123456789012:assumed-role/clinician/dr-lee"


@pytest.fixture
def drafted(cloud, lambda_context):
    """enc-0001's note drafted by the pipeline, its review open."""
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer())
    write_note.handler(sqs_event(object_created(BUCKET, "transcripts/enc-0001.json")), lambda_context)
    return cloud


def snapshot(cloud) -> dict:
    return {key: cloud.read_json(key) for prefix in ("reviews/", "signed/", "notes/") for key in cloud.keys(prefix)}


def test_the_draft_step_opens_the_review_with_its_deadline(drafted):
    record, _ = read_review(drafted.s3, BUCKET, "enc-0001")
    assert (record.status, [v.version for v in record.versions]) == ("AWAITING_REVIEW", [1])
    assert record.due_at - record.opened_at == timedelta(hours=72)
    assert [r.encounter_id for r in reviews(drafted.s3, BUCKET)] == ["enc-0001"]


def test_signing_with_an_edit_keeps_the_draft_writes_a_version_and_the_signed_note_once(drafted):
    before = drafted.read_json("notes/enc-0001.json")
    signed = sign(
        drafted.s3,
        BUCKET,
        "enc-0001",
        clinician=DR,
        edits=[Edit(section="plan", index=0, text="Amoxicillin; chest X-ray.")],
    )
    assert (signed.version, signed.signed_by) == (2, DR)
    assert drafted.read_json("notes/enc-0001.json") == before, "the draft is kept as it was"
    assert (
        drafted.read_json("reviews/enc-0001/v2.json")["sections"][3]["statements"][0]["text"]
        == "Amoxicillin; chest X-ray."
    )
    record, _ = read_review(drafted.s3, BUCKET, "enc-0001")
    assert (record.status, record.signed_by, record.versions[-1].edited) == ("SIGNED", DR, ["plan.0"])
    assert drafted.read_json("signed/enc-0001.json")["note"]["sections"][3]["statements"][0]["evidence"] == [4]


@pytest.mark.parametrize(
    ("action", "says"),
    [
        (lambda c: sign(c.s3, BUCKET, "enc-0009", clinician=DR), "encounter enc-0009 has no note awaiting review"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, edits=[Edit(section="plan", index=7, text="x")]),
         "the note has no statement plan.7"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, edits=[Edit(section="assessment", index=0, text=" ")]),
         "an edit may not empty the section assessment: send the note back instead"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, edits=[Edit(section="plan", index=0, text="Warfarin 5 mg.")]),
         "the edited statement plan.0 is not supported by the segments it cites: the medication warfarin is not in its evidence"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=" "), "a signature needs the clinician's identity"),
        (lambda c: send_back(c.s3, BUCKET, "enc-0001", clinician=DR, reason="  "), "sending a note back needs a reason"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, now=datetime.now(UTC) + timedelta(hours=73)),
         "the review of encounter enc-0001 expired at"),
    ],
)  # fmt: skip
def test_a_refused_action_says_why_in_one_line_and_changes_nothing(drafted, action, says):
    before = snapshot(drafted)
    with pytest.raises(ReviewRefused) as refused:
        action(drafted)
    assert refused.value.message.startswith(says) and "\n" not in refused.value.message
    assert snapshot(drafted) == before


def test_a_second_signature_and_a_send_back_after_signing_are_refused(drafted):
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    before = snapshot(drafted)
    for action in (
        lambda: sign(drafted.s3, BUCKET, "enc-0001", clinician="someone else"),
        lambda: send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason="late change"),
    ):
        with pytest.raises(ReviewRefused, match="is SIGNED, not awaiting review"):
            action()
    assert snapshot(drafted) == before


def test_s3_itself_refuses_a_second_signed_note(drafted, monkeypatch):
    """Two signers racing past the status check: the conditional write lets one signed note land."""
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    from clinical import review

    record, etag = read_review(drafted.s3, BUCKET, "enc-0001")
    monkeypatch.setattr(review, "_awaiting", lambda *a: (record.model_copy(update={"status": "AWAITING_REVIEW"}), etag))
    with pytest.raises(ReviewRefused, match="already signed"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician="someone else")
    assert drafted.read_json("signed/enc-0001.json")["signed_by"] == DR


def test_a_note_sent_back_records_who_and_why(drafted):
    record = send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason="wrong patient context")
    assert (record.status, record.reason, record.sent_back_by) == ("SENT_BACK", "wrong patient context", DR)
    assert json.loads(json.dumps(drafted.keys("signed/"))) == []


def test_an_edit_whose_version_a_stopped_attempt_left_is_refused_not_overwritten(drafted):
    drafted.s3.put_object(Bucket=BUCKET, Key="reviews/enc-0001/v2.json", Body=b"{}")
    with pytest.raises(ReviewRefused, match="version 2 of encounter enc-0001's note exists already"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, edits=[Edit(section="plan", index=0, text="Rest.")])
    assert drafted.read_json("reviews/enc-0001/v2.json") == {} and drafted.keys("signed/") == []


# ---- the deadline, and orchestration's wait ---------------------------------------------------------------
def test_the_sweep_reminds_once_before_the_window_ends_then_expires_it(drafted):
    record, _ = read_review(drafted.s3, BUCKET, "enc-0001")
    assert record.due_at - record.remind_at == timedelta(hours=12)
    before = record.remind_at - timedelta(minutes=1)
    assert sweep_deadlines(drafted.s3, BUCKET, now=before) == Deadlines(reminded=[], expired=[])
    assert sweep_deadlines(drafted.s3, BUCKET, now=record.remind_at) == Deadlines(reminded=["enc-0001"], expired=[])
    assert sweep_deadlines(drafted.s3, BUCKET, now=record.remind_at) == Deadlines(reminded=[], expired=[]), "once"
    assert sweep_deadlines(drafted.s3, BUCKET, now=record.due_at) == Deadlines(reminded=[], expired=["enc-0001"])
    expired, _ = read_review(drafted.s3, BUCKET, "enc-0001")
    assert (expired.status, expired.expired_at) == ("REVIEW_EXPIRED", record.due_at)
    with pytest.raises(ReviewRefused, match="is REVIEW_EXPIRED, not awaiting review"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)


def test_a_signed_review_is_neither_reminded_nor_expired(drafted):
    record, _ = read_review(drafted.s3, BUCKET, "enc-0001")
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    assert not remind(drafted.s3, BUCKET, "enc-0001", now=record.due_at).changed
    assert not expire(drafted.s3, BUCKET, "enc-0001", now=record.due_at).changed
    assert read_review(drafted.s3, BUCKET, "enc-0001")[0].status == "SIGNED"


def test_signing_redeems_the_executions_token_and_a_wait_that_ended_is_not_an_error(drafted):
    assert wait_for(drafted.s3, BUCKET, "enc-0001", "token-1") == "AWAITING_REVIEW"
    assert read_review(drafted.s3, BUCKET, "enc-0001")[0].task_token == "token-1"  # noqa: S105 (a test token)
    assert "task_token" not in read_review(drafted.s3, BUCKET, "enc-0001")[0].shown()
    sfn = boto3.client("stepfunctions")
    with Stubber(sfn) as stub:
        stub.add_client_error(
            "send_task_success", "TaskTimedOut", expected_params={"taskToken": "token-1", "output": ANY}
        )
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, stepfunctions=sfn)
        stub.assert_no_pending_responses()
    record, _ = read_review(drafted.s3, BUCKET, "enc-0001")
    assert (record.status, record.task_token) == ("SIGNED", None)
    # The execution's next wait (after the reminder) finds the decision and ends at once.
    assert wait_for(drafted.s3, BUCKET, "enc-0001", "token-2") == "SIGNED"
    with Stubber(sfn) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": "token-2", "output": ANY})
        end_wait(sfn, "token-2", "enc-0001", "SIGNED")
        stub.assert_no_pending_responses()


def test_a_send_back_fails_the_executions_wait_by_name_without_the_reason(drafted):
    wait_for(drafted.s3, BUCKET, "enc-0001", "token-1")
    sfn = boto3.client("stepfunctions")
    with Stubber(sfn) as stub:
        stub.add_response(
            "send_task_failure",
            {},
            {"taskToken": "token-1", "error": "NoteSentBack", "cause": "the clinician sent the note back; the "
             "reason is in reviews/enc-0001.json"},
        )  # fmt: skip
        send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason="Wrong side: left knee.", stepfunctions=sfn)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("patient", ["Jane Roe", "Patient/123\n", "Practitioner/123", "Patient/123/_history/2"])
def test_a_patient_that_is_not_a_fhir_patient_reference_is_refused_and_nothing_changes(drafted, patient):
    """A reference is matched whole: a trailing newline would otherwise be stored in the signed note."""
    before = snapshot(drafted)
    with pytest.raises(ReviewRefused) as refused:
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, patient=patient)
    assert refused.value.message == f"--patient {patient!r}: write it as a FHIR reference, e.g. Patient/123"
    assert snapshot(drafted) == before
