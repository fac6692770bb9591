"""`scribe eval`: speaker roles over ACI-BENCH-shaped conversations, against the tags with the corpus's swapped
encounters corrected; bad input exits 2 in one line, an accuracy below the minimum exits 1."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from experiments import evaluation
from scribe import cli

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "aci-bench-excerpt.json"  # CC BY 4.0, attributed


def scribe() -> click.Group:
    @click.group()
    def group() -> None:
        pass

    cli.add_commands(group, [EntryPoint("eval", "experiments.cli:evaluate", cli.COMMANDS_ENTRY_POINTS)])
    return group


@pytest.mark.parametrize("seed", [1, 7, 8])
def test_roles_are_right_whatever_label_each_tag_gets_and_swapped_tags_are_corrected_not_hidden(seed):
    figures = evaluation.speaker_roles(evaluation.load_encounters(FIXTURE), seed)
    assert (figures.encounters, figures.right, figures.wrong) == (3, 3, [])
    assert (figures.right_as_published, figures.corrected) == (2, ["D2N034-aci"])


def test_without_the_correction_the_swapped_encounter_counts_as_wrong():
    figures = evaluation.speaker_roles(evaluation.load_encounters(FIXTURE), 7, swapped={})
    assert (figures.right, figures.wrong) == (2, ["D2N034-aci"])


def test_every_correction_names_an_encounter_and_a_reason():
    swapped = evaluation.swapped_tags()
    assert swapped and all(name.startswith("D2N") and len(reason) > 40 for name, reason in swapped.items())


def test_the_command_prints_the_figures_and_exits_0_or_1_against_the_minimum(monkeypatch):
    passed = CliRunner().invoke(scribe(), ["eval", str(FIXTURE)])
    assert passed.exit_code == 0, passed.output
    assert "speaker roles right: 3/3 encounters (100.0%)" in passed.output
    assert "against the tags as published: 2/3" in passed.output
    assert "evidence links: " in passed.output and "local-model notes (3 encounters x 3 templates)" in passed.output
    figures = json.loads(CliRunner().invoke(scribe(), ["eval", str(FIXTURE), "--json"]).output)
    assert figures["speaker_roles"]["accuracy"] == 1.0
    evidence = figures["evidence_links"]
    assert evidence["notes"] == 9 and evidence["statements"] > 50
    assert evidence["validity"] == 1.0 and evidence["invalid_notes"] == [] and evidence["flagged"] == 0
    # With the corrections gone, 2 of 3 is below a 90% minimum.
    monkeypatch.setattr(evaluation, "swapped_tags", dict)
    failed = CliRunner().invoke(scribe(), ["eval", str(FIXTURE), "--min-role-accuracy", "0.9"])
    assert failed.exit_code == 1 and "speaker role accuracy 66.7% is below 90%" in failed.stderr


def test_the_command_exits_1_when_a_local_model_note_miscites(monkeypatch):
    """GIVEN a note model that cites a segment past the transcript's end THEN the answer is refused and the
    eval fails, naming the evidence links."""
    from localcloud import bedrock_converse

    real = bedrock_converse.local_note

    def miscited(sections, segments):
        note = real(sections, segments)
        note[sections[0]].append({"text": "Seen today.", "evidence": [segments[-1][0] + 1]})
        return note

    monkeypatch.setattr(bedrock_converse, "local_note", miscited)
    failed = CliRunner().invoke(scribe(), ["eval", str(FIXTURE)])
    assert failed.exit_code == 1, failed.output
    assert "answers refused: D2N" in failed.output
    assert "a local-model note has a statement that cites no segment" in failed.stderr


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such file or directory"),
        ('{"rows": []}', "not ACI-BENCH-shaped"),
        ('{"data": [{"src": "[doctor] hi"}]}', "not ACI-BENCH-shaped"),
        ('{"data": []}', "no encounters in it"),
    ],
)
def test_input_of_another_shape_exits_2_in_one_line(tmp_path, content, says):
    path = tmp_path / "conversations.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(scribe(), ["eval", str(path)])
    assert result.exit_code == 2 and says in result.output
    assert len(result.output.strip().splitlines()) == 1


def synthetic(tmp_path) -> Path:
    """One encounter in the corpus's shape, in this project's own words."""
    src = "\n".join(
        [
            "[doctor] how long has your left knee hurt ?",
            "[patient] about two weeks . i take ibuprofen four hundred milligrams twice a day .",
            "[doctor] any swelling ?",
            "[patient] no swelling .",
            "[doctor] i'll order an x-ray of the left knee and see you in four weeks .",
            "[doctor] i think this is arthritis , wear and tear .",
        ]
    )
    tgt = "\n".join(
        [
            "HISTORY OF PRESENT ILLNESS",
            "Left knee pain for 2 weeks.",
            "Takes ibuprofen 400 mg twice daily.",
            "Denies swelling.",
            "PLAN",
            "X-ray of the left knee. Follow up in 4 weeks.",
            "Blood pressure 150/90 mmHg.",
            "ASSESSMENT",
            "Osteoarthritis.",
        ]
    )
    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps({"data": [{"file": "synthetic-1", "src": src, "tgt": tgt}]}))
    return path


def test_the_check_passes_the_human_notes_own_statements_and_catches_errors_planted_in_them(tmp_path):
    figures = evaluation.claim_check(evaluation.load_encounters(synthetic(tmp_path)), seed=7)
    assert (figures.statements, figures.flagged) == (7, 1), "the blood pressure is not in the conversation"
    assert (figures.planted, figures.caught) == (
        {"dose": 3, "side": 2, "medication": 1, "diagnosis": 1},
        # "2 weeks" made "4 weeks" is missed: the conversation says "four weeks" too (the follow-up).
        {"dose": 2, "side": 2, "medication": 1, "diagnosis": 1},
    )
    assert round(figures.detection_rate, 3) == 0.857 and round(figures.false_flag_rate, 3) == 0.143
    # "Osteoarthritis." passes on "arthritis, wear and tear"; the planted error names another diagnosis.
    assert evaluation.planted_errors("Osteoarthritis.", None, [], ["asthma", "pneumonia"]) == [
        ("diagnosis", "pneumonia.")
    ]


def test_the_command_exits_1_when_the_check_misses_its_targets(tmp_path):
    path = synthetic(tmp_path)
    lenient = ["--max-false-flags", "0.2", "--min-detection", "0.8"]
    passed = CliRunner().invoke(scribe(), ["eval", str(path), *lenient])
    assert passed.exit_code == 0, passed.output
    assert "planted errors caught 6/7 (85.7%): dose 2/3, side 2/2, medication 1/1, diagnosis 1/1" in passed.output
    assert "human notes' statements flagged: 1/7 (14.3%)" in passed.output
    failed = CliRunner().invoke(scribe(), ["eval", str(path)])
    assert failed.exit_code == 1
    assert failed.stderr.splitlines() == [
        "the check caught 85.7% of the planted errors, below 90%",
        "the check flagged 14.3% of the human notes' statements, above 10%",
    ]
