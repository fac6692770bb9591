"""The AWS a cold path talks to, inside its own process: every call is answered before it leaves (botocore's
`before-call` event, the hook botocore's own Stubber uses), S3 by a small object store, anything else by the
scenario's canned responses. Both sides of the bench load it, and it is kept to the standard library and
botocore so that it costs them the same."""

from __future__ import annotations

import hashlib
import io
import sys
from datetime import UTC, datetime, timedelta

from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

# When the encounter's objects were written, within the sweeps' windows: read once, in the bench's process. The
# scenario carries it to each cold path (`stored_at`), whose own clock may read another hour by then: a start date
# from the bench's hour beside a LastModified from the next made the upload "written again" (a failure path).
STORED_AT = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


class UnansweredCall(Exception):
    """A call its scenario has no canned response for."""


def error(status: int, code: str) -> dict:
    return {"HTTPStatusCode": status, "Error": {"Code": code, "Message": code}}


class CannedAws:
    """Answers calls: S3 from `objects` (key -> bytes, one bucket), the rest from `responses`
    (`<service>.<Operation>` -> responses; successive calls take them in order, the last one repeating)."""

    def __init__(self, objects: dict[str, bytes], responses: dict[str, list[dict]], stored_at: datetime = STORED_AT):
        self.stored_at = stored_at
        self.objects = dict(objects)
        self.responses = {operation: list(replies) for operation, replies in responses.items()}
        self.made: list[tuple[str, str, dict]] = []

    def install(self, events) -> None:
        """Answer every call of the clients made from the session whose event system this is."""
        events.register("before-parameter-build", self.record)
        events.register("before-call", self.answer)

    def record(self, model, params, **_kwargs) -> None:
        params = dict(params)
        if hasattr(params.get("Body"), "getvalue"):
            params["Body"] = params["Body"].getvalue()  # a stream is read once: keep what it held
        self.made.append((model.service_model.service_name, model.name, params))

    def answer(self, model, **_kwargs):
        service, operation = model.service_model.service_name, model.name
        parameters = self.made[-1][2] if self.made and self.made[-1][1] == operation else {}
        if service == "s3" and hasattr(self, f"s3_{operation}"):
            reply = getattr(self, f"s3_{operation}")(**parameters)
        else:
            replies = self.responses.get(f"{service}.{operation}")
            if not replies:
                print(f"no canned response for {service}.{operation}", file=sys.stderr)  # handlers hide the text
                raise UnansweredCall(f"no canned response for {service}.{operation}")
            reply = dict(replies.pop(0) if len(replies) > 1 else replies[0])
        status = reply.pop("HTTPStatusCode", 200)
        if isinstance(reply.get("Body"), bytes):
            reply["Body"] = StreamingBody(io.BytesIO(reply["Body"]), len(reply["Body"]))
        reply["ResponseMetadata"] = {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
        return AWSResponse(None, status, {}, None), reply

    @staticmethod
    def etag(body: bytes) -> str:
        return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'

    def described(self, key: str) -> dict:
        body = self.objects[key]
        return {
            "ETag": self.etag(body),
            "ContentLength": len(body),
            "LastModified": self.stored_at,
            "ContentType": "application/json",
            "VersionId": self.etag(body)[1:17],
            "Metadata": {},
        }

    def s3_GetObject(self, Key, IfMatch=None, **_):
        if Key not in self.objects:
            return error(404, "NoSuchKey")
        if IfMatch and IfMatch != self.etag(self.objects[Key]):
            return error(412, "PreconditionFailed")
        return {**self.described(Key), "Body": self.objects[Key]}

    def s3_HeadObject(self, Key, **_):
        return self.described(Key) if Key in self.objects else error(404, "404")

    def s3_PutObject(self, Key, Body=b"", IfNoneMatch=None, IfMatch=None, **_):
        if IfNoneMatch == "*" and Key in self.objects:
            return error(412, "PreconditionFailed")
        if IfMatch and (Key not in self.objects or IfMatch != self.etag(self.objects[Key])):
            return error(412, "PreconditionFailed")
        body = Body.encode() if isinstance(Body, str) else Body if isinstance(Body, bytes) else Body.read()
        self.objects[Key] = body
        return {"ETag": self.etag(body), "VersionId": self.etag(body)[1:17]}

    def s3_CopyObject(self, Key, CopySource, **_):
        source = CopySource["Key"] if isinstance(CopySource, dict) else CopySource.split("/", 1)[1]
        if source not in self.objects:
            return error(404, "NoSuchKey")
        self.objects[Key] = self.objects[source]
        return {"CopyObjectResult": {"ETag": self.etag(self.objects[Key]), "LastModified": self.stored_at}}

    def s3_DeleteObject(self, Key, **_):
        self.objects.pop(Key, None)
        return {}

    def s3_ListObjectsV2(self, Prefix="", **_):
        keys = sorted(key for key in self.objects if key.startswith(Prefix))
        contents = [
            {
                "Key": key,
                "LastModified": self.stored_at,
                "ETag": self.etag(self.objects[key]),
                "Size": len(self.objects[key]),
            }
            for key in keys
        ]
        return {"Contents": contents, "KeyCount": len(keys), "IsTruncated": False, "Prefix": Prefix}

    def s3_ListObjectVersions(self, Prefix="", **_):
        """The current version of each object (the store keeps no older ones, nor delete markers)."""
        keys = sorted(key for key in self.objects if key.startswith(Prefix))
        versions = [{**self.described(key), "Key": key, "IsLatest": True} for key in keys]
        return {"Versions": versions, "DeleteMarkers": [], "IsTruncated": False, "Prefix": Prefix}
