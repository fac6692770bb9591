"""clinical.conversation: a Transcribe Medical output document as numbered segments (speaker, start, end,
text), whichever way the speakers were told apart; and clinical.roles: who is the clinician, from what each
speaker says, whatever the label's number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinical.conversation import Segment, segments_of
from clinical.errors import EmptyTranscript, TranscriptMalformed
from clinical.roles import assign_roles, needs_review

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "aci-bench-excerpt.json"


def word(content, start, speaker=None, key="speaker_label"):
    item = {
        "type": "pronunciation",
        "start_time": f"{start:.2f}",
        "end_time": f"{start + 0.4:.2f}",
        "alternatives": [{"confidence": "0.99", "content": content}],
    }
    return {**item, key: speaker} if speaker else item


def mark(content):
    return {"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": content}]}


def document(items, **results):
    text = " ".join(i["alternatives"][0]["content"] for i in items)
    return {"jobName": "job", "results": {"transcripts": [{"transcript": text}], "items": items, **results}}


VISIT = [
    word("Any", 0.0, "spk_1"), word("chest", 0.5, "spk_1"), word("pain", 1.0, "spk_1"), mark("?"),
    word("No", 2.0, "spk_0"), mark("."), word("Just", 2.5, "spk_0"), word("a", 3.0, "spk_0"),
    word("cough", 3.5, "spk_0"), mark("."),
]  # fmt: skip


def test_speaker_labels_make_one_segment_per_sentence_of_a_turn_numbered_from_one():
    assert segments_of(document(VISIT)) == [
        Segment(1, "spk_1", 0.0, 1.4, "Any chest pain?"),
        Segment(2, "spk_0", 2.0, 2.4, "No."),
        Segment(3, "spk_0", 2.5, 3.9, "Just a cough."),
    ]


def test_labels_from_the_speaker_labels_section_or_the_channels_give_the_same_segments():
    unlabelled = [{k: v for k, v in item.items() if k != "speaker_label"} for item in VISIT]
    by_time = {
        "segments": [
            {
                "speaker_label": item["speaker_label"],
                "items": [{"start_time": item["start_time"], "speaker_label": item["speaker_label"]}],
            }
            for item in VISIT
            if "speaker_label" in item
        ]
    }
    from_section = segments_of(document(unlabelled, speaker_labels=by_time))
    channels = {
        "channels": [
            {
                "channel_label": label.replace("spk", "ch"),
                "items": [i for i in VISIT if i.get("speaker_label") == label],
            }
            for label in ("spk_0", "spk_1")
        ]
    }
    from_channels = segments_of(document(unlabelled, channel_labels=channels))
    assert [(s.speaker, s.text) for s in from_section] == [(s.speaker, s.text) for s in segments_of(document(VISIT))]
    assert [s.speaker for s in from_channels] == ["ch_1", "ch_0", "ch_0"]


def test_a_dictation_without_labels_is_one_speaker():
    items = [word("Cough", 0.0), word("for", 0.5), word("three", 1.0), word("days", 1.5), mark(".")]
    assert segments_of(document(items)) == [Segment(1, "spk_0", 0.0, 1.9, "Cough for three days.")]


@pytest.mark.parametrize(
    ("given", "error", "says"),
    [
        ({"results": {"transcripts": [{"transcript": ""}]}}, TranscriptMalformed, "no results.items"),
        (["not", "a", "document"], TranscriptMalformed, "no results.items"),
        (document([mark(".")]), EmptyTranscript, "no speech was recognized"),
        ({"results": {"transcripts": [{"transcript": "x"}], "items": "x"}}, TranscriptMalformed, "not a list"),
    ],
)
def test_what_is_not_a_transcript_with_speech_fails_in_one_line(given, error, says):
    with pytest.raises(error, match=says):
        segments_of(given)


def conversation(label_of_tag):
    """The fixture's first excerpt (ACI-BENCH, CC BY 4.0: see the fixture's _attribution) as segments."""
    src = json.loads(FIXTURE.read_text())["data"][0]["src"]
    segments = []
    for line in src.splitlines():
        tag, _, text = line.partition("] ")
        segments.append(Segment(len(segments) + 1, label_of_tag[tag.strip("[")], None, None, text))
    return segments


@pytest.mark.parametrize("doctor", ["spk_0", "spk_1"])
def test_the_clinician_is_found_from_what_is_said_not_from_the_label_number(doctor):
    patient = "spk_1" if doctor == "spk_0" else "spk_0"
    roles = {r.speaker_label: r for r in assign_roles(conversation({"doctor": doctor, "patient": patient}))}
    assert (roles[doctor].role, roles[patient].role) == ("CLINICIAN", "PATIENT")
    assert roles[doctor].confidence >= 0.8 and not needs_review(roles.values())


def test_a_dictation_is_the_clinicians_and_a_third_speaker_is_other():
    (dictation,) = assign_roles([Segment(1, "spk_0", None, None, "Patient presents with a cough. Plan: chest x-ray.")])
    assert dictation.role == "CLINICIAN"
    relative = Segment(99, "spk_2", None, None, "I brought her in today, she has been coughing at night.")
    segments = [*conversation({"doctor": "spk_0", "patient": "spk_1"}), relative]
    roles = {r.speaker_label: r.role for r in assign_roles(segments)}
    assert roles["spk_0"] == "CLINICIAN" and sorted([roles["spk_1"], roles["spk_2"]]) == ["OTHER", "PATIENT"]


def test_speakers_that_sound_alike_are_marked_for_review():
    alike = [Segment(1, "spk_0", None, None, "Okay."), Segment(2, "spk_1", None, None, "Okay.")]
    roles = assign_roles(alike)
    assert {r.confidence for r in roles} == {0.5} and needs_review(roles)
