"""`scribe eval`: the note path measured on ACI-BENCH-shaped conversations (`{"data": [{"src", "tgt", "file"}]}`,
each `src` a conversation in turns tagged `[doctor]` / `[patient]`).

Speaker roles: each conversation's tags become speaker labels `spk_0` / `spk_1` in a seeded random order (so
a label's number says nothing), the roles are assigned from what each speaker says (clinical.roles), and an
encounter is right when both speakers get their role. The reference is the corpus's tags, with the
encounters whose tags are swapped corrected (aci_bench_corrections.json, each with the reason); the score
against the tags as published is printed beside it.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from clinical.claims import (
    DIAGNOSES,
    KNOWN_DRUGS,
    UNIT_WORDS,
    check_statement,
    diagnoses_in,
    diagnosis_mentions,
    medications_in,
    statements_of_text,
)
from clinical.conversation import Segment
from clinical.roles import REVIEW_BELOW, assign_roles, needs_review

CORRECTIONS = Path(__file__).resolve().parent / "aci_bench_corrections.json"
ROLE_OF_TAG = {"doctor": "CLINICIAN", "patient": "PATIENT"}
OTHER_ROLE = {"CLINICIAN": "PATIENT", "PATIENT": "CLINICIAN"}
TURN = re.compile(r"^\[(?P<tag>[a-z_]+)\]\s*(?P<text>.*)$")


class EvaluationInputError(ValueError):
    """The input is not ACI-BENCH-shaped; the message says what is wrong in one line."""


@dataclass(frozen=True)
class Encounter:
    file: str
    src: str
    tgt: str


def load_encounters(path: Path) -> list[Encounter]:
    """The encounters of one ACI-BENCH-shaped file, or of every *.json file in a directory."""
    if not path.exists():
        raise EvaluationInputError(f"{path}: no such file or directory")
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise EvaluationInputError(f"{path}: no .json file in it")
    encounters = []
    for file in files:
        try:
            data = json.loads(file.read_text())["data"]
            encounters += [Encounter(str(x["file"]), str(x["src"]), str(x["tgt"])) for x in data]
        except (ValueError, KeyError, TypeError):
            raise EvaluationInputError(
                f'{file}: not ACI-BENCH-shaped: expected {{"data": [{{"src", "tgt", "file"}}, ...]}}'
            ) from None
    if not encounters:
        raise EvaluationInputError(f"{path}: no encounters in it")
    return encounters


def tagged_segments(src: str, label_of_tag: dict[str, str]) -> list[Segment]:
    """A tagged conversation as segments, one per turn, each tag replaced by its speaker label."""
    segments = []
    for line in src.splitlines():
        turn = TURN.match(line.strip())
        if turn and turn["tag"] in label_of_tag and turn["text"]:
            segments.append(Segment(len(segments) + 1, label_of_tag[turn["tag"]], None, None, turn["text"]))
    return segments


def shuffled_labels(encounter: Encounter, seed: int) -> dict[str, str]:
    """Tag -> speaker label, spk_0 and spk_1 in a seeded random order, so a label's number says nothing."""
    labels = ["spk_0", "spk_1"]
    random.Random(f"{seed}:{encounter.file}").shuffle(labels)  # noqa: S311 - a reproducible shuffle
    return dict(zip(ROLE_OF_TAG, labels, strict=True))


def swapped_tags() -> dict[str, str]:
    return json.loads(CORRECTIONS.read_text())["swapped_tags"]


@dataclass
class RoleFigures:
    encounters: int = 0
    right: int = 0
    right_as_published: int = 0
    marked_for_review: int = 0
    corrected: list[str] = field(default_factory=list)  # encounters whose tags are swapped in the corpus
    wrong: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.encounters if self.encounters else 0.0


