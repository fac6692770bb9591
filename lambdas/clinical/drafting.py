"""Ask the model (Bedrock Converse) for a note: the prompt of a template, the transcript as numbered segments,
and what comes back checked against the template's schema and the segments it may cite.

A transcript over one call's input budget is drafted from chunks of segments that overlap a little, one call
each; the answers are merged section by section, each statement keeping the segment numbers it cites (they
are the transcript's own numbers, so a chunk's citations need no translation).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from clinical.conversation import Segment
from clinical.errors import (
    InvalidModelOutput,
    ModelRefused,
    NoteModelRejected,
    NoteModelThrottled,
    TranscriptTooLong,
)
from clinical.notes import ModelCall
from clinical.policy import BEDROCK_TRANSIENT_CODES
from clinical.roles import SpeakerRole
from clinical.templates import ORDERS, OrderCategory, Template

MAX_OUTPUT_TOKENS = 4096
# One call's input, at most: a long encounter is drafted in calls of this size rather than one call of the
# whole context window, so that each answer (a note of the part it read) fits MAX_OUTPUT_TOKENS and each
# call stays within the note step's timeout. About two hours of conversation fit one call.
CALL_INPUT_BUDGET_TOKENS = 32_000
# Context windows in tokens, by model family as it appears in the model id: Claude Haiku 4.5, the default,
# has 200K (platform.claude.com/docs/en/models/haiku-4-5/overview), as do the Claude 3 and 4 models on
# Anthropic's models overview (older Claude models had less, hence no catch-all).
CONTEXT_WINDOW_TOKENS = dict.fromkeys(
    ("anthropic.claude-3", "anthropic.claude-haiku-4", "anthropic.claude-sonnet-4", "anthropic.claude-opus-4"), 200_000
)
# A model not listed here: assume a small window, so no call overflows it.
DEFAULT_CONTEXT_WINDOW_TOKENS = 32_000
# English runs about 3.5 characters per Claude token (a rule of thumb, not a documented bound); Anthropic's
# later tokenizers count ~30% more tokens for the same text than Haiku 4.5's (platform.claude.com, Haiku 5.5
# overview), and numbers and drug names split finely: 2.5 keeps the budget on the safe side.
CHARS_PER_TOKEN = 2.5
# The share of a call's budget that repeats the end of the previous chunk, so a statement whose segments
# straddle two chunks is seen whole by one of them.
OVERLAP_SHARE = 0.05
THROTTLING_CODES = frozenset(BEDROCK_TRANSIENT_CODES)
# Angle brackets in what was said or typed become single angle quotation marks: one character for one, so a
# chunk's size is unchanged, and no segment or feedback can write a fence's tag.
_FENCE_SAFE = str.maketrans("<>", "\u2039\u203a")


def estimated_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def segment_line(segment: Segment, roles: dict[str, str]) -> str:
    role = roles.get(segment.speaker)
    return f"[{segment.number}] {segment.speaker}{f' ({role.lower()})' if role else ''}: {segment.text}"


def fenced(text: str) -> str:
    """What was said or typed, unable to open or close a fence of the prompt (note-rules.md says so)."""
    return text.translate(_FENCE_SAFE)


def user_message(lines: Iterable[str], feedback: str | None = None) -> str:
    """The transcript, and for a redraft the clinician's reason for sending the last draft back, each in its
    fence, which nothing inside can close."""
    message = "Encounter transcript:\n<transcript>\n" + fenced("\n".join(lines)) + "\n</transcript>"
    if feedback:
        message += (
            "\n\nThe clinician reviewing this encounter sent the previous draft of the note back, saying:"
            f"\n<clinician_feedback>\n{fenced(feedback)}\n</clinician_feedback>\nDraft the note again from the transcript, "
            "taking the feedback into account; every statement still cites the segments that say it."
        )
    return message


def converse_request(model_id: str, template: Template, lines: Sequence[str], encounter_id: str,
                     feedback: str | None = None) -> dict:  # fmt: skip
    """The Converse request for (a chunk of) one encounter's transcript (temperature 0: repeatable drafts).
    The encounter id goes in requestMetadata, which Bedrock's model invocation logs carry, so a call is
    traced to its encounter without reading the prompt."""
    return {
        "modelId": model_id,
        "system": [{"text": template.system_prompt()}],
        "messages": [{"role": "user", "content": [{"text": user_message(lines, feedback)}]}],
        "inferenceConfig": {"maxTokens": MAX_OUTPUT_TOKENS, "temperature": 0},
        "requestMetadata": {"encounter_id": encounter_id},
    }


def context_window_tokens(model_id: str) -> int:
    return next(
        (tokens for family, tokens in CONTEXT_WINDOW_TOKENS.items() if family in model_id),
        DEFAULT_CONTEXT_WINDOW_TOKENS,
    )


def call_input_budget_tokens(model_id: str) -> int:
    """What one call may send: the per-call budget, or less when the model's window is smaller."""
    return min(CALL_INPUT_BUDGET_TOKENS, context_window_tokens(model_id) - MAX_OUTPUT_TOKENS)


