"""A person's requests to the local cloud's endpoint are authorized as AWS authorizes them.

The pipeline's own calls are checked in process (localcloud.access); the local cloud's clients (its
pollers, the tests, `scribe --local`, the CDK CLI) sign with the offline credentials and act as the
account's administrator, unchecked. A client that signs with credentials from `sts:AssumeRole` on the
local cloud (a clinician's role, say) is someone else: their S3 object writes (PutObject, each step of a
multipart upload) are decided with that role's identity policies, the bucket policy and the key policy,
as on AWS, and a refused one answers S3's 403 `AccessDenied`. So `aws s3 cp`, boto3's `upload_file` or
any other client can be tried against the bucket's write-once rule with the client itself.

Only the requests that create objects are parsed (S3's REST form: method, path, query, headers) and
checked; a copy (CopyObject, UploadPartCopy: the source's read is not modelled) is answered 501, never
allowed unchecked. Other requests with such credentials (the CDK CLI's bootstrap roles looking up a stack,
say) are not checked, as the local cloud's own are not.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, unquote

from localcloud import moto_patches
from localcloud.access import AccessControl, AccessDenied
from localcloud.iam_policy import Principal

# The CDK CLI's bootstrap roles (file publishing, deploy, lookup): the deployer's tooling, whose grants the
# local bootstrap does not model; they act as the administrator, like the local cloud's own clients.
CDK_TOOLKIT_ROLES = "cdk-hnb659fds-"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def _access_key(environ: dict) -> str | None:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    credential = query.get("X-Amz-Credential", [""])[0]
    return credential.split("/", 1)[0] or None


def assumed_role_of(access_key: str, account: str) -> Principal | None:
    """The role a set of temporary credentials from the local cloud's STS stands for, or None."""
    from moto.sts.models import sts_backends

    for role in sts_backends[account]["global"].assumed_roles:
        if role.access_key_id == access_key:
            return Principal(role.role_arn, account, session=role.session_name)
    return None


def s3_operation(environ: dict) -> tuple[str, dict] | None:
    """The S3 object-creation operation and its parameters of a path-style REST request, or None."""
    path = environ.get("PATH_INFO", "")
    bucket, _, key = path.lstrip("/").partition("/")
    host = environ.get("HTTP_HOST", "").split(":")[0]
    if host.endswith(".localhost") or (host.count(".") and not re.fullmatch(r"[\d.]+", host)):
        bucket, key = host.split(".", 1)[0], path.lstrip("/")  # virtual-hosted style
    key = unquote(key)
    if not bucket or not key:
        return None
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    method = environ.get("REQUEST_METHOD", "")
    params = {"Bucket": bucket, "Key": key}
    for header, name in (("HTTP_IF_NONE_MATCH", "IfNoneMatch"), ("HTTP_IF_MATCH", "IfMatch")):
        if header in environ:
            params[name] = environ[header]
    copies = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if method == "PUT" and "uploadId" in query and "partNumber" in query:
        operation = "UploadPartCopy" if copies else "UploadPart"
        params.update(UploadId=query["uploadId"][0], PartNumber=int(query["partNumber"][0]))
    elif method == "PUT" and not set(query) & {"tagging", "acl", "retention", "legal-hold"}:
        operation = "CopyObject" if copies else "PutObject"
    elif method == "POST" and "uploads" in query:
        operation = "CreateMultipartUpload"
    elif method == "POST" and "uploadId" in query:
        operation = "CompleteMultipartUpload"
        params["UploadId"] = query["uploadId"][0]
    elif method == "DELETE" and "uploadId" in query:
        operation = "AbortMultipartUpload"
        params["UploadId"] = query["uploadId"][0]
    else:
        return None
    return operation, params


def _answer(start_response, status: str, code: str, message: str) -> list[bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        "<RequestId>local-cloud-access-denied</RequestId></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


@contextlib.contextmanager
def people_are_checked_at_the_endpoint(access: AccessControl) -> Iterator[None]:
    """Installs the check in front of the endpoint's request dispatcher."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    real = DomainDispatcherApplication.__call__

    def __call__(self, environ, start_response):
        access_key = _access_key(environ)
        principal = assumed_role_of(access_key, access.account) if access_key else None
        if principal is None or principal.arn.split("/")[-1].startswith(CDK_TOOLKIT_ROLES):
            return real(self, environ, start_response)
        operation = s3_operation(environ) if _is_s3(environ) else None
        if operation is None:  # not an object write: unchecked, as for the local cloud's own clients
            return real(self, environ, start_response)
        name, params = operation
        if name in ("CopyObject", "UploadPartCopy"):
            return _answer(start_response, "501 Not Implemented", "NotImplemented", f"{name} is not modelled")
        try:
            if name == "AbortMultipartUpload":
                access.require(principal, "s3:AbortMultipartUpload", _object_arn(access, params), code="AccessDenied")
            else:
                access.authorize_call(principal, "s3", name, params)
        except AccessDenied as denied:
            return _answer(start_response, "403 Forbidden", "AccessDenied", str(denied))
        return real(self, environ, start_response)

    with moto_patches.replace("moto.moto_server.werkzeug_app.DomainDispatcherApplication.__call__", __call__):
        yield


def _is_s3(environ: dict) -> bool:
    """botocore signs S3 requests for the service `s3` (SigV4 credential scope .../s3/aws4_request)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "") + environ.get("QUERY_STRING", "")
    return "/s3/aws4_request" in authorization or "%2Fs3%2Faws4_request" in authorization


def _object_arn(access: AccessControl, params: dict) -> str:
    return f"arn:{access.partition}:s3:::{params['Bucket']}/{params['Key']}"


def uploader_credentials(client, buckets: list[str], key_arns: list[str], name: str = "clinician") -> dict[str, str]:
    """Temporary credentials (boto3 client arguments) of a role that may upload audio to the buckets: what a
    person uploading needs (docs/scribe.md): s3:PutObject and s3:AbortMultipartUpload on audio/*, and the
    stacks' keys for SSE-KMS. `client` makes the local cloud's own clients. The role is made once per process."""
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role_arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [f"arn:aws:s3:::{bucket}/audio/*" for bucket in buckets],
            },
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key_arns},
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="upload-audio", PolicyDocument=json.dumps(policy))
    credentials = client("sts").assume_role(RoleArn=role_arn, RoleSessionName="dr-example")["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }
