"""scribe: upload, follow and repair encounters in both variants, on AWS or on the local cloud.

Exit codes: 0 success; 1 not found, nothing to do, or the target cannot be used; 2 bad input
(nothing was changed).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib.metadata import EntryPoint
from pathlib import Path

import click
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError

from clinical import observability
from clinical import review as reviews
from clinical.errors import ContractViolation, DecidedNotSettled
from clinical.layout import note_key, signed_key, validate_encounter_id
from clinical.notes import Note, SignedNote
from clinical.revisions import Addition, Changes, statement_id
from clinical.stages import Stage
from clinical.templates import DEFAULT_TEMPLATE, ORDER_CATEGORIES, ORDERS, templates
from scribe import cost as cost_model
from scribe import doctor as readiness
from scribe import encounters, redrive, uploads, watch
from scribe import verify as verification
from scribe.encounters import EncounterNotFound
from scribe.rendering import cost_text, doctor_text, list_text, note_text, status_text
from scribe.target import VARIANTS, Deployment, Target, TargetError

VARIANT_CHOICE = click.Choice([*VARIANTS, "both"])
COMMANDS_ENTRY_POINTS = "scribe.commands"  # commands from packages above scribe (pyproject.toml)
DEFAULT_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"  # the stacks' default (cdk.json)
# `status --watch`: real seconds between two looks (on AWS; on the local cloud, whose stages come quicker).
WATCH_SECONDS = 10
LOCAL_WATCH_SECONDS = 1


class BadInput(click.ClickException):
    exit_code = 2


class Failed(click.ClickException):
    exit_code = 1


def _variants(choice: str) -> tuple[str, ...]:
    return VARIANTS if choice == "both" else (choice,)


def _target(ctx: click.Context) -> Target:
    try:
        return Target.choose(ctx.obj["local"])
    except TargetError as error:
        raise Failed(str(error)) from None


def _deployment(ctx: click.Context, variant: str):
    try:
        return _target(ctx).deployment(variant, ctx.obj["stack"])
    except TargetError as error:
        raise Failed(str(error)) from None


def _emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _refuse_mistyped(deployments: list[Deployment], encounter_id: str) -> None:
    """An id none of the deployments knows, close to one they do, is taken for a typo (exit 2, with the id it
    was likely meant to be); otherwise the caller says "not found". One listing per deployment, only then."""
    if (closest := encounters.closest_id(encounter_id, deployments)) is not None:
        where = " or ".join(deployment.variant for deployment in deployments)
        raise BadInput(f"no encounter {encounter_id} in {where}: did you mean {closest}? (nothing was changed)")


@contextlib.contextmanager
def _domain_log_on_stderr() -> Iterator[None]:
    """The domain's logger writes JSON lines to stdout, which Lambda sends to CloudWatch; in the CLI stdout is
    the person's, so for a command's duration its warnings and errors go to stderr and its info lines nowhere."""
    handler = observability.logger.registered_handler
    stream, level = handler.stream, handler.level
    handler.setStream(sys.stderr)
    handler.setLevel(logging.WARNING)
    try:
        yield
    finally:
        handler.setStream(stream)
        handler.setLevel(level)


class ScribeCommand(click.Command):
    """One of scribe's own commands: it speaks to a person (the commands other packages add keep their logging)."""

    def invoke(self, ctx: click.Context):
        with _domain_log_on_stderr():
            return super().invoke(ctx)


class ScribeGroup(click.Group):
    """Turns "AWS cannot be reached as configured" into a clear message and exit code 1, not a traceback."""

    command_class = ScribeCommand
    group_class = type  # a subgroup (review) is a ScribeGroup too

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NoRegionError:
            raise Failed(
                "no AWS region configured: set AWS_REGION or AWS_DEFAULT_REGION, or a region in your AWS profile, "
                "or use --local"
            ) from None
        except NoCredentialsError:
            raise Failed("no AWS credentials found: configure them (aws configure / SSO), or use --local") from None
        except EndpointConnectionError as error:
            raise Failed(f"cannot reach {error.kwargs.get('endpoint_url')}: is the local cloud running?") from None