def transcript_chars_per_call(model_id: str, template: Template, feedback: str | None = None) -> int:
    """The transcript characters one call carries: its budget less the prompt (and a redraft's feedback)."""
    prompt_chars = len(template.system_prompt()) + len(user_message([], feedback))
    return int(call_input_budget_tokens(model_id) * CHARS_PER_TOKEN) - prompt_chars


def chunks_of(lines: Sequence[str], budget_chars: int) -> list[range]:
    """Consecutive runs of lines (segment indexes), each within the budget, each after the first beginning
    with the last line of the one before, or the last few (up to OVERLAP_SHARE of the budget)."""
    chunks: list[range] = []
    start = 0
    while start < len(lines):
        end, size = start, 0
        while end < len(lines) and size + len(lines[end]) + 1 <= budget_chars:
            size += len(lines[end]) + 1
            end += 1
        if end == start:
            raise TranscriptTooLong(
                f"segment {start + 1} alone has {len(lines[start])} characters; one call's budget allows {budget_chars}"
            )
        chunks.append(range(start, end))
        if end == len(lines):
            break
        # At least the last segment again, and more while they fit the overlap's share.
        back, overlap = end - 1, len(lines[end - 1]) + 1
        while back - 1 > start and overlap + len(lines[back - 1]) + 1 <= budget_chars * OVERLAP_SHARE:
            back -= 1
            overlap += len(lines[back]) + 1
        start = max(back, start + 1)
    return chunks


class CitedStatement(BaseModel):
    """One statement of a section, with the numbers of the transcript segments that support it."""

    # Validated only within a template's answer schema, which builds it: not built on its own (defer_build).
    model_config = ConfigDict(extra="forbid", defer_build=True)

    text: str = Field(min_length=1)
    evidence: list[int] = Field(min_length=1)


class ClinicalOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # as CitedStatement

    category: OrderCategory
    description: str = Field(min_length=1)
    evidence: list[int] = Field(min_length=1)


@cache
def answer_schema(template: Template) -> type[BaseModel]:
    """The model's answer for a template: one list of cited statements per section, and the orders; nothing else."""
    fields = {name: (list[CitedStatement], ...) for name in template.section_names}
    return create_model(
        f"{template.name.capitalize()}Answer",
        __config__=ConfigDict(extra="forbid"),
        **fields,
        **{ORDERS: (list[ClinicalOrder], ...)},
    )


def schema_path(location: tuple, template: Template) -> str:
    """Where in the answer a validation issue is; a name the schema does not define is model text, so withheld."""
    known = {*template.section_names, ORDERS, *CitedStatement.model_fields, *ClinicalOrder.model_fields}
    parts = (str(part) if isinstance(part, int) or part in known else "(unexpected field)" for part in location)
    return ".".join(parts) or "(root)"


