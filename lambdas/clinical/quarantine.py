"""Objects the pipeline did not make, found where only the pipeline writes (transcripts/, reviews/): set aside
with a record and an alarm, never acted on, and never a failure of an encounter nobody uploaded."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from clinical.failures import SourceKey
from clinical.layout import FAILURES_PREFIX, key_reference
from clinical.objects import lost_the_race
from clinical.observability import MetricUnit, logger, metrics


class QuarantineRecord(BaseModel):
    """failures/_quarantine-<digest>.json. The reason is the pipeline's own text: it never holds PHI; the
    source is a `key_reference` (a key that names no encounter is kept as its digest)."""

    # Built when an object is first set aside, not at every cold start (pydantic's defer_build): docs/performance.md.
    model_config = ConfigDict(defer_build=True)

    schema_version: Literal["1"] = "1"
    kind: Literal["quarantine"] = "quarantine"
    source_key: SourceKey
    source_version_id: str | None
    variant: str
    reason: str
    recorded_at: datetime


def quarantine_key(source_key: str, version_id: str | None) -> str:
    """One record per offending object version; '_' cannot start an encounter id, so it never collides."""
    digest = hashlib.sha256(f"{key_reference(source_key)}\0{version_id or ''}".encode()).hexdigest()[:20]
    return f"{FAILURES_PREFIX}_quarantine-{digest}.json"


def quarantine(s3, bucket: str, *, source_key: str, version_id: str | None, variant: str, reason: str) -> str:
    """Record the object as set aside (the QuarantinedObjects alarm fires); returns the record's key."""
    record = QuarantineRecord(
        source_key=source_key,
        source_version_id=version_id,
        variant=variant,
        reason=reason,
        recorded_at=datetime.now(UTC),
    )
    key = quarantine_key(source_key, version_id)
    try:
        # Once per object version: a second component (or delivery) that meets it neither rewrites nor counts it.
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=record.model_dump_json(indent=2).encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except ClientError as error:
        if not lost_the_race(error):
            raise
        logger.info("object already quarantined", extra={"record": key})
        return key
    metrics.add_metric(name="QuarantinedObjects", unit=MetricUnit.Count, value=1)
    logger.warning("object quarantined", extra={"record": key})
    return key
