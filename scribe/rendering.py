"""What a person reads: statuses, lists and notes as text."""

from __future__ import annotations

import textwrap

from scribe.doctor import Check
from scribe.encounters import EncounterStatus, Listed

DRAFT_BANNER = "DRAFT - AI-generated. A clinician must review and sign it before any clinical use."


def when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def status_text(status: EncounterStatus, *, links_as_on_aws: bool = False) -> str:
    """`links_as_on_aws`: the links are the AWS console's for this deployment, printed from the local cloud."""
    lines = [
        f"{status.encounter_id} ({status.variant}, stack {status.stack}): {status.stage}",
        "  timeline:",
        *(f"    {when(m.at)}  {m.what}" for m in status.timeline),
        f"  retries so far: {status.retries}",
    ]
    if status.failure:
        lines.append(f"  failure: {status.failure['reason']}")
    if status.review:
        review = status.review
        acted = f", by {review['by']}" if review.get("by") else ""
        why = f": {review['reason']}" if review.get("reason") else ""
        lines.append(
            f"  review: {review['status']}, version {review['version']}, due {review['due_at'][:16].replace('T', ' ')} UTC{acted}{why}"
        )
    lines.append("  evidence:")
    lines += [f"    {item}" for item in status.evidence]
    asked = ", ".join(status.services_asked)
    lines.append(f"  answered by asking {len(status.services_asked)} service(s): {asked} ({status.answered_by})")
    if links_as_on_aws:
        lines.append("  console links as on AWS (the local cloud has no console):")
    for name, link in status.links.items():
        lines.append(f"  console ({name}): {link}")
    return "\n".join(lines)


def list_text(listed: list[Listed]) -> str:
    if not listed:
        return "no encounters"
    width = max(len(item.encounter_id) for item in listed)
    stage_width = max(len(item.failure or item.stage) for item in listed)
    return "\n".join(
        f"{item.encounter_id:<{width}}  {item.variant:<13}  {item.failure or item.stage:<{stage_width}}  "
        f"uploaded {when(item.uploaded_at)}"
        for item in listed
    )


def note_text(note: dict, signed: str | None = None) -> str:
    """A note for a person: each statement with its id (how `scribe sign` names it), the transcript segments it
    cites, [12, 13], and who wrote it when a clinician did; `signed`, who signed it, in place of the draft's banner."""
    provenance = note["provenance"]
    wrap = lambda text: textwrap.fill(text, width=96, initial_indent="  ", subsequent_indent="      ")  # noqa: E731

    def cites(item: dict) -> str:
        evidence = item.get("evidence") or []
        by = ""
        if item.get("author") == "clinician":
            by = "  (clinician)" if evidence else "  (clinician's own, not from the recording)"
        accepted = "  (accepted as flagged)" if item.get("accepted") else ""
        return (f"  [{', '.join(str(n) for n in evidence)}]" if evidence else "") + by + accepted

    lines = [f"*** {signed or DRAFT_BANNER} ***", f"status: {note['status']}"]
    speakers = note.get("speakers") or []
    if speakers:
        lines.append(
            "speakers: " + ", ".join(f"{s['speaker_label']} {s['role']} ({s['confidence']:g})" for s in speakers)
        )
    flagged = note.get("flagged") or []
    if flagged:
        lines.append("NOT SUPPORTED BY THE SEGMENTS IT CITES (edit, remove or accept before signing):")
        lines += [f"  - {f.get('statement') or f['section']}: {f['text']}{cites(f)}  ({f['reason']})" for f in flagged]
    lines.append("")
    for section in note["sections"]:
        statements = [wrap(f"{item['id']}  {item['text']}{cites(item)}") for item in section["statements"]]
        lines += [f"{section['title'].upper()} ({section['name']})", *(statements or ["  Not discussed."]), ""]
    lines.append("MEDICATIONS AND ORDERS (medications_and_orders)")
    orders = note.get("medications_and_orders") or []
    lines += [wrap(f"{o['id']}  [{o['category']}] {o['description']}{cites(o)}") for o in orders] or ["  (none)"]
    calls = provenance.get("model_calls") or []
    lines += [
        "",
        "PROVENANCE",
        f"  encounter {provenance['encounter_id']}, variant {provenance['variant']}, created {provenance['created_at']}",
        f"  template {provenance['template']}, prompt {provenance['prompt_version']}, model {provenance['model_id']}"
        + (f", {len(calls)} calls" if len(calls) > 1 else ""),
        f"  transcript sha256 {provenance['transcript_sha256']}",
        f"  transcription job {provenance['transcription_job_name']}",
        "  s3, o1, c2: the ids `scribe sign --edit` names statements by; [n]: the transcript segments it cites",
    ]
    return "\n".join(lines)


def cost_text(estimate: dict) -> str:
    n = estimate["encounters"]
    lines = [
        f"{estimate['minutes_per_encounter']:g} min of audio per encounter, {n} encounters, "
        f"{estimate['model_id']}, {estimate['region']} list prices recorded {estimate['prices_recorded']}",
        f"operation counts: {estimate['measured']}",
    ]
    for variant, figures in estimate["variants"].items():
        lines += ["", f"{variant}:", f"  {'item':<20} {'per encounter':>14} {f'per {n}':>12}  basis"]
        for line in figures["lines"]:
            lines.append(
                f"  {line['item']:<20} {line['usd_per_encounter']:>14.6f} {line['usd_per_n']:>12.4f}  {line['basis']}"
            )
        lines.append(f"  {'total':<20} {figures['usd_per_encounter']:>14.6f} {figures['usd_per_n']:>12.4f}")
        lines.append(
            f"  Transcribe is {figures['transcribe_share']:.1%} of it; the coordination (Lambda, Step Functions, "
            f"SQS, S3 requests, DynamoDB) costs ${figures['coordination_usd_per_encounter'] * 1000:.4f} per 1,000 encounters"
        )
    fixed = ", ".join(f"{k} ${v:.2f}" for k, v in estimate["fixed_per_month"].items())
    lines += ["", f"fixed per month: {fixed}", estimate["caveat"]]
    return "\n".join(lines)


def doctor_text(checks: list[Check]) -> str:
    """One line per check: `OK  what` or `FIX what: how to fix it`."""
    return "\n".join(f"OK  {check.what}" if check.ok else f"FIX {check.what}: {check.fix}" for check in checks)
