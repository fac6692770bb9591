"""`scribe draft` with either engine, and the 4-hour encounter: what one note of a long transcript costs in
model calls and tokens, with the local note model.

The local engine is the local cloud's Converse stand-in (moto, in this process): deterministic, offline, and
answering the same request the pipeline sends Bedrock.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from pathlib import Path

import boto3
from moto import mock_aws

from clinical.drafting import (
    MAX_OUTPUT_TOKENS,
    call_input_budget_tokens,
    estimated_tokens,
    segment_line,
    user_message,
)
from clinical.notes import Note
from clinical.roles import assign_roles
from clinical.templates import template_named
from localcloud.bedrock_converse import local_converse
from localcloud.transcribe_medical import transcribe_output

FOUR_HOURS = 4 * 60 * 60  # Transcribe Medical's longest audio
SECONDS_PER_WORD = 0.4  # the local Transcribe's pace: 150 words a minute


@contextlib.contextmanager
def local_bedrock(region: str = "us-east-1") -> Iterator[object]:
    """A bedrock-runtime client that the local note model answers."""
    with mock_aws(), local_converse():
        yield boto3.client("bedrock-runtime", region_name=region)


@contextlib.contextmanager
def bedrock_client(engine: str, region: str | None = None) -> Iterator[object]:
    if engine == "local":
        with local_bedrock(region or "us-east-1") as client:
            yield client
    else:
        yield boto3.client("bedrock-runtime", **({"region_name": region} if region else {}))


# A clinic's long encounter in this project's own words: history, exam, counselling and plan, turn by turn.
_CLINICIAN = (
    "How has the pain in your left knee been since the last visit?",
    "Do you have any fever, chills or night sweats?",
    "On exam the left knee has mild tenderness along the joint line and no effusion.",
    "Your blood pressure today is 132 over 84 and your pulse is 72.",
    "Let's continue metformin 500 mg twice a day with meals.",
    "We'll start lisinopril 10 mg once a day for your blood pressure.",
    "I'm going to order a hemoglobin A1c and a basic metabolic panel.",
    "Your lungs are clear and your heart has a regular rhythm.",
    "The plan is to follow up in four weeks, or sooner if the swelling returns.",
    "Are you taking the ibuprofen 400 milligrams three times a day with food?",
)
_PATIENT = (
    "It still hurts when I climb stairs, mostly in the evening.",
    "No, I haven't had any fever or chills.",
    "I have been checking my sugars every morning and they run about 140.",
    "My wife says I snore a lot and I feel tired during the day.",
    "I take the metformin with breakfast and dinner.",
    "The swelling in my ankles goes down overnight.",
    "I walk about twenty minutes a day when the weather is good.",
    "I stopped smoking two years ago and I drink a glass of wine on weekends.",
)


def long_conversation(seconds: float = FOUR_HOURS, seed: int = 7) -> str:
    """A conversation tagged by turn ([spk_1] clinician, [spk_0] patient) that lasts `seconds` at the local
    Transcribe's pace."""
    rng = random.Random(seed)  # noqa: S311 (a test conversation, not a secret)
    turns, words = [], 0
    while words * SECONDS_PER_WORD < seconds:
        speaker, said = ("spk_1", _CLINICIAN) if len(turns) % 2 == 0 else ("spk_0", _PATIENT)
        turn = " ".join(rng.choice(said) for _ in range(rng.randint(1, 3)))
        words += len(turn.split())
        turns.append(f"[{speaker}] {turn}")
    return " ".join(turns)


def long_transcript_document(seconds: float = FOUR_HOURS, seed: int = 7) -> dict:
    return transcribe_output(
        "long-encounter", "123456789012", long_conversation(seconds, seed), {"ShowSpeakerLabels": True}
    )


def call_figures(note: Note, document_path: Path, model_id: str) -> list[dict]:
    """Per model call: the segments it carried, its input as this project estimates it (prompt and
    transcript lines at 2.5 characters a token) against the call budget, and the tokens the model counted."""
    from scribe.drafts import read_transcript_file

    transcript = read_transcript_file(document_path)
    template = template_named(note.template)
    named = {role.speaker_label: role.role for role in assign_roles(transcript.segments)}
    lines = {s.number: segment_line(s, named) for s in transcript.segments}
    budget = call_input_budget_tokens(model_id)
    figures = []
    for call in note.provenance.model_calls:
        sent = [lines[n] for n in range(call.first_segment, call.last_segment + 1)]
        estimate = estimated_tokens(template.system_prompt() + user_message(sent))
        figures.append(
            {
                "segments": f"{call.first_segment}-{call.last_segment}",
                "estimated_input_tokens": estimate,
                "budget_tokens": budget,
                "model_input_tokens": call.input_tokens,
                "model_output_tokens": call.output_tokens,
                "within_budget": estimate <= budget and (call.output_tokens or 0) <= MAX_OUTPUT_TOKENS,
            }
        )
    return figures


def long_encounter(seconds: float = FOUR_HOURS, seed: int = 7, workdir: Path | None = None) -> tuple[Note, list[dict]]:
    """Draft the synthetic encounter of `seconds` with the local note model; the note and each call's figures."""
    import tempfile

    from scribe.drafts import draft
    from stacks.config import PipelineConfig

    model_id = PipelineConfig().bedrock_model_id
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        path = Path(folder) / "long-encounter.json"
        path.write_text(json.dumps(long_transcript_document(seconds, seed)))
        with local_bedrock() as bedrock:
            note = draft(bedrock, path, model_id=model_id)
        return note, call_figures(note, path, model_id)


def main() -> int:
    """`make long-encounter`: the 4-hour encounter's calls, one line each; exit 1 if any is over the budget."""
    note, figures = long_encounter()
    statements = sum(len(section.statements) for section in note.sections)
    print(f"a {FOUR_HOURS // 3600}-hour conversation: segments 1-{note.provenance.model_calls[-1].last_segment}, "
          f"drafted in {len(figures)} model calls (a call's budget: {figures[0]['budget_tokens']:,} input tokens, "
          f"{MAX_OUTPUT_TOKENS:,} output tokens)")  # fmt: skip
    print(f"{'call':>4}  {'segments':>11}  {'estimated in':>12}  {'model in':>8}  {'model out':>9}  within budget")
    for n, call in enumerate(figures, 1):
        print(
            f"{n:>4}  {call['segments']:>11}  {call['estimated_input_tokens']:>12,}  {call['model_input_tokens']:>8,}  "
            f"{call['model_output_tokens']:>9,}  {'yes' if call['within_budget'] else 'NO'}"
        )
    print(f"note: {statements} statements, status {note.status}, {len(note.flagged)} flagged")
    return 0 if all(call["within_budget"] for call in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
