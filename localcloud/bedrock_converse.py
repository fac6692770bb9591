"""LOCAL stand-in for Bedrock Converse: a deterministic note model, not an LLM.

moto 5.2.5 implements no Converse. This answers it with a note of the sections the prompt asks for, each
statement a segment of the transcript in its own words citing that segment's number, so the pipeline's
parsing, evidence validation, claim check, provenance and storage run for real. Faults on demand:
throttling, malformed output, a citation of a segment that does not exist, an unsupported statement.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator

from moto.bedrockruntime.responses import BedrockRuntimeResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult

from localcloud import moto_patches

LOCAL_MODEL_NOTICE = "[local note model] "
_SUBJECTIVE = ("complain", "report", "states", "history", "days", "weeks", "pain", "cough", "feels", "hurting")
_OBJECTIVE = (
    "exam",
    "temperature",
    "blood pressure",
    "pulse",
    "lungs",
    "heart",
    "weight",
    "oxygen",
    "tender",
    "effusion",
)
_ASSESSMENT = ("assessment", "diagnosis", "consistent with", "impression")
_PLAN = ("plan", "prescribe", "follow up", "refer", "continue", "stop the", "order a", "we'll start", "i'm going to")
# A segment goes to the first section here that the template has and whose cues it says (a sentence that
# states the plan also mentions symptoms and days, hence plan first); else to the template's first section.
SECTION_CUES = {
    "plan": _PLAN,
    "assessment_and_plan": _ASSESSMENT + _PLAN,
    "assessment": _ASSESSMENT,
    "objective": _OBJECTIVE,
    "physical_examination": _OBJECTIVE,
    "medications_and_allergies": ("allerg", "i take", "i'm taking", "medication"),
    "past_history": ("history of", "surgery", "diagnosed with", "years ago"),
    "family_and_social_history": ("smok", "alcohol", "drink", "family", "mother", "father", "my job"),
    "review_of_systems": ("fever", "chills", "nausea", "vomit", "shortness of breath", "swelling", "deny"),
    "chief_complaint": ("brings you", "here for", "hurting"),
    "history_of_present_illness": _SUBJECTIVE,
    "subjective": _SUBJECTIVE,
    "data": _SUBJECTIVE + _OBJECTIVE,
}
ORDER_CUES = {
    "medication": re.compile(r"\b\d+(\.\d+)?\s*(mg|milligrams?|g|grams?|mcg|units?)\b", re.I),
    "imaging": re.compile(r"\b(x-?ray|ct|mri|ultrasound|imaging)\b", re.I),
    "lab": re.compile(r"\b(blood test|cbc|panel|culture|a1c|labs?)\b", re.I),
    "referral": re.compile(r"\brefer(ral)?\b", re.I),
}
_SEGMENT = re.compile(r"^\[(\d+)\] \S+?(?: \(\w+\))?: (.*)$")
_SECTIONS = re.compile(r"^Sections, in order: (.*)\.$", re.M)


class ThrottlingException(JsonRESTError):
    def __init__(self, message: str = "Too many requests, please wait before trying again. (local fault)") -> None:
        super().__init__("ThrottlingException", message)


def segments_from_request(messages: list[dict]) -> list[tuple[int, str]]:
    """(number, words) of each `[n] speaker (role): words` line of the request's transcript."""
    text = "".join(block.get("text", "") for message in messages for block in message.get("content", []))
    found = re.search(r"<transcript>\s*(.*?)\s*</transcript>", text, re.S)
    lines = (found.group(1) if found else text).splitlines()
    return [(int(match.group(1)), match.group(2)) for line in lines if (match := _SEGMENT.match(line.strip()))]


def sections_from_prompt(system: list[dict]) -> list[str]:
    """The template's section names, as the system prompt lists them."""
    found = _SECTIONS.search("".join(block.get("text", "") for block in system))
    return [name.strip() for name in found.group(1).split(",")] if found else ["subjective"]


