"""Deploy the synthesized app into a running local cloud with the real CDK CLI (pinned in package.json)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
CDK = PROJECT / "node_modules" / ".bin" / "cdk"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stacks_in(cdk_out: Path) -> list[str]:
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    return [name for name, artifact in manifest["artifacts"].items() if artifact["type"] == "aws:cloudformation:stack"]


def run_cdk(args: list[str], cdk_out: Path, environment: dict[str, str]) -> str:
    if not CDK.exists():
        raise FileNotFoundError(f"{CDK} is missing: run `make install` (npm ci) first")
    env = {**os.environ, **environment, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CI": "true"}
    completed = subprocess.run(  # noqa: S603 (a fixed executable with our own arguments)
        [str(CDK), *args, "--app", str(cdk_out), "--no-notices", "--no-version-reporting"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode:
        raise RuntimeError(f"cdk {' '.join(args)} failed:\n{completed.stderr[-2000:]}")
    return completed.stderr + completed.stdout


def deploy_all(cloud, account: str = "123456789012", region: str = "us-east-1") -> list[str]:
    """`cdk bootstrap` and `cdk deploy --all` against the local cloud, then adopt each stack."""
    environment = cloud.cli_environment()
    run_cdk(["bootstrap", f"aws://{account}/{region}"], cloud.cdk_out, environment)
    run_cdk(["deploy", "--all", "--require-approval", "never"], cloud.cdk_out, environment)
    stacks = stacks_in(cloud.cdk_out)
    for stack in stacks:
        cloud.adopt(stack)
    return stacks
