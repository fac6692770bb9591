"""Make moto's S3 answer like AWS at the cost of what it answers, not of the whole bucket."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.s3.models import S3Backend

from localcloud import moto_patches


class _KeysUnder:
    """A bucket as ListObjectVersions sees it: only the names under the prefix asked for."""

    def __init__(self, bucket, prefix: str) -> None:
        self.keys = self
        self._bucket, self._prefix = bucket, prefix

    def iterlists(self):
        return ((name, versions) for name, versions in self._bucket.keys.iterlists() if name.startswith(self._prefix))


class _BucketsUnder:
    def __init__(self, backend: S3Backend, prefix: str) -> None:
        self._backend, self._prefix = backend, prefix

    def get_bucket(self, bucket_name: str) -> _KeysUnder:
        return _KeysUnder(self._backend.get_bucket(bucket_name), self._prefix)


@contextlib.contextmanager
def version_listings_copy_only_their_prefix() -> Iterator[None]:
    """moto 5.2.5's ListObjectVersions deep-copies every version of every object in the bucket, bodies
    included, before it filters by prefix: each listing of `notes/` copied every recording, so a burst's
    memory and time grew with the audio stored. The listing now sees only the names under its prefix
    (the same answer: names outside the prefix are skipped by the real code anyway, and marker
    pagination compares names)."""
    real = S3Backend.list_object_versions

    def list_object_versions(self, bucket_name, prefix="", **listing):
        return real(_BucketsUnder(self, prefix or ""), bucket_name, prefix=prefix, **listing)

    with moto_patches.replace("moto.s3.models.S3Backend.list_object_versions", list_object_versions):
        yield
