"""Cold import of every Lambda handler against a bare `import boto3`: the cold start budget (`make bench`).

Each handler module (a module under lambdas/choreography or lambdas/orchestration with a top-level
`handler`) is imported in a fresh `python -c "import <module>"` process, with the environment a
deployed function has, and timed whole-process (interpreter start included), as is a fresh
`python -c "import boto3"`. The runs are interleaved, round after round, so both sides share the
machine's noise, and each side's median is taken. A handler's ratio is its median over boto3's; the
command exits non-zero when any ratio is over the budget.

The environment is the one Lambda gives a deployed function: what the stacks set (PipelineStack's
function_environment, the Powertools service and namespace, the per-function extras) plus what the
Lambda runtime itself sets (LAMBDA_TASK_ROOT, the X-Ray daemon address...). Tracing is on, as on
AWS: POWERTOOLS_TRACE_DISABLED is not set, and LAMBDA_TASK_ROOT makes Powertools and the X-Ray SDK
take their in-Lambda paths. Figures come from here, never from timing assertions in tests.
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

BUDGET = 1.5
ROUNDS = 7
BASELINE = "boto3"
LAMBDA_SOURCE = Path(__file__).resolve().parents[1] / "lambdas"
HANDLER_PACKAGES = ("choreography", "orchestration", "edges")

# What a deployed function's environment holds (values are placeholders of the right shape).
STACK_ENVIRONMENT = {
    # stacks/constructs/pipeline_function.py
    "POWERTOOLS_SERVICE_NAME": "ClinicalScribeChoreography",
    "POWERTOOLS_METRICS_NAMESPACE": "ClinicalScribe",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    # stacks/pipeline_stack.py: function_environment
    "PIPELINE_VARIANT": "choreography",
    "TRANSCRIPTION_JOB_PREFIX": "ClinicalScribeChoreography",
    "KMS_KEY_ARN": "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000",
    "MEDICAL_SPECIALTY": "PRIMARYCARE",
    "MEDICAL_TYPE": "DICTATION",
    "BEDROCK_MODEL_ID": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "MAX_RECEIVE_COUNT": "5",
    "STALLED_JOB_MINUTES": "120",
    "UPLOAD_GRACE_MINUTES": "15",
    "UPLOAD_WINDOW_HOURS": "24",
    "ENCOUNTER_BUCKET": "clinicalscribe-encounters",
    # stacks/choreography_stack.py and stacks/orchestration_stack.py: per-function extras
    "WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111122223333/transcription-requests",
    "QUOTA_WAIT_MINUTES": "180",
    "TRANSCRIPT_WAITS_TABLE": "ClinicalScribeOrchestration-TranscriptWaits",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:111122223333:stateMachine:Encounter",
}
# What the Lambda runtime sets in every function (active tracing: the daemon address, context-missing).
RUNTIME_ENVIRONMENT = {
    "LAMBDA_TASK_ROOT": str(LAMBDA_SOURCE),
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "AWS_LAMBDA_FUNCTION_NAME": "ClinicalScribeChoreography-Function",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "_HANDLER": "module.handler",
}
# Kept from the caller's environment: the interpreter needs them, and credentials stay whatever they are.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

Runner = Callable[[str], float]
"""Runs one statement in a fresh process and returns its wall-clock seconds."""


@dataclass(frozen=True)
class Row:
    module: str
    seconds: float
    ratio: float
    budget: float

    @property
    def passed(self) -> bool:
        return self.ratio <= self.budget


def handler_modules(root: Path = LAMBDA_SOURCE) -> list[str]:
    """Every module of the handler packages with a top-level `handler` function (read, not imported)."""
    found = []
    for package in HANDLER_PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            if any(isinstance(node, ast.FunctionDef) and node.name == "handler" for node in tree.body):
                found.append(f"{package}.{path.stem}")
    return found


def lambda_environment(inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    inherited = os.environ if inherited is None else inherited
    env = {name: inherited[name] for name in PASSED_THROUGH if name in inherited}
    env.update(STACK_ENVIRONMENT)
    env.update(RUNTIME_ENVIRONMENT)
    # The asset root is the handler's import root, as /var/task is on Lambda.
    env["PYTHONPATH"] = str(LAMBDA_SOURCE)
    return env


def subprocess_runner(python: str = sys.executable, env: Mapping[str, str] | None = None) -> Runner:
    env = dict(lambda_environment() if env is None else env)

    def run(statement: str) -> float:
        started = time.perf_counter()
        subprocess.run([python, "-c", statement], env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        return time.perf_counter() - started

    return run


def import_statement(module: str) -> str:
    return f"import {module}"


def measure(modules: Sequence[str], run: Runner, rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Seconds per run of the baseline and of each module, interleaved: each round runs every one once,
    the order rotated round by round. One untimed run of each first (byte-code caches, page cache)."""
    names = [BASELINE, *modules]
    for name in names:
        run(import_statement(name))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(run(import_statement(name)))
    return samples


def tabulate(samples: Mapping[str, Sequence[float]], budget: float = BUDGET) -> tuple[float, list[Row]]:
    baseline = statistics.median(samples[BASELINE])
    rows = [
        Row(module=name, seconds=statistics.median(runs), ratio=statistics.median(runs) / baseline, budget=budget)
        for name, runs in samples.items()
        if name != BASELINE
    ]
    return baseline, rows


def render(baseline: float, rows: Sequence[Row], rounds: int, budget: float = BUDGET) -> str:
    width = max([len(f"import {BASELINE} (baseline)"), *(len(row.module) for row in rows)])
    lines = [
        f"Cold import, median of {rounds} fresh processes each, against a bare `import {BASELINE}` (budget {budget:g}x)",
        f"{'handler':<{width}}  {'median s':>8}  {'ratio':>6}  result",
        f"{f'import {BASELINE} (baseline)':<{width}}  {baseline:>8.3f}  {1:>5.2f}x",
    ]
    lines += [
        f"{row.module:<{width}}  {row.seconds:>8.3f}  {row.ratio:>5.2f}x  {'PASS' if row.passed else 'FAIL'}"
        for row in rows
    ]
    failed = [row.module for row in rows if not row.passed]
    lines.append(
        f"{len(failed)} of {len(rows)} handlers over {budget:g}x: {', '.join(failed)}"
        if failed
        else f"all {len(rows)} handlers within {budget:g}x"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, runner: Runner | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"fresh processes per side (default {ROUNDS})")
    parser.add_argument("--budget", type=float, default=BUDGET, help=f"largest ratio that passes (default {BUDGET})")
    parser.add_argument("modules", nargs="*", help="handler modules (default: every handler module)")
    args = parser.parse_args(argv)
    modules = args.modules or handler_modules()
    samples = measure(modules, runner or subprocess_runner(), rounds=args.rounds)
    baseline, rows = tabulate(samples, budget=args.budget)
    print(render(baseline, rows, rounds=args.rounds, budget=args.budget))
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
