"""What a clinician signs holds whatever else happens at once: a stateful test (hypothesis) over both variants'
ways of keeping a review. Two clinicians look, sign (with changes) and send back; time passes; choreography's
sweep and note writer, or orchestration's execution (its waits, timeouts, CheckReview, RedraftNote) do their part;
a new transcript arrives; someone redeems the execution's token by hand; and a crash or a throttle strikes before
any write. After every step:

- a signed object exists only for a record that says SIGNED, and never changes once written;
- a SIGNED record whose follow-ups are settled has its signed object, exactly the version it names, and NoteSigned
  is out;
- every version is its author's: the model's drafts hold only the model's statements, a clinician's version only
  the statements that clinician changed, and what was signed is exactly what the signer saw plus their changes;
- orchestration's execution ends the way the record says.

At the end, with the faults gone and the sweep (or the execution) left to finish, every transition is settled and
an awaiting review can still be signed: nothing is refused forever.

`make test` runs a bounded, seeded number of examples; `make soak` many more (HYPOTHESIS_PROFILE=soak).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from moto import mock_aws

from clinical import clients, review, review_index, review_record
from clinical.errors import PipelineError
from clinical.layout import note_key, signed_key, transcript_key
from clinical.notes import (
    Note,
    NoteOrder,
    NoteSection,
    NoteStatement,
    Provenance,
    save_note,
    stored_note,
    transcript_sha256,
)
from clinical.review import read_review
from clinical.revisions import Addition, Changes, ReviewRefused, revise
from clinical.transcripts import read_transcript
from tests.support.transcripts import transcribe_document

settings.register_profile(
    "review-races", max_examples=40, stateful_step_count=30, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
settings.register_profile(
    "soak", max_examples=1500, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "review-races")

BUCKET, ENCOUNTER, BUS = "encounters", "enc-1", "domain-bus"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLINICIANS = ("dr-lee", "dr-roe")
# The races worth running: one action, and another run whole just before one of its writes.
RACES = (
    ("look and sign", "look and send back"),
    ("look and send back", "look and sign"),
    ("look and sign", "look and sign"),
    ("look and sign", "time's up"),
    ("time's up", "look and sign"),
    ("look and send back", "time's up"),
    ("look and sign", "the variant works"),
    ("look and send back", "the variant works"),
    ("the variant works", "look and sign"),
    ("the variant works", "look and send back"),
    ("sign what was seen", "look and send back"),
)
TRANSCRIPTS = (
    "Cough for three days. Temperature 38.4 C. Start amoxicillin 500 mg three times daily.",
    "Cough for four days. No fever today. Start doxycycline 100 mg twice daily.",
)


class Crash(Exception):
    """The process died before a write."""


class Faults:
    """What strikes before the n-th write from now (S3, EventBridge or Step Functions): a crash, a throttle, or
    another person's or process's whole action, run right there (two at once)."""

    def __init__(self) -> None:
        self.armed: tuple[str, int] | None = None
        self.meanwhile = lambda: None

    def before_write(self, service: str) -> None:
        if self.armed is None:
            return
        kind, countdown = self.armed
        if countdown > 1:
            self.armed = (kind, countdown - 1)
            return
        self.armed = None
        if kind == "meanwhile":
            self.meanwhile()
            return
        if kind == "crash":
            raise Crash(service)
        code = {"s3": "SlowDown", "events": "ThrottlingException", "states": "ThrottlingException"}[service]
        raise ClientError({"Error": {"Code": code, "Message": "throttled"}}, "Write")


class FaultyS3:
    """The bucket's client, every write first passing the armed fault."""

    def __init__(self, s3, faults: Faults) -> None:
        self._s3, self._faults = s3, faults

    def put_object(self, **kwargs):
        self._faults.before_write("s3")
        return self._s3.put_object(**kwargs)

    def delete_object(self, **kwargs):
        self._faults.before_write("s3")
        return self._s3.delete_object(**kwargs)

    def __getattr__(self, name: str):
        return getattr(self._s3, name)


class Bus:
    """EventBridge as the domain functions put to it: every event kept, in order."""

    def __init__(self, faults: Faults) -> None:
        self.events: list[tuple[str, dict]] = []
        self._faults = faults

    def put_events(self, Entries):
        self._faults.before_write("events")
        self.events += [(entry["DetailType"], json.loads(entry["Detail"])) for entry in Entries]
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(len(self.events))} for _ in Entries]}


