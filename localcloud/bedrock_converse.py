"""LOCAL stand-in for Bedrock Converse: a deterministic note model, not an LLM.

moto 5.2.5 implements no Converse. This answers it with a schema-valid SOAP note assembled from
the transcript's own sentences, so the pipeline's parsing, validation, provenance and storage run
for real. Faults on demand: throttling and malformed output.
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
# Checked in this order: a sentence that states the plan also mentions symptoms and days.
SECTION_CUES = {
    "plan": ("plan", "prescribe", "follow up", "refer", "continue"),
    "assessment": ("assessment", "diagnosis", "consistent with", "impression"),
    "objective": ("exam", "temperature", "blood pressure", "pulse", "lungs", "heart", "weight", "oxygen"),
    "subjective": ("complain", "report", "states", "history", "days", "weeks", "pain", "cough", "feels"),
}
ORDER_CUES = {
    "medication": re.compile(r"\b\d+(\.\d+)?\s*(mg|milligrams?|g|grams?|mcg|units?)\b", re.I),
    "imaging": re.compile(r"\b(x-?ray|ct|mri|ultrasound|imaging)\b", re.I),
    "lab": re.compile(r"\b(blood test|cbc|panel|culture|a1c|labs?)\b", re.I),
    "referral": re.compile(r"\brefer(ral)?\b", re.I),
}


class ThrottlingException(JsonRESTError):
    def __init__(self, message: str = "Too many requests, please wait before trying again. (local fault)") -> None:
        super().__init__("ThrottlingException", message)


def transcript_from_request(messages: list[dict]) -> str:
    text = "".join(block.get("text", "") for message in messages for block in message.get("content", []))
    found = re.search(r"<transcript>\s*(.*?)\s*</transcript>", text, re.S)
    return found.group(1) if found else text


def local_soap_note(transcript: str) -> dict:
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", transcript) if s.strip()]
    sections = {name: [] for name in SECTION_CUES}
    for sentence in sentences:
        lowered = sentence.lower()
        for name, cues in SECTION_CUES.items():
            if any(cue in lowered for cue in cues):
                sections[name].append(sentence)
                break
        else:
            sections["subjective"].append(sentence)
    orders = [
        {"category": category, "description": sentence}
        for sentence in sentences
        for category, pattern in ORDER_CUES.items()
        if pattern.search(sentence)
    ]
    return {
        **{name: LOCAL_MODEL_NOTICE + (" ".join(found) or "Not discussed.") for name, found in sections.items()},
        "medications_and_orders": orders,
    }


UNSUPPORTED_STATEMENT = "Start warfarin 5 mg daily."


@contextlib.contextmanager
def local_converse(
    fault: Callable[[str, str], str | None] = lambda _subject, _scope: None,
    admit: Callable[[int, int], bool] = lambda _input_tokens, _output_tokens: True,
) -> Iterator[None]:
    """Within this block bedrock-runtime Converse answers with the local note model.

    `fault(subject, deployment)` is asked once per call and may answer "throttle", "malformed" or "unsupported"
    (a well-formed note with one statement the transcript does not support); the subject
    is the encounter the request's requestMetadata names, else the transcript's digest;
    `admit(input_tokens, output_tokens)` is the quota check (False: ThrottlingException, as Bedrock answers).
    """

    def converse(self: BedrockRuntimeResponse) -> ActionResult:
        transcript = transcript_from_request(self._get_param("messages") or [])
        # The calling function's deployment (the in-process runtime sets its environment).
        metadata = self._get_param("requestMetadata") or {}
        subject = metadata.get("encounter_id") or hashlib.sha256(transcript.encode()).hexdigest()
        injected = fault(subject, os.environ.get("POWERTOOLS_SERVICE_NAME", ""))
        if injected == "throttle":
            raise ThrottlingException()
        note = local_soap_note(transcript)
        if injected == "unsupported":
            # A statement the conversation never made: a drug and a dose (the unsupported-claim check's case).
            note["plan"] += " " + UNSUPPORTED_STATEMENT
        text = "Here is the note you asked for." if injected == "malformed" else json.dumps(note)
        # Roughly 1.3 tokens per English word, plus the prompt's instructions and schema.
        input_tokens, output_tokens = round(len(transcript.split()) * 1.3) + 350, round(len(text.split()) * 1.3)
        if not admit(input_tokens, output_tokens):
            raise ThrottlingException("Too many tokens, please wait before trying again.")
        return ActionResult(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn",
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
