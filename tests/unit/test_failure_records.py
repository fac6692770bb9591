"""One terminal record per upload, whichever component sees it first, and EncounterFailures counts it once."""

from datetime import UTC, datetime
from unittest.mock import patch

import pytest

from choreography import start_transcription
from clinical import failures
from clinical.errors import ContractViolation
from clinical.layout import rejected_upload_failure_key
from clinical.reconcile import take_in_lost_uploads
from clinical.steps.uploads import accept_upload
from tests.support.events import object_created, sqs_event
from tests.unit.conftest import BUCKET


def handler_sees(cloud, lambda_context, key):
    start_transcription.handler(sqs_event(object_created(BUCKET, key)), lambda_context)


def sweep_sees(cloud, key):
    """The sweep listed the upload before any record landed (it runs beside the event, not after it)."""
    take_in_lost_uploads(
        cloud.s3,
        BUCKET,
        [key],
        take_in=lambda k: accept_upload(cloud.s3, bucket=BUCKET, key=k),
        stage_of=lambda error: "intake" if isinstance(error, ContractViolation) else "transcription",
        variant="choreography",
        now=datetime.now(UTC),
    )


@pytest.mark.parametrize("first", ["handler", "sweep"])
@pytest.mark.parametrize(("key", "record"), [("audio/enc-7.txt", "failures/enc-7.json"), ("audio/bad name.wav", None)])
def test_a_rejected_upload_seen_by_handler_and_sweep_is_recorded_and_counted_once(
    cloud, lambda_context, first, key, record
):
    record = record or rejected_upload_failure_key(key)
    cloud.put_audio(key)
    counted = []
    real_add_metric = failures.metrics.add_metric

    def add_metric(name, **kwargs):
        counted.append(name)
        return real_add_metric(name=name, **kwargs)

    with patch.object(failures.metrics, "add_metric", side_effect=add_metric):
        seen = [lambda: handler_sees(cloud, lambda_context, key), lambda: sweep_sees(cloud, key)]
        for see in seen if first == "handler" else reversed(seen):
            see()
    assert cloud.keys("failures/") == [record]
    assert counted.count("EncounterFailures") == 1
    written = cloud.s3.list_object_versions(Bucket=BUCKET, Prefix=record).get("Versions", [])
    assert len(written) == 1, "the second component did not rewrite the record"


def test_a_record_of_another_upload_under_the_same_id_is_replaced_and_counted(cloud, lambda_context):
    cloud.put_audio("audio/enc-8.txt")
    cloud.put_audio("audio/enc-8.aiff")
    handler_sees(cloud, lambda_context, "audio/enc-8.txt")
    handler_sees(cloud, lambda_context, "audio/enc-8.aiff")
    assert cloud.read_json("failures/enc-8.json")["source_key"] == "audio/enc-8.aiff"


def test_a_failure_after_a_redrive_is_recorded_again_but_counted_once(cloud, lambda_context):
    """GIVEN an upload whose failure was recorded and counted, WHEN a redrive removes the record (as
    `scribe redrive` does) and the retry fails the same way, THEN the record is written again and the
    alarm's metric is not counted again; a later upload under the same id is a new failure, counted."""
    counted = []
    real_add_metric = failures.metrics.add_metric

    def add_metric(name, **kwargs):
        counted.append(name)
        return real_add_metric(name=name, **kwargs)

    cloud.put_audio("audio/enc-9.txt")
    with patch.object(failures.metrics, "add_metric", side_effect=add_metric):
        handler_sees(cloud, lambda_context, "audio/enc-9.txt")
        cloud.s3.delete_object(Bucket=BUCKET, Key="failures/enc-9.json")  # the redrive
        handler_sees(cloud, lambda_context, "audio/enc-9.txt")
        assert cloud.keys("failures/") == ["failures/enc-9.json"]
        assert counted.count("EncounterFailures") == 1
        cloud.s3.delete_object(Bucket=BUCKET, Key="failures/enc-9.json")
        cloud.put_audio("audio/enc-9.aiff")
        handler_sees(cloud, lambda_context, "audio/enc-9.aiff")
    assert counted.count("EncounterFailures") == 2
    written = cloud.s3.list_object_versions(Bucket=BUCKET, Prefix="failures/enc-9.json").get("Versions", [])
    assert len(written) == 3
