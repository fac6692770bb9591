"""Who is the clinician: each speaker label gets a role from what that speaker says, never from its number.

A clinician asks the history questions, examines, explains and prescribes, and speaks to the other person
("you", "your"); a patient answers, tells of their own body and life ("I", "my"). Each speaker's words are
scored on those cues; the most clinician-like speaker is the CLINICIAN, the least the PATIENT, and any other
speaker OTHER. The confidence grows with the gap between the two; below REVIEW_BELOW a note drafted from the
transcript is marked for review.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from clinical.conversation import Segment

Role = Literal["CLINICIAN", "PATIENT", "OTHER"]
REVIEW_BELOW = 0.8

_CLINICIAN_CUES = re.compile(
    r"\b(?:how are you|how (?:is|are|was|long|often|much|many)|tell me|any (?:other )?(?:pain|fever|chills|"
    r"nausea|vomiting|chest|shortness|swelling|numbness|problems|questions|changes|trouble)|do you|have you|"
    r"are you|did you|does it|does that|is it|is that|can you|could you|were you|let's|let me|i'm going to|"
    r"i am going to|i want you to|i'd like (?:to|you)|we're going to|we are going to|we'll|i'll (?:prescribe|"
    r"order|send|refer|see|go ahead|have)|go ahead and|prescrib\w*|order(?:ed|ing)?|refer(?:ral)?|follow(?:-| )?up|"
    r"exam(?:ine|ination)?|take a (?:look|listen)|your (?:blood pressure|heart|lungs|exam|labs?|results|"
    r"x-ray|mri|ct|ekg|symptoms|medications?|dose)|lab work|results|diagnos\w*|recommend\w*|"
    r"milligrams?|mg|okay \?|alright \?|all right \?)\b"
)
_PATIENT_CUES = re.compile(
    r"\b(?:i've been|i have been|i feel|i felt|i'm feeling|i've had|i had|it hurts|it's been|i think|i noticed|"
    r"i was|i take|i'm taking|i haven't|i don't know|i guess|i just|my (?:back|knee|knees|chest|head|stomach|"
    r"pain|wife|husband|mom|mother|dad|father|daughter|son|kids|job|work|shoulder|foot|feet|hand|arm|leg|"
    r"legs|hip|neck|throat|ankle|wrist|sugar|sugars|pressure)|yeah|yes|no|nope|uh|um|mm-hmm|sure|thank you|"
    r"thanks)\b"
)
_SECOND_PERSON = re.compile(r"\b(?:you|your|you're|you've|yourself)\b")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|me|my|myself|mine)\b")


@dataclass(frozen=True)
class SpeakerRole:
    speaker_label: str
    role: Role
    confidence: float


def clinician_score(texts: Iterable[str]) -> float:
    """How clinician-like a speaker's words are: cues per hundred words, questions per turn, and how much
    they speak of "you" rather than "I". Positive leans clinician, negative patient."""
    texts = [text.lower() for text in texts]
    words = sum(len(text.split()) for text in texts) or 1
    joined = " ".join(texts)
    clinician = len(_CLINICIAN_CUES.findall(joined)) * 100 / words
    patient = len(_PATIENT_CUES.findall(joined)) * 100 / words
    questions = sum(text.rstrip().endswith("?") for text in texts) / max(len(texts), 1)
    second, first = len(_SECOND_PERSON.findall(joined)), len(_FIRST_PERSON.findall(joined))
    you_share = (second - first) / (second + first + 1)
    return clinician - patient + 4 * questions + 4 * you_share


def assign_roles(segments: Iterable[Segment]) -> list[SpeakerRole]:
    """Each speaker label's role, in order of label. One speaker (a dictation) is the clinician, for sure."""
    said: dict[str, list[str]] = {}
    for segment in segments:
        said.setdefault(segment.speaker, []).append(segment.text)
    if not said:
        return []
    scores = {label: clinician_score(texts) for label, texts in said.items()}
    if len(scores) == 1:
        # One voice is a clinician's dictation: there is no one else it could be.
        return [SpeakerRole(next(iter(scores)), "CLINICIAN", 1.0)]
    ranked = sorted(scores, key=lambda label: scores[label], reverse=True)
    clinician, patient = ranked[0], ranked[-1]
    confidence = round(_confidence(scores[clinician] - scores[patient]), 2)
    roles = {clinician: "CLINICIAN", patient: "PATIENT"}
    return [SpeakerRole(label, roles.get(label, "OTHER"), confidence) for label in sorted(said)]


def _confidence(gap: float) -> float:
    """0.5 at no gap, towards 1 as the gap grows (a gap of 6, about what separates a clinician from a
    patient over a visit, gives 0.95)."""
    return 1 / (1 + math.exp(-gap / 2))


def needs_review(roles: Iterable[SpeakerRole]) -> bool:
    return any(role.confidence < REVIEW_BELOW for role in roles)