def speaker_roles(encounters: list[Encounter], seed: int = 7, swapped: dict[str, str] | None = None) -> RoleFigures:
    swapped = swapped_tags() if swapped is None else swapped
    figures = RoleFigures()
    for encounter in encounters:
        label_of_tag = shuffled_labels(encounter, seed)
        roles = assign_roles(tagged_segments(encounter.src, label_of_tag))
        found = {role.speaker_label: role.role for role in roles}
        published = {label_of_tag[tag]: role for tag, role in ROLE_OF_TAG.items()}
        reference = (
            {label: OTHER_ROLE[role] for label, role in published.items()} if encounter.file in swapped else published
        )
        figures.encounters += 1
        figures.right += found == reference
        figures.right_as_published += found == published
        figures.marked_for_review += needs_review(roles)
        if encounter.file in swapped:
            figures.corrected.append(encounter.file)
        if found != reference:
            figures.wrong.append(encounter.file)
    return figures


def report_text(figures: RoleFigures, seed: int) -> str:
    lines = [
        f"{figures.encounters} encounters, speaker labels shuffled (seed {seed})",
        f"speaker roles right: {figures.right}/{figures.encounters} encounters ({figures.accuracy:.1%})"
        + (f"; wrong: {', '.join(figures.wrong)}" if figures.wrong else ""),
        f"  against the tags as published: {figures.right_as_published}/{figures.encounters}; "
        f"tags swapped in the corpus: {len(figures.corrected)}"
        + (f" ({', '.join(figures.corrected)}; experiments/aci_bench_corrections.json)" if figures.corrected else ""),
        f"  marked for review (a role's confidence below {REVIEW_BELOW}): {figures.marked_for_review}",
    ]
    return "\n".join(lines)


def transcript_text(src: str) -> str:
    """A tagged conversation's words, without the tags: the evidence a note without citations is checked
    against."""
    return " ".join(turn["text"] for line in src.splitlines() if (turn := TURN.match(line.strip())))


# A number followed by any unit the check knows (its own list, so every planted dose is one it reads).
_QUANTITY = re.compile(
    r"\b(\d+(?:\.\d+)?)(?=\s*(?:"
    + "|".join(re.escape(unit) for unit in sorted(UNIT_WORDS, key=len, reverse=True))
    + r")\b)",
    re.IGNORECASE,
)
_SIDE = re.compile(r"\b(left|right|Left|Right)\b")
_FLIP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}
PLANTED_KINDS = ("dose", "side", "medication", "diagnosis")


def planted_errors(
    statement: str, rng: random.Random, absent_drugs: list[str], absent_diagnoses: list[str] = ()
) -> list[tuple[str, str]]:
    """The errors planted in one supported statement of a human note: a changed dose (its first number with
    a unit, doubled), a flipped side (every left and right swapped), now and then an added medication the
    conversation never names, and a changed diagnosis (its first diagnosis replaced by the next, in the
    check's list, that the conversation never names)."""
    planted = []
    if absent_diagnoses and (mentions := diagnosis_mentions(statement)):
        start, end, named = mentions[0]
        following = [d for d in absent_diagnoses if d > named] or list(absent_diagnoses)
        planted.append(("diagnosis", f"{statement[:start]}{following[0]}{statement[end:]}"))
    if quantity := _QUANTITY.search(statement):
        value = float(quantity.group(1))
        planted.append(
            ("dose", f"{statement[: quantity.start(1)]}{value * 2 if value else 5:g}{statement[quantity.end(1) :]}")
        )
    if _SIDE.search(statement):
        planted.append(("side", _SIDE.sub(lambda side: _FLIP[side.group(1)], statement)))
    if absent_drugs and rng.random() < ADDED_MEDICATION_SHARE:
        planted.append(("medication", f"{statement.rstrip('.')}, and {rng.choice(absent_drugs)} was started."))
    return planted


ADDED_MEDICATION_SHARE = 0.15  # of the supported statements get an added medication


@dataclass
class CheckFigures:
    statements: int = 0  # the human notes' statements
    flagged: int = 0  # of them, flagged as unsupported by their conversation
    planted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PLANTED_KINDS, 0))
    caught: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PLANTED_KINDS, 0))

    @property
    def false_flag_rate(self) -> float:
        return self.flagged / self.statements if self.statements else 0.0

    @property
    def detection_rate(self) -> float:
        planted = sum(self.planted.values())
        return sum(self.caught.values()) / planted if planted else 0.0


