"""`make templates`: synthesize the app as it stood at a commit of this repository, with context of your choice,
into a directory `make demo CDK_OUT=...` and `make localcloud CDK_OUT=...` take.

Usage: python -m experiments.templates OUT [--ref REF] [-c key=value ...]

REF is a commit, a branch, or a name below. The sources of REF (app.py, stacks/, lambdas/, statemachines/, ...) are
taken with `git archive` into a scratch directory and synthesized there with this checkout's Python environment,
the cdk-nag packs attached as that commit attached them. `-c key=value` is `cdk synth -c`: values are strings, as
the CDK CLI passes them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
# Commits worth naming. The templates before issue 30's deploy fixes: the write-once deny without the multipart
# exemption, the review page's function inside the VPC with deploy_in_vpc, and the rest of that findings.
NAMED = {"before-deploy-fixes": "e0165082b09c68b44cdb6512ce96690d36e48cfa"}
SYNTH = (
    "import json, sys\n"
    "from stacks.app_factory import build_app\n"
    "build_app(context=json.loads(sys.argv[1]), outdir=sys.argv[2]).synth()\n"
)


class BadInput(click.ClickException):
    exit_code = 2


def context_of(pairs: tuple[str, ...]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInput(f"-c takes key=value (as cdk synth -c does), not {pair!r}")
        context[key] = value
    return context


def commit_of(ref: str) -> str:
    ref = NAMED.get(ref, ref)
    found = subprocess.run(  # noqa: S603 (git with our own arguments; the ref is checked by rev-parse)
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],  # noqa: S607 (PATH's git)
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        names = ", ".join(NAMED)
        raise BadInput(f"{ref!r} is no commit of this repository (a commit, a branch, or one of: {names})")
    return found.stdout.strip()


def synthesize(out: Path, ref: str | None, context: dict[str, str]) -> str:
    """Synthesize into `out` (replaced); returns what was synthesized, for a person to read."""
    if ref is None:
        source, described = ROOT, "this checkout"
    else:
        commit = commit_of(ref)
        scratch = Path(tempfile.mkdtemp(prefix="templates-"))
        archive = subprocess.run(  # noqa: S603 (a verified commit id)
            ["git", "-C", str(ROOT), "archive", commit],  # noqa: S607 (the git on PATH)
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)  # noqa: S603, S607
        source, described = scratch, f"commit {commit[:12]}"
    out = out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    try:
        # The source directory first on the path: its stacks/ and lambdas/, not this checkout's.
        synth = subprocess.run(  # noqa: S603 (this interpreter, a fixed program)
            [sys.executable, "-c", SYNTH, json.dumps(context), str(out)], cwd=source, check=False, text=True
        )
    finally:
        if source != ROOT:
            shutil.rmtree(source, ignore_errors=True)
    if synth.returncode != 0:
        raise click.ClickException(f"the synth of {described} failed (above)")
    settings = ", ".join(f"{k}={v}" for k, v in context.items()) or "the default context"
    return f"{out}: the app of {described} with {settings}"


@click.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--ref", default=None, help="a commit, a branch, or " + ", ".join(NAMED) + " (default: this checkout)")
@click.option("-c", "--context", "pairs", multiple=True, help="key=value, as cdk synth -c")
def main(out: Path, ref: str | None, pairs: tuple[str, ...]) -> None:
    """Synthesize the app (at REF) with context into OUT."""
    click.echo(synthesize(out, ref, context_of(pairs)))


if __name__ == "__main__":
    main()
