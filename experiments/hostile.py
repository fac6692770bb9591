"""The hostile table (issue 13, item 9): careless and hostile inputs, each with the one outcome it must
have, in the notation `records()` reads back. One source for the table's test
(tests/localcloud/test_hostile_inputs.py) and for `scribe compare --faults hostile`, which mixes the
cases into a workload. Every case writes its objects with a client that bypasses `scribe` (on AWS the
bucket policy refuses some of these writes outright; here they arrive, to show the pipeline copes
anyway), in two rounds: `first`, then `then` once round one is quiet (re-uploads, forged transcripts).
No id here can be one of a workload's (enc-NNNN)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from clinical.layout import key_reference

AUDIO = b"RIFF....WAVEfmt hostile suite dictation"
OTHER_AUDIO = b"RIFF....WAVEfmt a different recording"
UNKNOWN_AUDIO = b"RIFF....WAVEfmt audio the stand-in cannot transcribe"
FORGED = json.dumps({"results": {"transcripts": [{"transcript": "Patient is fine. Plan: nothing."}]}}).encode()
# What the Transcribe stand-in hears in each recording (UNKNOWN_AUDIO is deliberately absent: its job fails).
TRANSCRIPTS = {
    AUDIO: (
        "Patient is a 61 year old woman who reports a week of burning on urination and no fever. "
        "Temperature is 37.1 and there is mild suprapubic tenderness on exam. "
        "Assessment is uncomplicated cystitis. "
        "Plan is nitrofurantoin 100 milligrams twice daily for 5 days and a urine culture."
    ),
    OTHER_AUDIO: "Patient is well. Plan is no change.",
}


@dataclass(frozen=True)
class Case:
    name: str
    first: tuple[tuple[str, bytes], ...]  # objects written in round one
    then: tuple[tuple[str, bytes], ...] = ()  # objects written in round two (after round one is quiet)
    # The records it must end in, exactly: "note:<id>", "failure:<id>:<ErrorType>",
    # "rejected:<key>:<ErrorType>", "quarantine:<key>".
    expect: tuple[str, ...] = ()

    @property
    def expected_records(self) -> tuple[str, ...]:
        """`expect` as `records()` reads the bucket back: a record names a key that is no encounter's
        by its digest (clinical.layout.key_reference), never by the name itself."""
        return tuple(_as_recorded(record) for record in self.expect)


def _as_recorded(record: str) -> str:
    kind, _, rest = record.partition(":")
    if kind == "rejected":
        key, _, error_type = rest.rpartition(":")
        return f"rejected:{key_reference(key)}:{error_type}"
    if kind == "quarantine":
        return f"quarantine:{key_reference(rest)}"
    return record


def upload_case(name: str, key: str, body: bytes = AUDIO, **kw) -> Case:
    return Case(name, ((key, body),), **kw)


CASES = [
    # Valid uploads, in every accepted format and spelling.
    upload_case("wav", "audio/h-wav.wav", expect=("note:h-wav",)),
    upload_case("upper-case extension", "audio/h-upper.WAV", expect=("note:h-upper",)),
    upload_case("flac", "audio/h-flac.flac", expect=("note:h-flac",)),
    upload_case("mp3", "audio/h-mp3.mp3", expect=("note:h-mp3",)),
    upload_case("mp4", "audio/h-mp4.mp4", expect=("note:h-mp4",)),
    upload_case("ogg", "audio/h-ogg.ogg", expect=("note:h-ogg",)),
    upload_case("webm", "audio/h-webm.webm", expect=("note:h-webm",)),
    upload_case("amr", "audio/h-amr.amr", expect=("note:h-amr",)),
    upload_case("underscores and case", "audio/H_Mixed_9.wav", expect=("note:H_Mixed_9",)),
    upload_case("80-character id", f"audio/{'l' * 80}.wav", expect=(f"note:{'l' * 80}",)),
    upload_case("digits only", "audio/20261202.wav", expect=("note:20261202",)),
    # A valid id with a file that breaks the contract: the encounter's own failure record.
    upload_case("text file", "audio/h-txt.txt", expect=("failure:h-txt:UnsupportedAudioFormat",)),
    upload_case("m4a (not medical)", "audio/h-m4a.m4a", expect=("failure:h-m4a:UnsupportedAudioFormat",)),
    upload_case("aiff", "audio/h-aiff.aiff", expect=("failure:h-aiff:UnsupportedAudioFormat",)),
    upload_case("no extension", "audio/h-noext", expect=("failure:h-noext:UnsupportedAudioFormat",)),
    upload_case("empty file", "audio/h-empty.wav", b"", expect=("failure:h-empty:EmptyAudio",)),
    upload_case("audio nobody can transcribe", "audio/h-unknown.wav", UNKNOWN_AUDIO,
                expect=("failure:h-unknown:TranscriptionJobFailed",)),
    # Keys without a valid id: one rejected-upload record each, never a record for another id.
    upload_case("space in the name", "audio/has space.wav", expect=("rejected:audio/has space.wav:InvalidEncounterId",)),
    upload_case("plus in the name", "audio/a+b.wav", expect=("rejected:audio/a+b.wav:InvalidEncounterId",)),
    upload_case("percent escape", "audio/b11%41pct.wav", expect=("rejected:audio/b11%41pct.wav:InvalidEncounterId",)),
    upload_case("leading dash", "audio/-lead.wav", expect=("rejected:audio/-lead.wav:InvalidEncounterId",)),
    upload_case("81-character id", f"audio/{'m' * 81}.wav",
                expect=(f"rejected:audio/{'m' * 81}.wav:InvalidEncounterId",)),
    upload_case("non-ASCII", "audio/ünï.wav", expect=("rejected:audio/ünï.wav:InvalidEncounterId",)),
    upload_case("nothing before the dot", "audio/.wav", expect=("rejected:audio/.wav:InvalidEncounterId",)),
    upload_case("a folder", "audio/sub/dir.wav", expect=("rejected:audio/sub/dir.wav:InvalidEncounterId",)),
    upload_case("path traversal", "audio/../x.wav", expect=("rejected:audio/../x.wav:InvalidEncounterId",)),
    upload_case("double dot", "audio/h-dd..wav", expect=("rejected:audio/h-dd..wav:InvalidEncounterId",)),
    upload_case("double extension", "audio/h-double.wav.txt",
                expect=("rejected:audio/h-double.wav.txt:UnsupportedAudioFormat",)),
    upload_case("quote in the name", "audio/o'brien.wav", expect=("rejected:audio/o'brien.wav:InvalidEncounterId",)),
    upload_case("unicode dash", "audio/h\u2013dash.wav", expect=("rejected:audio/h\u2013dash.wav:InvalidEncounterId",)),
    # Two uploads for one id.
    Case("the same upload twice at once", (("audio/h-twice.wav", AUDIO), ("audio/h-twice.wav", AUDIO)),
         expect=("note:h-twice",)),
    Case("two formats at once", (("audio/h-pair.wav", AUDIO),), then=(("audio/h-pair.mp3", OTHER_AUDIO),),
         expect=("note:h-pair", "rejected:audio/h-pair.mp3:EncounterIdInUse")),
    Case("re-recorded under the same key", (("audio/h-again.wav", AUDIO),), then=(("audio/h-again.wav", OTHER_AUDIO),),
         expect=("note:h-again", "rejected:audio/h-again.wav:EncounterIdInUse")),
    Case("another format after a failure", (("audio/h-retry.txt", AUDIO),), then=(("audio/h-retry.wav", AUDIO),),
         expect=("note:h-retry",)),  # no job began for the refused file: the new one is the encounter's, its note supersedes the record
    # Objects the pipeline did not make.
    Case("a transcript nobody's job wrote", (("transcripts/h-forged.json", FORGED),),
         expect=("quarantine:transcripts/h-forged.json",)),
    Case("a transcript replaced after its note", (("audio/h-replaced.wav", AUDIO),),
         then=(("transcripts/h-replaced.json", FORGED),),
         expect=("note:h-replaced", "quarantine:transcripts/h-replaced.json")),
    Case("a transcript that is not JSON", (("transcripts/h-notjson.json", b"not json"),),
         expect=("quarantine:transcripts/h-notjson.json",)),
    Case("a transcript key with no id", (("transcripts/not an id.json", FORGED),),
         expect=("quarantine:transcripts/not an id.json",)),
    Case("a transcript for an upload in flight", (("audio/h-early.wav", AUDIO), ("transcripts/h-early.json", FORGED)),
         expect=("note:h-early", "quarantine:transcripts/h-early.json")),
    Case("something outside the layout", (("uploads/h-outside.wav", AUDIO),), expect=()),
]  # fmt: skip


def records(s3, bucket: str) -> list[str]:
    """Every terminal record in the bucket (notes/ and failures/), in the expectation's notation."""
    found = []
    for prefix in ("notes/", "failures/"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found.append(_notation(s3, bucket, item["Key"]))
    return sorted(found)


def _notation(s3, bucket: str, key: str) -> str:
    if key.startswith("notes/"):
        return f"note:{key.removeprefix('notes/').removesuffix('.json')}"
    record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if record.get("kind") == "quarantine":
        return f"quarantine:{record['source_key']}"
    if key.startswith("failures/_rejected-"):
        return f"rejected:{record['source_key']}:{record['error_type']}"
    return f"failure:{record['encounter_id']}:{record['error_type']}"
