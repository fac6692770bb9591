"""One stage in every view: both variants taken through every stage on the local cloud, and at each `scribe list`,
`scribe status`, `scribe note`, `scribe review list` and the review page's worklist name the same one."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from clinical.review import note_of, read_review, send_back, sign
from clinical.revisions import Changes
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultPlan
from review_desk.desk import ReviewDesk
from review_desk.pages import worklist_page
from scribe.cli import main
from scribe.encounters import status_of
from scribe.target import Target
from tests.localcloud.conftest import STACKS, deploy_both, keys, upload

AUDIO = b"RIFF....WAVEfmt stages dictation"
CLINICIAN = "arn:aws:iam::123456789012:user/dr-okafor"
VARIANTS = dict(zip(("choreography", "orchestration"), STACKS, strict=True))


@pytest.fixture
def cloud(cdk_out):
    with LocalCloud(cdk_out, faults=FaultPlan(seed=11)) as cloud:
        deploy_both(cloud, AUDIO)
        yield cloud


def scribe(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def scribe_json(*args: str):
    result = scribe(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def views(encounter_id: str) -> dict[str, dict[str, str]]:
    """Per variant, the stage each view names for the encounter (a view that does not show it is left out)."""
    seen: dict[str, dict[str, str]] = {variant: {} for variant in VARIANTS}
    for item in scribe_json("list"):
        if item["encounter_id"] == encounter_id:
            seen[item["variant"]]["list"] = item["stage"]
    for item in scribe_json("status", encounter_id):
        seen[item["variant"]]["status"] = item["stage"]
    for variant in VARIANTS:
        shown = scribe("note", encounter_id, "--variant", variant)
        if shown.exit_code == 0:
            header = shown.stdout.splitlines()[0]  # == <id> (<variant>, version <n>, <STAGE>)
            seen[variant]["note"] = header.rsplit(", ", 1)[1].removesuffix(")")
    for item in scribe_json("review", "list", "--all"):
        if item["encounter_id"] == encounter_id:
            seen[item["variant"]]["review list"] = item["stage"]
    target = Target(region="us-east-1", local=True)
    desk = ReviewDesk({variant: target.deployment(variant) for variant in VARIANTS})
    worklist = desk.page(everything=True, size=1000)
    page = worklist_page(worklist, desk.now(), everything=True)
    for item in worklist.items:
        if item.encounter_id == encounter_id:
            seen[item.variant]["worklist"] = item.stage
            assert f"data-variant='{item.variant}'><td><a href='notes/{item.variant}/{encounter_id}'>" in page
            assert f"<td class=status>{item.stage}</td>" in page
    return seen


REVIEW_VIEWS = {"list", "status", "note", "review list", "worklist"}


def assert_agree(encounter_id: str, stage: str, shown_by: set[str]) -> None:
    for variant, seen in views(encounter_id).items():
        assert seen == dict.fromkeys(shown_by, stage), (encounter_id, variant)


def stage_in_both(cloud: LocalCloud, encounter_id: str, stage: str) -> bool:
    target = Target(region="us-east-1", local=True)
    return all(status_of(target.deployment(v), encounter_id).stage == stage for v in VARIANTS)


def test_every_view_names_the_same_stage_at_every_stage_in_both_variants(cloud):
    s3, sfn = cloud.client("s3"), cloud.client("stepfunctions")

    def act(action, encounter_id: str, **details) -> None:
        for stack in STACKS:
            bucket = cloud.outputs[stack]["EncounterBucketName"]
            action(s3, bucket, encounter_id, clinician=CLINICIAN, stepfunctions=sfn,
                   bus=cloud.outputs[stack]["DomainEventBusName"], **details)  # fmt: skip

    # RECEIVED: the audio, and nothing has taken it in yet.
    for stack in STACKS:
        upload(cloud, stack, "audio/enc-1.wav", AUDIO)
        upload(cloud, stack, "audio/enc-3.wav", AUDIO)
    assert_agree("enc-1", "RECEIVED", {"list", "status"})

    # TRANSCRIBING: the job runs until the test lets it finish.
    job_seconds, cloud.transcribe.job_seconds = cloud.transcribe.job_seconds, lambda _audio_seconds: 10**7
    cloud.run_until(lambda: stage_in_both(cloud, "enc-1", "TRANSCRIBING"), horizon=600)
    assert_agree("enc-1", "TRANSCRIBING", {"list", "status"})

    # AWAITING_REVIEW: the draft's review opened.
    cloud.transcribe.job_seconds = job_seconds
    for job in cloud.transcribe.pending.values():
        job.due_at = cloud.clock.epoch()
    cloud.run_until_quiet()
    for encounter_id in ("enc-1", "enc-3"):
        assert_agree(encounter_id, "AWAITING_REVIEW", REVIEW_VIEWS)

    # REDRAFTING: sent back, decided in the record before anything else moves.
    act(send_back, "enc-1", reason="Add the follow-up visit.")
    assert_agree("enc-1", "REDRAFTING", REVIEW_VIEWS)
    cloud.run_until_quiet()
    assert_agree("enc-1", "AWAITING_REVIEW", REVIEW_VIEWS)
    [orchestration] = [s for s in scribe_json("status", "enc-1") if s["variant"] == "orchestration"]
    moments = [moment["what"] for moment in orchestration["timeline"]]
    assert "AwaitReview woken by NoteSentBack" in moments and not any("failed" in m for m in moments)
    assert "sent back" in moments and "drafted again after a send-back (version 2)" in moments

    # SIGNED: the version under review, as the clinician left it.
    for stack in STACKS:
        bucket = cloud.outputs[stack]["EncounterBucketName"]
        record = read_review(s3, bucket, "enc-1")[0]
        flagged = [flag.statement for flag in note_of(s3, bucket, record).flagged if flag.statement]
        sign(s3, bucket, "enc-1", clinician=CLINICIAN, changes=Changes(accepted=flagged), stepfunctions=sfn,
             bus=cloud.outputs[stack]["DomainEventBusName"])  # fmt: skip
    assert_agree("enc-1", "SIGNED", REVIEW_VIEWS)
    cloud.run_until_quiet()
    assert_agree("enc-1", "SIGNED", REVIEW_VIEWS)
    signed = scribe("note", "enc-1", "--variant", "orchestration").stdout
    assert f"*** SIGNED by {CLINICIAN} at " in signed and "DRAFT - AI-generated" not in signed

    # REVIEW_EXPIRED: nobody acted on enc-3 within its window (each variant keeps the deadline its own way).
    cloud.run_for(73 * 3600)
    assert_agree("enc-3", "REVIEW_EXPIRED", REVIEW_VIEWS)
    expired = scribe("note", "enc-3", "--variant", "choreography").stdout
    assert "DRAFT - AI-generated" in expired, "the draft stands, unsigned"
    assert_agree("enc-1", "SIGNED", REVIEW_VIEWS)

    # DRAFTING, then FAILED with its reason: the model throttles every call of enc-2's draft.
    cloud.faults.rates["bedrock_throttle"] = 1.0
    for stack in STACKS:
        upload(cloud, stack, "audio/enc-2.wav", AUDIO)
    cloud.run_until(lambda: stage_in_both(cloud, "enc-2", "DRAFTING"), horizon=3600)
    assert_agree("enc-2", "DRAFTING", {"list", "status"})
    cloud.run_until_quiet()
    assert_agree("enc-2", "FAILED", {"list", "status"})
    for item in scribe_json("list"):
        if item["encounter_id"] == "enc-2":
            assert item["failure"] == "FAILED: NoteModelThrottled at note", item
    for stack in STACKS:
        assert keys(cloud, stack, "signed/") == ["signed/enc-1.json"]