def claim_check(encounters: list[Encounter], seed: int = 7) -> CheckFigures:
    """The unsupported-claim check on the human notes: how many of their statements it flags against their
    own conversation, and how many planted errors it catches in the statements it passed."""
    figures = CheckFigures()
    for encounter in encounters:
        evidence = transcript_text(encounter.src)
        rng = random.Random(f"{seed}:{encounter.file}")  # noqa: S311 - a reproducible plan of errors
        absent = sorted(KNOWN_DRUGS - medications_in(evidence))
        absent_diagnoses = sorted(set(DIAGNOSES) - diagnoses_in(evidence))
        for statement in statements_of_text(encounter.tgt):
            figures.statements += 1
            if not check_statement(statement.text, evidence).supported:
                figures.flagged += 1
                continue
            for kind, wrong in planted_errors(statement.text, rng, absent, absent_diagnoses):
                figures.planted[kind] += 1
                figures.caught[kind] += not check_statement(wrong, evidence).supported
    return figures


@dataclass
class EvidenceFigures:
    """The local note model's notes of each encounter, in each template: do their statements cite segments of
    the transcript, and does the check pass them?"""

    notes: int = 0
    statements: int = 0
    citing_existing_segments: int = 0
    invalid_notes: list[str] = field(default_factory=list)  # encounter/template whose answer was refused
    flagged: int = 0

    @property
    def validity(self) -> float:
        return self.citing_existing_segments / self.statements if self.statements else 0.0


def evidence_links(encounters: list[Encounter], bedrock, model_id: str, seed: int = 7) -> EvidenceFigures:
    """Each conversation as Transcribe would write it (speaker labels shuffled, one segment per sentence of a
    turn), drafted by `bedrock` in every template through the pipeline's own request and validation."""
    from clinical.claims import check_cited, statements_of_note
    from clinical.conversation import segments_of
    from clinical.drafting import request_note
    from clinical.errors import InvalidModelOutput
    from clinical.templates import ORDERS, templates
    from localcloud.transcribe_medical import transcribe_output

    figures = EvidenceFigures()
    for encounter in encounters:
        label_of_tag = shuffled_labels(encounter, seed)
        tagged = " ".join(
            f"[{segment.speaker}] {segment.text}" for segment in tagged_segments(encounter.src, label_of_tag)
        )
        document = transcribe_output(encounter.file, "123456789012", tagged, {"ShowSpeakerLabels": True})
        segments = segments_of(document)
        numbers = {segment.number for segment in segments}
        roles = assign_roles(segments)
        for template in templates().values():
            figures.notes += 1
            try:
                draft = request_note(bedrock, model_id, template, segments, roles, encounter_id=encounter.file)
            except InvalidModelOutput:
                figures.invalid_notes.append(f"{encounter.file}/{template.name}")
                continue
            note = {
                "sections": [
                    {"name": name, "statements": [s.model_dump() for s in statements]}
                    for name, statements in draft.sections.items()
                ],
                ORDERS: [order.model_dump() for order in draft.orders],
            }
            for statement in statements_of_note(note):
                figures.statements += 1
                figures.citing_existing_segments += bool(statement.evidence) and set(statement.evidence) <= numbers
                figures.flagged += not check_cited(statement, segments).supported
    return figures


def evidence_text(figures: EvidenceFigures) -> str:
    return "\n".join(
        [
            f"evidence links: {figures.citing_existing_segments}/{figures.statements} statements of {figures.notes} "
            f"local-model notes ({figures.notes // 3} encounters x 3 templates) cite existing segments "
            f"({figures.validity:.1%})"
            + (f"; answers refused: {', '.join(figures.invalid_notes)}" if figures.invalid_notes else ""),
            f"  flagged by the check against their cited segments: {figures.flagged}",
        ]
    )


def check_text(figures: CheckFigures) -> str:
    kinds = ", ".join(f"{kind} {figures.caught[kind]}/{figures.planted[kind]}" for kind in PLANTED_KINDS)
    planted, caught = sum(figures.planted.values()), sum(figures.caught.values())
    return "\n".join(
        [
            f"unsupported-claim check: planted errors caught {caught}/{planted} ({figures.detection_rate:.1%}): {kinds}",
            f"  human notes' statements flagged: {figures.flagged}/{figures.statements} ({figures.false_flag_rate:.1%})",
        ]
    )
