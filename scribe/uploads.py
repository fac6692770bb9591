"""Uploading dictations: the encounter contract is checked before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import filetype

from clinical.errors import ContractViolation, EmptyAudio, UnsupportedAudioFormat
from clinical.layout import (
    AUDIO_PREFIX,
    LONGEST_RECORDING_SECONDS,
    RECORDING_SECONDS_METADATA,
    failure_key,
    note_key,
    parse_audio_key,
)
from clinical.templates import DEFAULT_TEMPLATE, TEMPLATE_METADATA, template_named
from scribe.target import Deployment

# What filetype names a file of each format Transcribe Medical takes (clinical.layout.MEDIA_FORMATS), by its header:
# an MPEG-4 file of audio alone is an m4a.
HEADER_KINDS = {"mp4": {"mp4", "m4a"}}


def check_header(path: Path, media_format: str) -> None:
    """The file is audio of the format its name claims, by its first bytes; raises UnsupportedAudioFormat."""
    kind = filetype.guess(str(path))
    if kind is None or kind.extension not in HEADER_KINDS.get(media_format, {media_format}):
        found = f" but {kind.extension} ({kind.mime})" if kind else ", nor any format known"
        raise UnsupportedAudioFormat(f"by its header, the file is not {media_format} audio{found}")


@dataclass(frozen=True)
class PlannedUpload:
    path: Path
    encounter_id: str
    key: str
    template: str = DEFAULT_TEMPLATE


def plan_uploads(
    paths: list[Path], encounter_id: str | None = None, template: str = DEFAULT_TEMPLATE
) -> list[PlannedUpload]:
    """Check every file against the contract (its name, its size, its header), and the note template; raises
    ContractViolation (naming the file) or UnknownTemplate before any upload."""
    template = template_named(template).name
    if encounter_id is not None and len(paths) != 1:
        raise ContractViolation("--encounter-id names one encounter: give exactly one file with it")
    planned, seen = [], {}
    for path in paths:
        if not path.is_file():
            raise ContractViolation(f"{path}: no such file")
        stem = encounter_id or path.stem
        try:
            upload = parse_audio_key(f"{AUDIO_PREFIX}{stem}{path.suffix.lower()}")
            if path.stat().st_size == 0:
                raise EmptyAudio("the audio file is empty")
            check_header(path, upload.media_format)
        except ContractViolation as error:
            raise type(error)(f"{path}: {error.message}") from None
        if upload.encounter_id in seen:
            raise ContractViolation(
                f"{path} and {seen[upload.encounter_id]} would both be encounter {upload.encounter_id}"
            )
        seen[upload.encounter_id] = path
        planned.append(PlannedUpload(path, upload.encounter_id, upload.key, template))
    return planned


class EncounterIdInUse(ContractViolation):
    """The deployment already has an upload, a note or a failure record under this encounter id."""


def refuse_ids_in_use(deployment: Deployment, planned: list[PlannedUpload]) -> None:
    """Uploads are immutable facts: an encounter id with audio, a note or a failure record is in use, and
    new audio for it (a re-recording, another format) goes under a new id. Raises EncounterIdInUse."""
    s3 = deployment.client("s3")
    for item in planned:
        found = [
            o["Key"]
            for prefix in (
                f"{AUDIO_PREFIX}{item.encounter_id}.",
                note_key(item.encounter_id),
                failure_key(item.encounter_id),
            )
            for o in s3.list_objects_v2(Bucket=deployment.bucket, Prefix=prefix).get("Contents", [])
        ]
        if found:
            raise EncounterIdInUse(
                f"encounter id {item.encounter_id} is in use in {deployment.variant} ({found[0]}): upload the new "
                f"audio under a new encounter id (--encounter-id {item.encounter_id}-2)"
            )


def upload(deployment: Deployment, planned: PlannedUpload) -> None:
    """Server-side encrypted with the stack's own KMS key, and only if no object has that key yet
        (If-None-Match: *): an upload never replaces another (S3 answers 412 PreconditionFailed). The note
        template rides along as object metadata, which the pipeline reads when it drafts the note, and a WAV file's
    length (`declared_length`)."""
    with planned.path.open("rb") as body:
        deployment.client("s3").put_object(
            Bucket=deployment.bucket,
            Key=planned.key,
            Body=body,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=deployment.outputs["KmsKeyArn"],
            IfNoneMatch="*",
            Metadata={TEMPLATE_METADATA: planned.template, **declared_length(planned.path)},
        )


def declared_length(path: Path) -> dict[str, str]:
    """A WAV file's length, read from its header, as the upload's x-amz-meta-recording-seconds: the pipeline
    places the upload in line for a Transcribe slot by when its visit began (clinical.waiting_line). Other
    formats declare none (their length is not in a header the standard library reads): placed at the upload."""
    import wave

    try:
        with wave.open(str(path)) as recording:
            seconds = recording.getnframes() / float(recording.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError, OSError):
        return {}
    if not 0 < seconds <= LONGEST_RECORDING_SECONDS:
        return {}
    return {RECORDING_SECONDS_METADATA: str(round(seconds))}


def write_once(s3_client):
    """An S3 client whose object writes carry If-None-Match: * (PutObject and CompleteMultipartUpload,
    the two requests that create an object), so boto3's transfer manager (`upload_file`, `upload_fileobj`)
    meets the bucket's write-once rule on audio/ below and above its multipart threshold. The pinned
    s3transfer refuses IfNoneMatch in ExtraArgs; a parameter-build hook on the client is what works."""

    def if_none_match(params, **_kwargs):
        params.setdefault("IfNoneMatch", "*")

    for operation in ("PutObject", "CompleteMultipartUpload"):
        s3_client.meta.events.register(f"before-parameter-build.s3.{operation}", if_none_match)
    return s3_client
