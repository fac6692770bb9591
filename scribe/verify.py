"""`scribe verify NOTE TRANSCRIPT.json`: the unsupported-claim check on any note against a transcript.

The note is this project's JSON (notes/<id>.json) or plain text (a short line in capitals or ending in a
colon opens a section; the other lines are split into sentences, each a statement). The transcript is a
Transcribe Medical output document. Each statement is checked against the segments it cites; one without
evidence links (a plain-text note) against the whole transcript.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from clinical.claims import check_cited, statements_of_note, statements_of_text
from clinical.conversation import segments_of
from clinical.errors import EmptyTranscript, TranscriptMalformed


class VerifyInputError(ValueError):
    """A file that cannot be checked; the message says which and why in one line."""


@dataclass(frozen=True)
class CheckedStatement:
    section: str
    text: str
    supported: bool
    reason: str | None


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise VerifyInputError(f"{path}: no such {what}") from None
    except UnicodeDecodeError:
        raise VerifyInputError(f"{path}: the {what} is neither JSON nor text (not UTF-8)") from None
    except OSError as error:
        raise VerifyInputError(f"{path}: cannot read the {what} ({type(error).__name__})") from None


def verify(note_path: Path, transcript_path: Path) -> list[CheckedStatement]:
    """Every statement of the note, checked against the transcript."""
    try:
        segments = segments_of(json.loads(_read(transcript_path, "transcript")))
    except ValueError:
        raise VerifyInputError(f"{transcript_path}: not JSON, so not a Transcribe Medical output document") from None
    except (TranscriptMalformed, EmptyTranscript) as error:
        raise VerifyInputError(f"{transcript_path}: {error.message}") from None
    text = _read(note_path, "note")
    try:
        document = json.loads(text)
    except ValueError:
        statements = statements_of_text(text)
    else:
        try:
            statements = statements_of_note(document)
        except ValueError as error:
            raise VerifyInputError(f"{note_path}: {error}") from None
    if not statements:
        raise VerifyInputError(f"{note_path}: no statement in it")
    return [
        CheckedStatement(s.section, s.text, (verdict := check_cited(s, segments)).supported, verdict.reason)
        for s in statements
    ]


def as_json(checked: list[CheckedStatement]) -> str:
    return json.dumps({"statements": [asdict(statement) for statement in checked]}, indent=2)


def as_text(checked: list[CheckedStatement]) -> str:
    unsupported = [s for s in checked if not s.supported]
    lines = [f"{len(checked) - len(unsupported)}/{len(checked)} statements supported by the transcript"]
    lines += [f"  UNSUPPORTED [{s.section or '-'}] {s.text}\n    {s.reason}" for s in unsupported]
    return "\n".join(lines)