class Execution:
    """Orchestration's execution from its review on, as the state machine runs it: CheckReview, then RedraftNote or
    AwaitReview (wait_for with a new token, timing out when the record's time next comes), each task retried where
    it failed. Step Functions' SendTask* API for the tokens it issued."""

    def __init__(self, faults: Faults) -> None:
        self.phase, self.token, self.ended = "check", None, None
        self.woken, self.wait_until, self.wait_seconds, self.tokens = False, None, 0, 0
        self._faults = faults

    def _redeem(self, token: str) -> None:
        self._faults.before_write("states")
        if self.phase != "waiting" or token != self.token or self.woken:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "ended"}}, "SendTask")
        self.woken = True

    def send_task_success(self, taskToken, output):
        self._redeem(taskToken)
        return {}

    def send_task_failure(self, taskToken, error, cause):
        self._redeem(taskToken)
        return {}


def model_note(transcript: str, created_at: datetime, redraft: int = 0) -> Note:
    """The model's note of a transcript: every statement cites the segment that says it."""
    sentences = [s.strip() for s in transcript.replace(". ", ".\n").splitlines() if s.strip()]
    return Note(
        template="soap",
        sections=[
            NoteSection(name="subjective", title="Subjective", statements=[NoteStatement(id="s1", text=sentences[0], evidence=[1])]),
            NoteSection(name="objective", title="Objective", statements=[NoteStatement(id="s2", text=sentences[1], evidence=[2])]),
            NoteSection(name="assessment", title="Assessment", statements=[]),
            NoteSection(name="plan", title="Plan", statements=[NoteStatement(id="s3", text=sentences[2], evidence=[3])]),
        ],
        medications_and_orders=[NoteOrder(id="o1", category="medication", description=sentences[2], evidence=[3])],
        provenance=Provenance(
            encounter_id=ENCOUNTER, model_id=f"local-{redraft}", template="soap", prompt_version="soap-v2",
            transcript_sha256=transcript_sha256(transcript), transcription_job_name="job", variant="test",
            created_at=created_at,
        ),
    )  # fmt: skip


def changes_of(kind: str, note: Note) -> Changes:
    """A clinician's changes of one kind to the version they saw."""
    first, last = (
        note.sections[0].statements[0],
        note.sections[-1].statements[-1] if note.sections[-1].statements else None,
    )
    return {
        "none": Changes(),
        "edit": Changes(edits={first.id: "Confirmed: " + first.text}),
        "remove": Changes(edits={last.id: ""}) if last else Changes(),
        "own": Changes(edits={first.id: "Blood pressure 150/90 mmHg."}, own=[first.id]),
        "unsupported": Changes(edits={first.id: "Blood pressure 150/90 mmHg."}),
        "add": Changes(added=[Addition(section="assessment", text="Likely viral bronchitis.")]),
        "order": Changes(added=[Addition(section="medications_and_orders", text="Chest X-ray", category="imaging")]),
    }[kind]  # fmt: skip


