"""The unit tier (`make unit`) stays the domain and the handlers: no CDK, no local cloud.

A fresh interpreter imports the tier's conftest and every test module, as pytest collection does, and
reports which forbidden packages that loaded. (conftest.py's pytest_sessionfinish also checks what the
tests loaded while running, when only this tier ran.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent
ROOT = UNIT.parents[1]
FORBIDDEN = ("aws_cdk", "cdk_nag", "constructs", "jsii", "stacks", "localcloud")

PROBE = """
import importlib, json, sys
for name in sys.argv[2:]:
    importlib.import_module(name)
forbidden = json.loads(sys.argv[1])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(forbidden))))
"""


def forbidden_imports(modules: list[str]) -> list[str]:
    """The forbidden top-level packages that importing `modules` (in a new interpreter) loads."""
    done = subprocess.run(  # noqa: S603 (this interpreter, the test's own module names)
        [sys.executable, "-c", PROBE, json.dumps(FORBIDDEN), *modules],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'lambdas'}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def unit_modules() -> list[str]:
    return ["tests.unit.conftest", *(f"tests.unit.{p.stem}" for p in sorted(UNIT.glob("test_*.py")))]


def test_no_unit_test_module_loads_the_cdk_or_the_local_cloud():
    assert len(unit_modules()) > 10
    assert forbidden_imports(unit_modules()) == []


def test_the_probe_sees_a_forbidden_import():
    """The check above can fail: a module that loads the local cloud or the stacks is seen."""
    assert forbidden_imports(["tests.unit.test_settings", "localcloud.sqs_event_source"]) == ["localcloud"]
    assert forbidden_imports(["stacks.names"]) == ["stacks"]
