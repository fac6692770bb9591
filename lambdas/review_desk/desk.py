"""What the review page reads and does, per deployment (variant), each through clinical.review as the
identity that `ReviewDesk.identity` returns: the caller's AWS identity for the local page, the signed-in
clinician (Cognito) on AWS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from clinical import review as reviews
from clinical.conversation import Segment
from clinical.errors import ContractViolation
from clinical.layout import transcript_key
from clinical.notes import Note
from clinical.transcription import read_transcript


class Place(Protocol):
    """A deployment the desk acts on: its bucket, its stack outputs, and clients to reach it."""

    @property
    def bucket(self) -> str: ...

    outputs: Mapping[str, str]

    def client(self, service: str): ...


# Who acts, from the deployment acted on and the request's headers (where an authenticating proxy puts the user).
Identity = Callable[[Place, Mapping[str, str]], str]
REFUSED = (reviews.ReviewRefused, ContractViolation)
EDIT_FIELD = "edit."  # edit.<section>.<index>: a statement's new text, sent only for the statements opened


def caller_identity(deployment: Place, _headers: Mapping[str, str]) -> str:
    """The caller's AWS identity, as STS reports it (as `scribe sign` records it)."""
    return deployment.client("sts").get_caller_identity()["Arn"]


@dataclass(frozen=True)
class Awaiting:
    variant: str
    record: reviews.ReviewRecord


@dataclass(frozen=True)
class NoteUnderReview:
    variant: str
    record: reviews.ReviewRecord
    note: Note
    segments: tuple[Segment, ...]


class NotFound(Exception):
    """No such deployment or review (404)."""


@dataclass
class ReviewDesk:
    """What the page reads and does, per deployment (variant), each through clinical.review."""

    deployments: Mapping[str, Place]
    identity: Identity = caller_identity

    def now(self) -> datetime:
        return datetime.now(UTC)

    def _deployment(self, variant: str) -> Place:
        if variant not in self.deployments:
            raise NotFound(f"no {variant} deployment is served here")
        return self.deployments[variant]

    def worklist(self) -> list[Awaiting]:
        """The notes awaiting review in every deployment, oldest first."""
        found = [
            Awaiting(variant, record)
            for variant, deployment in self.deployments.items()
            for record in reviews.reviews(deployment.client("s3"), deployment.bucket)
            if record.status == "AWAITING_REVIEW"
        ]
        return sorted(found, key=lambda item: item.record.opened_at)

    def note(self, variant: str, encounter_id: str) -> NoteUnderReview:
        """The review, its note's latest version, and the transcript's segments."""
        deployment = self._deployment(variant)
        s3 = deployment.client("s3")
        found = reviews.read_review(s3, deployment.bucket, encounter_id)
        if found is None:
            raise NotFound(f"encounter {encounter_id} has no review in {variant}")
        record = found[0]
        note = reviews.current_note(s3, deployment.bucket, record)
        segments = read_transcript(s3, deployment.bucket, transcript_key(encounter_id)).segments
        return NoteUnderReview(variant, record, note, segments)

    def signer(self, variant: str, headers: Mapping[str, str]) -> str:
        return self.identity(self._deployment(variant), headers)

    def sign(self, variant: str, encounter_id: str, edits: list[reviews.Edit], headers: Mapping[str, str],
             patient: str | None = None) -> reviews.SignedNote:  # fmt: skip
        return self._act(reviews.sign, variant, encounter_id, headers, edits=edits, patient=patient)

    def send_back(
        self, variant: str, encounter_id: str, reason: str, headers: Mapping[str, str]
    ) -> reviews.ReviewRecord:
        return self._act(reviews.send_back, variant, encounter_id, headers, reason=reason)

    def _act(self, action: Callable, variant: str, encounter_id: str, headers: Mapping[str, str], **details):
        """A clinical.review action on the deployment, as the identity the request names, with the
        deployment's clients: its bucket, its domain bus, and its waiting execution's token."""
        deployment = self._deployment(variant)
        return action(
            deployment.client("s3"),
            deployment.bucket,
            encounter_id,
            clinician=self.identity(deployment, headers),
            bus=deployment.outputs.get("DomainEventBusName"),
            stepfunctions=deployment.client("stepfunctions"),
            events=deployment.client("events"),
            **details,
        )


def edits_from(form: Mapping[str, list[str]], note: Note) -> list[reviews.Edit]:
    """The statements whose text the form changes (an opened but unchanged statement is no edit). A statement
    the note does not have is passed on, for clinical.review to refuse: never signed without the edit."""
    current = {f"{s.name}.{i}": t.text for s in note.sections for i, t in enumerate(s.statements)}
    edits = []
    for name, values in form.items():
        if not name.startswith(EDIT_FIELD):
            continue
        label = name.removeprefix(EDIT_FIELD)
        section, _, index = label.rpartition(".")
        if not index.isdigit():
            raise reviews.ReviewRefused(f"the form names no statement {label!r}")
        if values[0].strip() != current.get(label):
            edits.append(reviews.Edit(section=section, index=int(index), text=values[0]))
    return edits


# ---- rendering ------------------------------------------------------------------------------------
