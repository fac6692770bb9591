"""`make demo`: the main job on the local cloud.

Deploys both synthesized stacks, uploads the bundled sample dictations to both variants, follows
each encounter to its note, replays a fault scenario, and prints what each variant showed; then the
review: one note signed with an edit and exported as FHIR, one sent back and redrafted, the rest left
to expire, in both variants.
Usage: python -m experiments.demo [cdk.out]
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import boto3
import click
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from clinical import review as reviews
from clinical.layout import rejected_upload_failure_key
from experiments import INTERPRETER_LOG, SAMPLES, upload_name
from localcloud.assets import not_an_assembly
from localcloud.bedrock_converse import LOCAL_MODEL_NOTICE
from localcloud.cdk_cli import deploy_all, free_port
from localcloud.cloud import LocalCloud
from localcloud.cloudformation_shims import APPLIED_AFTER_CREATION
from localcloud.endpoint_access import uploader_credentials
from localcloud.faults import FaultPlan
from localcloud.lambda_runtime import send_handler_output_to
from localcloud.service_model import load_latencies
from review_desk.signin import SESSION_COOKIE
from scribe import cli as scribe_cli
from scribe.uploads import write_once
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK

LATENCIES = load_latencies()
VARIANTS = {"choreography": CHOREOGRAPHY_STACK, "orchestration": ORCHESTRATION_STACK}
FAULT_SCENARIO = FaultPlan(
    rates={"transcribe_start": 0.3, "transcribe_job": 0.34, "bedrock_throttle": 0.6, "bedrock_malformed": 0.2}, seed=5
)


@dataclass
class Outcome:
    result: str
    simulated_seconds: float | None
    evidence: str


def say(text: str = "") -> None:
    print(text, flush=True)


def note(text: str) -> None:
    """What differs from run to run (real seconds, the port): stderr, so stdout is the same every time."""
    print(text, file=sys.stderr, flush=True)


def progress_line(cloud: LocalCloud, expected: int) -> callable:
    def show() -> None:
        parts = []
        for variant, stack in VARIANTS.items():
            done = len(list_keys(cloud, stack, "notes/")) + len(list_keys(cloud, stack, "failures/"))
            parts.append(f"{variant} {done}/{expected} finished")
        line = f"  [{cloud.clock.now() / 60:6.1f} simulated min] " + ", ".join(parts)
        if sys.stdout.isatty():
            print("\r" + line, end="", flush=True)

    return show


def list_keys(cloud: LocalCloud, stack: str, prefix: str) -> list[str]:
    listing = cloud.client("s3").list_objects_v2(Bucket=cloud.outputs[stack]["EncounterBucketName"], Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def read_json(cloud: LocalCloud, stack: str, key: str) -> dict:
    body = cloud.client("s3").get_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key)["Body"]
    return json.loads(body.read())


def dlq_depths(cloud: LocalCloud, stack: str) -> dict[str, int]:
    sqs, depths = cloud.client("sqs"), {}
    for name, url in cloud.outputs[stack].items():
        if name.endswith("DlqUrl"):
            count = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            depths[name.removesuffix("Url")] = int(count["Attributes"]["ApproximateNumberOfMessages"])
    return depths


def execution_of(cloud: LocalCloud, encounter_id: str) -> tuple[str, int, str, str] | None:
    """(status, state transitions, the step that failed, the state it is in or ended in) of the encounter's
    execution."""
    sfn = cloud.client("stepfunctions")
    arn = cloud.outputs[ORCHESTRATION_STACK]["StateMachineArn"].replace(":stateMachine:", ":execution:")
    try:
        described = sfn.describe_execution(executionArn=f"{arn}:{encounter_id}")
    except sfn.exceptions.ExecutionDoesNotExist:
        return None
    events = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    failed_step = next(
        (
            entered[i - 1]
            for i, name in enumerate(entered)
            if name.endswith(("NotStarted", "NotReceived", "JobFailed", "Stalled", "NotWritten"))
        ),
        "",
    )
    return described["status"], len(entered), failed_step, entered[-1] if entered else ""


def outcome(cloud: LocalCloud, variant: str, encounter_id: str, uploaded_at: float, key: str | None = None) -> Outcome:
    """What became of an upload: its note, its failure record, or, for an upload whose `key` has no valid id, the
    rejection recorded for that very key."""
    stack = VARIANTS[variant]
    keys = set(list_keys(cloud, stack, ""))
    execution = execution_of(cloud, encounter_id) if variant == "orchestration" else None
    if f"notes/{encounter_id}.json" in keys:
        note = read_json(cloud, stack, f"notes/{encounter_id}.json")
        at = cloud.clock.at(datetime.fromisoformat(note["provenance"]["created_at"])) - uploaded_at
        evidence = (
            f"execution {execution[0]} at {execution[3]}, {execution[1]} transitions" if execution else "notes/ object"
        )
        return Outcome("note", at, evidence)
    failure_key = f"failures/{encounter_id}.json"
    if failure_key not in keys:
        if key is not None and (rejected := rejected_upload_failure_key(key)) in keys:
            record = read_json(cloud, stack, rejected)
            return Outcome(f"rejected: {record['error_type']}", None, "failure record, no job or execution")
        return Outcome("NO OUTCOME", None, "nothing recorded")
    record = read_json(cloud, stack, failure_key)
    at = cloud.clock.at(datetime.fromisoformat(record["recorded_at"])) - uploaded_at
    if variant == "choreography":
        dlqs = [name for name, depth in dlq_depths(cloud, stack).items() if depth]
        evidence = f"failure record ({record['stage']}, attempts: {record['attempts']})" + (
            f" + {', '.join(dlqs)}" if dlqs else ""
        )
    else:
        evidence = f"execution {execution[0]} at {execution[2]}" if execution else "failure record (intake)"
    return Outcome(f"failed: {record['error_type']}", at, evidence)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        say("  " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            say("  " + "-+-".join("-" * w for w in widths))


def scribe(*args: str) -> int:
    """An operator command, as typed, run against this local cloud (AWS_ENDPOINT_URL points at it)."""
    say(f"$ scribe {' '.join(shlex.quote(a) for a in args)}")
    try:
        code = scribe_cli.main(list(args), standalone_mode=False)
    except click.ClickException as error:
        say(f"Error: {error.format_message()}")
        return error.exit_code
    return code or 0


def run_scenario(
    cloud: LocalCloud,
    title: str,
    commands: list[tuple[list[str], bool]],
    direct: list[tuple[str, bytes]],
    notes_expected: bool = False,
) -> None:
    """Upload with scribe (and `direct` puts, as a client that bypasses scribe would), then follow everything.
    Each command says whether scribe must accept it; with `notes_expected`, every upload scribe accepted must
    end in a note in both variants. Anything else is a broken step: it is named, and the demo exits 1."""
    say(f"\n== {title}")
    cloud.alarms.reset()
    uploaded: dict[str, float] = {}
    for command, must_succeed in commands:
        accepted = scribe(*command) == 0
        if accepted != must_succeed:
            BROKEN_STEPS.append(f"scribe {' '.join(command)} {'failed' if must_succeed else 'was accepted'}")
        if accepted:
            files = [a for a in command[1:] if a.endswith(".wav")]
            ids = [command[command.index("--encounter-id") + 1]] if "--encounter-id" in command else None
            for encounter_id in ids or [Path(f).stem for f in files]:
                uploaded.setdefault(encounter_id, cloud.clock.now())
    s3 = cloud.client("s3")
    accepted_ids, direct_keys = set(uploaded), {}
    for key, body in direct:
        for stack in VARIANTS.values():
            s3.put_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key, Body=body)
        encounter_id = upload_name(key)
        uploaded.setdefault(encounter_id, cloud.clock.now())
        direct_keys.setdefault(encounter_id, key)
        say(f"(a client that bypasses scribe puts {key!r} straight into both buckets)")
    expected = len(uploaded)
    started = time.monotonic()
    simulated = cloud.run_until_quiet(progress=progress_line(cloud, expected))
    if sys.stdout.isatty():
        print()
    say(f"  quiet after {duration(simulated)} simulated")
    note(f"  ({time.monotonic() - started:.1f} s real)")
    rows = [["encounter", "choreography", "where it shows", "orchestration", "where it shows"]]
    for encounter_id, at in uploaded.items():
        row = [encounter_id]
        for variant in VARIANTS:
            result = outcome(cloud, variant, encounter_id, at, direct_keys.get(encounter_id))
            if result.result == "NO OUTCOME":
                MISSING_OUTCOMES.append(f"{variant}/{encounter_id}")
            elif notes_expected and encounter_id in accepted_ids and result.result != "note":
                BROKEN_STEPS.append(f"{variant}/{encounter_id} ended in {result.result!r}, not a note")
            row += [f"{result.result} after {duration(result.simulated_seconds)}", result.evidence]
        rows.append(row)
    table(rows)
    alarm_report(cloud)
    access_report(cloud)


def alarm_report(cloud: LocalCloud) -> None:
    """The alarms that went to ALARM since the last report, and the notifications SNS delivered."""
    fired = cloud.alarms.fired
    notified = cloud.alarm_notifications()
    if fired:
        say(f"  alarms that went to ALARM ({len(notified)} notifications delivered to the SNS topics):")
        for event in fired:
            stack, _, name = event.alarm_name.partition("-")
            say(f"    {VARIANTS_BY_STACK[stack]:13} {name}: {event.metric} = {event.value:g}")
        fired.clear()
    else:
        say("  no alarm fired")


def access_report(cloud: LocalCloud) -> None:
    """What the access checks refused since the last report (each call runs as its AWS principal)."""
    denials, failed = cloud.access.denials, cloud.alarms.failed_actions()
    say(f"  access: {cloud.access.checked} calls checked as their AWS principals, {len(denials)} denied")
    seen = set()
    for denial in denials:
        if (denial.action, denial.code, denial.principal) not in seen:
            seen.add((denial.action, denial.code, denial.principal))
            say(f"    denied {denial.action} ({denial.code}) to {denial.principal.rsplit('/', 1)[0]}")
    for item in failed:
        stack, _, name = item["AlarmName"].partition("-")
        say(f"    {VARIANTS_BY_STACK[stack]:13} {name}: {item['HistorySummary'].split('. Received')[0]}")
    denials.clear()
    cloud.access.checked = 0
    cloud.alarms.history.clear()


# The clinician's edit of the knee-followup note the demo shows: the exam finding without the aside spoken with it.
SIGNED_EDIT = "s12=On exam the left knee has mild tenderness along the inner joint line."
SEND_BACK_REASON = "The orders miss the chest x-ray."


def review_records(cloud: LocalCloud) -> list[reviews.ReviewRecord]:
    found = []
    for variant, stack in VARIANTS.items():
        found += reviews.reviews(cloud.client("s3"), cloud.outputs[stack]["EncounterBucketName"], variant=variant)
    return found


def pass_time(cloud: LocalCloud, until: datetime, why: str) -> None:
    """Let the simulated clock run to `until`, running everything due on the way (the sweeps, the executions'
    review timeouts), as `scribe --local advance` does on `make localcloud`."""
    started = time.monotonic()
    seconds = cloud.clock.at(until) - cloud.clock.now()
    cloud.run_for(seconds)
    hours, minutes = divmod(round(seconds / 60), 60)
    span = f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    say(
        f"  ({span} pass on the simulated clock, to {until:%Y-%m-%d %H:%M} UTC: {why}; `scribe --local advance {span}`)"
    )
    note(f"  ({time.monotonic() - started:.1f} s real)")


def expect_accepted(code: int, command: str) -> None:
    if code != 0:
        BROKEN_STEPS.append(f"scribe {command} was refused")


def show_export(cloud: LocalCloud, encounter_id: str, variant: str) -> None:
    """`scribe export` (a FHIR DocumentReference) as an operator reads it: the attachment, decoded (what the
    pipe printed does); then whether the FHIR export wrote that document, on NoteSigned, in each variant."""
    say(f"$ scribe export {encounter_id} --variant {variant} | jq -r '.content[0].attachment.data' | base64 -d")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = scribe_cli.main(["export", encounter_id, "--variant", variant], standalone_mode=False)
    if code:
        BROKEN_STEPS.append(f"scribe export {encounter_id} --variant {variant} exited {code}")
        return
    document = json.loads(printed.getvalue())
    say(base64.b64decode(document["content"][0]["attachment"]["data"]).decode().rstrip())
    key = f"exports/fhir/{encounter_id}.json"
    exported = {name: key in list_keys(cloud, stack, "exports/fhir/") for name, stack in VARIANTS.items()}
    if not all(exported.values()) or read_json(cloud, VARIANTS[variant], key) != document:
        BROKEN_STEPS.append(f"{key} is not the signed note's DocumentReference in every variant: {exported}")
        return
    say(f"  {key}: written by the FHIR export on NoteSigned in both variants ({variant}'s is the document above)")


def review_story(cloud: LocalCloud, signed: str, sent_back: str) -> None:
    """The clinician's part, in both variants: late in the review window, one note signed with an edit (and its
    FHIR export), one sent back (its redraft comes back as the next version); the rest left until they expire."""
    awaiting = review_records(cloud)
    if not awaiting:
        BROKEN_STEPS.append("no note awaits review")
        return
    hours = (awaiting[0].due_at - awaiting[0].opened_at) / timedelta(hours=1)
    say(
        f"\n== The review, in both variants: each note awaits a clinician for {hours:g} h. {signed} is signed with"
        f" an edit, {sent_back} sent back, the rest left"
    )
    cloud.alarms.reset()
    pass_time(cloud, min(r.due_at for r in awaiting) - timedelta(hours=1), "an hour before the first window ends")
    for variant in VARIANTS:
        expect_accepted(scribe("sign", signed, "--variant", variant, "--edit", SIGNED_EDIT), f"sign {signed}")
    for variant in VARIANTS:
        code = scribe("send-back", sent_back, "--variant", variant, "--reason", SEND_BACK_REASON)
        expect_accepted(code, f"send-back {sent_back}")
    say(f"  quiet after {duration(cloud.run_until_quiet())} simulated (the FHIR exports, the redrafts)")
    scribe("review", "list")  # the redraft awaits review as the next version, in a window of its own
    show_export(cloud, signed, "orchestration")
    left = [record for record in awaiting if record.encounter_id not in (signed, sent_back)]
    pass_time(cloud, max(r.due_at for r in left) + timedelta(hours=1), "an hour after the last window ended")
    alarm_report(cloud)
    scribe("review", "list", "--all")
    expected = {signed: ("SIGNED", 2), sent_back: ("AWAITING_REVIEW", 2)}
    for record in review_records(cloud):
        status = expected.get(record.encounter_id, ("REVIEW_EXPIRED", 1))
        if (record.status, record.version) != status:
            BROKEN_STEPS.append(
                f"{record.variant}/{record.encounter_id}'s review is {record.status} at version {record.version},"
                f" not {status[0]} at version {status[1]}"
            )
    access_report(cloud)


VARIANTS_BY_STACK = {stack: variant for variant, stack in VARIANTS.items()}
# Uploads that ended with neither a note nor a failure record: the promise broken, so the demo fails.
MISSING_OUTCOMES: list[str] = []
BROKEN_STEPS: list[str] = []


def multipart_upload(cloud: LocalCloud) -> None:
    """A clinician's long recording (9 MB, above the 8 MB multipart threshold) with boto3's transfer manager on
    a write-once client: CreateMultipartUpload and UploadPart carry no condition, CompleteMultipartUpload carries
    If-None-Match. A bucket policy that does not exempt the multipart steps refuses it (docs/scribe.md)."""
    say(
        "\n== A clinician's 9 MB recording, uploaded with boto3's upload_file as a multipart upload (If-None-Match on completion)"
    )
    buckets = [cloud.outputs[stack]["EncounterBucketName"] for stack in VARIANTS.values()]
    keys = [cloud.outputs[stack]["KmsKeyArn"] for stack in VARIANTS.values()]
    credentials = uploader_credentials(cloud.client, buckets, keys)
    config = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
    body = b"RIFF....WAVEfmt a long dictation " + bytes(range(256)) * (9 * 4096)
    for variant, stack in VARIANTS.items():
        s3 = write_once(boto3.client("s3", region_name="us-east-1", endpoint_url=cloud.endpoint_url, **credentials))
        bucket = cloud.outputs[stack]["EncounterBucketName"]
        try:
            s3.upload_fileobj(io.BytesIO(body), bucket, "audio/long-dictation.wav", Config=config)
        except (S3UploadFailedError, ClientError) as failed:  # CreateMultipartUpload refused: a ClientError
            step = str(failed).split("when calling the ", 1)[-1].split(" operation", 1)[0]
            say(f"  {variant}: REFUSED at {step} (AccessDenied: the bucket policy's write-once deny)")
            BROKEN_STEPS.append(f"{variant}: a multipart upload with If-None-Match was refused at {step}")
        else:
            say(f"  {variant}: accepted (CreateMultipartUpload, 2 x UploadPart, CompleteMultipartUpload)")


def review_page_signin(cloud: LocalCloud) -> None:
    """With review_page, a clinician whose session has lapsed opens the worklist: the page's function asks Cognito
    about the session (GetUser) and sends the browser to sign in. A function in the VPC's isolated subnets, where
    no endpoint or NAT reaches Cognito, hears nothing back until Lambda stops it (localcloud/networking.py)."""
    served = {variant: stack for variant, stack in VARIANTS.items() if "ReviewPageUrl" in cloud.outputs[stack]}
    if not served:
        return
    say("\n== The review page: a clinician whose session has lapsed opens the worklist (Cognito is asked about it)")
    moto_log = logging.getLogger("moto")
    for variant, stack in served.items():
        # Listing the stack's resources makes moto log once more each type it skipped (the stage among them).
        level = moto_log.level
        moto_log.setLevel(logging.ERROR)
        try:
            answer = cloud.review_page_request(stack, "/", {"Cookie": f"{SESSION_COOKIE}=a-lapsed-session"})
        finally:
            moto_log.setLevel(level)
        if "errorType" in answer:
            why = " (no route from its subnets to Cognito)" if answer["errorType"] == "Sandbox.Timedout" else ""
            say(f"  {variant}: FAILED, {answer['errorType']}: {answer['errorMessage']}{why}")
            BROKEN_STEPS.append(f"{variant}: the review page could not reach Cognito ({answer['errorType']})")
        else:
            say(
                f"  {variant}: {answer['statusCode']} to {answer['headers'].get('Location')} (Cognito answered: sign in again)"
            )


def main(argv: list[str]) -> int:
    cdk_out = Path(argv[1] if len(argv) > 1 else "cdk.out")
    if problem := not_an_assembly(cdk_out):
        print(problem, file=sys.stderr)
        return 2
    real_start = time.monotonic()
    MISSING_OUTCOMES.clear()
    BROKEN_STEPS.clear()
    say("Local cloud: moto 5.2.5 with this project's shims. Stand-ins, LOCAL ONLY:")
    say(
        "  Transcribe Medical = the reference transcript of each sample (samples/*.txt); a job takes "
        f"{LATENCIES.transcribe_job_fixed:g} s + {LATENCIES.transcribe_job_per_audio_second:g} x the audio's length"
    )
    say(
        "  Bedrock Converse   = a deterministic local note model: each statement is a sentence of the transcript,"
        f" citing its segment (each section starts with {LOCAL_MODEL_NOTICE.strip()!r})"
    )
    say("  time is simulated: each step takes its modelled latency (localcloud/model/latencies.json), AWS quotas")
    say("  apply (localcloud/model/quotas.json) and the clock jumps over idle time, so every run prints the same")
    samples = sorted(SAMPLES.glob("*.wav"))
    port = free_port()
    logging.getLogger(INTERPRETER_LOG).setLevel(logging.CRITICAL)
    with LocalCloud(cdk_out, port=port) as cloud:
        send_handler_output_to(io.StringIO())
        note(f"local cloud listening on {cloud.endpoint_url} (AWS_ENDPOINT_URL for any AWS client)")
        say("cdk bootstrap + cdk deploy --all (the real CDK CLI from node_modules) ...")
        for stack in deploy_all(cloud):
            resources = cloud.client("cloudformation").list_stack_resources(StackName=stack)["StackResourceSummaries"]
            say(f"  {stack}: {len(resources)} resources")
        skipped = ", ".join(APPLIED_AFTER_CREATION[:-1]) + f" and {APPLIED_AFTER_CREATION[-1]}"
        say(f"  moto's CloudFormation skips {skipped}: the local cloud applies them itself (docs/access.md)")
        from clinical import observability  # loaded by the deploy (as Lambda's init would)

        observability.logger.registered_handler.setStream(io.StringIO())
        for sample in samples:
            cloud.transcribe.register(sample.read_bytes(), sample.with_suffix(".txt").read_text().strip())

        # scribe, run in this process, talks to the local cloud (only for the demo's duration).
        with mock.patch.dict(os.environ, cloud.cli_environment()):
            paths = [str(s.relative_to(Path.cwd())) if s.is_relative_to(Path.cwd()) else str(s) for s in samples]
            # A bad file at a fixed path (under cdk.out, which git ignores), so the demo prints the same every time.
            bad = cdk_out / "demo" / "visit notes.txt"
            bad.parent.mkdir(parents=True, exist_ok=True)
            bad.write_bytes(b"not audio")
            run_scenario(
                cloud,
                "Scenario 1: the samples (three dictations, one two-person visit), one of them again (its id is in use)"
                " and a bad file, no faults",
                [(["upload", *paths], True), (["upload", paths[0]], False), (["upload", str(bad)], False)],
                [("audio/visit notes.txt", b"not audio")],
                notes_expected=True,
            )

            # The two-person visit's note: speakers and their roles, and each statement's id and segments.
            visit = next((s for s in samples if s.with_suffix(".txt").read_text().startswith("[spk_")), samples[0])
            say(f"\n== The note for {visit.stem} (orchestration; choreography wrote the same)")
            scribe("note", visit.stem, "--variant", "orchestration")
            review_story(cloud, signed=visit.stem, sent_back=samples[1].stem)

            cloud.faults = FaultPlan(rates=dict(FAULT_SCENARIO.rates), seed=FAULT_SCENARIO.seed)  # a fresh replay
            rates = ", ".join(f"{kind} {rate:.0%}" for kind, rate in FAULT_SCENARIO.rates.items())
            run_scenario(
                cloud,
                f"Scenario 2: the same recordings again under faults ({rates}, seed {FAULT_SCENARIO.seed})",
                [(["upload", path, "--encounter-id", f"{Path(path).stem}-retake"], True) for path in paths],
                [],
            )
            say(f"  faults injected: {dict(cloud.faults.injected)}")

            failed = f"{samples[0].stem}-retake"
            say(f"\n== Where is {failed}? One execution history, or several services pieced together")
            scribe("status", failed)
            multipart_upload(cloud)
            review_page_signin(cloud)
    note(f"demo finished in {time.monotonic() - real_start:.1f} s real; the local cloud on port {port} is stopped")
    if MISSING_OUTCOMES:
        say(f"\nFAILED: {len(MISSING_OUTCOMES)} upload(s) ended with no note and no failure record: {MISSING_OUTCOMES}")
    for step in BROKEN_STEPS:
        say(f"\nFAILED: {step}")
    return 1 if MISSING_OUTCOMES or BROKEN_STEPS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