class ReviewRaces(RuleBasedStateMachine):
    variant = "choreography"
    kept_by = "sweep"

    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws()
        self.mock.start()
        clients.reset()
        raw = boto3.client("s3", region_name="us-east-1")
        raw.create_bucket(Bucket=BUCKET)
        raw.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.raw, self.faults = raw, Faults()
        self.s3 = FaultyS3(raw, self.faults)
        self.bus = Bus(self.faults)
        self.execution = Execution(self.faults)
        self.patches = [
            mock.patch.object(clients, "events", lambda: self.bus),
            mock.patch.object(clients, "stepfunctions", lambda: self.execution),
        ]
        for patch in self.patches:
            patch.start()
        self.now, self.transcripts, self.delivered, self.undrafted = START, 0, 0, False
        self.seen: dict[str, tuple[int, Note]] = {}
        # The signature the record holds, as its signer made it: the version seen, the changes, what they make.
        self.signed_attempt: tuple[int, Changes, Note | None] | None = None
        self.signed_body: bytes | None = None

    def teardown(self) -> None:
        try:
            self._heal_and_check_nothing_is_refused_forever()
        finally:
            for patch in self.patches:
                patch.stop()
            self.mock.stop()
            clients.reset()

    # ---- the world -----------------------------------------------------------------------------------------
    @initialize()
    def drafted(self) -> None:
        self._transcribed()
        self._draft_the_transcript()

    def _transcribed(self) -> None:
        text = TRANSCRIPTS[self.transcripts % len(TRANSCRIPTS)]
        self.transcripts += 1
        self.raw.put_object(Bucket=BUCKET, Key=transcript_key(ENCOUNTER), Body=json.dumps(transcribe_document(text)))
        self.undrafted = True

    def _draft_the_transcript(self) -> None:
        """The draft step of the transcript there (choreography's note writer): the note once, then its review."""
        transcript = read_transcript(self.raw, BUCKET, transcript_key(ENCOUNTER))
        save_note(self.s3, BUCKET, model_note(transcript.text, self.now))
        review.open_review(
            self.s3, BUCKET, stored_note(self.raw, BUCKET, ENCOUNTER), now=self.now, kept_by=self.kept_by
        )
        self.undrafted = False

    def _act(self, action):
        """An action as a process runs it: it may be refused, crash, be throttled or stop after its decision."""
        try:
            return action()
        except (Crash, ClientError, PipelineError):
            return None

    def _record(self) -> review.ReviewRecord | None:
        found = read_review(self.raw, BUCKET, ENCOUNTER)
        return found[0] if found else None

    def _draft(self, record: review.ReviewRecord) -> Note | None:
        transcript = read_transcript(self.s3, BUCKET, transcript_key(ENCOUNTER))
        if transcript_sha256(transcript.text) != record.transcript_sha256:
            return None
        return model_note(transcript.text, self.now, redraft=record.redrafts + 1)

    @rule(kind=st.sampled_from(["crash", "throttle"]), countdown=st.integers(1, 6))
    def arm_a_fault(self, kind: str, countdown: int) -> None:
        self.faults.armed = (kind, countdown)

    def _do(self, action: str, clinician: str) -> None:
        """One whole action of a person or of the variant's machinery."""
        if action == "look and sign":
            self.look(clinician)
            self.sign(clinician, "edit")
        elif action == "look and send back":
            self.look(clinician)
            self.send_back(clinician)
        elif action == "sign what was seen":
            self.sign(clinician, "add")
        elif action == "time's up":
            record = self._record()
            self._act(lambda: review.expire(self.s3, BUCKET, ENCOUNTER, now=max(self.now, record.due_at), bus=BUS))
        else:
            self.the_variant_works()

    @rule(race=st.sampled_from(RACES), countdown=st.integers(1, 3))
    def two_at_once(self, race: tuple[str, str], countdown: int) -> None:
        """The second action (the other clinician's) runs whole just before the first's n-th write: the two race."""
        first, second = race
        self.faults.armed = ("meanwhile", countdown)
        self.faults.meanwhile = lambda: self._do(second, CLINICIANS[1])
        self._do(first, CLINICIANS[0])
        self.faults.armed = None

    def the_variant_works(self) -> None:
        """The variant's own machinery takes one step (its sweep, its note writer, its execution)."""

    @rule(hours=st.sampled_from([1, 13, 30, 61]))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @precondition(lambda self: self.transcripts < 3)
    @rule()
    def a_new_transcript_arrives(self) -> None:
        self._transcribed()

    # ---- the clinicians ------------------------------------------------------------------------------------
    @rule(clinician=st.sampled_from(CLINICIANS))
    def look(self, clinician: str) -> None:
        record = self._record()
        if record is not None and record.status == "AWAITING_REVIEW":
            self.seen[clinician] = (record.version, review.note_of(self.raw, BUCKET, record))

    @rule(
        clinician=st.sampled_from(CLINICIANS),
        kind=st.sampled_from(["none", "edit", "remove", "own", "unsupported", "add", "order"]),
    )
    def sign(self, clinician: str, kind: str) -> None:
        if clinician not in self.seen:
            return
        version, note = self.seen[clinician]
        changes = changes_of(kind, note)
        flagged = [flag.statement for flag in note.flagged if flag.statement and flag.statement not in changes.edits]
        changes = changes.model_copy(update={"accepted": flagged})
        try:
            expected = revise(
                note, changes, lambda: read_transcript(self.raw, BUCKET, transcript_key(ENCOUNTER)).segments
            ).note
        except ReviewRefused:
            expected = None
        before = self._record()
        # A refusal (a PipelineError) is an answer like any other here: the invariants say whether it was right.
        self._act(lambda: review.sign(self.s3, BUCKET, ENCOUNTER, clinician=clinician, changes=changes,
                                      version=version, now=self.now, bus=BUS))  # fmt: skip
        after = self._record()
        if before.status != "SIGNED" and after.status == "SIGNED" and self.signed_attempt is None:
            # This attempt decided it (one that raced it and won, run meanwhile, is recorded already).
            assert after.signed_by == clinician
            self.signed_attempt = (version, changes, expected)

    @rule(clinician=st.sampled_from(CLINICIANS))
    def send_back(self, clinician: str) -> None:
        version = self.seen.get(clinician, (None, None))[0]
        self._act(lambda: review.send_back(self.s3, BUCKET, ENCOUNTER, clinician=clinician, version=version,
                                           reason="Please add the dose.", now=self.now, bus=BUS))  # fmt: skip

    # ---- the invariants ------------------------------------------------------------------------------------
    def _index(self, prefix: str) -> list[str]:
        return [item["Key"] for item in self.raw.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]

    @invariant()
    def the_index_never_misses_a_review(self) -> None:
        """One too many, perhaps, never one too few: an awaiting review is on the worklist, and a swept review
        that needs the sweep has a deadline no later than when it needs it."""
        record = self._record()
        if record is None:
            return
        if record.status == "AWAITING_REVIEW":
            assert self._index(review_index.opening_prefix(ENCOUNTER, record.opened_at)), "off the worklist"
        if record.kept_by != "sweep":
            assert self._index(review_index.DUE_PREFIX) == [], "an execution keeps its own time"
            return
        if record.settled_at is None:
            needed = self.now + review.SWEEP_AFTER
        elif record.status == "AWAITING_REVIEW":
            needed = record.next_deadline()
        elif record.status == "SENT_BACK":
            needed = max(record.sent_back_at, self.now) + review.REDRAFT_OVERDUE
        else:
            return
        deadlines = [review_index.Deadline.from_key(key) for key in self._index(review_index.DUE_PREFIX)]
        assert any(d.at <= needed for d in deadlines if d and d.encounter_id == ENCOUNTER), (record, deadlines)

    @invariant()
    def a_signed_object_only_for_a_signed_record_and_it_never_changes(self) -> None:
        found = self.raw.list_objects_v2(Bucket=BUCKET, Prefix=signed_key(ENCOUNTER)).get("Contents")
        if not found:
            assert self.signed_body is None, "a signed note vanished"
            return
        body = self.raw.get_object(Bucket=BUCKET, Key=signed_key(ENCOUNTER))["Body"].read()
        record = self._record()
        assert record is not None and record.status == "SIGNED", f"signed/ written while the record is {record.status}"
        assert self.signed_body in (None, body), "what a clinician signed changed"
        self.signed_body = body

    @invariant()
    def a_settled_signature_is_out_exactly_as_signed(self) -> None:
        record = self._record()
        if record is None or record.status != "SIGNED":
            return
        signer = record.signed_by
        latest = record.versions[-1]
        note = review.note_of(self.raw, BUCKET, record)
        assert self.signed_attempt is not None, "signed by nobody's attempt"
        version, _changes, expected = self.signed_attempt
        assert expected is not None, "a change the review refuses was signed"
        assert (latest.based_on or latest.version) == version, "signed a version the signer did not see"
        assert note.model_dump(exclude={"provenance"}) == expected.model_dump(exclude={"provenance"}), (
            "what was signed is not what the signer saw plus their changes"
        )
        if record.settled_at is not None:
            signed = json.loads(self.raw.get_object(Bucket=BUCKET, Key=signed_key(ENCOUNTER))["Body"].read())
            assert (signed["version"], signed["signed_by"]) == (record.version, signer)
            assert any(kind == "NoteSigned" for kind, _detail in self.bus.events), "settled, yet no NoteSigned"

    @invariant()
    def every_version_is_its_authors(self) -> None:
        record = self._record()
        if record is None:
            return
        for version in record.versions:
            note = Note.model_validate_json(
                self.raw.get_object(Bucket=BUCKET, Key=review.version_key(ENCOUNTER, version))["Body"].read()
            )
            authors = {item.id: item.author for _section, item in note.items()}
            if version.based_on is None:
                assert version.by.startswith("model "), version
                assert version.key == note_key(ENCOUNTER) or "-model-" in version.key, version
                assert set(authors.values()) == {"model"}, "a model's version holds a clinician's statement"
            else:
                assert version.by == record.signed_by and "-clinician-" in version.key, version
                theirs = {i for i, author in authors.items() if author == "clinician"}
                before = Note.model_validate_json(self.raw.get_object(Bucket=BUCKET, Key=review.version_key(
                    ENCOUNTER, next(v for v in record.versions if v.version == version.based_on)))["Body"].read())  # fmt: skip
                carried = {item.id for _s, item in before.items() if item.author == "clinician"}
                assert theirs - carried == set(version.edited) | set(version.added), (
                    "the audit trail names other statements"
                )

    def _heal(self) -> None:
        """The faults gone, the variant's own machinery finishes what it can."""
        self.faults.armed = None

    def _superseded(self) -> bool:
        """The execution failed visibly (RedraftSuperseded): a new transcript replaced the one sent back."""
        return False

    def _heal_and_check_nothing_is_refused_forever(self) -> None:
        self._heal()
        record = self._record()
        assert record is not None
        assert record.settled_at is not None, f"{record.last_transition} left owing"
        if record.status == "SIGNED":
            assert self.raw.list_objects_v2(Bucket=BUCKET, Prefix=signed_key(ENCOUNTER)).get("Contents")
            assert any(kind == "NoteSigned" for kind, _detail in self.bus.events)
        if record.status == "SENT_BACK" and not self._superseded():
            pytest.fail("a note sent back was never drafted again")
        if record.status == "AWAITING_REVIEW":
            note = review.note_of(self.raw, BUCKET, record)
            accepted = [flag.statement for flag in note.flagged if flag.statement]
            review.sign(self.s3, BUCKET, ENCOUNTER, clinician="dr-last", version=record.version, now=self.now,
                        bus=BUS, changes=Changes(accepted=accepted))  # fmt: skip
            self._heal()
            assert self._record().status == "SIGNED"


