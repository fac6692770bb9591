"""A second opinion on the local cloud's access decisions: each recorded decision, as the request AWS would
evaluate, decided again by @cloud-copilot/iam-simulate (tests/support/iam_simulate.mjs, one Node process for
the whole batch)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from localcloud.access import RecordedDecision

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("iam_simulate.mjs")
PACKAGE = ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate" / "package.json"


@dataclass(frozen=True)
class Request:
    """What AWS evaluates: the caller as AWS names it (a role's session, or the service), the action, the
    resource, the request context, the caller's identity policies and the resource's (or key's) policy."""

    principal: str
    action: str
    resource: str
    account: str
    context: str  # JSON, sorted: the request stays hashable for deduplication
    identity_policies: str
    resource_policy: str

    @classmethod
    def of(cls, recorded: RecordedDecision) -> Request:
        principal = recorded.principal
        return cls(
            principal=principal.arn if principal.is_service else principal.describe(),
            action=recorded.action,
            resource=recorded.resource,
            account=principal.account,
            context=json.dumps(recorded.context, sort_keys=True),
            identity_policies=json.dumps(list(recorded.identity_policies), sort_keys=True),
            resource_policy=json.dumps(recorded.resource_policy, sort_keys=True),
        )

    def as_input(self) -> dict:
        return {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "account": self.account,
            "context": json.loads(self.context),
            "identityPolicies": json.loads(self.identity_policies),
            "resourcePolicy": json.loads(self.resource_policy),
        }


@dataclass(frozen=True)
class Answer:
    result: str | None  # Allowed, ExplicitlyDenied, ImplicitlyDenied; None: the simulator refused the input
    errors: dict | None
    resource: str  # the resource it decided on ("*" for an action that supports no resource type)
    ignored_context_keys: tuple[str, ...]  # keys it dropped as not applying to the request
    unvalidated_context_keys: tuple[str, ...]  # documented keys its validation drops, passed as given

    @property
    def allowed(self) -> bool:
        return self.result == "Allowed"


def node() -> str | None:
    return shutil.which("node")


def installed() -> bool:
    return PACKAGE.is_file()


def second_opinions(requests: list[Request]) -> list[Answer]:
    """The simulator's answer to each request, in order (one `node` process for all of them)."""
    completed = subprocess.run(  # noqa: S603 (node and our own script; the requests go in on stdin)
        [node() or "node", str(SCRIPT)],
        input=json.dumps([r.as_input() for r in requests]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{SCRIPT.name} failed ({completed.returncode}): {completed.stderr.strip()}")
    answers = json.loads(completed.stdout)
    if len(answers) != len(requests):
        raise RuntimeError(f"{SCRIPT.name} answered {len(answers)} of {len(requests)} requests")
    return [
        Answer(
            a["result"], a["errors"], a["resource"], tuple(a["ignoredContextKeys"]), tuple(a["unvalidatedContextKeys"])
        )
        for a in answers
    ]
