"""Small S3 reads every step needs: does this key exist, which keys are under a prefix; and how a moment is
written in a key."""

from datetime import UTC, datetime

from botocore.exceptions import ClientError

# With s3:ListBucket a missing key answers 404 (NoSuchKey from GET); without it, 403. A version that is gone: NoSuchVersion.
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})


# A conditional write lost to a concurrent writer (S3 User Guide, "How to prevent object overwrites with
# conditional writes"): that writer's object stands.
LOST_RACE_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


def is_not_found(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in NOT_FOUND_CODES


def lost_the_race(error: ClientError) -> bool:
    """A conditional write (If-None-Match / If-Match) refused because another writer got there first."""
    return error.response.get("Error", {}).get("Code") in LOST_RACE_CODES


# The most keys one listing returns (ListObjectsV2's MaxKeys ceiling).
LIST_LIMIT = 1000
# A moment in a key (the indexes under index/): fixed width, so S3's lexicographic order is time order.
_MOMENT = "%Y-%m-%dT%H:%M:%S.%fZ"


def key_moment(at: datetime) -> str:
    return at.astimezone(UTC).strftime(_MOMENT)


def moment_of_key(text: str) -> datetime:
    """The moment key_moment wrote (ValueError for any other text)."""
    return datetime.strptime(text, _MOMENT).replace(tzinfo=UTC)


def keys_under(s3, bucket: str, prefix: str, start_after: str | None = None) -> set[str]:
    """Every key under a prefix (after `start_after`, if given: the keys before it are never read), one request
    per 1,000 keys."""
    keys: set[str] = set()
    listing = {"Bucket": bucket, "Prefix": prefix} | ({"StartAfter": start_after} if start_after else {})
    for page in s3.get_paginator("list_objects_v2").paginate(**listing):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def get_if_present(s3, bucket: str, key: str, version_id: str | None = None) -> dict | None:
    """GetObject's response for the key (that version of it, if given), or None when there is no object there."""
    try:
        return s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
    except ClientError as error:
        if is_not_found(error):
            return None
        raise


def object_exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_not_found(error):
            return False
        raise
    return True