def local_note(sections: list[str], segments: list[tuple[int, str]]) -> dict:
    """Each statement is a segment's own words citing it (words said again cite each segment that says them);
    questions and short replies state nothing."""
    note: dict[str, list] = {name: [] for name in sections}
    said: dict[str, dict] = {}  # words -> the statement or order that states them
    stated = [(number, words) for number, words in segments if not words.endswith("?") and len(words.split()) > 2]
    for number, words in stated:
        if words in said:
            said[words]["evidence"].append(number)
            continue
        lowered = words.lower()
        name = next(
            (name for name, cues in SECTION_CUES.items() if name in note and any(cue in lowered for cue in cues)),
            sections[0],
        )
        notice = "" if note[name] else LOCAL_MODEL_NOTICE
        said[words] = {"text": notice + words, "evidence": [number]}
        note[name].append(said[words])
    note["medications_and_orders"] = [
        {"category": category, "description": words, "evidence": said[words]["evidence"]}
        for words in dict.fromkeys(words for _number, words in stated)
        for category, pattern in ORDER_CUES.items()
        if pattern.search(words)
    ]
    return note


UNSUPPORTED_STATEMENT = "Start warfarin 5 mg daily."


@contextlib.contextmanager
def local_converse(
    fault: Callable[[str, str], str | None] = lambda _subject, _scope: None,
    admit: Callable[[int, int], bool] = lambda _input_tokens, _output_tokens: True,
) -> Iterator[None]:
    """Within this block bedrock-runtime Converse answers with the local note model.

    `fault(subject, deployment)` is asked once per call and may answer "throttle", "malformed", "miscited" (a
    statement citing a segment the request does not have) or "unsupported" (a well-formed note with one
    statement its cited segment does not support); the subject
    is the encounter the request's requestMetadata names, else the transcript's digest;
    `admit(input_tokens, output_tokens)` is the quota check (False: ThrottlingException, as Bedrock answers).
    """

    def converse(self: BedrockRuntimeResponse) -> ActionResult:
        messages, system = self._get_param("messages") or [], self._get_param("system") or []
        segments = segments_from_request(messages)
        # The calling function's deployment (the in-process runtime sets its environment).
        metadata = self._get_param("requestMetadata") or {}
        asked = json.dumps([system, messages], sort_keys=True)
        subject = metadata.get("encounter_id") or hashlib.sha256(asked.encode()).hexdigest()
        injected = fault(subject, os.environ.get("POWERTOOLS_SERVICE_NAME", ""))
        if injected == "throttle":
            raise ThrottlingException()
        sections = sections_from_prompt(system)
        note = local_note(sections, segments)
        first = segments[0][0] if segments else 1
        if injected == "unsupported":
            # A statement the conversation never made: a drug and a dose (the unsupported-claim check's case).
            note[sections[-1]].append({"text": UNSUPPORTED_STATEMENT, "evidence": [first]})
        if injected == "miscited":
            note[sections[0]].append({"text": "Seen today.", "evidence": [segments[-1][0] + 1 if segments else 1]})
        text = "Here is the note you asked for." if injected == "malformed" else json.dumps(note)
        # Roughly 1.3 tokens per English word, the prompt's instructions and schema included.
        words = sum(len(block.get("text", "").split()) for block in system)
        words += sum(len(block.get("text", "").split()) for message in messages for block in message.get("content", []))
        input_tokens, output_tokens = round(words * 1.3), round(len(text.split()) * 1.3)
        # As Bedrock does, an answer stops at the request's maxTokens, cut off mid-way.
        max_tokens = (self._get_param("inferenceConfig") or {}).get("maxTokens")
        stop_reason = "end_turn"
        if max_tokens and output_tokens > max_tokens:
            text, output_tokens, stop_reason = text[: len(text) * max_tokens // output_tokens], max_tokens, "max_tokens"
        if not admit(input_tokens, output_tokens):
            raise ThrottlingException("Too many tokens, please wait before trying again.")
        return ActionResult(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": stop_reason,
                "usage": {
                    "inputTokens": input_tokens,
                    "outputTokens": output_tokens,
                    "totalTokens": input_tokens + output_tokens,
                },
                "metrics": {"latencyMs": 1200},
            }
        )

    with moto_patches.add("moto.bedrockruntime.responses.BedrockRuntimeResponse.converse", converse):
        yield
