"""A clinician's review: the draft step opens it; sign (with changes named by statement id, re-checked) once, or
send back with a reason; one conditional write of the record decides each transition, and what follows it is
settled after, idempotently; every refused action changes nothing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber

from choreography import write_note
from clinical import review
from clinical.errors import DecidedNotSettled, DomainEventNotPublished
from clinical.fhir import document_reference
from clinical.notes import SignedNote
from clinical.review import (
    Deadlines,
    ReviewRefused,
    expire,
    read_review,
    remind,
    reviews,
    send_back,
    settle,
    sign,
    sweep_deadlines,
)
from clinical.review_record import end_wait, wait_for
from clinical.revisions import Addition, Changes
from tests.support.domain_events import contract_errors
from tests.support.events import object_created, sqs_event
from tests.unit.conftest import BUCKET, TRANSCRIPT_TEXT, converse_answer

DR = "arn:aws:sts::123456789012:assumed-role/clinician/dr-lee"
# The drafted note (tests/events/bedrock_converse_note.json): s1 subjective; s2, s3 objective; s4 assessment;
# s5 plan; o1 amoxicillin, o2 chest X-ray.
PLAN, TEMPERATURE, CRACKLES, AMOXICILLIN, XRAY = "s5", "s2", "s3", "o1", "o2"


def snapshot(cloud) -> dict:
    return {key: cloud.read_json(key) for prefix in ("reviews/", "signed/", "notes/") for key in cloud.keys(prefix)}


def record_of(cloud) -> review.ReviewRecord:
    return read_review(cloud.s3, BUCKET, "enc-0001")[0]


def signed_sections(cloud) -> dict:
    signed = cloud.read_json("signed/enc-0001.json")["note"]
    sections = {section["name"]: section["statements"] for section in signed["sections"]}
    return sections | {"medications_and_orders": signed["medications_and_orders"]}


def test_the_draft_step_opens_the_review_with_its_deadline_and_every_statement_has_an_id(drafted):
    record = record_of(drafted)
    assert (record.status, [v.version for v in record.versions]) == ("AWAITING_REVIEW", [1])
    assert (record.versions[0].key, record.versions[0].flagged, record.settled_at) == (
        "notes/enc-0001.json",
        0,
        record.opened_at,
    )
    assert record.due_at - record.opened_at == timedelta(hours=72)
    assert [r.encounter_id for r in reviews(drafted.s3, BUCKET)] == ["enc-0001"]
    note = drafted.read_json("notes/enc-0001.json")
    assert [s["id"] for section in note["sections"] for s in section["statements"]] == ["s1", "s2", "s3", "s4", "s5"]
    assert [(o["id"], o["author"]) for o in note["medications_and_orders"]] == [("o1", "model"), ("o2", "model")]


def test_signing_with_an_edit_keeps_the_draft_and_signs_the_clinicians_version_named_in_the_record(drafted, bus):
    before = drafted.read_json("notes/enc-0001.json")
    signed = sign(
        drafted.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(edits={PLAN: "Amoxicillin; chest X-ray."})
    )
    assert (signed.version, signed.signed_by) == (2, DR)
    assert drafted.read_json("notes/enc-0001.json") == before, "the draft is kept as it was"
    record = record_of(drafted)
    latest = record.versions[-1]
    assert (record.status, record.signed_by, record.last_transition) == ("SIGNED", DR, "signed")
    assert record.settled_at is not None, "what the signature owes was done"
    assert (latest.by, latest.based_on, latest.edited, latest.removed, latest.added) == (DR, 1, [PLAN], [], [])
    assert (
        latest.key.startswith("reviews/enc-0001/v2-clinician-")
        and drafted.read_json(latest.key) == drafted.read_json("signed/enc-0001.json")["note"]
    )
    [plan] = signed_sections(drafted)["plan"]
    assert (plan["id"], plan["text"], plan["evidence"], plan["author"]) == (
        PLAN,
        "Amoxicillin; chest X-ray.",
        [4],
        "clinician",
    )
    [event] = bus()
    assert (event["detail-type"], contract_errors(event)) == ("NoteSigned", [])
    assert (event["detail"]["edited_statements"], event["detail"]["removed_statements"]) == (1, 0)
    assert "Amoxicillin" not in json.dumps(event)


def test_removing_an_order_and_editing_another_signs_exactly_that_and_the_fhir_document_carries_it(drafted):
    """The defect: the derived 'Medications and orders' kept a removed order. Orders are statements too."""
    changes = Changes(edits={XRAY: "", AMOXICILLIN: "Amoxicillin three times daily"})
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, changes=changes)
    orders = signed_sections(drafted)["medications_and_orders"]
    assert [(o["id"], o["description"], o["author"]) for o in orders] == [
        (AMOXICILLIN, "Amoxicillin three times daily", "clinician")
    ]
    latest = record_of(drafted).versions[-1]
    assert (latest.edited, latest.removed) == ([AMOXICILLIN], [XRAY])
    signed = SignedNote.model_validate(drafted.read_json("signed/enc-0001.json"))
    text = base64.b64decode(document_reference(signed)["content"][0]["attachment"]["data"]).decode()
    assert "Chest X-ray" not in text and "[medication] Amoxicillin three times daily (the clinician's)" in text


def test_removing_a_statement_and_editing_a_later_one_of_its_section_checks_that_very_edit(drafted):
    """The defect: positions shifted after a removal, so the edit escaped the check and the trail named the wrong
    statements. Ids do not shift."""
    before = snapshot(drafted)
    with pytest.raises(ReviewRefused) as refused:
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR,
             changes=Changes(edits={TEMPERATURE: "", CRACKLES: "Crackles at the left lung base."}))  # fmt: skip
    assert refused.value.statement == CRACKLES
    assert refused.value.message.startswith(
        "the edited statement s3 is not supported by the segments it cites: the side left lung is not in its evidence"
    )
    assert snapshot(drafted) == before
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR,
         changes=Changes(edits={TEMPERATURE: "", CRACKLES: "Crackles at the right base."}))  # fmt: skip
    latest = record_of(drafted).versions[-1]
    assert (latest.edited, latest.removed) == ([CRACKLES], [TEMPERATURE])
    assert [(s["id"], s["text"]) for s in signed_sections(drafted)["objective"]] == [
        (CRACKLES, "Crackles at the right base.")
    ]


def test_an_edit_the_recording_does_not_say_is_signed_only_as_the_clinicians_own_never_as_the_transcripts(drafted):
    changes = Changes(edits={PLAN: "Amoxicillin 875 mg twice daily."})
    with pytest.raises(ReviewRefused, match="the quantity 875 mg is not in its evidence"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, changes=changes)
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, changes=changes.model_copy(update={"own": [PLAN]}))
    [plan] = signed_sections(drafted)["plan"]
    assert (plan["author"], plan["evidence"], plan["text"]) == ("clinician", [], "Amoxicillin 875 mg twice daily.")
    text = base64.b64decode(
        document_reference(SignedNote.model_validate(drafted.read_json("signed/enc-0001.json")))["content"][0][
            "attachment"
        ]["data"]
    ).decode()
    assert "- Amoxicillin 875 mg twice daily. (the clinician's own, not from the recording)" in text


def test_every_section_takes_the_clinicians_statements_the_empty_ones_and_the_orders_included(cloud, lambda_context):
    answer = json.loads(converse_answer()["output"]["message"]["content"][0]["text"])
    answer["objective"] = []  # nothing examined was said
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer(json.dumps(answer)))
    write_note.handler(sqs_event(object_created(BUCKET, "transcripts/enc-0001.json")), lambda_context)
    added = [
        Addition(section="objective", text="Pulse oximetry 94% on room air."),
        Addition(section="medications_and_orders", text="Follow-up visit in 2 weeks", category="referral"),
    ]
    sign(cloud.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(added=added))
    sections = {
        name: [(s["id"], s["author"], s["evidence"]) for s in items] for name, items in signed_sections(cloud).items()
    }
    assert sections["objective"] == [("c1", "clinician", [])]
    assert sections["medications_and_orders"][-1] == ("c2", "clinician", [])
    assert record_of(cloud).versions[-1].added == ["c1", "c2"]


def test_a_flagged_statement_is_signed_only_edited_removed_or_explicitly_accepted(cloud, lambda_context):
    answer = json.loads(converse_answer()["output"]["message"]["content"][0]["text"])
    answer["plan"].append({"text": "Warfarin 5 mg daily.", "evidence": [4]})  # the transcript says no warfarin
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer(json.dumps(answer)))
    write_note.handler(sqs_event(object_created(BUCKET, "transcripts/enc-0001.json")), lambda_context)
    note = cloud.read_json("notes/enc-0001.json")
    assert [(f["statement"], f["reason"]) for f in note["flagged"]] == [
        ("s6", "the medication warfarin is not in its evidence")
    ]
    assert record_of(cloud).versions[0].flagged == 1
    before = snapshot(cloud)
    with pytest.raises(ReviewRefused) as refused:
        sign(cloud.s3, BUCKET, "enc-0001", clinician=DR)
    assert (refused.value.statement, refused.value.message) == (
        "s6",
        "statement s6 is flagged: the medication warfarin is not in its evidence. Edit it, remove it, or accept it as it is",
    )
    assert snapshot(cloud) == before
    sign(cloud.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(accepted=["s6"]))
    assert [s["accepted"] for s in signed_sections(cloud)["plan"]] == [False, True]
    assert record_of(cloud).versions[-1].accepted == ["s6"]


@pytest.mark.parametrize(
    ("action", "says"),
    [
        (lambda c: sign(c.s3, BUCKET, "enc-0009", clinician=DR), "encounter enc-0009 has no note awaiting review"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(edits={"s9": "x"})),
         "the note has no statement s9"),
        # Digits of another script are no number: refused in one line, never a crash.
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(edits={"s\u0663": "x"})),
         "a statement is named by its id"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(edits={"plan.0": "x"})),
         "a statement is named by its id"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(own=[PLAN])),
         "statement s5 is marked as your own but not edited"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(accepted=[PLAN])),
         "statement s5 is not flagged"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR,
                        changes=Changes(added=[Addition(section="exam", text="x")])), "the note has no section 'exam'"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR,
                        changes=Changes(added=[Addition(section="plan", text="  ")])), "an added statement needs its text"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(edits={PLAN: "x" * 2001})),
         "the new text of s5 has 2001 characters"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(
            edits=dict.fromkeys(("s1", "s2", "s3", "s4", "s5", "o1", "o2"), ""))),
         "a signed note needs at least one statement"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, version=2),
         "encounter enc-0001's note is at version 1 now, not the version 2 you reviewed"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=" "), "a signature needs the clinician's identity"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, patient="Patient/123\n"),
         "--patient: write it as a FHIR reference"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, patient="Jane Roe"),
         "--patient: write it as a FHIR reference"),
        (lambda c: send_back(c.s3, BUCKET, "enc-0001", clinician=DR, reason="  "), "sending a note back needs a reason"),
        (lambda c: send_back(c.s3, BUCKET, "enc-0001", clinician=DR, reason="x", version=3),
         "encounter enc-0001's note is at version 1 now"),
        (lambda c: sign(c.s3, BUCKET, "enc-0001", clinician=DR, now=datetime.now(UTC) + timedelta(hours=73)),
         "the review of encounter enc-0001 expired at"),
    ],
)  # fmt: skip
def test_a_refused_action_says_why_in_one_line_and_changes_nothing(drafted, bus, action, says):
    before = snapshot(drafted)
    with pytest.raises(ReviewRefused) as refused:
        action(drafted)
    assert refused.value.message.startswith(says) and "\n" not in refused.value.message
    assert snapshot(drafted) == before and bus() == []


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


# ---- one commit point: races and crashes ---------------------------------------------------------------------
def during(monkeypatch, name: str, meanwhile) -> None:
    """Run `meanwhile()` once, just before review.<name> runs: what another person or the sweep does at that moment."""
    real, done = getattr(review, name), []

    def step(*args, **kwargs):
        if not done:
            done.append(True)
            meanwhile()
        return real(*args, **kwargs)

    monkeypatch.setattr(review, name, step)


@pytest.mark.parametrize("changes", [Changes(), Changes(edits={PLAN: "Amoxicillin; chest X-ray."})])
def test_a_sign_racing_a_send_back_is_refused_whole_and_the_send_back_stands(drafted, monkeypatch, bus, changes):
    """The defect: the signed object was written while the record said SENT_BACK, and every later signature was
    refused. The record decides: the sign that lost writes no signed note."""
    during(monkeypatch, "_decide", lambda: send_back(drafted.s3, BUCKET, "enc-0001", clinician="dr-two", reason="redo"))
    with pytest.raises(ReviewRefused, match=r"changed while you acted \(it is SENT_BACK now\): nothing was signed"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, changes=changes)
    record = record_of(drafted)
    assert (record.status, record.settled_at is not None) == ("SENT_BACK", True)
    assert drafted.keys("signed/") == []
    assert [event["detail-type"] for event in bus()] == ["NoteSentBack"]


def test_a_sign_racing_the_expiry_is_refused_and_the_expiry_stands(drafted, monkeypatch, bus):
    due = record_of(drafted).due_at
    during(monkeypatch, "_decide", lambda: expire(drafted.s3, BUCKET, "enc-0001", now=due))
    with pytest.raises(ReviewRefused, match=r"it is REVIEW_EXPIRED now"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, now=due - timedelta(seconds=1))
    assert (record_of(drafted).status, drafted.keys("signed/")) == ("REVIEW_EXPIRED", [])
    assert [event["detail-type"] for event in bus()] == ["ReviewExpired"]


class Crash(Exception):
    """The process died here."""


def crash_once(monkeypatch, name: str) -> None:
    real, done = getattr(review, name), []

    def step(*args, **kwargs):
        if not done:
            done.append(True)
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(review, name, step)


def test_a_signature_decided_but_not_settled_is_finished_by_the_sweep(drafted, monkeypatch, bus):
    crash_once(monkeypatch, "_follow_up")
    with pytest.raises(Crash):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    record = record_of(drafted)
    assert (record.status, record.settled_at, drafted.keys("signed/"), bus()) == ("SIGNED", None, [], [])
    # The sweep leaves it to the function deciding it for SWEEP_AFTER (that function may still be writing).
    assert sweep_deadlines(drafted.s3, BUCKET).settled == []
    later = datetime.now(UTC) + review.SWEEP_AFTER
    assert sweep_deadlines(drafted.s3, BUCKET, now=later).settled == ["enc-0001"]
    assert drafted.read_json("signed/enc-0001.json")["signed_by"] == DR
    assert [event["detail-type"] for event in bus()] == ["NoteSigned"]
    assert record_of(drafted).settled_at is not None
    assert sweep_deadlines(drafted.s3, BUCKET, now=later) == Deadlines(reminded=[], expired=[]), "settled once"


def test_a_person_acting_again_on_an_unsettled_decision_finishes_it(drafted, monkeypatch, bus):
    """EventBridge refused NoteSigned after the decision: the signature stands, and the signer is told so."""
    real, refusals = review.publish, []

    def publish(events, **kwargs):
        if not refusals:
            refusals.append(events)
            raise DomainEventNotPublished("EventBridge did not take 1 event(s) (ThrottlingException)")
        return real(events, **kwargs)

    monkeypatch.setattr(review, "publish", publish)
    with pytest.raises(DecidedNotSettled, match="was decided, but what follows did not all finish"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    assert (record_of(drafted).status, record_of(drafted).settled_at, bus()) == ("SIGNED", None, [])
    with pytest.raises(ReviewRefused, match="is SIGNED, not awaiting review"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    assert drafted.keys("signed/") == ["signed/enc-0001.json"]
    assert [event["detail-type"] for event in bus()] == ["NoteSigned"]


def test_a_signed_object_a_lost_race_left_is_replaced_by_what_the_record_decides(drafted):
    """Before decisions were made in the record, a sign that lost could leave signed/<id>.json behind; the next
    signature replaces it (the bucket's versioning keeps it) instead of being refused forever."""
    stale = {"schema_version": "1", "encounter_id": "enc-0001", "version": 1, "signed_by": "lost race",
             "signed_at": "2026-01-01T00:00:00Z", "note": drafted.read_json("notes/enc-0001.json")}  # fmt: skip
    drafted.s3.put_object(Bucket=BUCKET, Key="signed/enc-0001.json", Body=json.dumps(stale))
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    assert drafted.read_json("signed/enc-0001.json")["signed_by"] == DR


def test_a_redraft_after_a_sign_that_stopped_before_its_decision_is_the_models_never_the_clinicians(
    drafted, monkeypatch, lambda_context, bus
):
    """The defect: the abandoned edit's v2 was taken as the model's redraft. A version no record names was never
    part of the review, and a redraft finds only its own under its key."""
    crash_once(monkeypatch, "_decide")
    with pytest.raises(Crash):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(edits={PLAN: "Amoxicillin; chest X-ray."}))
    [abandoned] = [key for key in drafted.keys("reviews/enc-0001/") if "-clinician-" in key]
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason="Please add the return precautions.")
    [event] = [e for e in bus() if e["detail-type"] == "NoteSentBack"]
    drafted.model_answers(converse_answer())
    write_note.handler(sqs_event(event), lambda_context)
    latest = record_of(drafted).versions[-1]
    assert (latest.version, latest.by.startswith("model "), "-model-" in latest.key) == (2, True, True)
    assert (
        latest.key != abandoned and drafted.read_json(latest.key)["sections"][3]["statements"][0]["author"] == "model"
    )
    # And the clinician's later edit is signed, never refused for a version someone left behind.
    assert (
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(edits={PLAN: "Chest X-ray."})).version == 3
    )