def parse_model_output(text: str, template: Template, segment_numbers: Iterable[int]) -> BaseModel:
    """Validate the model's answer against the template's schema, and every citation against the segments
    the call sent. Error messages name fields, never the text itself."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise InvalidModelOutput("model output holds no JSON object")
    try:
        document = json.loads(text[start : end + 1])
    except ValueError:
        raise InvalidModelOutput("model output is not valid JSON") from None
    if isinstance(document, dict) and document.get("cannot_generate"):
        raise ModelRefused("the model declined to write a note for this transcript")
    try:
        answer = answer_schema(template).model_validate(document)
    except ValidationError as error:
        fields = sorted({schema_path(issue["loc"], template) for issue in error.errors()})
        raise InvalidModelOutput(f"model output does not match the note schema at: {', '.join(fields)}") from None
    sent = set(segment_numbers)
    uncited = [
        f"{name}.{index}"
        for name in (*template.section_names, ORDERS)
        for index, item in enumerate(getattr(answer, name))
        if not set(item.evidence) <= sent
    ]
    if uncited:
        raise InvalidModelOutput(f"model output cites segments the transcript does not have at: {', '.join(uncited)}")
    return answer


@dataclass(frozen=True)
class Draft:
    """What the model wrote, merged over its calls: statements by section, orders, and each call's tokens."""

    sections: dict[str, list[CitedStatement]]
    orders: list[ClinicalOrder]
    calls: list[ModelCall]


def ask_model(bedrock, model_id: str, template: Template, segments: Sequence[Segment], lines: Sequence[str],
              encounter_id: str, feedback: str | None = None) -> tuple[BaseModel, ModelCall]:  # fmt: skip
    """One Converse call for these segments; every way it can fail classified."""
    try:
        response = bedrock.converse(**converse_request(model_id, template, lines, encounter_id, feedback))
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in THROTTLING_CODES:
            raise NoteModelThrottled(f"Bedrock is unavailable or throttling ({code})") from None
        raise NoteModelRejected(f"Bedrock rejected the request ({code})") from None
    stop_reason = response.get("stopReason")
    if stop_reason in ("guardrail_intervened", "content_filtered"):
        raise ModelRefused(f"the model's answer was blocked ({stop_reason})")
    if stop_reason == "max_tokens":
        raise InvalidModelOutput("model output was cut off at the token limit")
    blocks = response.get("output", {}).get("message", {}).get("content", [])
    text = "".join(block.get("text", "") for block in blocks)
    usage = response.get("usage", {})
    answer = parse_model_output(text, template, (segment.number for segment in segments))
    call = ModelCall(
        first_segment=segments[0].number,
        last_segment=segments[-1].number,
        input_tokens=usage.get("inputTokens"),
        output_tokens=usage.get("outputTokens"),
    )
    return answer, call


def _key(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _merged(items: Iterable, key) -> list:
    """Items in order, one per key: a repeat (a chunk's overlap drafted twice) adds its citations to the first."""
    kept: dict[str, BaseModel] = {}
    for item in items:
        if (seen := kept.get(key(item))) is None:
            kept[key(item)] = item
        else:
            seen.evidence = sorted({*seen.evidence, *item.evidence})
    return list(kept.values())


def request_note(bedrock, model_id: str, template: Template, segments: Sequence[Segment],
                 roles: Iterable[SpeakerRole], *, encounter_id: str, feedback: str | None = None) -> Draft:  # fmt: skip
    """The note of a template for these segments: one call, or one per chunk of a long transcript. A redraft
    carries the clinician's `feedback` in every call."""
    named = {role.speaker_label: role.role for role in roles}
    lines = [segment_line(segment, named) for segment in segments]
    answers, calls = [], []
    for chunk in chunks_of(lines, transcript_chars_per_call(model_id, template, feedback)):
        answer, call = ask_model(
            bedrock, model_id, template, segments[chunk.start : chunk.stop], lines[chunk.start : chunk.stop],
            encounter_id, feedback,
        )  # fmt: skip
        answers.append(answer)
        calls.append(call)
    sections = {
        name: _merged((s for answer in answers for s in getattr(answer, name)), lambda s: _key(s.text))
        for name in template.section_names
    }
    orders = _merged(
        (order for answer in answers for order in getattr(answer, ORDERS)),
        lambda order: f"{order.category}:{_key(order.description)}",
    )
    return Draft(sections=sections, orders=orders, calls=calls)
