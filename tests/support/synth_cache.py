"""The CDK app synthesized once, with the default context, into .cache/synth/<digest of its sources>/.

The infra tests, the local-cloud tests and `make scan` all read this one cdk.out. The directory is
named by a digest of everything the synth reads (app.py, cdk.json, stacks/, lambdas/, statemachines/,
the pinned versions, a CDK_CONTEXT_JSON in the environment), so an edit to any of them makes a new one.
An exclusive lock (fcntl, POSIX) means that of the processes asking at once (pytest-xdist workers,
`make scan`) one synthesizes and the others wait for its result. The synth attaches the cdk-nag packs
(stacks.app_factory.build_app) and fails on any unacknowledged finding, so a stale or non-compliant
app never lands here. Treat the directory as read-only: copy it before changing anything in it.

`cdk_out(context)` does the same for another context (the configuration matrix, tests/support/configurations.py):
its directory is `<digest of the sources>+<digest of the context>`, so the synths of one checkout's sources
stay together. A new synth removes every synth of all but the three newest sources' digests (the current
sources' are always kept, however many contexts they were synthesized with).

`python -m tests.support.synth_cache` prints the default synth's directory (synthesizing it if need be).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "synth"
SOURCES = ("app.py", "cdk.json", "constraints.txt", "requirements.txt", "stacks", "lambdas", "statemachines")
SKIPPED = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def source_files() -> list[Path]:
    files = []
    for name in SOURCES:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        else:
            files.extend(
                p for p in path.rglob("*") if p.is_file() and not SKIPPED & set(p.parts) and p.suffix != ".pyc"
            )
    return sorted(files)


def sources_digest() -> str:
    digest = hashlib.sha256(os.environ.get("CDK_CONTEXT_JSON", "").encode())
    for path in source_files():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


def context_digest(context: dict) -> str:
    """A context's digest, the same whatever the order of its keys."""
    return hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()[:12]


def cdk_out(context: dict | None = None) -> Path:
    """The synthesized cloud assembly for the current sources and `context` (built here if no process has
    yet); the default context's is the one the tests and the scanners share."""
    sources = sources_digest()
    target = CACHE / (f"{sources}+{context_digest(context)}" if context else sources)
    if (target / "manifest.json").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if not (target / "manifest.json").is_file():
            from stacks.app_factory import build_app  # the CDK only when there is something to build

            partial = Path(tempfile.mkdtemp(prefix=f"{target.name}.partial-", dir=CACHE))
            partial.chmod(0o755)
            try:
                build_app(context=context, outdir=str(partial)).synth()
                shutil.rmtree(target, ignore_errors=True)
                partial.rename(target)  # whole or not at all
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            prune(CACHE, keep=KEEP, current=sources)
    return target


KEEP = 3  # sources whose synths are kept (switching branches back and forth reuses them)


def prune(cache: Path, keep: int, current: str | None = None) -> list[str]:
    """Remove the synths (and their lock and scan files) of all but the `keep` newest sources' digests, the
    `current` one always kept; returns the names removed. A synth is named by its sources' digest, and
    `+<context digest>` for a context of its own; a `.partial-` directory is one still being built, and is left
    alone. A sources digest is as new as its newest synth."""
    built = [d for d in cache.iterdir() if d.is_dir() and ".partial-" not in d.name and (d / "manifest.json").is_file()]
    newest: dict[str, float] = {}
    for synth in built:
        sources = synth.name.partition("+")[0]
        newest[sources] = max(newest.get(sources, 0.0), synth.stat().st_mtime)
    kept = {current} | set(sorted(newest, key=newest.__getitem__, reverse=True)[:keep])
    removed = []
    for old in sorted(d for d in built if d.name.partition("+")[0] not in kept):
        shutil.rmtree(old, ignore_errors=True)
        for companion in cache.glob(f"{old.name}.*"):
            if companion.is_file():  # not a `.partial-` directory
                companion.unlink(missing_ok=True)
        removed.append(old.name)
    return removed


if __name__ == "__main__":
    print(cdk_out())