def test_settling_twice_does_it_once(drafted, bus):
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    bus()
    assert settle(drafted.s3, BUCKET, "enc-0001").transition is None
    assert bus() == []


# ---- objects that are not review records -----------------------------------------------------------------
def test_a_stray_object_under_reviews_is_quarantined_and_the_worklist_and_sweep_go_on(drafted):
    drafted.s3.put_object(Bucket=BUCKET, Key="reviews/Jane Doe.json", Body=b"not a record")
    other = record_of(drafted).model_copy(update={"encounter_id": "enc-0002"})
    drafted.s3.put_object(Bucket=BUCKET, Key="reviews/enc-0003.json", Body=other.model_dump_json())
    assert [r.encounter_id for r in reviews(drafted.s3, BUCKET, variant="choreography")] == ["enc-0001"]
    quarantined = [drafted.read_json(key) for key in drafted.keys("failures/_quarantine-")]
    assert sorted(q["source_key"][:7] for q in quarantined) == ["reviews", "sha256:"]
    assert "Jane" not in json.dumps(quarantined)
    due = record_of(drafted).due_at
    assert sweep_deadlines(drafted.s3, BUCKET, now=due).expired == ["enc-0001"]


# ---- the deadline, and orchestration's wait ---------------------------------------------------------------
def test_the_sweep_reminds_once_before_the_window_ends_then_expires_it(drafted):
    record = record_of(drafted)
    assert record.due_at - record.remind_at == timedelta(hours=12)
    before = record.remind_at - timedelta(minutes=1)
    # `awaiting` is the backlog the sweep reads along the way: one review, until it expires.
    assert sweep_deadlines(drafted.s3, BUCKET, now=before) == Deadlines(reminded=[], expired=[], awaiting=1)
    assert sweep_deadlines(drafted.s3, BUCKET, now=record.remind_at) == Deadlines(
        reminded=["enc-0001"], expired=[], awaiting=1
    )
    assert sweep_deadlines(drafted.s3, BUCKET, now=record.remind_at) == Deadlines(
        reminded=[], expired=[], awaiting=1
    ), "once"
    assert sweep_deadlines(drafted.s3, BUCKET, now=record.due_at) == Deadlines(
        reminded=[], expired=["enc-0001"], awaiting=0
    )
    expired = record_of(drafted)
    assert (expired.status, expired.expired_at) == ("REVIEW_EXPIRED", record.due_at)
    with pytest.raises(ReviewRefused, match="is REVIEW_EXPIRED, not awaiting review"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)


