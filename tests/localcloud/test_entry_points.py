"""Every make target that runs something exits non-zero when it fails, with one clear line on stderr and no
traceback (the Makefile runs recipes with pipefail and hides no stderr). Here: given a folder that holds
no synthesized app. The broken-step case of `make demo` is in test_demo.py, a failing invariant of
`scribe compare` in test_compare.py."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("target", ["demo", "localcloud", "measure", "compare", "burst", "plan"])
def test_a_make_target_without_a_synthesized_app_exits_non_zero_saying_so(target, tmp_path):
    done = subprocess.run(  # noqa: S603 (make, with our own arguments)
        [shutil.which("make") or "make", "--no-print-directory", "-o", "synth", target, f"CDK_OUT={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MAKEFLAGS": ""},
        check=False,
    )
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert "make synth" in done.stderr, done.stderr
