"""Small S3 reads every step needs: does this key exist?"""

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


def keys_under(s3, bucket: str, prefix: str) -> set[str]:
    """Every key under a prefix (one request per 1,000 keys)."""
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
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
