"""Hostile and careless inputs, each through both variants, each with the one outcome it must have
(issue 13, item 9). Every case is put into both buckets by a client that bypasses `scribe` (the
local cloud's own client: on AWS the bucket policy refuses some of these writes outright; here they
arrive, to show the pipeline copes anyway). One local cloud runs every case, in two rounds: the
uploads, then what comes after a note exists (re-uploads, forged transcripts)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from localcloud.cloud import LocalCloud
from tests.localcloud.conftest import DICTATION, STACKS

AUDIO = b"RIFF....WAVEfmt hostile suite dictation"
OTHER_AUDIO = b"RIFF....WAVEfmt a different recording"
UNKNOWN_AUDIO = b"RIFF....WAVEfmt audio the stand-in cannot transcribe"
FORGED = json.dumps({"results": {"transcripts": [{"transcript": "Patient is fine. Plan: nothing."}]}}).encode()


@dataclass(frozen=True)
class Case:
    name: str
    first: tuple[tuple[str, bytes], ...]  # objects written in round one
    then: tuple[tuple[str, bytes], ...] = ()  # objects written in round two (after round one is quiet)
    # The records it must end in, exactly: "note:<id>", "failure:<id>:<ErrorType>",
    # "rejected:<key>:<ErrorType>", "quarantine:<key>".
    expect: tuple[str, ...] = ()


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


def records(cloud: LocalCloud, stack: str) -> list[str]:
    """Every terminal record in the bucket, in the expectation's notation."""
    s3, bucket = cloud.client("s3"), cloud.outputs[stack]["EncounterBucketName"]
    found = []
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        key = item["Key"]
        if key.startswith("notes/"):
            found.append(f"note:{key.removeprefix('notes/').removesuffix('.json')}")
        elif key.startswith("failures/"):
            record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            if record.get("kind") == "quarantine":
                found.append(f"quarantine:{record['source_key']}")
            elif key.startswith("failures/_rejected-"):
                found.append(f"rejected:{record['source_key']}:{record['error_type']}")
            else:
                found.append(f"failure:{record['encounter_id']}:{record['error_type']}")
    return sorted(found)


@pytest.fixture(scope="module")
def hostile_run(cdk_out):
    with LocalCloud(cdk_out) as cloud:
        for stack in STACKS:
            cloud.deploy(stack)
        cloud.transcribe.register(AUDIO, DICTATION)
        cloud.transcribe.register(OTHER_AUDIO, "Patient is well. Plan is no change.")
        s3 = cloud.client("s3")
        for round_ in ("first", "then"):
            for case in CASES:
                for key, body in getattr(case, round_):
                    for stack in STACKS:
                        s3.put_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key, Body=body)
            cloud.run_until_quiet()
            cloud.run_for(3 * 3600)  # the sweeps and the watchdog have their say
            cloud.run_until_quiet()
        yield {stack: records(cloud, stack) for stack in STACKS}


def test_the_table_has_at_least_forty_cases():
    assert len(CASES) >= 40 and len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_input_ends_in_exactly_its_records(hostile_run, stack, case):
    expected = set(case.expect)
    found = set(hostile_run[stack])
    assert expected <= found, f"missing: {sorted(expected - found)}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_record_beyond_what_the_cases_expect(hostile_run, stack):
    """Exactly one terminal record per expectation: nothing for an id nobody uploaded, nothing twice."""
    expected = sorted(record for case in CASES for record in case.expect)
    assert hostile_run[stack] == expected