@click.group(cls=ScribeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--local", is_flag=True, help="Use the local cloud (`make localcloud`) instead of AWS.")
@click.option("--stack", default=None, help="The stack to use when a variant is deployed more than once.")
@click.pass_context
def main(ctx: click.Context, local: bool, stack: str | None) -> None:
    """Operate the clinical scribe pipelines: upload dictations, follow encounters, read notes, redrive failures.

    AWS by default (the standard credential chain and region); the local cloud with --local or when
    AWS_ENDPOINT_URL points at it. Stacks are found from their CloudFormation outputs.
    """
    ctx.ensure_object(dict)
    ctx.obj.update(local=local, stack=stack)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--variant", type=VARIANT_CHOICE, default="both", show_default=True)
@click.option("--encounter-id", default=None, help="The encounter id (default: the file name without extension).")
@click.option(
    "--template",
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help=f"The note's template: {', '.join(sorted(templates()))}.",
)
@click.pass_context
def upload(ctx: click.Context, files: tuple[Path, ...], variant: str, encounter_id: str | None, template: str) -> None:
    """Upload encounter audio to audio/<encounter_id>.<ext>, checked against the contract first."""
    try:
        planned = uploads.plan_uploads(list(files), encounter_id, template)
    except ContractViolation as error:
        raise BadInput(f"{error.message} (nothing was uploaded)") from None
    deployments = [_deployment(ctx, v) for v in _variants(variant)]
    try:
        for deployment in deployments:
            uploads.refuse_ids_in_use(deployment, planned)
    except ContractViolation as error:
        raise BadInput(f"{error.message} (nothing was uploaded)") from None
    steps = [(d, p) for p in planned for d in deployments]
    if len(steps) > 1 and sys.stderr.isatty():
        with click.progressbar(steps, label="uploading", file=sys.stderr) as bar:
            for deployment, item in bar:
                uploads.upload(deployment, item)
    else:
        for deployment, item in steps:
            uploads.upload(deployment, item)
    for deployment, item in steps:
        click.echo(f"uploaded {item.path} -> s3://{deployment.bucket}/{item.key} ({deployment.variant})")


@main.command()
@click.argument("encounter_id")
@click.option("--variant", type=VARIANT_CHOICE, default="both", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with --watch: a JSON line per stage).")
@click.option(
    "--watch",
    is_flag=True,
    help="Follow the encounter until it settles (awaits a clinician, or ends), saying each new stage once.",
)
@click.option(
    "--timeout", default="2h", show_default=True, help="With --watch: give up (exit 1) if it has not settled by then."
)
@click.option(
    "--links",
    is_flag=True,
    help="Also the encounter's console pages: execution, traces, logs (Logs Insights), dashboard. On the local "
    "cloud: the same deployment's links on AWS.",
)
@click.pass_context
def status(
    ctx: click.Context, encounter_id: str, variant: str, as_json: bool, watch: bool, timeout: str, links: bool
) -> None:
    """Where an encounter is: stage, timeline, retries, failure, evidence, and how the answer was found."""
    limit = duration_seconds(timeout)
    found, missing, unheard = [], [], []
    deployments = [_deployment(ctx, name) for name in _variants(variant)]
    for deployment in deployments:
        unheard += [f"{deployment.variant}: {failure}" for failure in encounters.failed_alarm_actions(deployment)]
        try:
            found.append(encounters.status_of(deployment, encounter_id))
            if links:
                found[-1].links |= deployment.encounter_links(encounter_id)
        except ContractViolation as error:
            raise BadInput(f"{encounter_id}: {error.message}") from None
        except EncounterNotFound as error:
            missing.append({"variant": deployment.variant, "found": False, "reason": str(error)})
    if not found:
        _refuse_mistyped(deployments, encounter_id)
    if watch and found:
        watched = [d for d in deployments if d.variant in {item.variant for item in found}]
        _watch(ctx, watched, encounter_id, as_json, limit)
        return
    if as_json:
        _emit_json([s.to_json() | {"found": True} for s in found] + missing)
    else:
        for item in found:
            click.echo(status_text(item, links_as_on_aws=links and deployments[0].target.local))
        for item in missing:
            click.echo(f"{encounter_id} ({item['variant']}): not found: {item['reason']}")
        for failure in unheard:
            click.echo(f"WARNING alarm notified nobody: {failure}")
    if not found:
        ctx.exit(1)


def _watch(ctx: click.Context, deployments: list[Deployment], encounter_id: str, as_json: bool, limit: float) -> None:
    """`status --watch`: each variant's stage as it changes, until all have settled (exit 1 if not within `limit`)."""
    target = _target(ctx)

    def look() -> list[watch.Sighting]:
        statuses = [encounters.status_of(deployment, encounter_id) for deployment in deployments]
        return [
            watch.Sighting(s.variant, s.stage, s.settled, s.failure["reason"] if s.failure else None) for s in statuses
        ]

    try:
        for sighting in watch.follow(look, _clock(target), limit=limit):
            if as_json:
                click.echo(json.dumps({"encounter_id": encounter_id} | asdict(sighting)))
            else:
                said = f"{sighting.stage}: {sighting.reason}" if sighting.reason else sighting.stage
                click.echo(f"{encounter_id} ({sighting.variant}): {said}")
    except watch.NotSettled as error:
        raise Failed(f"{encounter_id} did not settle within {limit:g} s: {error}") from None


class _Sleeping:
    """AWS keeps its own time: a look every WATCH_SECONDS."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self) -> None:
        time.sleep(WATCH_SECONDS)


@dataclass
class _LocalClock:
    """The local cloud's clock (`make localcloud`'s clock control), which runs by itself: a look every
    LOCAL_WATCH_SECONDS of real time, the limit measured on the cloud's clock (an `advance` meanwhile counts)."""

    target: Target

    def now(self) -> float:
        return datetime.fromisoformat(clock_control(self.target, "/clock")["now"]).timestamp()

    def wait(self) -> None:
        time.sleep(LOCAL_WATCH_SECONDS)


