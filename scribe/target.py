"""Where the CLI works: AWS (the standard credential chain and region) or the local cloud.

Deployments are found from CloudFormation outputs (each variant stack exports `Variant`), never from
hard-coded names.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import boto3

from scribe import console_links

VARIANTS = ("choreography", "orchestration")
# Written by `python -m localcloud.serve`; read by `scribe --local`, from any working directory: in the user's state
# directory (XDG_STATE_HOME, else ~/.local/state), unless SCRIBE_LOCAL_ENDPOINT_FILE names another file.
LOCAL_ENDPOINT_FILE = Path(
    os.environ.get("SCRIBE_LOCAL_ENDPOINT_FILE")
    or Path(os.environ.get("XDG_STATE_HOME") or "~/.local/state").expanduser()
    / "clinical-scribe-pipelines/endpoint.json"
)
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class TargetError(Exception):
    """The target or its deployments cannot be used (exit code 1)."""


@dataclass
class Target:
    endpoint_url: str | None = None
    region: str | None = None
    local: bool = False
    _clients: dict = field(default_factory=dict)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def choose(cls, local: bool) -> Target:
        """AWS by default; the local cloud with --local or when AWS_ENDPOINT_URL points at one."""
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if local and not endpoint:
            if not LOCAL_ENDPOINT_FILE.exists():
                raise TargetError(
                    f"no local cloud is running ({LOCAL_ENDPOINT_FILE} not found): start one with `make localcloud`"
                )
            endpoint = json.loads(LOCAL_ENDPOINT_FILE.read_text())["endpoint_url"]
        is_local = bool(local or (endpoint and ("localhost" in endpoint or "127.0.0.1" in endpoint)))
        return cls(endpoint_url=endpoint, region="us-east-1" if is_local else None, local=is_local)

    def client(self, service: str):
        with self._clients_lock:  # boto3's default session is not thread-safe: the review page's threads share it
            if service not in self._clients:
                kwargs = {}
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                if self.local:
                    kwargs |= {"region_name": self.region, **LOCAL_CREDENTIALS}
                elif not os.environ.get("AWS_DEFAULT_REGION") and os.environ.get("AWS_REGION"):
                    # boto3 reads only AWS_DEFAULT_REGION (and the profile); the CDK CLI reads AWS_REGION too, so
                    # a region set for `cdk deploy` that way is the one scribe uses.
                    kwargs["region_name"] = os.environ["AWS_REGION"]
                self._clients[service] = boto3.client(service, **kwargs)
            return self._clients[service]

    @property
    def region_name(self) -> str:
        return self.client("s3").meta.region_name

    def deployments(self) -> dict[str, list[Deployment]]:
        found: dict[str, list[Deployment]] = {variant: [] for variant in VARIANTS}
        for page in self.client("cloudformation").get_paginator("describe_stacks").paginate():
            for stack in page["Stacks"]:
                outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
                if outputs.get("Variant") in VARIANTS:
                    found[outputs["Variant"]].append(Deployment(self, outputs["Variant"], stack["StackName"], outputs))
        return found

    def deployment(self, variant: str, stack: str | None = None) -> Deployment:
        candidates = self.deployments()[variant]
        if stack:
            candidates = [d for d in candidates if d.stack_name == stack]
        if not candidates:
            where = "the local cloud" if self.local else "this AWS account and region"
            raise TargetError(f"no {variant} stack found in {where}" + (f" named {stack}" if stack else ""))
        if len(candidates) > 1:
            names = ", ".join(d.stack_name for d in candidates)
            raise TargetError(f"several {variant} stacks ({names}): choose one with --stack")
        return candidates[0]


@dataclass
class Deployment:
    target: Target
    variant: str
    stack_name: str
    outputs: dict[str, str]

    @property
    def bucket(self) -> str:
        return self.outputs["EncounterBucketName"]

    def client(self, service: str):
        return self.target.client(service)

    # Console links: only meaningful on AWS.
    def _console(self, path: str) -> str | None:
        if self.target.local:
            return None
        region = self.target.region_name
        return f"https://{region}.console.aws.amazon.com/{path}".replace("{region}", region)

    def object_link(self, key: str) -> str | None:
        if self.target.local:
            return None
        return f"https://s3.console.aws.amazon.com/s3/object/{self.bucket}?region={self.target.region_name}&prefix={quote(key)}"

    def queue_link(self, queue_url: str) -> str | None:
        return self._console(f"sqs/v3/home?region={{region}}#/queues/{quote(queue_url, safe='')}")

    def execution_link(self, execution_arn: str) -> str | None:
        return self._console(f"states/home?region={{region}}#/v2/executions/details/{execution_arn}")

    def function_logs_link(self, function_name: str) -> str | None:
        return self._console(f"lambda/home?region={{region}}#/functions/{function_name}?tab=monitoring")

    def log_group_link(self, name: str) -> str | None:
        # A vended-logs name (/aws/vendedlogs/states/...) encoded once opens no log group (console_links).
        return None if self.target.local else console_links.log_group_link(self.target.region_name, name)

    def encounter_links(self, encounter_id: str) -> dict[str, str]:
        """`status --links`: the encounter's console pages, as on AWS, in the Region the stack outputs (so on
        the local cloud too: what they are for the same deployment on AWS)."""
        region = self.outputs.get("Region") or self.target.region_name
        return console_links.encounter_links(self.outputs, region, encounter_id)


def local_control_url() -> str | None:
    """Where the running local cloud takes clock commands (`scribe --local advance`), if one runs."""
    if not LOCAL_ENDPOINT_FILE.exists():
        return None
    return json.loads(LOCAL_ENDPOINT_FILE.read_text()).get("control_url")
