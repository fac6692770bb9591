"""Make moto's S3 answer at the cost of what it answers: not of the whole bucket, not of re-reading its URL table."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from moto.s3.models import S3Backend

from localcloud import moto_patches

CUSTOM_ENDPOINTS = "MOTO_S3_CUSTOM_ENDPOINTS"  # the one setting moto.s3.urls reads


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


@contextlib.contextmanager
def url_table_read_once() -> Iterator[None]:
    """moto 5.2.5 re-executes moto.s3.urls (importlib.reload: a stat and a read of its byte code) on every
    S3 request, to pick up MOTO_S3_CUSTOM_ENDPOINTS should it have changed. The module is reloaded only
    when that variable did change."""
    from importlib import reload

    import moto.s3.urls as urls

    reloaded_for = [object()]

    def _url_module(_backend):
        endpoints = os.environ.get(CUSTOM_ENDPOINTS)
        if endpoints != reloaded_for[0]:
            reload(urls)
            reloaded_for[0] = endpoints
        return urls

    with moto_patches.replace("moto.s3.models.S3Backend._url_module", property(_url_module)):
        yield