def test_a_signed_review_is_neither_reminded_nor_expired(drafted):
    record = record_of(drafted)
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    assert not remind(drafted.s3, BUCKET, "enc-0001", now=record.due_at).changed
    assert not expire(drafted.s3, BUCKET, "enc-0001", now=record.due_at).changed
    assert record_of(drafted).status == "SIGNED"


def test_signing_redeems_the_executions_token_and_a_wait_that_ended_is_not_an_error(drafted):
    assert wait_for(drafted.s3, BUCKET, "enc-0001", "token-1") == "AWAITING_REVIEW"
    assert record_of(drafted).task_token == "token-1"  # noqa: S105 (a test token)
    assert "task_token" not in record_of(drafted).shown()
    sfn = boto3.client("stepfunctions")
    with Stubber(sfn) as stub:
        stub.add_client_error(
            "send_task_success", "TaskTimedOut", expected_params={"taskToken": "token-1", "output": ANY}
        )
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, stepfunctions=sfn)
        stub.assert_no_pending_responses()
    record = record_of(drafted)
    assert (record.status, record.task_token) == ("SIGNED", None)
    # A wait that begins after the decision finds it and ends at once.
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
            {
                "taskToken": "token-1",
                "error": "NoteSentBack",
                "cause": "the review is decided in reviews/enc-0001.json",
            },
        )
        send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason="Wrong side: left knee.", stepfunctions=sfn)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("patient", ["Jane Roe", "Patient/123\n", "Practitioner/123", "Patient/123/_history/2"])
