"""Running a make target of this project as a user would, without remaking the synth (the tests have one)."""

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_with(target: str, cdk_out: Path) -> subprocess.CompletedProcess:
    """`make -o synth TARGET CDK_OUT=...` in the project, its output captured, whatever its exit code."""
    return subprocess.run(  # noqa: S603 (make, with our own arguments)
        [shutil.which("make") or "make", "--no-print-directory", "-o", "synth", target, f"CDK_OUT={cdk_out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MAKEFLAGS": ""},
        check=False,
    )
