"""The one-way imports between the packages ([tool.importlinter] in pyproject.toml): lint-imports keeps them on
this project, and the same contracts catch each arrow that must not come back, on a small stand-in project."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {contract["id"]: contract["name"] for contract in CONFIG["contracts"]}

# A stand-in project with every arrow the contracts allow (each module a line or two).
ALLOWED = {
    "clinical/observability.py": "",
    "clinical/layout.py": "",
    "clinical/executions.py": "from clinical import layout\n",
    "choreography/watchdog.py": "from clinical import layout\n",
    "orchestration/executions.py": "from clinical import executions\n",
    "stacks/names.py": "",
    "localcloud/cloud.py": "",
    "localcloud/serve.py": "from clinical import observability\nfrom localcloud import cloud\n",
    "scribe/target.py": "",
    "scribe/redrive.py": "from clinical import executions\nfrom scribe import target\n",
    "scribe/cli.py": "from scribe import redrive\n",
    "experiments/cli.py": "",
    "experiments/compare.py": "from localcloud import cloud\nfrom scribe import cli\nfrom stacks import names\n",
}


def lint_imports(*args: str, cwd: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath)), "COLUMNS": "1000"}
    return subprocess.run(  # noqa: S603 (the venv's lint-imports, with our own arguments)
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def stand_in(tmp_path: Path, extra: dict[str, str]) -> subprocess.CompletedProcess:
    for module, source in {**ALLOWED, **extra}.items():
        path = tmp_path / "src" / module
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(source)
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text())
    return lint_imports("--config", str(config), cwd=tmp_path, pythonpath=[tmp_path / "src"])


def verdicts(output: str) -> dict[str, str]:
    """Each contract's id and whether it was KEPT or BROKEN, from lint-imports' summary."""
    found = {}
    for line in output.splitlines():
        for contract_id, name in CONTRACTS.items():
            if line.startswith(name + " "):
                found[contract_id] = line[len(name) + 1 :].split()[0]
    return found


def test_this_project_keeps_every_contract():
    result = lint_imports(cwd=ROOT, pythonpath=[ROOT / "lambdas", ROOT])
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == dict.fromkeys(CONTRACTS, "KEPT")


def test_the_stand_in_with_only_allowed_arrows_keeps_every_contract(tmp_path):
    result = stand_in(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == dict.fromkeys(CONTRACTS, "KEPT")


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        # The arrows this layering removed, each caught again:
        (
            "localcloud/serve.py",
            "from clinical import observability\nfrom scribe import target\n",
            {"layers", "emulator"},
        ),
        ("localcloud/measure.py", "from stacks import names\n", {"layers", "emulator"}),
        # (through scribe it would reach the domain too: indirect imports count)
        ("localcloud/demo.py", "from scribe import cli\n", {"layers", "emulator", "emulator-domain"}),
        ("scribe/encounters.py", "from orchestration import executions\n", {"cli"}),
        ("scribe/cli.py", "from experiments import compare\n", {"layers", "cli"}),
        ("localcloud/runner.py", "from experiments import compare\n", {"layers", "emulator", "emulator-domain"}),
        # And the rest of the picture:
        # (and scribe, which imports the domain, would reach stacks through it)
        ("clinical/layout.py", "from stacks import names\n", {"layers", "domain", "cli"}),
        ("localcloud/cloud.py", "from clinical import layout\n", {"emulator-domain"}),
        ("orchestration/executions.py", "from choreography import watchdog\n", {"layers"}),
        ("stacks/names.py", "from localcloud import cloud\n", {"layers"}),
    ],
)
def test_a_forbidden_arrow_breaks_its_contract(tmp_path, module, source, broken):
    result = stand_in(tmp_path, {module: source})
    assert result.returncode == 1, result.stdout + result.stderr
    assert {contract for contract, verdict in verdicts(result.stdout).items() if verdict == "BROKEN"} == broken