def test_a_patient_that_is_not_a_fhir_patient_reference_is_refused_and_nothing_changes(drafted, patient):
    """A reference is matched whole: a trailing newline would otherwise be stored in the signed note."""
    before = snapshot(drafted)
    with pytest.raises(ReviewRefused) as refused:
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, patient=patient)
    # The value is never quoted back: "Jane Roe" is a patient's name.
    assert refused.value.message == "--patient: write it as a FHIR reference, e.g. Patient/123"
    assert snapshot(drafted) == before


# ---- a new transcript of the same encounter --------------------------------------------------------------
def new_transcript(cloud, lambda_context) -> None:
    """The encounter's job wrote its transcript again (a sentence more), and the note writer drafts it."""
    cloud.put_transcript("enc-0001", TRANSCRIPT_TEXT + " The patient asked about work.")
    cloud.model_answers(converse_answer())
    write_note.handler(sqs_event(object_created(BUCKET, "transcripts/enc-0001.json")), lambda_context)


def test_a_new_transcripts_review_goes_on_counting_so_the_version_reviewed_before_is_never_signed(
    drafted, lambda_context
):
    """Versions restarted at 1 with a new transcript's review: a clinician who had reviewed version 1 of the old
    draft would have signed the new one, unseen."""
    new_transcript(drafted, lambda_context)
    record = record_of(drafted)
    assert ([v.version for v in record.versions], record.status) == ([2], "AWAITING_REVIEW")
    before = snapshot(drafted)
    with pytest.raises(ReviewRefused, match="is at version 2 now, not the version 1 you reviewed: open it again"):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, version=1)
    assert snapshot(drafted) == before
    assert sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, version=2).version == 2


