"""`scribe compare` comes from the experiments through the "scribe.commands" entry points: scribe imports no
experiment, and its loader adds whatever that group offers."""

from __future__ import annotations

import importlib.metadata
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import click
from click.testing import CliRunner

from scribe import cli

ROOT = Path(__file__).resolve().parents[2]
COMPARE = EntryPoint(name="compare", value="experiments.cli:compare", group=cli.COMMANDS_ENTRY_POINTS)
COMPARE_OPTIONS = (
    "--workload",
    "--encounters",
    "--quotas",
    "--workers",
    "--faults",
    "--seed",
    "--report",
    "--cdk-out",
    "--results",
    "--json",
)


def group_with(*entry_points: EntryPoint) -> click.Group:
    @click.group()
    def group() -> None:
        pass

    cli.add_commands(group, entry_points)
    return group


def test_pyproject_offers_the_experiments_commands_under_the_group_scribe_reads():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    offered = project["entry-points"][cli.COMMANDS_ENTRY_POINTS]
    assert offered == {
        "compare": COMPARE.value,
        "scale": "experiments.cli:scale",
        "eval": "experiments.cli:evaluate",
        "draft": "experiments.cli:draft",
    }


def test_the_loader_adds_each_entry_point_as_a_command_under_its_name():
    group = group_with(COMPARE)
    assert list(group.commands) == ["compare"]
    shown = CliRunner().invoke(group, ["compare", "--help"])
    assert shown.exit_code == 0, shown.output
    assert [option for option in COMPARE_OPTIONS if option not in shown.output] == []


def test_no_entry_points_no_commands():
    assert group_with().commands == {}


def test_scribe_has_every_command_the_installed_distribution_registers():
    """After `make install` (which pyproject.toml changes trigger) the group holds compare; scribe added it."""
    registered = {entry.name for entry in importlib.metadata.entry_points(group=cli.COMMANDS_ENTRY_POINTS)}
    assert registered <= set(cli.main.commands)


def test_a_note_for_review_shows_its_speakers_and_the_statements_to_check_first():
    from scribe.rendering import note_text

    statement = lambda sid, text, *cited: {"id": sid, "text": text, "evidence": list(cited)}  # noqa: E731
    sections = [
        {"name": "subjective", "title": "Subjective", "statements": [statement("s1", "Cough.", 2)]},
        {"name": "objective", "title": "Objective", "statements": []},
        {
            "name": "plan",
            "title": "Plan",
            "statements": [statement("s2", "Rest.", 5), statement("s3", "Start warfarin 5 mg.", 1)],
        },
    ]
    provenance = dict.fromkeys(
        ("encounter_id", "variant", "created_at", "model_id", "prompt_version", "transcript_sha256"), "x"
    ) | {"transcription_job_name": "job", "template": "soap"}
    note = {
        "status": "needs_review",
        "sections": sections,
        "medications_and_orders": [],
        "provenance": provenance,
        "speakers": [{"speaker_label": "spk_0", "role": "CLINICIAN", "confidence": 0.97}],
        "flagged": [
            {
                "section": "plan",
                "text": "Start warfarin 5 mg.",
                "reason": "the medication warfarin is not in its evidence",
                "evidence": [1],
                "statement": "s3",
            }
        ],
    }
    text = note_text(note).splitlines()
    assert text[1:5] == [
        "status: needs_review",
        "speakers: spk_0 CLINICIAN (0.97)",
        "NOT SUPPORTED BY THE SEGMENTS IT CITES (edit, remove or accept before signing):",
        "  - s3: Start warfarin 5 mg.  [1]  (the medication warfarin is not in its evidence)",
    ]
    assert text[6:13] == [
        "SUBJECTIVE (subjective)",
        "  s1  Cough.  [2]",
        "",
        "OBJECTIVE (objective)",
        "  Not discussed.",
        "",
        "PLAN (plan)",
    ]
