"""The S3 layout's prefixes, the execution statuses that mean a failed encounter and the transient error
codes are written once (lambdas/clinical/prefixes.py, executions.py, policy.py): the handlers, the stacks,
the CLI and the state machine read them from there. A copy that comes back is named here."""

import ast
import json
from pathlib import Path

from clinical import policy
from clinical.executions import UNSUCCESSFUL
from clinical.prefixes import DATA_PREFIXES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("lambdas", "stacks", "scribe")
HOMES = {ROOT / "lambdas" / "clinical" / name for name in ("prefixes.py", "executions.py", "policy.py")}
TRANSIENT_CODES = set(
    policy.TRANSCRIBE_TRANSIENT_CODES
    + policy.BEDROCK_TRANSIENT_CODES
    + policy.EXECUTION_START_TRANSIENT_CODES
    + policy.LAMBDA_SERVICE_ERRORS
    + (policy.LAMBDA_CRASH,)
)


def strings_in_code(tree: ast.Module) -> list[tuple[int, str]]:
    """Every string constant of a module except docstrings, with its line."""
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def copies(paths, root: Path = ROOT) -> list[str]:
    found = []
    for path in paths:
        if path in HOMES:
            continue
        tree = ast.parse(path.read_text())
        for line, text in strings_in_code(tree):
            if text.startswith(DATA_PREFIXES) or text in TRANSIENT_CODES:
                found.append(f"{path.relative_to(root)}:{line}: {text!r}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if set(UNSUCCESSFUL) <= set(values):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: the unsuccessful execution statuses")
    return found


def asl_strings(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "Comment":
                yield from asl_strings(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from asl_strings(item, key)
    elif isinstance(value, str):
        yield key, value


def test_no_prefix_or_status_list_is_written_twice():
    paths = sorted(path for folder in SOURCES for path in (ROOT / folder).rglob("*.py"))
    assert copies(paths) == []


def test_the_state_machine_takes_its_prefixes_from_its_substitutions():
    definition = json.loads((ROOT / "statemachines" / "encounter.asl.json").read_text())
    written = [f"{key}: {text}" for key, text in asl_strings(definition) if any(p in text for p in DATA_PREFIXES)]
    assert written == []


def test_the_state_machine_names_no_error_code_the_policy_holds():
    """Its Retry entries name a policy ({"Policy": "note"}); the codes are filled in at synth."""
    definition = json.loads((ROOT / "statemachines" / "encounter.asl.json").read_text())
    named = [
        f"{key}: {text}"
        for key, text in asl_strings(definition)
        if text in TRANSIENT_CODES or text.partition(".")[2] in TRANSIENT_CODES
    ]
    assert named == []


def test_the_check_finds_a_copy(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        '"""notes/ in a docstring is prose."""\nKEY = "notes/x.json"\nENDS = ["ABORTED", "FAILED", "TIMED_OUT"]\n'
        'BUSY = {"ThrottlingException"}\n'
    )
    assert copies([planted], root=tmp_path) == [
        "planted.py:2: 'notes/x.json'",
        "planted.py:4: 'ThrottlingException'",
        "planted.py:3: the unsuccessful execution statuses",
    ]