def test_a_new_transcripts_draft_after_a_signature_changes_nothing_signed(drafted, lambda_context, monkeypatch):
    """The draft a review was opened on is pinned by its S3 version: a later transcript's draft replaces
    notes/<id>.json, never what was signed, even when the signature's follow-ups are still owed."""
    crash_once(monkeypatch, "_follow_up")
    with pytest.raises(Crash):
        sign(drafted.s3, BUCKET, "enc-0001", clinician=DR)
    draft = drafted.read_json("notes/enc-0001.json")
    new_transcript(drafted, lambda_context)
    assert drafted.read_json("notes/enc-0001.json") != draft, "the new transcript's draft is the encounter's draft"
    assert sweep_deadlines(drafted.s3, BUCKET, now=datetime.now(UTC) + review.SWEEP_AFTER).settled == ["enc-0001"]
    record = record_of(drafted)
    assert (record.status, [v.version for v in record.versions]) == ("SIGNED", [1])
    assert drafted.read_json("signed/enc-0001.json")["note"] == draft


def test_a_redraft_after_a_new_transcript_is_drafted_from_it_never_from_a_version_the_old_one_left(
    drafted, monkeypatch, lambda_context, bus
):
    """The defect: a redraft found the old transcript's version under the key it was about to write and took it.
    A redraft's key is its own: the transcript, the send-back and the version."""
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason="Please add the return precautions.")
    [event] = [e for e in bus() if e["detail-type"] == "NoteSentBack"]
    crash_once(monkeypatch, "_decide")
    drafted.model_answers(converse_answer())
    assert write_note.handler(sqs_event(event), lambda_context)["batchItemFailures"], "stopped after its version"
    [left] = [key for key in drafted.keys("reviews/enc-0001/") if "-model-" in key]
    new_transcript(drafted, lambda_context)
    reopened = record_of(drafted)
    assert (reopened.status, reopened.version) == ("AWAITING_REVIEW", 2)
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason="Please add the return precautions.")
    [event] = [e for e in bus() if e["detail-type"] == "NoteSentBack"]
    drafted.model_answers(converse_answer())
    assert write_note.handler(sqs_event(event), lambda_context) == {"batchItemFailures": []}
    latest = record_of(drafted).versions[-1]
    assert (latest.version, latest.key != left) == (3, True)
    assert drafted.read_json(latest.key)["provenance"]["transcript_sha256"] == reopened.transcript_sha256
