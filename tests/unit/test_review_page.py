"""The review page's rendering and form reading, without a server or a browser: note and transcript text is
untrusted model output and PHI, so every byte of it is escaped; a flagged statement stands out; only the
statements a clinician changed become edits. (tests/browser drives the page itself.)"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from clinical.conversation import Segment
from clinical.notes import FlaggedStatement, Note, NoteSection, Provenance, Speaker
from clinical.review import Edit, NoteVersion, ReviewRecord, ReviewRefused
from clinical.templates import CitedStatement
from review_desk.desk import Awaiting, NoteUnderReview, edits_from
from review_desk.pages import CONTENT_SECURITY_POLICY, note_page, worklist_page

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)> & \"quoted\""


def note(plan: list[str], flagged: list[FlaggedStatement] = ()) -> Note:
    return Note(
        template="soap",
        sections=[
            NoteSection(name="plan", title="Plan", statements=[CitedStatement(text=t, evidence=[2]) for t in plan])
        ],
        medications_and_orders=[],
        provenance=Provenance(
            encounter_id="enc-1",
            model_id="local",
            template="soap",
            prompt_version="soap-v2",
            transcript_sha256="0" * 64,
            transcription_job_name="job",
            variant="choreography",
            created_at=NOW,
        ),
        speakers=[Speaker(speaker_label="spk_1", role="CLINICIAN", confidence=1.0)],
        flagged=list(flagged),
    )


def record(due_in: timedelta = timedelta(hours=72)) -> ReviewRecord:
    return ReviewRecord(
        encounter_id="enc-1",
        variant="choreography",
        transcript_sha256="0" * 64,
        opened_at=NOW,
        due_at=NOW + due_in,
        versions=[NoteVersion(version=1, by="model local", at=NOW)],
    )


def view(plan: list[str], segment_text: str = "Amoxicillin for five days.", **kwargs) -> NoteUnderReview:
    segments = (Segment(number=2, speaker="spk_1", start=None, end=None, text=segment_text),)
    return NoteUnderReview("choreography", record(), note(plan, **kwargs), segments)


def test_note_and_transcript_text_is_escaped_everywhere():
    page = note_page(view([HOSTILE], segment_text=HOSTILE), NOW, signer=HOSTILE, refused=HOSTILE)
    assert "<script>alert" not in page and "<img src=x" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert page.count("&quot;quoted&quot;") == 5, "statement, its editor, the segment, the signer, the refusal"


def test_a_flagged_statement_stands_out_with_its_reason():
    flag = FlaggedStatement(section="plan", text="Warfarin 5 mg.", reason="warfarin is not in its evidence")
    page = note_page(view(["Amoxicillin.", "Warfarin 5 mg."], flagged=[flag]), NOW, signer="dr")
    assert "class='statement' id='statement-plan-0'" in page
    assert "class='statement flagged' id='statement-plan-1'" in page
    assert "Not supported by its evidence: warfarin is not in its evidence" in page


def test_the_transcript_shows_speaker_roles_and_stable_segment_ids():
    page = note_page(view(["Amoxicillin."]), NOW, signer="dr")
    assert "id='segment-2' data-segment='2'" in page and "<span class=role>Clinician</span>" in page
    assert "data-evidence='2'" in page


def test_a_review_past_its_deadline_offers_no_action():
    expired = NoteUnderReview("choreography", record(-timedelta(hours=1)), note(["Amoxicillin."]), ())
    page = note_page(expired, NOW, signer="dr")
    assert "sign-form" not in page and "Edit" not in page and "class=overdue>expired" in page


def test_the_worklist_shows_each_deadline():
    page = worklist_page([Awaiting("orchestration", record())], NOW)
    assert "2026-01-08 09:00 UTC <span class=cites>(in 72 h)</span>" in page
    assert "href='notes/orchestration/enc-1'" in page and "<base href='/'>" in page
    assert "No notes awaiting review." in worklist_page([], NOW)


def test_only_the_statements_changed_become_edits():
    drafted = note(["Amoxicillin.", "Chest X-ray."])
    form = {
        "edit.plan.0": ["Amoxicillin. "],  # opened, unchanged
        "edit.plan.1": [""],  # emptied: removes the statement
        "reason": ["ignored"],
    }
    assert edits_from(form, drafted) == [Edit(section="plan", index=1, text="")]
    # A statement the note no longer has goes on, for clinical.review to refuse: no signature without the edit.
    assert edits_from({"edit.plan.7": ["x"]}, drafted) == [Edit(section="plan", index=7, text="x")]
    with pytest.raises(ReviewRefused, match=r"the form names no statement 'plan\.first'"):
        edits_from({"edit.plan.first": ["x"]}, drafted)


class Attributes(HTMLParser):
    """Every element's attribute names in a page, and the text of its <style> and <script> elements."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.inline: dict[str, list[str]] = {"style": [], "script": []}
        self._open: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names |= {name for name, _ in attrs}
        self._open = tag if tag in self.inline else None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.inline[self._open].append(data)


def policy(header: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (d.split() for d in header.split(";"))}


def test_the_policy_runs_the_pages_own_style_and_script_by_their_hashes_and_nothing_inline():
    page = Attributes(note_page(view([HOSTILE], segment_text=HOSTILE), NOW, signer="dr"))
    directives = policy(CONTENT_SECURITY_POLICY)
    for kind in ("style", "script"):
        [text] = page.inline[kind]
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert directives[f"{kind}-src"] == [f"'sha256-{digest}'"]
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and directives["default-src"] == ["'none'"]
    assert (directives["frame-ancestors"], directives["form-action"], directives["base-uri"]) == (
        ["'none'"],
        ["'self'"],
        ["'self'"],
    )
    # Hashes admit whole elements only: an attribute's style or handler would be refused, so the page has none.
    assert "style" not in page.names and not [name for name in page.names if name.startswith("on")]
