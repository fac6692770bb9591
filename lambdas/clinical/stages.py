"""An encounter's stage: the one answer every view gives (`scribe list`, `status`, `note`, `review list`, the
review page's worklist, the comparison's counts), derived from what each variant keeps.

Choreography keeps objects: the audio, the Transcribe job, the transcript, the note, a failure record.
Orchestration keeps one execution, whose last state entered says where the encounter is. In both, the review
record decides the review's state (clinical.review: its status), and a review that ended stands against
anything later: what a clinician signed, or a window that closed, is where the encounter is.

Pure rules: the callers gather the inputs (the operator CLI from AWS, the review desk from the records it reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    RECEIVED = "RECEIVED"
    TRANSCRIBING = "TRANSCRIBING"
    DRAFTING = "DRAFTING"
    AWAITING_REVIEW = "AWAITING_REVIEW"
    REDRAFTING = "REDRAFTING"
    SIGNED = "SIGNED"
    REVIEW_EXPIRED = "REVIEW_EXPIRED"
    FAILED = "FAILED"


# Where an encounter stays until a person acts, or for good: following one (`scribe status --watch`) stops there.
SETTLED = frozenset({Stage.AWAITING_REVIEW, Stage.SIGNED, Stage.REVIEW_EXPIRED, Stage.FAILED})
# The review's own end: nothing the pipeline does afterwards changes it.
REVIEW_ENDED = frozenset({Stage.SIGNED, Stage.REVIEW_EXPIRED})

# The stage a review record's status gives (clinical.review.Status).
OF_REVIEW = {
    "AWAITING_REVIEW": Stage.AWAITING_REVIEW,
    "SENT_BACK": Stage.REDRAFTING,
    "SIGNED": Stage.SIGNED,
    "REVIEW_EXPIRED": Stage.REVIEW_EXPIRED,
}

# Orchestration: the stage of each state of statemachines/encounter.asl.json but its Fail states (the execution's
# end says FAILED). From CheckReview on, the review record, when there is one, decides instead.
OF_STATE = {
    "ExecutionName": Stage.RECEIVED,
    "CheckInput": Stage.RECEIVED,
    "BehindOthers": Stage.RECEIVED,
    "StartTranscription": Stage.RECEIVED,
    "AwaitSlot": Stage.RECEIVED,  # in line for a Transcribe slot: no job yet, as in choreography
    "WaitForTranscript": Stage.TRANSCRIBING,
    "CheckTranscriptionJob": Stage.TRANSCRIBING,
    "TranscriptionJobStatus": Stage.TRANSCRIBING,
    "FirstExtraWait": Stage.TRANSCRIBING,
    "AnotherExtraWait": Stage.TRANSCRIBING,
    "GenerateNote": Stage.DRAFTING,
    "CheckReview": Stage.AWAITING_REVIEW,
    "ReviewOutcome": Stage.AWAITING_REVIEW,
    "AwaitReview": Stage.AWAITING_REVIEW,
    "RedraftNote": Stage.REDRAFTING,
    "RedraftOutcome": Stage.REDRAFTING,
    "NoteSigned": Stage.SIGNED,
    "ReviewExpired": Stage.REVIEW_EXPIRED,
}


@dataclass(frozen=True)
class Failure:
    """Why an encounter failed, as content-free as a failure record: the pipeline's stage (intake, transcription,
    note, review), the error's name, its message, and in orchestration the step that failed."""

    stage: str
    error_type: str
    message: str | None = None
    step: str | None = None

    @property
    def reason(self) -> str:
        step = f", step {self.step}" if self.step else ""
        return f"{self.error_type} at stage {self.stage}{step}" + (f": {self.message}" if self.message else "")


@dataclass(frozen=True)
class EncounterStage:
    """An encounter's stage, and for FAILED its failure."""

    stage: Stage
    failure: Failure | None = None

    @property
    def settled(self) -> bool:
        return self.stage in SETTLED

    def __str__(self) -> str:
        return f"{self.stage}: {self.failure.error_type} at {self.failure.stage}" if self.failure else str(self.stage)


@dataclass(frozen=True)
class KeptByChoreography:
    """What choreography keeps of an encounter. `failure`: its failure record's, or a FAILED job's before the
    watchdog records it; `review`: the review record's status."""

    audio: bool = False
    job: bool = False
    transcript: bool = False
    note: bool = False
    failure: Failure | None = None
    review: str | None = None


@dataclass(frozen=True)
class KeptByOrchestration:
    """What orchestration keeps of an encounter: whether its execution started and the last state it entered;
    `failure`: why the execution ended unsuccessfully, or before any execution the intake's failure record;
    `review`: the review record's status; `audio`: an upload no execution has taken in yet."""

    audio: bool = False
    started: bool = False
    state: str | None = None
    failure: Failure | None = None
    review: str | None = None


def stage_of_review(status: str) -> Stage:
    """The stage a review record's status gives (the review pages know the record and nothing else)."""
    return OF_REVIEW[status]


def stage_of(kept: KeptByChoreography | KeptByOrchestration) -> EncounterStage | None:
    """The encounter's stage from what its variant keeps; None when it keeps nothing of it."""
    review = stage_of_review(kept.review) if kept.review else None
    if review in REVIEW_ENDED:
        return EncounterStage(review)
    if kept.failure is not None:
        return EncounterStage(Stage.FAILED, kept.failure)
    if review is not None:
        return EncounterStage(review)
    progress = _choreography(kept) if isinstance(kept, KeptByChoreography) else _orchestration(kept)
    return EncounterStage(progress) if progress else None


def _choreography(kept: KeptByChoreography) -> Stage | None:
    if kept.note or kept.transcript:
        return Stage.DRAFTING
    if kept.job:
        return Stage.TRANSCRIBING
    return Stage.RECEIVED if kept.audio else None


def _orchestration(kept: KeptByOrchestration) -> Stage | None:
    if kept.started:
        # Started, no state entered yet: the execution has its input and nothing else.
        return OF_STATE.get(kept.state or "", Stage.RECEIVED)
    return Stage.RECEIVED if kept.audio else None
