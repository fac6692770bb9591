"""Each handler's cold path against a bare-boto3 handler making the same calls: the cold start budget (`make bench`).

The cold path is what a cold start costs as Lambda bills it: the interpreter's start, the handler module's import
with no byte-code cache of the project's own modules (Lambda runs the asset as it is packaged, without
`__pycache__`, so every cold start compiles them; the Powertools layer's and the runtime's libraries keep their
compiled byte code, as the venv's do here), and the first invocation with a recorded event, every AWS call
answered by a canned response (benchmarks/scenarios.py) before it leaves the process. The baseline is
benchmarks/bare_boto3.py, in the same kind of process: for the same event it creates the same boto3 clients and
makes the same calls (those the handler made, recorded on an untimed first run), against the same answers.

Each run is a fresh process (benchmarks/cold_path.py) on a fresh copy of lambdas/ with byte-code writing off,
timed whole-process; inside it, the import and the invocation are timed too. The runs are interleaved, round
after round, so both sides share the machine's noise, and each side's median is taken. A handler's ratio is the
median of its cold path over its baseline's; the command exits non-zero when any ratio is over the budget.

The environment is the one Lambda gives a deployed function: what the stacks set (PipelineStack's
function_environment, the Powertools service and namespace, the per-function extras) plus what the Lambda
runtime itself sets (LAMBDA_TASK_ROOT, the X-Ray daemon address, the trace header...). Tracing is on, as on
AWS: POWERTOOLS_TRACE_DISABLED is not set, and LAMBDA_TASK_ROOT makes Powertools and the X-Ray SDK take their
in-Lambda paths. Figures come from here, never from timing assertions in tests.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.scenarios import scenarios

BUDGET = 1.5
ROUNDS = 7
BASELINE = "bare_boto3"
LAMBDA_SOURCE = Path(__file__).resolve().parents[1] / "lambdas"
COLD_PATH = Path(__file__).resolve().parent / "cold_path.py"
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
    "TRANSCRIPTION_LINE_TABLE": "ClinicalScribeChoreography-TranscriptionLine",
    "TRANSCRIPTION_REQUESTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111122223333/transcription-requests",
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
    # The daemon runs beside the function on Lambda; here nothing listens there, and UDP does not wait for it.
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "_X_AMZN_TRACE_ID": "Root=1-6754e2a0-5f3c1b2a9d8e7f6a5b4c3d2e;Parent=53995c3f42cd8ad8;Sampled=1",
    "_HANDLER": "module.handler",
}
# Kept from the caller's environment: the interpreter needs them, and credentials stay whatever they are.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def handler_modules(root: Path = LAMBDA_SOURCE) -> list[str]:
    """Every module of the handler packages with a top-level `handler` function (read, not imported)."""
    found = []
    for package in HANDLER_PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            if any(isinstance(node, ast.FunctionDef) and node.name == "handler" for node in tree.body):
                found.append(f"{package}.{path.stem}")
    return found


def lambda_environment(inherited: Mapping[str, str] | None = None, task_root: Path = LAMBDA_SOURCE) -> dict[str, str]:
    inherited = os.environ if inherited is None else inherited
    env = {name: inherited[name] for name in PASSED_THROUGH if name in inherited}
    env.update(STACK_ENVIRONMENT)
    env.update(RUNTIME_ENVIRONMENT)
    # The asset root is the handler's import root, as /var/task is on Lambda.
    env["LAMBDA_TASK_ROOT"] = env["PYTHONPATH"] = str(task_root)
    # The asset has no byte code and gets none: every run compiles the project's modules, as Lambda does.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def fresh_task_root(parent: Path, python: str | None = None) -> Path:
    """A copy of lambdas/ as the asset packages it: the source without `__pycache__` or any byte code. With
    `python`, the copy is then compiled by that interpreter, as an asset shipping its byte code would be."""
    root = Path(tempfile.mkdtemp(prefix="task-", dir=parent))
    shutil.copytree(LAMBDA_SOURCE, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
    if python:
        subprocess.run([python, "-m", "compileall", "-q", str(root)], check=True)  # noqa: S603
    return root


def byte_code_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.suffix in {".pyc", ".pyo"} or path.name == "__pycache__"]


@dataclass(frozen=True)
class Target:
    """One side of one handler's comparison: the handler module itself, or the baseline making its calls."""

    handler: str
    baseline: bool = False

    @property
    def name(self) -> str:
        return f"{BASELINE} ({self.handler})" if self.baseline else self.handler


@dataclass(frozen=True)
class Sample:
    """One cold path: the whole process's seconds, and within it the import's and the first invocation's."""

    total: float
    imported: float
    invoked: float
    calls: int = 0


Runner = Callable[[Target], Sample]
"""Runs one cold path in a fresh process and returns its timings."""


@dataclass(frozen=True)
class Row:
    module: str
    cold_path: float
    baseline: float
    imported: float
    baseline_imported: float
    invoked: float
    calls: int
    budget: float

    @property
    def ratio(self) -> float:
        return self.cold_path / self.baseline

    @property
    def passed(self) -> bool:
        return self.ratio <= self.budget


