"""The Makefile's way to AWS: `make diff`, `make deploy` and `make destroy` act on the same app, both stacks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def recipe(target: str) -> str:
    """What `make TARGET` would run (dry run: nothing runs, no credentials needed), its prerequisites assumed made."""
    ran = subprocess.run(  # noqa: S603 (a fixed command, the target a literal of the test)
        # make from PATH, a dry run; as a person types it, not as a make (`make test`) running it
        ["make", "--no-print-directory", "--dry-run", "--always-make", "--assume-old=install", target],  # noqa: S607
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")},
        capture_output=True,
        text=True,
        check=True,
    )
    return ran.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("command", ["diff", "deploy", "destroy"])
def test_each_acts_on_both_stacks_of_the_app_deploy_uses(command):
    assert recipe(command) == f'node_modules/.bin/cdk {command} --all --app ".venv/bin/python app.py"'
