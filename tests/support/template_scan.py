"""cfn-lint and checkov over the templates of every configuration of the matrix (tests/support/configurations.py),
each synth scanned once for its content.

A synth both scanners passed gets a stamp beside it in the synth cache, `<synth>.scanned-<digest>`, the digest
being of the scanners' settings and checkov's pin (cfn-lint's pin is in constraints.txt, part of the synth's own
digest); a later run scans only the synths without one. The synths are named by the digest of what they were
built from, so a changed source or context is a new, unscanned synth. A failing scan stamps nothing.

`python -m tests.support.template_scan --checkov PATH` (`make scan`, and `make test` after pytest) synthesizes
what is missing, scans what is unscanned, prints what the scanners found and exits non-zero on any finding.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support import synth_cache
from tests.support.configurations import MATRIX

# What decides a scan's verdict besides the template: the scanners' settings and checkov's version.
SETTINGS = (".cfnlintrc.yaml", "requirements-checkov.txt")
CHECKOV_OPTIONS = ("--quiet", "--compact", "--framework", "cloudformation", "--skip-download", "--output", "cli", "--file")  # fmt: skip


def settings_digest(root: Path = synth_cache.ROOT) -> str:
    digest = hashlib.sha256()
    for name in SETTINGS:
        path = root / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b""))
    return digest.hexdigest()[:12]


def stamp(synth: Path, settings: str) -> Path:
    return synth.parent / f"{synth.name}.scanned-{settings}"


def scanners(checkov: str) -> list[list[str]]:
    """Each scanner's command, to which the templates are appended."""
    cfn_lint = [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable"]
    return [cfn_lint, [checkov, *CHECKOV_OPTIONS]]


def scan(synths: Sequence[Path], commands: Sequence[Sequence[str]], settings: str) -> tuple[int, int]:
    """Run every command over the templates of the synths not yet stamped, and stamp them if all passed;
    returns (synths scanned, commands that failed)."""
    pending = [synth for synth in dict.fromkeys(synths) if not stamp(synth, settings).exists()]
    if not pending:
        return 0, 0
    templates = [str(t) for synth in pending for t in sorted(synth.glob("*.template.json"))]
    failed = 0
    for command in commands:
        # The scanners' commands (this module's, the Makefile's checkov path) over our own templates.
        done = subprocess.run([*command, *templates], cwd=synth_cache.ROOT, check=False)  # noqa: S603
        failed += done.returncode != 0
    if not failed:
        for synth in pending:
            stamp(synth, settings).touch()
    return len(pending), failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", required=True, help="the checkov command (its own virtualenv)")
    args = parser.parse_args(argv)
    synths = [configuration.cdk_out() for configuration in MATRIX]
    scanned, failed = scan(synths, scanners(args.checkov), settings_digest())
    print(
        f"template scan: {len(MATRIX)} configurations, {len(set(synths))} synths, {scanned} scanned now "
        f"({len(set(synths)) - scanned} passed before), {failed} scanners failed"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