class ColdPaths:
    """Runs cold paths in fresh processes: a fresh asset copy each, the scenario's event and canned answers."""

    def __init__(
        self,
        work: Path,
        python: str = sys.executable,
        inherited: Mapping[str, str] | None = None,
        byte_code: bool = False,
    ):
        self.work, self.python, self.byte_code = work, python, byte_code
        self.inherited = dict(os.environ if inherited is None else inherited)
        self.scenarios = scenarios()

    def scenario_file(self, handler: str) -> Path:
        path = self.work / f"{handler}.scenario.pickle"
        if not path.exists():
            path.write_bytes(pickle.dumps(asdict(self.scenarios[handler])))
        return path

    def calls_file(self, handler: str) -> Path:
        return self.work / f"{handler}.calls.pickle"

    def command(self, target: Target, result: Path) -> list[str]:
        module = BASELINE if target.baseline else target.handler
        # The handler's calls are recorded on its runs; the baseline makes them.
        return [
            self.python,
            str(COLD_PATH),
            str(self.scenario_file(target.handler)),
            module,
            str(result),
            str(self.calls_file(target.handler)),
        ]

    def run(self, target: Target, task_root: Path) -> tuple[float, dict]:
        """Run one cold path on the asset copy at task_root: the moment its process was started, and its timings."""
        result = self.work / f"{task_root.name}.result.json"
        env = lambda_environment(self.inherited, task_root) | self.scenarios[target.handler].environment
        try:
            spawned = time.clock_gettime(time.CLOCK_MONOTONIC)
            finished = subprocess.run(  # noqa: S603
                self.command(target, result), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            if finished.returncode:
                raise RuntimeError(f"cold path of {target.name} failed:\n{finished.stderr}")
            return spawned, json.loads(result.read_text())
        finally:
            result.unlink(missing_ok=True)

    def __call__(self, target: Target) -> Sample:
        task_root = fresh_task_root(self.work, self.python if self.byte_code else None)
        try:
            return sample_of(*self.run(target, task_root))
        finally:
            shutil.rmtree(task_root)


def sample_of(spawned: float, timings: Mapping[str, float]) -> Sample:
    """The cold path of a run from its moments: from the process's start to the import's end (Lambda's init),
    then the invocation (setting up the canned answers in between is no part of it, nor the process's exit)."""
    init = timings["imported"] - spawned
    invocation = timings["invoked"] - timings["loaded"]
    return Sample(init + invocation, timings["imported"] - timings["started"], invocation, int(timings["calls"]))


def targets(modules: Sequence[str]) -> list[Target]:
    return [target for module in modules for target in (Target(module), Target(module, baseline=True))]


def measure(modules: Sequence[str], run: Runner, rounds: int = ROUNDS) -> dict[Target, list[Sample]]:
    """Samples of each handler and of its baseline, interleaved: each round runs every one once, the order
    rotated round by round. One untimed run of each first, the handler's before its baseline's (it records
    the calls the baseline makes; the page cache warms)."""
    names = targets(modules)
    for target in names:
        run(target)
    samples: dict[Target, list[Sample]] = {target: [] for target in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for target in names[shift:] + names[:shift]:
            samples[target].append(run(target))
    return samples


def median(samples: Sequence[Sample], part: str) -> float:
    return statistics.median(getattr(sample, part) for sample in samples)


def tabulate(samples: Mapping[Target, Sequence[Sample]], budget: float = BUDGET) -> list[Row]:
    rows = []
    for target, runs in samples.items():
        if target.baseline:
            continue
        baseline = samples[Target(target.handler, baseline=True)]
        rows.append(
            Row(
                module=target.handler,
                cold_path=median(runs, "total"),
                baseline=median(baseline, "total"),
                imported=median(runs, "imported"),
                baseline_imported=median(baseline, "imported"),
                invoked=median(runs, "invoked"),
                calls=runs[0].calls,
                budget=budget,
            )
        )
    return rows


def render(rows: Sequence[Row], rounds: int, budget: float = BUDGET, byte_code: bool = False) -> str:
    width = max(len("handler"), *(len(row.module) for row in rows))
    compiled = "with the project's byte code shipped (--byte-code)" if byte_code else "without the project's byte code"
    lines = [
        f"Cold path: interpreter start + import {compiled} + first invocation of a recorded"
        " event (AWS calls answered in-process),",
        f"median of {rounds} fresh processes each, against a bare-boto3 handler making the same calls"
        f" (budget {budget:g}x). Milliseconds.",
        f"{'handler':<{width}}  calls  cold path  baseline   ratio  result  import  baseline import  first call",
    ]
    lines += [
        f"{row.module:<{width}}  {row.calls:>5}  {row.cold_path * 1000:>9.0f}  {row.baseline * 1000:>8.0f}"
        f"  {row.ratio:>5.2f}x  {'PASS' if row.passed else 'FAIL':<6}  {row.imported * 1000:>6.0f}"
        f"  {row.baseline_imported * 1000:>15.0f}  {row.invoked * 1000:>10.0f}"
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
    parser.add_argument(
        "--byte-code",
        action="store_true",
        help="ship the project's byte code: compile each asset copy first (with this Python: a figure, not the budget's)",
    )
    parser.add_argument("modules", nargs="*", help="handler modules (default: every handler module)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    modules = args.modules or handler_modules()
    if runner is None:
        unknown = sorted(set(modules) - set(scenarios()))
        if unknown:
            parser.error(f"no scenario for {', '.join(unknown)} (benchmarks/scenarios.py)")
        with tempfile.TemporaryDirectory(prefix="cold-path-") as work:
            samples = measure(modules, ColdPaths(Path(work), byte_code=args.byte_code), rounds=args.rounds)
    else:
        samples = measure(modules, runner, rounds=args.rounds)
    rows = tabulate(samples, budget=args.budget)
    print(render(rows, rounds=args.rounds, budget=args.budget, byte_code=args.byte_code))
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
