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
    figures = json.loads(CliRunner().invoke(scribe(), ["eval", str(FIXTURE), "--json"]).output)
    assert figures["speaker_roles"]["accuracy"] == 1.0
    # With the corrections gone, 2 of 3 is below a 90% minimum.
    monkeypatch.setattr(evaluation, "swapped_tags", dict)
    failed = CliRunner().invoke(scribe(), ["eval", str(FIXTURE), "--min-role-accuracy", "0.9"])
    assert failed.exit_code == 1 and "speaker role accuracy 66.7% is below 90%" in failed.stderr


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