def _clock(target: Target) -> watch.Clock:
    return _LocalClock(target) if target.local else _Sleeping()


@main.command("list")
@click.option("--variant", type=VARIANT_CHOICE, default="both", show_default=True)
@click.option(
    "--state",
    "stage",
    type=click.Choice(encounters.STAGES, case_sensitive=False),
    default=None,
    help="Only this stage.",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_command(ctx: click.Context, variant: str, stage: str | None, limit: int, as_json: bool) -> None:
    """Recent encounters (by upload time) and their stage."""
    listed = []
    for name in _variants(variant):
        listed += encounters.list_encounters(_deployment(ctx, name), limit)
    if stage:
        listed = [item for item in listed if item.stage == stage.upper()]
    if as_json:
        _emit_json([vars(item) for item in listed])
    else:
        click.echo(list_text(listed))


@main.command()
@click.argument("encounter_id")
@click.option("--variant", type=VARIANT_CHOICE, default="both", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The stored note document(s).")
@click.pass_context
def note(ctx: click.Context, encounter_id: str, variant: str, as_json: bool) -> None:
    """The note under review (its latest version, each statement with the id `scribe sign` names it by), or the
    draft before a review opened, rendered for a person (--json: the stored document)."""
    try:
        validate_encounter_id(encounter_id)
    except ContractViolation as error:
        raise BadInput(f"{encounter_id}: {error.message}") from None
    notes, deployments = {}, [_deployment(ctx, name) for name in _variants(variant)]
    for deployment in deployments:
        found = reviews.read_review(deployment.client("s3"), deployment.bucket, encounter_id)
        latest = found[0].versions[-1] if found else None
        key = reviews.version_key(encounter_id, latest) if latest else note_key(encounter_id)
        document = encounters.read_json(deployment, key)
        if document is not None:
            notes[deployment.variant] = (document, deployment, found[0] if found else None)
    if not notes:
        _refuse_mistyped(deployments, encounter_id)
        raise Failed(f"no note for encounter {encounter_id} ({', '.join(_variants(variant))}): see `scribe status`")
    if as_json:
        _emit_json(
            {name: document for name, (document, _deployment, _record) in notes.items()}
            if variant == "both"
            else notes[variant][0]
        )
        return
    for name, (document, deployment, record) in notes.items():
        try:
            shown = Note.model_validate(document).model_dump(mode="json")
        except ValueError:
            # Never shown: pydantic's message would quote the note's text.
            raise Failed(
                f"the stored note for {encounter_id} ({name}) does not match the note schema; it is not shown "
                "(--json prints the stored document as is)"
            ) from None
        try:
            stage = encounters.status_of(deployment, encounter_id).stage
        except EncounterNotFound:
            stage = None  # a note with nothing else of its encounter: shown as what it is
        which = ", ".join(filter(None, [f"version {record.version}" if record else "draft", stage]))
        signed = None
        if stage == Stage.SIGNED and record and record.signed_at:
            signed = f"SIGNED by {record.signed_by} at {record.signed_at:%Y-%m-%d %H:%M} UTC (version {record.version})"
        click.echo(f"== {encounter_id} ({name}, {which})")
        click.echo(note_text(shown, signed=signed))


@main.command()
@click.argument("note_file", type=click.Path(path_type=Path))
@click.argument("transcript_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help='{"statements": [{"section", "text", "supported", "reason"}]}')
@click.pass_context
def verify(ctx: click.Context, note_file: Path, transcript_file: Path, as_json: bool) -> None:
    """Check every statement of a note (this project's JSON, or plain text) against a Transcribe Medical
    transcript: its numbers with units, medications, sides and negations must be in the transcript. Exit 0
    when all are supported, 1 when any is not, 2 for a file that cannot be checked."""
    try:
        checked = verification.verify(note_file, transcript_file)
    except verification.VerifyInputError as error:
        raise BadInput(str(error)) from None
    click.echo(verification.as_json(checked) if as_json else verification.as_text(checked))
    if not all(statement.supported for statement in checked):
        ctx.exit(1)


ONE_VARIANT = click.Choice(VARIANTS)


def _desk(ctx: click.Context, variant: str):
    """The review page's desk for the deployments: sign and send back act through it as they do on the page, as
    the caller's AWS identity (`sts:GetCallerIdentity`), and `review list` is its worklist."""
    from review_desk.desk import ReviewDesk  # the page's desk, not its server

    return ReviewDesk({name: _deployment(ctx, name) for name in _variants(variant)})


@main.group(invoke_without_command=True)
@click.option("--local", "serve_local", is_flag=True, help="Serve the review page against the local cloud.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Loopback port (0: free).")
@click.option("--variant", type=VARIANT_CHOICE, default="both", show_default=True)
@click.pass_context
def review(ctx: click.Context, serve_local: bool, port: int, variant: str) -> None:
    """The clinician's review of draft notes. `scribe review --local` serves the review page (worklist, note
    beside its transcript, sign / edit / send back) on loopback until Ctrl-C; `review list` lists in the
    terminal (sign and send back are top-level verbs)."""
    if serve_local:
        ctx.obj["local"] = True
    if ctx.invoked_subcommand is not None:
        return
    if not ctx.obj["local"]:
        # Unauthenticated on loopback, it acts as your AWS identity: on AWS the page belongs behind Cognito.
        raise BadInput("the review page serves the local cloud only: `scribe review --local` (docs/scribe.md)")
    from scribe import review_page  # the page's server only for this command

    desk = review_page.ReviewDesk({name: _deployment(ctx, name) for name in _variants(variant)})
    try:
        server = review_page.review_server(desk, port)
    except OSError as error:
        raise Failed(f"cannot serve on 127.0.0.1:{port}: {error.strerror} (choose another with --port)") from None
    click.echo(f"review page on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()


@review.command("reindex")
@click.option("--variant", type=VARIANT_CHOICE, default="both", show_default=True)
@click.pass_context
def review_reindex(ctx: click.Context, variant: str) -> None:
    """Put the reviews written before the reviews' index into it (once, after upgrading a deployment that has
    reviews open): the worklist and choreography's sweep read the index, not the records. Safe to run again."""
    for name in _variants(variant):
        deployment = _deployment(ctx, name)
        indexed = reviews.reindex(deployment.client("s3"), deployment.bucket, variant=name)
        click.echo(f"{name}: {len(indexed)} review{'' if len(indexed) == 1 else 's'} indexed")


@review.command("list")
@click.option("--variant", type=VARIANT_CHOICE, default="both", show_default=True)
@click.option("--all", "everything", is_flag=True, help="Signed and sent-back reviews too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def review_list(ctx: click.Context, variant: str, everything: bool, as_json: bool) -> None:
    """Notes awaiting review, oldest first, with each one's deadline: the review page's worklist."""
    shown = _desk(ctx, variant).worklist(everything)
    if as_json:
        _emit_json([item.shown() for item in shown])
        return
    if not shown:
        click.echo("no reviews" if everything else "no notes awaiting review")
    width = max((len(item.encounter_id) for item in shown), default=0)
    for item in shown:
        click.echo(
            f"{item.encounter_id:<{width}}  {item.variant:<13}  {item.stage:<15}  "
            f"opened {item.opened_at:%Y-%m-%d %H:%M}  due {item.due_at:%Y-%m-%d %H:%M} UTC  version {item.version}"
        )


def _statement_change(text: str, option: str) -> tuple[str, str]:
    """ID=TEXT of --edit, SECTION=TEXT of --add: the name checked whole and the text as given."""
    name, sep, new = text.partition("=")
    if not sep or not name.strip():
        example = "s3=TEXT (s3 is a statement's id, as `scribe note` shows it)" if option == "--edit" else "plan=TEXT"
        raise BadInput(f"{option}: write it {example}")
    return name.strip(), new


def _changes(edits: tuple[str, ...], removals: tuple[str, ...], additions: tuple[str, ...], own: tuple[str, ...],
             accepted: tuple[str, ...]) -> Changes:  # fmt: skip
    """The clinician's changes as the options give them, every statement named by its id (checked whole)."""
    try:
        changed = dict(_statement_change(text, "--edit") for text in edits)
        for named in (*changed, *removals, *own, *accepted):
            statement_id(named)
        changed |= dict.fromkeys(removals, "")
        added = []
        for text in additions:
            section, new = _statement_change(text, "--add")
            category, colon, rest = new.partition(":")
            if section == ORDERS and colon and category.strip() in ORDER_CATEGORIES:
                added.append(Addition(section=section, text=rest, category=category.strip()))
            else:
                added.append(Addition(section=section, text=new))
    except reviews.ReviewRefused as error:
        raise BadInput(error.message) from None
    return Changes(edits=changed, added=added, own=list(own), accepted=list(accepted))


@main.command()
@click.argument("encounter_id")
@click.option("--variant", type=ONE_VARIANT, required=True, help="The deployment whose note is signed.")
@click.option("--edit", "edits", multiple=True, help="ID=TEXT: the statement's new text (empty removes it).")
@click.option("--remove", "removals", multiple=True, help="ID: remove the statement.")
@click.option("--add", "additions", multiple=True,
              help="SECTION=TEXT: a statement of yours (medications_and_orders=CATEGORY: TEXT for an order).")  # fmt: skip
@click.option("--own", multiple=True, help="ID: the edit of this statement is your own, not from the recording.")
@click.option("--accept", "accepted", multiple=True, help="ID: accept a flagged statement as it is.")
@click.option("--version", "version", type=click.IntRange(1), default=None, help="The version you reviewed.")
@click.option("--patient", default=None, help="The patient's FHIR reference (Patient/123), for the FHIR export.")
@click.pass_context
def sign(ctx: click.Context, encounter_id: str, variant: str, edits: tuple[str, ...], removals: tuple[str, ...],
         additions: tuple[str, ...], own: tuple[str, ...], accepted: tuple[str, ...], version: int | None,
         patient: str | None) -> None:  # fmt: skip
    """Sign the note awaiting review (the version you reviewed, the latest by default) with your changes, each
    statement named by its id as `scribe note` shows it. An edit is checked against the segments its statement
    cites (--own signs it as yours instead); a flagged statement is signed only edited, removed or accepted. The
    signed note is written once (signed/<id>.json) and NoteSigned is put on the bus."""
    changes = _changes(edits, removals, additions, own, accepted)
    desk = _desk(ctx, variant)
    try:
        signed = desk.sign(variant, encounter_id, changes, {}, version=version, patient=patient)
    except reviews.ReviewRefused as error:
        _refuse_mistyped([_deployment(ctx, variant)], encounter_id)
        raise BadInput(f"{error.message} (nothing was changed)") from None
    except ContractViolation as error:
        raise BadInput(f"{error.message} (nothing was changed)") from None
    except DecidedNotSettled as error:
        raise Failed(f"signed {encounter_id} ({variant}); {error.message}") from None
    click.echo(f"signed {encounter_id} ({variant}): version {signed.version}, by {signed.signed_by}")


@main.command("send-back")
@click.argument("encounter_id")
@click.option("--variant", type=ONE_VARIANT, required=True, help="The deployment whose note is sent back.")
@click.option(
    "--reason", required=True, help="Why the note needs a redraft (recorded with the review, and given to the model)."
)
@click.option("--version", "version", type=click.IntRange(1), default=None, help="The version you reviewed.")
@click.pass_context
def send_back(ctx: click.Context, encounter_id: str, variant: str, reason: str, version: int | None) -> None:
    """Send the note awaiting review back for a redraft, with the reason (the model is given it)."""
    desk = _desk(ctx, variant)
    try:
        record = desk.send_back(variant, encounter_id, reason, {}, version=version)
    except reviews.ReviewRefused as error:
        _refuse_mistyped([_deployment(ctx, variant)], encounter_id)
        raise BadInput(f"{error.message} (nothing was changed)") from None
    except ContractViolation as error:
        raise BadInput(f"{error.message} (nothing was changed)") from None
    except DecidedNotSettled as error:
        raise Failed(f"sent back {encounter_id} ({variant}); {error.message}") from None
    click.echo(
        f"sent back {encounter_id} ({variant}) by {record.sent_back_by}: {record.reason}\n"
        f"the note is drafted again with the reason and awaits review once more: scribe status {encounter_id}"
    )


@main.command()
@click.argument("encounter_id")
@click.option("--variant", type=ONE_VARIANT, required=True, help="The deployment whose signed note is exported.")
# The one format, so the default: the flag is still taken, as scripts written when it was required pass it.
@click.option("--fhir", is_flag=True, expose_value=False, help="As a FHIR R4 DocumentReference (the one format).")
@click.option(
    "--patient", default=None, help="The patient's FHIR reference in your record (default: the one the signer gave)."
)
@click.pass_context
def export(ctx: click.Context, encounter_id: str, variant: str, patient: str | None) -> None:
    """Print the encounter's signed note as a FHIR R4 DocumentReference (validated with fhir.resources)."""
    from scribe import fhir  # loads the FHIR models only for this command

    deployment = _deployment(ctx, variant)
    try:
        document = encounters.read_json(deployment, signed_key(encounter_id))
    except ContractViolation as error:
        raise BadInput(f"{encounter_id}: {error.message}") from None
    if document is None:
        _refuse_mistyped([deployment], encounter_id)
        raise Failed(f"encounter {encounter_id} has no signed note in {variant}: see `scribe review list`")
    try:
        _emit_json(fhir.validated(SignedNote.model_validate(document), patient=patient))
    except fhir.ExportError as error:
        raise BadInput(str(error)) from None


@main.command("redrive")
@click.argument("encounter_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Every failed encounter that can be redriven.")
@click.option("--variant", type=VARIANT_CHOICE, default="both", show_default=True)
@click.pass_context
def redrive_command(ctx: click.Context, encounter_id: str | None, everything: bool, variant: str) -> None:
    """Retry what failed: choreography moves DLQ messages back to their queue; orchestration redrives the
    failed execution from the failed step. Then `scribe status` shows the recovery."""
    if bool(encounter_id) == everything:
        raise BadInput("give an ENCOUNTER_ID or --all")
    done, refused, deployments = 0, [], [_deployment(ctx, name) for name in _variants(variant)]
    for deployment in deployments:
        name = deployment.variant
        try:
            result = redrive.redrive(deployment, encounter_id)
        except redrive.NothingToRedrive as error:
            refused.append(f"{name}: {error}")
            continue
        done += len(result.encounters)
        what = (
            f"{result.messages_moved} DLQ message(s) moved back"
            if name == "choreography"
            else f"{len(result.executions)} execution(s) redriven"
        )
        click.echo(f"{name}: {what} ({', '.join(result.encounters) or 'none'})")
    if refused and not done and encounter_id:
        _refuse_mistyped(deployments, encounter_id)
    for line in refused:
        click.echo(line, err=True)
    if refused and not done:
        ctx.exit(1)


@main.command()
@click.option("--minutes", type=float, default=5.0, show_default=True, help="Audio minutes per encounter.")
@click.option("--encounters", type=int, default=1000, show_default=True, help="How many encounters to price.")
@click.option(
    "--model", "model_id", default=DEFAULT_MODEL, show_default=True, help="Bedrock model or inference profile."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cost(minutes: float, encounters: int, model_id: str, as_json: bool) -> None:
    """Cost per encounter and per N encounters in each variant, from a dated price table and operation
    counts measured on the local cloud (`make measure`). Needs no AWS access."""
    try:
        estimate = cost_model.estimate(minutes, encounters, model_id)
    except (cost_model.UnknownModel, ValueError) as error:
        raise BadInput(str(error)) from None
    if as_json:
        _emit_json(estimate)
    else:
        click.echo(cost_text(estimate))


@main.command()
@click.option(
    "--cdk-out",
    type=click.Path(path_type=Path),
    default=Path("cdk.out"),
    show_default=True,
    help="The synthesized app: the reserved concurrency a deploy of a missing variant would add.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def doctor(ctx: click.Context, cdk_out: Path, as_json: bool) -> None:
    """Is the target ready? Read-only checks: the region offers Transcribe Medical batch and the Bedrock
    profile, Bedrock reports the model available to the account (Marketplace agreement, first use), the model
    answers a one-token call, the CDK bootstrap version, Lambda concurrency headroom, with the review page the
    API Gateway logging role, and a confirmed subscriber on each alarm topic. Each line OK or FIX with the fix;
    exits 1 if any FIX.
    The region is the one `cdk deploy` uses (AWS_REGION or your profile's); the local cloud's is us-east-1."""
    checks = readiness.examine(
        _target(ctx), cdk_json=Path("cdk.json"), default_model_id=DEFAULT_MODEL, cdk_out=cdk_out, stack=ctx.obj["stack"]
    )
    if as_json:
        _emit_json([check.to_json() for check in checks])
    else:
        click.echo(doctor_text(checks))
    if not all(check.ok for check in checks):
        ctx.exit(1)


# ASCII digits only: \d (and float()) would take any script's.
DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(s|m|h|d)")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> float:
    """'90s', '15m', '2h', '1d' or a combination such as '1h30m', in seconds."""
    parts = DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise BadInput(f"{text!r} is not a duration: write it like 90s, 15m, 2h or 1h30m")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in parts)


# The longest advance a local cloud carries out (localcloud.serve's limit: a test holds the two equal).
MAX_ADVANCE_SECONDS = 7 * 86400


def advance_seconds(text: str) -> float:
    """An operator's advance, in seconds: forward, more than no time, at most a week; else one clear line."""
    unchanged = "(nothing was changed)"
    if text.startswith("-"):
        raise BadInput(f"the clock only goes forward: {text!r} would move it back {unchanged}")
    try:
        seconds = duration_seconds(text)
    except BadInput as error:
        raise BadInput(f"{error.message} {unchanged}") from None
    if seconds == 0:
        raise BadInput(f"{text!r} is no time: an advance moves the clock forward, like 2h {unchanged}")
    if seconds > MAX_ADVANCE_SECONDS:
        raise BadInput(f"advance {text}: an advance must be more than 0 s and at most 7 days {unchanged}")
    return seconds


@main.command(context_settings={"ignore_unknown_options": True})  # '-5m' is a duration, said to be backwards
@click.argument("duration")
@click.pass_context
def advance(ctx: click.Context, duration: str) -> None:
    """Skip the local cloud's clock ahead by DURATION (e.g. 2h, at most 7d) from where it is, running everything
    due on the way: jobs finish, timeouts fire, the sweeps run. Then it keeps real time again from there.
    Only the local cloud (`make localcloud`) has a clock to skip."""
    seconds = advance_seconds(duration)
    target = _target(ctx)
    if not target.local:
        raise BadInput("advance works only on the local cloud (use --local): AWS keeps its own time")
    answer = clock_control(target, f"/advance?seconds={seconds:g}", method="POST")
    click.echo(f"the local cloud's clock is now {answer['now']} (advanced {duration})")


def clock_control(target: Target, path: str, method: str = "GET") -> dict:
    import urllib.error
    import urllib.request

    from scribe.target import local_control_url

    url = local_control_url()
    if url is None:
        raise BadInput("no clock control found: start the local cloud with `make localcloud`")
    request = urllib.request.Request(url + path, method=method)  # noqa: S310 (a loopback URL we wrote)
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise BadInput(json.loads(error.read() or b"{}").get("error", str(error))) from None
    except urllib.error.URLError as error:
        raise BadInput(f"the local cloud's clock control at {url} does not answer ({error.reason})") from None


def add_commands(group: click.Group, entry_points: Iterable[EntryPoint] | None = None) -> None:
    """Add the commands other packages offer under the "scribe.commands" entry points (the experiments'
    `compare`), so scribe imports none of them. The installed distribution's entry points by default
    (`make install` registers them from pyproject.toml); tests pass their own."""
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=COMMANDS_ENTRY_POINTS)
    for entry_point in entry_points:
        group.add_command(entry_point.load(), entry_point.name)


add_commands(main)


if __name__ == "__main__":
    main()
