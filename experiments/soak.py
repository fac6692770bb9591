"""The seed sweep: every fault profile across many seeds at a small size, each run checked by every invariant in
both variants, and a sample of seeds run twice for the same report.

    python -m experiments.soak --seeds 50 --encounters 12 --determinism 10 --workers 2 --summary reports/soak/summary.md

Each (profile, seed) is one `scribe compare` of the `steady` workload without the review phase (the review's own
races run in tests/unit/test_review_races.py, which `make soak` runs too). Runs go to a pool of worker processes;
a line per finished run shows the progress. At the end a table says, per profile, how many seeds ran, how many
held every invariant, and how many of the seeds run twice gave the same report apart from its wall-time field.
Each failing seed is printed with the one command that reproduces it. Exit 1 if any failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

PROFILES = ("default", "storm", "hostile")
WALL_TIME_FIELDS = ("real_seconds",)  # the only fields of a report that depend on the machine


def comparable(report: dict) -> dict:
    """The report without its wall-time fields: what the same seed must reproduce exactly."""
    return {name: value for name, value in report.items() if name not in WALL_TIME_FIELDS}


def digest(report: dict) -> str:
    return hashlib.sha256(json.dumps(comparable(report), sort_keys=True).encode()).hexdigest()


def first_difference(one, other, path: str = "") -> str | None:
    """Where two reports first differ (a JSON path), or None."""
    if isinstance(one, dict) and isinstance(other, dict):
        for key in sorted(set(one) | set(other), key=str):
            if key not in one or key not in other:
                return f"{path}.{key}"
            if (found := first_difference(one[key], other[key], f"{path}.{key}")) is not None:
                return found
        return None
    if isinstance(one, list) and isinstance(other, list):
        if len(one) != len(other):
            return f"{path} (length {len(one)} vs {len(other)})"
        for index, (a, b) in enumerate(zip(one, other, strict=True)):
            if (found := first_difference(a, b, f"{path}[{index}]")) is not None:
                return found
        return None
    return None if one == other else f"{path}: {one!r} vs {other!r}"


def repro_command(profile: str, seed: int, encounters: int) -> str:
    return f"scribe compare --encounters {encounters} --faults {profile} --seed {seed} --no-reviews"


def run_one(args: tuple) -> dict:
    """One compare run in a worker: its failed invariants and its report's digest."""
    cdk_out, profile, seed, encounters, run = args
    import logging

    from experiments.compare import compare, failed_invariants

    logging.disable(logging.WARNING)  # the handlers' logs and moto's warnings: the verdict is what counts here
    started = time.monotonic()
    try:
        report = compare(Path(cdk_out), encounters, profile, seed, reviews=False)
    except Exception as error:  # a run that crashed is a failed seed, with its reason
        return {"profile": profile, "seed": seed, "run": run, "failed": [f"the run raised {error!r}"],
                "digest": None, "report": None, "seconds": time.monotonic() - started}  # fmt: skip
    return {
        "profile": profile,
        "seed": seed,
        "run": run,
        "failed": failed_invariants(report),
        "digest": digest(report),
        "report": comparable(report),
        "seconds": time.monotonic() - started,
    }


@dataclass
class Tally:
    seeds: set = field(default_factory=set)
    held: set = field(default_factory=set)
    twice: set = field(default_factory=set)
    same: set = field(default_factory=set)
    failures: list = field(default_factory=list)  # (seed, line)


def summarize(results: list[dict], profiles: tuple[str, ...], encounters: int) -> tuple[dict[str, Tally], list[str]]:
    """Per profile: the seeds run, those whose every invariant held (in every run of them), those run twice and
    those that gave the same report twice; and each failure as a line with its repro command."""
    tallies = {profile: Tally() for profile in profiles}
    by_seed: dict[tuple[str, int], list[dict]] = {}
    for result in results:
        by_seed.setdefault((result["profile"], result["seed"]), []).append(result)
    lines = []
    for (profile, seed), runs in sorted(by_seed.items()):
        tally = tallies[profile]
        tally.seeds.add(seed)
        failed = sorted({line for run in runs for line in run["failed"]})
        if not failed:
            tally.held.add(seed)
        for line in failed:
            tally.failures.append((seed, line))
            lines.append(f"FAILED {profile} seed {seed}: {line}\n  repro: {repro_command(profile, seed, encounters)}")
        if len(runs) > 1:
            tally.twice.add(seed)
            first, second = sorted(runs, key=lambda run: run["run"])[:2]
            if first["digest"] is not None and first["digest"] == second["digest"]:
                tally.same.add(seed)
            else:
                where = first_difference(first["report"], second["report"]) or "the run raised"
                lines.append(
                    f"NOT DETERMINISTIC {profile} seed {seed}: the two reports differ at {where}\n"
                    f"  repro: run `{repro_command(profile, seed, encounters)} --json` twice and compare"
                )
    return tallies, lines


