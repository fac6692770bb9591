"""`scribe compare` and `scribe scale`: the experiments as commands of the operator CLI.

scribe does not import the experiments: pyproject.toml offers these commands under the "scribe.commands"
entry points, and scribe.cli adds what that group holds to its commands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


def _report_and_templates(command):
    """--report DIR and --cdk-out DIR, as the experiments that write a report take them."""
    command = click.option("--cdk-out", type=click.Path(path_type=Path), default=Path("cdk.out"), show_default=True)(
        command
    )
    return click.option(
        "--report", "report_dir", type=click.Path(path_type=Path), default=None,
        help="Write report.json and report.md here.",
    )(command)  # fmt: skip


def _results_page(section: str):
    """--results FILE: the results page this run writes its section into."""
    return click.option(
        "--results", "results_file", type=click.Path(path_type=Path), default=None,
        help=f"Write this run's section ({section}) into this results page (docs/results.md).",
    )  # fmt: skip


@click.command("compare")
@click.option("--workload", default="steady", show_default=True, help="A workload of experiments/workloads.json.")
@click.option("--encounters", type=click.IntRange(1, 5000), default=None, help="Override the workload's count.")
@click.option("--quotas", default=None, help="Quota settings to run under, comma-separated (default: the workload's).")
@click.option(
    "--workers",
    type=click.IntRange(1, 8),
    default=lambda: min(os.cpu_count() or 1, 8),
    show_default="this machine's cores, at most 8",
    help="Runs in parallel processes (each run is independent: the report is the same for any count).",
)
@click.option(
    "--faults", "profile", default="default", show_default=True, help="A profile of experiments/fault_profiles.json."
)
@click.option("--seed", type=int, default=7, show_default=True)
@_report_and_templates
@_results_page("by workload")
@click.option(
    "--reviews/--no-reviews",
    default=True,
    show_default=True,
    help="Clinicians sign a share of the notes and the rest expire (the run goes on past the review window).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def compare(
    ctx, workload, encounters, quotas, workers, profile, seed, report_dir, cdk_out, results_file, reviews, as_json
) -> None:
    """Run the same workload with the same seeded faults through both variants on the local cloud, under
    each quota setting, redrive, check the invariants and report. If an invariant fails it says which, on
    stderr, and exits 1 without writing the report or the results page (a written report never says FAIL
    where a committed one said PASS)."""
    from experiments import compare as comparison
    from experiments import results
    from scribe.cli import BadInput  # here, not above: scribe.cli loads this module while it is imported

    if not (cdk_out / "manifest.json").exists():
        raise BadInput(f"{cdk_out} holds no synthesized app: run `make synth` first")
    settings = [name.strip() for name in quotas.split(",")] if quotas else None
    try:
        report = comparison.compare(
            cdk_out,
            encounters,
            profile,
            seed,
            comparison.progress_printer(),
            workload=workload,
            quotas=settings,
            workers=workers,
            reviews=reviews,
            progress=True,
        )
    except ValueError as error:
        raise BadInput(str(error)) from None
    if sys.stderr.isatty():
        click.echo("", err=True)
    click.echo(comparison.report_json(report) if as_json else results.markdown(report))
    failed = comparison.failed_invariants(report)
    if failed:
        for line in failed:
            click.echo(f"INVARIANT FAILED: {line}", err=True)
        click.echo("nothing written: the report and the results page keep their last passing run", err=True)
        ctx.exit(1)
    if report_dir:
        comparison.write_report(report, report_dir)
    if results_file:
        results.update_results(results_file, report, report_dir)


@click.command("scale")
@click.option("--encounters", type=int, default=200, show_default=True, help="N: the smaller scale's encounters.")
@click.option("--larger", type=int, default=None, help="The larger scale's encounters (default: 10 x N).")
@click.option(
    "--real",
    type=int,
    default=None,
    help="Encounters run through the pipeline at each scale (default: N); the rest of each scale is seeded.",
)
@click.option(
    "--faults", "profile", default="none", show_default=True, help="A profile of experiments/fault_profiles.json."
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True, help="Runs in parallel processes (1 to 4).")
@_report_and_templates
@_results_page("scale")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def scale(ctx, encounters, larger, real, profile, seed, workers, report_dir, cdk_out, results_file, as_json) -> None:
    """Run both variants at N and at 10N encounters (the review window on) on the local cloud and report, per
    variant and scale: requests per upload by service, Lambda GB-seconds per upload, the longest sweep's simulated
    duration and requests, and the worklist's requests per page. The same real encounters run at both scales; the
    rest of each scale is seeded into the deployment as finished work (experiments/scale_run.py says how). Writes the
    report and the results section, then exits 1 naming each target a figure missed (per-upload figures within
    10% from N to 10N, the longest sweep at 10N under a simulated minute, a worklist page under 10 requests); a run
    that leaves a real encounter without its outcome exits 1 and writes nothing; bad options exit 2."""
    from experiments import fault_profiles
    from experiments import scale as experiment
    from scribe.cli import BadInput

    try:
        chosen = experiment.scales(encounters, larger, real)
    except experiment.ScaleInputError as error:
        raise BadInput(str(error)) from None
    if not 1 <= workers <= 4:
        raise BadInput(f"--workers must be from 1 to 4, got {workers}")
    known = fault_profiles()
    if profile not in known:
        raise BadInput(f"unknown fault profile {profile!r}; profiles: {', '.join(sorted(known))}")
    if not (cdk_out / "manifest.json").exists():
        raise BadInput(f"{cdk_out} holds no synthesized app: run `make synth` first")
    click.echo(
        f"scale: {chosen.encounters} and {chosen.larger} encounters ({chosen.real} real at each), both variants, "
        f"{workers} at a time",
        err=True,
    )
    from experiments import scale_run  # the local cloud: loaded once the options hold

    report = scale_run.scale(cdk_out, chosen, profile, seed, workers, show=lambda line: click.echo(line, err=True))
    click.echo(experiment.report_json(report) if as_json else experiment.markdown(report))
    if lost := experiment.lost_encounters(report):
        for line in lost:
            click.echo(f"RUN BROKEN: {line}", err=True)
        click.echo("nothing written: a run that loses an encounter measures nothing", err=True)
        ctx.exit(1)
    if report_dir:
        experiment.write_report(report, report_dir)
    if results_file:
        experiment.update_results(results_file, report)
    for line in experiment.missed_targets(report):
        click.echo(f"TARGET MISSED: {line}", err=True)
    if not report["all_targets_met"]:
        ctx.exit(1)


@click.command("eval")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Shuffles speaker labels and plans the planted errors."
)
@click.option(
    "--min-role-accuracy",
    type=click.FloatRange(0, 1),
    default=0.95,
    show_default=True,
    help="Exit 1 when fewer encounters than this get both speaker roles right.",
)
@click.option(
    "--min-detection",
    type=click.FloatRange(0, 1),
    default=0.90,
    show_default=True,
    help="Exit 1 when the check catches fewer of the planted errors than this.",
)
@click.option(
    "--max-false-flags",
    type=click.FloatRange(0, 1),
    default=0.10,
    show_default=True,
    help="Exit 1 when the check flags more of the human notes' statements than this.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def evaluate(ctx, path, seed, min_role_accuracy, min_detection, max_false_flags, as_json) -> None:
    """Measure the note path on ACI-BENCH-shaped conversations (a file, or a directory of them): speaker
    roles assigned from what each speaker says, with the speaker labels shuffled; the evidence links of the
    local note model's notes in every template; and the unsupported-claim check, on the human notes' own
    statements and on errors planted in them. Exits 2 for input of another
    shape, 1 when a figure misses its target."""
    import json
    from dataclasses import asdict

    from experiments import evaluation
    from scribe.cli import BadInput

    try:
        encounters = evaluation.load_encounters(path)
    except evaluation.EvaluationInputError as error:
        raise BadInput(str(error)) from None
    from experiments.drafting import local_bedrock
    from stacks.config import PipelineConfig

    roles = evaluation.speaker_roles(encounters, seed)
    check = evaluation.claim_check(encounters, seed)
    with local_bedrock() as bedrock:
        evidence = evaluation.evidence_links(encounters, bedrock, PipelineConfig().bedrock_model_id, seed)
    if as_json:
        figures = {
            "seed": seed,
            "speaker_roles": {**asdict(roles), "accuracy": roles.accuracy},
            "claim_check": {
                **asdict(check),
                "detection_rate": check.detection_rate,
                "false_flag_rate": check.false_flag_rate,
            },
            "evidence_links": {**asdict(evidence), "validity": evidence.validity},
        }
        click.echo(json.dumps(figures, indent=2))
    else:
        click.echo(evaluation.report_text(roles, seed))
        click.echo(evaluation.evidence_text(evidence))
        click.echo(evaluation.check_text(check))
    missed = []
    if evidence.validity < 1 or evidence.invalid_notes:
        missed.append("a local-model note has a statement that cites no segment, or one the transcript does not have")
    if roles.accuracy < min_role_accuracy:
        missed.append(f"speaker role accuracy {roles.accuracy:.1%} is below {min_role_accuracy:.0%}")
    if check.detection_rate < min_detection:
        missed.append(f"the check caught {check.detection_rate:.1%} of the planted errors, below {min_detection:.0%}")
    if check.false_flag_rate > max_false_flags:
        missed.append(
            f"the check flagged {check.false_flag_rate:.1%} of the human notes' statements, above {max_false_flags:.0%}"
        )
    for line in missed:
        click.echo(line, err=True)
    if missed:
        ctx.exit(1)


@click.command("draft")
@click.argument("transcript", type=click.Path(path_type=Path))
@click.option("--template", default=None, help="The note's template (default: soap).")
@click.option(
    "--engine",
    type=click.Choice(["local", "bedrock"]),
    default="local",
    show_default=True,
    help="local: the local note model, offline; bedrock: Amazon Bedrock with your credentials.",
)
@click.option("--model-id", default=None, help="The Bedrock model (default: bedrock_model_id of cdk.json).")
@click.option("--dictation", is_flag=True, help="The transcript is one clinician's dictation, not a conversation.")
@click.option("--json", "as_json", is_flag=True, help="Print the note document.")
@click.pass_context
def draft(ctx, transcript, template, engine, model_id, dictation, as_json) -> None:
    """Draft a note from a Transcribe Medical output file, as the pipeline would (speaker roles, the
    template, evidence links, the unsupported-claim check), and print it; nothing is written. Exits 2 with
    one line for a file that is not a transcript, no speech, one speaker (without --dictation), more
    speakers than the deployment labels, or an unknown template; 1 when the model's answer is not a note."""
    from clinical.errors import PipelineError
    from experiments.drafting import bedrock_client
    from scribe import drafts
    from scribe.cli import BadInput, Failed
    from scribe.rendering import note_text
    from stacks.config import PipelineConfig

    config = PipelineConfig.from_context_file(Path("cdk.json")) if Path("cdk.json").exists() else PipelineConfig()
    try:
        with bedrock_client(engine) as bedrock:
            note = drafts.draft(
                bedrock,
                transcript,
                template=template,
                model_id=model_id or config.bedrock_model_id,
                dictation=dictation,
                max_speakers=config.max_speaker_labels,
            )
    except drafts.DraftInputError as error:
        raise BadInput(str(error)) from None
    except PipelineError as error:
        raise Failed(f"{transcript}: {error.error_type}: {error.message}") from None
    click.echo(note.model_dump_json(indent=2) if as_json else note_text(note.model_dump(mode="json")))
    if not as_json:
        click.echo(drafts.calls_text(note), err=True)
