"""Deploys the orchestration variant's state machine and functions into moto for tests.

The definition is the project's ASL file with the stack's substitutions applied; its Lambda tasks
run the real handlers in this process (localcloud.lambda_runtime).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import boto3

from localcloud.simulation import HorizonReached, active

ASL_FILE = Path(__file__).resolve().parents[2] / "statemachines" / "encounter.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def placeholders(definition: str) -> set[str]:
    return set(PLACEHOLDER.findall(definition))


def substitute(definition: str, substitutions: dict[str, str]) -> str:
    """Apply substitutions as CloudFormation does; a placeholder without a value is an error."""
    missing = placeholders(definition) - set(substitutions)
    if missing:
        raise KeyError(f"no substitution for {sorted(missing)}")
    return PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], definition)


def dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "handlers run in-process from lambdas/")
    return buffer.getvalue()


@dataclass
class Deployed:
    state_machine_arn: str
    job_prefix: str

    def history(self, execution_arn: str) -> list[dict]:
        sfn = boto3.client("stepfunctions")
        events, token = [], None
        while True:
            page = sfn.get_execution_history(executionArn=execution_arn, **({"nextToken": token} if token else {}))
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                return events


def deploy_function(name: str, handler: str, environment: dict[str, str]) -> str:
    iam = boto3.client("iam")
    try:
        role_arn = iam.get_role(RoleName="local-lambda")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role_arn = iam.create_role(RoleName="local-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler=handler,
        Code={"ZipFile": dummy_zip()},
        Environment={"Variables": environment},
        Timeout=120,
    )["FunctionArn"]


def wait_for(predicate, timeout: float = 24 * 3600.0, what: str = "condition"):
    """Run the installed simulation until `predicate()` holds; `timeout` is simulated seconds."""
    found = [None]

    def done() -> bool:
        found[0] = predicate()
        return bool(found[0])

    try:
        active().run_until(done, horizon=timeout, quiet_ends=False)
    except HorizonReached as stuck:
        raise TimeoutError(f"{what} never happened: {stuck}") from None
    return found[0]


def finished(execution_arn: str, timeout: float = 24 * 3600.0) -> dict:
    sfn = boto3.client("stepfunctions")
    return wait_for(
        lambda: (d := sfn.describe_execution(executionArn=execution_arn))["status"] in TERMINAL and d,
        timeout=timeout,
        what=f"execution {execution_arn} to finish",
    )


def state_transitions(events: list[dict]) -> int:
    """Billed state transitions: one per state entered."""
    return sum(1 for event in events if event["type"].endswith("StateEntered"))


def invoke(function_name: str, event: dict) -> dict:
    response = boto3.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        raise AssertionError(f"{function_name} failed: {payload}")
    return payload