def table(tallies: dict[str, Tally], encounters: int, seconds: float, workers: int) -> str:
    lines = [
        f"Seed sweep: workload `steady` at {encounters} encounters, no review phase; {seconds / 60:.1f} min real "
        f"on {workers} worker(s).\n\n",
        "| fault profile | seeds | every invariant held (both variants, parity) | run twice | same report twice | failing seeds |\n",
        "|---|---|---|---|---|---|\n",
    ]
    for profile, tally in tallies.items():
        if not tally.seeds:
            continue
        span = f"{min(tally.seeds)}-{max(tally.seeds)}"
        failing = sorted(tally.seeds - tally.held)
        lines.append(
            f"| {profile} | {len(tally.seeds)} ({span}) | {len(tally.held)} | {len(tally.twice)} | {len(tally.same)} | "
            f"{', '.join(map(str, failing)) or '-'} |\n"
        )
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated fault profiles")
    parser.add_argument("--seeds", type=int, default=50, help="seeds per profile (from --first-seed)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--encounters", type=int, default=12, help="encounters per run (the steady workload)")
    parser.add_argument("--determinism", type=int, default=10, help="the first N seeds of each profile run twice")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cdk-out", default="cdk.out")
    parser.add_argument("--summary", type=Path, default=None, help="write the table and any failures here")
    args = parser.parse_args(argv)
    profiles = tuple(name.strip() for name in args.profiles.split(",") if name.strip())
    from experiments.compare import profiles as known_profiles

    unknown = sorted(set(profiles) - set(known_profiles()))
    if unknown or args.seeds < 1 or args.encounters < 1 or args.workers < 1:
        parser.error(f"unknown profiles {unknown}" if unknown else "--seeds, --encounters and --workers must be >= 1")
    if not (Path(args.cdk_out) / "manifest.json").exists():
        parser.error(f"{args.cdk_out} holds no synthesized app: run `make synth` first")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(args.cdk_out, profile, seed, args.encounters, 1) for seed in seeds for profile in profiles]
    jobs += [
        (args.cdk_out, profile, seed, args.encounters, 2) for seed in seeds[: args.determinism] for profile in profiles
    ]
    started, results = time.monotonic(), []
    print(
        f"{len(jobs)} runs: {len(profiles)} profiles x {args.seeds} seeds, {min(args.determinism, args.seeds)} of "
        f"each run twice, {args.encounters} encounters each, {args.workers} worker(s)",
        file=sys.stderr,
        flush=True,
    )
    # A process per run: a run's local cloud leaves its blocked actor threads (and what they hold) behind, which
    # would pile up in a long-lived worker and keep it from exiting; a fresh process also makes the second run
    # of a seed a run in another process, as a person reproducing it would make it.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context, max_tasks_per_child=1) as pool:
        futures = [pool.submit(run_one, job) for job in jobs]
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results.append(result)
            verdict = "PASS" if not result["failed"] else f"FAIL ({len(result['failed'])})"
            print(
                f"[{done:>3}/{len(jobs)}] {result['profile']:<8} seed {result['seed']:>3} run {result['run']}: "
                f"{verdict} in {result['seconds']:.0f} s; {(time.monotonic() - started) / 60:.1f} min so far",
                file=sys.stderr,
                flush=True,
            )
    tallies, lines = summarize(results, profiles, args.encounters)
    text = table(tallies, args.encounters, time.monotonic() - started, args.workers)
    text += "".join(f"\n{line}" for line in lines) + ("\n" if lines else "")
    command = " ".join(["python -m experiments.soak", *(argv if argv is not None else sys.argv[1:])])
    print(text)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(f"# Seed sweep\n\n`{command}`\n\n{text}")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