class ChoreographyReviewRaces(ReviewRaces):
    """Choreography: the watchdog's sweep every so often, and the note writer taking each NoteSentBack off the bus."""

    @rule()
    def the_sweep_runs(self) -> None:
        self._act(lambda: review.sweep_deadlines(self.s3, BUCKET, now=self.now, bus=BUS, variant="choreography"))

    def the_variant_works(self) -> None:
        if any(kind == "NoteSentBack" for kind, _d in self.bus.events[self.delivered :]):
            self.the_note_writer_takes_a_send_back()
        elif self.undrafted:
            self.the_note_writer_drafts_the_new_transcript()
        else:
            self.the_sweep_runs()

    @precondition(lambda self: self.undrafted)
    @rule()
    def the_note_writer_drafts_the_new_transcript(self) -> None:
        self._act(self._draft_the_transcript)

    @precondition(lambda self: any(kind == "NoteSentBack" for kind, _d in self.bus.events[self.delivered :]))
    @rule()
    def the_note_writer_takes_a_send_back(self) -> None:
        pending = [i for i, (kind, _d) in enumerate(self.bus.events) if kind == "NoteSentBack" and i >= self.delivered]
        done = self._act(lambda: review.redraft(self.s3, BUCKET, ENCOUNTER, self._draft, now=self.now, bus=BUS))
        if done is not None:
            self.delivered = pending[0] + 1

    def _heal_and_check_nothing_is_refused_forever(self) -> None:
        super()._heal_and_check_nothing_is_refused_forever()
        # Once every deadline has come, the sweep has left nothing in the index: no deadline, no stale entry.
        review.sweep_deadlines(self.s3, BUCKET, now=self.now + timedelta(days=400), bus=BUS, variant="choreography")
        assert self._index(review_index.DUE_PREFIX) + self._index(review_index.AWAITING_PREFIX) == [], (
            "the sweep leaves no deadline or entry"
        )

    def _heal(self) -> None:
        super()._heal()
        if self.undrafted:
            self._draft_the_transcript()
        for _ in range(4):
            review.sweep_deadlines(self.s3, BUCKET, now=self.now, bus=BUS, variant="choreography")
            if any(kind == "NoteSentBack" for kind, _d in self.bus.events[self.delivered :]):
                review.redraft(self.s3, BUCKET, ENCOUNTER, self._draft, now=self.now, bus=BUS)
                self.delivered = len(self.bus.events)
            # The sweep puts a send-back again when its redraft is overdue.
            self.now += review.REDRAFT_OVERDUE


