"""clinical.claims: a statement's numbers with units, medications, sides and negations must be in its
evidence, after normalising number words, units and brand or generic drug names; and `scribe verify`, the
check of any note against a transcript, with its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clinical.claims import Statement, check_cited, check_statement, statements_of_note, statements_of_text
from clinical.conversation import segments_of
from scribe.cli import main
from tests.support.transcripts import transcribe_document

TRANSCRIPT = (
    "how long has the cough been going on ? about three days . any fever ? no fever , no chills . "
    "i take lasix forty milligrams in the morning . let me listen . i hear crackles at the right base , "
    "the right lung base , and the left side is clear . we'll start amoxicillin one gram three times a day "
    "for five days ."
)


@pytest.mark.parametrize(
    "statement",
    [
        "Cough for 3 days.",
        "Takes furosemide 40 mg every morning.",  # a generic for the brand said, digits for number words
        "Crackles at the right lung base.",
        "Denies fever or chills.",
        "Amoxicillin 1 gram three times daily for 5 days.",
        "Plan discussed with the patient.",  # nothing checkable: supported
    ],
)
def test_what_the_conversation_says_is_supported(statement):
    assert check_statement(statement, TRANSCRIPT).supported, check_statement(statement, TRANSCRIPT).reason


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("Cough for 10 days.", "the quantity 10 day is not in its evidence"),
        ("Takes Lasix 80 mg every morning.", "the quantity 80 mg is not in its evidence"),
        ("Started lisinopril.", "the medication lisinopril is not in its evidence"),
        ("Crackles at the left lung base.", "the side left lung is not in its evidence"),
        ("Amoxicillin 1 gram three times daily for 7 days.", "the quantity 7 day is not in its evidence"),
    ],
)
def test_a_changed_dose_an_added_drug_or_a_flipped_side_is_unsupported_with_a_reason(statement, reason):
    verdict = check_statement(statement, TRANSCRIPT)
    assert (verdict.supported, verdict.reason) == (False, reason)


def test_a_negation_the_evidence_does_not_make_is_unsupported():
    assert check_statement("Denies cough.", "i have had a cough for three days").reason == (
        "a negation its evidence does not make"
    )


def test_a_plain_text_note_is_sections_of_sentences_and_a_project_note_its_cited_statements():
    text = "CHIEF COMPLAINT\n\nCough.\n\nPlan:\n• Chest x-ray. Amoxicillin for 5 days.\n"
    assert [(s.section, s.text) for s in statements_of_text(text)] == [
        ("CHIEF COMPLAINT", "Cough."),
        ("Plan", "Chest x-ray."),
        ("Plan", "Amoxicillin for 5 days."),
    ]
    note = {
        "sections": [
            {
                "name": "subjective",
                "statements": [{"text": "Cough.", "evidence": [1]}, {"text": "No fever.", "evidence": [2, 3]}],
            },
            {"name": "plan", "statements": [{"text": "Rest.", "evidence": [4]}]},
        ],
        "medications_and_orders": [{"description": "Amoxicillin", "evidence": [5]}],
    }
    assert [(s.section, s.text, s.evidence) for s in statements_of_note(note)] == [
        ("subjective", "Cough.", (1,)),
        ("subjective", "No fever.", (2, 3)),
        ("plan", "Rest.", (4,)),
        ("medications_and_orders", "Amoxicillin", (5,)),
    ]
    with pytest.raises(ValueError, match="no sections"):
        statements_of_note({"text": "x"})


def test_a_diagnosis_is_supported_by_any_of_its_names_and_flagged_when_never_said():
    evidence = "your blood pressure is up again, so the high blood pressure is not controlled. no heartburn."
    assert check_statement("Hypertension, uncontrolled.", evidence).supported
    assert check_statement("HTN.", evidence).supported
    assert check_statement("Denies GERD symptoms.", evidence).supported, "heartburn is reflux disease's lay name"
    assert check_statement("Hypertension and type 2 diabetes.", evidence).reason == (
        "the diagnosis diabetes is not in its evidence"
    )
    assert check_statement("Hypertensive heart disease.", "blood pressure is fine").reason == (
        "the diagnosis hypertension is not in its evidence"
    )


def test_a_statement_naming_both_sides_of_a_part_needs_each_side_said_not_the_majority():
    evidence = "the left knee is swollen. the right knee is fine. the left knee hurts when i walk."
    assert check_statement("Left knee swollen; right knee normal.", evidence).supported
    assert not check_statement("Right knee swollen.", evidence).supported, "one side: the one said most"
    assert check_statement("Left and right knee pain.", "my left knee hurts").reason == (
        "the side right knee is not in its evidence"
    )


def test_a_cited_statement_is_checked_against_its_segments_only():
    """GIVEN a dose said in segment 2 WHEN a statement states it citing segment 1, or a segment that does not
    exist THEN it is unsupported, though the transcript as a whole says it."""
    segments = segments_of(transcribe_document("My knee hurts. I take ibuprofen 400 milligrams."))
    dose = "Ibuprofen 400 mg."
    assert check_cited(Statement("plan", dose, (2,)), segments).supported
    assert check_cited(Statement("plan", dose, ()), segments).supported, "no citation: the whole transcript"
    assert (
        check_cited(Statement("plan", dose, (1,)), segments).reason == "the medication ibuprofen is not in its evidence"
    )
    assert check_cited(Statement("plan", dose, (2, 9)), segments).reason == (
        "it cites segment 9, which the transcript does not have"
    )


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    paths = {
        "transcript": tmp_path / "transcript.json",
        "supported": tmp_path / "supported.txt",
        "unsupported": tmp_path / "unsupported.txt",
        "note": tmp_path / "note.json",
    }
    paths["transcript"].write_text(json.dumps(transcribe_document(TRANSCRIPT)))
    paths["supported"].write_text("SUBJECTIVE\nCough for 3 days. Denies fever.\n")
    paths["unsupported"].write_text("PLAN\nAmoxicillin for 7 days.\nStart lisinopril.\n")
    paths["note"].write_text(
        json.dumps(
            {"sections": [{"name": "subjective", "statements": [{"text": "Cough for 3 days.", "evidence": [1, 2]}]}]}
        )
    )
    return paths


def test_verify_exits_0_when_every_statement_is_supported_and_1_naming_those_that_are_not(files):
    runner = CliRunner()
    assert runner.invoke(main, ["verify", str(files["supported"]), str(files["transcript"])]).exit_code == 0
    assert runner.invoke(main, ["verify", str(files["note"]), str(files["transcript"])]).exit_code == 0
    failed = runner.invoke(main, ["verify", str(files["unsupported"]), str(files["transcript"]), "--json"])
    assert failed.exit_code == 1
    assert json.loads(failed.output)["statements"] == [
        {
            "section": "PLAN",
            "text": "Amoxicillin for 7 days.",
            "supported": False,
            "reason": "the quantity 7 day is not in its evidence",
        },
        {
            "section": "PLAN",
            "text": "Start lisinopril.",
            "supported": False,
            "reason": "the medication lisinopril is not in its evidence",
        },
    ]


@pytest.mark.parametrize(
    ("note", "transcript", "says"),
    [
        ("missing.txt", "transcript", "missing.txt: no such note"),
        ("supported", "supported", "not JSON, so not a Transcribe Medical output document"),
        ("supported", "note", "not a Transcribe Medical output document (no results.items)"),
        ("transcript", "transcript", "not a note of this project (no sections)"),
        ("binary", "transcript", "binary: the note is neither JSON nor text (not UTF-8)"),
    ],
)
def test_a_file_that_cannot_be_checked_exits_2_in_one_line(files, tmp_path, note, transcript, says):
    (tmp_path / "binary").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    note_path = files.get(note, tmp_path / note)
    result = CliRunner().invoke(main, ["verify", str(note_path), str(files[transcript])])
    assert result.exit_code == 2 and says in result.output
    assert len(result.output.strip().splitlines()) == 1
