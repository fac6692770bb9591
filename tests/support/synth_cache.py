"""The CDK app synthesized once, with the default context, into .cache/synth/<digest of its sources>/.

The infra tests, the local-cloud tests and `make scan` all read this one cdk.out. The directory is
named by a digest of everything the synth reads (app.py, cdk.json, stacks/, lambdas/, statemachines/,
the pinned versions, a CDK_CONTEXT_JSON in the environment), so an edit to any of them makes a new one.
An exclusive lock (fcntl, POSIX) means that of the processes asking at once (pytest-xdist workers,
`make scan`) one synthesizes and the others wait for its result. The synth attaches the cdk-nag packs
(stacks.app_factory.build_app) and fails on any unacknowledged finding, so a stale or non-compliant
app never lands here. Treat the directory as read-only: copy it before changing anything in it. A new synth
removes all but the three newest.

`python -m tests.support.synth_cache` prints the directory (synthesizing it if need be).
"""

from __future__ import annotations

import fcntl
import hashlib
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


def cdk_out() -> Path:
    """The synthesized cloud assembly for the current sources (built here if no process has yet)."""
    target = CACHE / sources_digest()
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
                build_app(outdir=str(partial)).synth()
                shutil.rmtree(target, ignore_errors=True)
                partial.rename(target)  # whole or not at all
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            prune(CACHE, keep=KEEP)
    return target


KEEP = 3  # synths of earlier sources kept (switching branches back and forth reuses them)


def prune(cache: Path, keep: int) -> list[str]:
    """Remove all but the `keep` newest synths (and their lock files); returns the digests removed. A synth
    is named by its digest; a `.partial-` directory is one still being built, and is left alone."""
    built = sorted(
        (d for d in cache.iterdir() if d.is_dir() and ".partial-" not in d.name and (d / "manifest.json").is_file()),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    removed = []
    for old in built[keep:]:
        shutil.rmtree(old, ignore_errors=True)
        (cache / f"{old.name}.lock").unlink(missing_ok=True)
        removed.append(old.name)
    return removed


if __name__ == "__main__":
    print(cdk_out())