class OrchestrationReviewRaces(ReviewRaces):
    """Orchestration: the execution's tasks, each retried where it failed, and its waits' timeouts."""

    kept_by = "execution"

    def _transcribed(self) -> None:
        super()._transcribed()
        # Only the execution drafts, once: a later transcript reaches no note (a redraft then finds it superseded).
        self.undrafted = self.transcripts == 1

    @precondition(lambda self: self.execution.ended is None)
    @rule()
    def the_execution_moves(self) -> None:
        run = self.execution
        if run.phase == "waiting":
            if not run.woken and (run.wait_until is None or self.now < run.wait_until):
                return
            run.phase, run.token, run.woken = "check", None, False
        if run.phase == "check":
            kept = self._act(lambda: review.keep_time(self.s3, BUCKET, ENCOUNTER, now=self.now, bus=BUS))
            if kept is None:
                return  # retried
            if kept.status in ("SIGNED", "REVIEW_EXPIRED"):
                run.ended = kept.status
            elif kept.status == "SENT_BACK":
                run.phase = "redraft"
            else:
                run.phase, run.wait_seconds = "wait", kept.wait_seconds
            return
        if run.phase == "redraft":
            kept = self._act(lambda: review.redraft(self.s3, BUCKET, ENCOUNTER, self._draft, now=self.now, bus=BUS))
            if kept is not None:
                run.phase = "check" if kept.status != "SENT_BACK" else "superseded"
                if run.phase == "superseded":
                    run.ended = "RedraftSuperseded"
            return
        if run.phase == "wait":
            run.tokens += 1
            token = f"token-{run.tokens}"
            status = self._act(lambda: review_record.wait_for(self.s3, BUCKET, ENCOUNTER, token))
            if status is None:
                return  # the task is retried with a new token
            run.phase, run.token, run.woken = "waiting", token, False
            run.wait_until = self.now + timedelta(seconds=run.wait_seconds)
            if status != "AWAITING_REVIEW":
                self._act(lambda: review_record.end_wait(self.execution, token, ENCOUNTER, status))

    def the_variant_works(self) -> None:
        if self.execution.ended is None:
            self.the_execution_moves()

    @precondition(lambda self: self.execution.phase == "waiting" and self.execution.token is not None)
    @rule(success=st.booleans())
    def someone_redeems_the_token_by_hand(self, success: bool) -> None:
        token = self.execution.token
        if success:
            self._act(lambda: self.execution.send_task_success(taskToken=token, output="{}"))
        else:
            self._act(lambda: self.execution.send_task_failure(taskToken=token, error="ReviewExpired", cause="x"))

    @invariant()
    def the_execution_ends_as_the_record_says(self) -> None:
        if self.execution.ended in ("SIGNED", "REVIEW_EXPIRED"):
            record = self._record()
            assert record is not None and record.status == self.execution.ended

    def _superseded(self) -> bool:
        return self.execution.ended == "RedraftSuperseded"

    def _heal(self) -> None:
        super()._heal()
        for _ in range(60):
            run = self.execution
            if run.ended is not None:
                break
            if run.phase == "waiting" and not run.woken:
                record = self._record()
                if record.status == "AWAITING_REVIEW" and record.settled_at is not None:
                    break  # waiting for a person, nothing owed
                self.now = max(self.now, run.wait_until)  # only its timeout wakes it
            self.the_execution_moves()


for machine in (ChoreographyReviewRaces, OrchestrationReviewRaces):
    machine.TestCase.settings = settings.get_profile(PROFILE)

TestChoreographyReviewRaces = ChoreographyReviewRaces.TestCase
TestOrchestrationReviewRaces = OrchestrationReviewRaces.TestCase
