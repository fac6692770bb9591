"""Every make target that runs something exits non-zero when it fails, with one clear line on stderr and no
traceback (the Makefile runs recipes with pipefail and hides no stderr). Here: given a folder that holds
no synthesized app. The broken-step case of `make demo` is in test_demo.py, a failing invariant of
`scribe compare` in test_compare.py."""

from importlib.metadata import EntryPoint

import click
import pytest
from click.testing import CliRunner

from scribe import cli
from tests.support.make import make_with

COMPARE = EntryPoint(name="compare", value="experiments.cli:compare", group=cli.COMMANDS_ENTRY_POINTS)


@pytest.mark.parametrize("target", ["demo", "localcloud", "measure", "compare", "burst", "scale", "plan"])
def test_a_make_target_without_a_synthesized_app_exits_non_zero_saying_so(target, tmp_path):
    done = make_with(target, tmp_path)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert "make synth" in done.stderr, done.stderr


def test_scribe_compare_without_a_synthesized_app_is_bad_input(tmp_path):
    """The command the experiments offer scribe (it loads the local cloud, so it is tested here, not in the
    unit tier)."""
    group = click.Group("scribe")
    cli.add_commands(group, [COMPARE])
    result = CliRunner().invoke(group, ["compare", "--cdk-out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "holds no synthesized app: run `make synth` first" in result.output
