"""The review page's rendering and form reading, without a server or a browser: note and transcript text is
untrusted model output and PHI, so every byte of it is escaped; statements are named by their ids; a flagged
statement stands out and asks to be accepted; only the statements a clinician changed become changes; a refused
change keeps what was typed; a signed note shows who signed, when, and what they changed. (tests/browser drives
the page itself.)"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from clinical.conversation import Segment
from clinical.notes import FlaggedStatement, Note, NoteOrder, NoteSection, NoteStatement, Provenance, Speaker
from clinical.review import NoteVersion, ReviewRecord, ReviewRefused
from clinical.revisions import Addition, Changes
from review_desk.desk import Awaiting, NoteUnderReview, Refusal, Worklist, changes_from, version_from
from review_desk.pages import CONTENT_SECURITY_POLICY, note_page, worklist_page

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)> & \"quoted\""


def note(plan: list[str], flagged: list[FlaggedStatement] = (), orders: list[NoteOrder] = ()) -> Note:
    return Note(
        template="soap",
        sections=[
            NoteSection(
                name="plan",
                title="Plan",
                statements=[NoteStatement(id=f"s{n}", text=t, evidence=[2]) for n, t in enumerate(plan, start=1)],
            ),
            NoteSection(name="objective", title="Objective", statements=[]),
        ],
        medications_and_orders=list(orders),
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


def record(due_in: timedelta = timedelta(hours=72), **fields) -> ReviewRecord:
    fields.setdefault("versions", [NoteVersion(version=1, by="model local", at=NOW, flagged=0)])
    return ReviewRecord(
        encounter_id="enc-1",
        variant="choreography",
        transcript_sha256="0" * 64,
        opened_at=NOW,
        due_at=NOW + due_in,
        **fields,
    )


SEGMENTS = (Segment(number=2, speaker="spk_1", start=None, end=None, text="Amoxicillin for five days."),)


def view(plan: list[str], segment_text: str = "Amoxicillin for five days.", **kwargs) -> NoteUnderReview:
    segments = (Segment(number=2, speaker="spk_1", start=None, end=None, text=segment_text),)
    return NoteUnderReview("choreography", record(), note(plan, **kwargs), segments)


def test_note_and_transcript_text_is_escaped_everywhere():
    refused = Refusal(HOSTILE, "s1", {"edit.s1": [HOSTILE], "add.plan": [HOSTILE], "reason": [HOSTILE]})
    page = note_page(view([HOSTILE], segment_text=HOSTILE), NOW, signer=HOSTILE, refused=refused)
    assert "<script>alert" not in page and "<img src=x" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert page.count("&quot;quoted&quot;") == 7, (
        "the statement, its editor (as typed), the addition typed, the reason typed, the segment, the signer, the refusal"
    )


def test_each_statement_is_named_by_its_id_and_a_flagged_one_stands_out_with_its_reason_and_acceptance():
    flag = FlaggedStatement(
        section="plan", text="Warfarin 5 mg.", reason="warfarin is not in its evidence", statement="s2"
    )
    page = note_page(view(["Amoxicillin.", "Warfarin 5 mg."], flagged=[flag]), NOW, signer="dr")
    assert "class='statement' id='statement-s1'" in page and "name='edit.s1'" in page
    assert "class='statement flagged' id='statement-s2'" in page
    assert "Not supported by its evidence: warfarin is not in its evidence" in page
    assert "name='accept.s2'" in page and "name='accept.s1'" not in page
    assert "name='own.s1'" in page, "an edit may be signed as the clinician's own"


def test_every_section_and_the_orders_take_additions_the_empty_ones_included():
    order = NoteOrder(id="o1", category="imaging", description="Chest X-ray", evidence=[2])
    page = note_page(view(["Amoxicillin."], orders=[order]), NOW, signer="dr")
    for name in ("add.plan", "add.objective", "add.medications_and_orders"):
        assert f"name='{name}'" in page
    assert "name='edit.o1'" in page and "name='category.medications_and_orders'" in page
    assert "<li class=cites>Not discussed.</li>" in page


def test_the_forms_carry_the_version_reviewed_and_say_what_a_send_back_does():
    page = note_page(view(["Amoxicillin."]), NOW, signer="dr")
    assert page.count("<input type=hidden name=version value='1'>") == 2
    assert "Sending back has the note drafted again with your reason (2 redrafts left)" in page


def test_the_transcript_shows_speaker_roles_and_stable_segment_ids():
    page = note_page(view(["Amoxicillin."]), NOW, signer="dr")
    assert "id='segment-2' data-segment='2'" in page and "<span class=role>Clinician</span>" in page
    assert "data-evidence='2' tabindex=0" in page, "a statement is reached by keyboard"


def test_a_review_past_its_deadline_offers_no_action():
    expired = NoteUnderReview("choreography", record(-timedelta(hours=1)), note(["Amoxicillin."]), ())
    page = note_page(expired, NOW, signer="dr")
    assert "sign-form" not in page and "class=edit-button" not in page and "class=overdue>expired" in page


def test_a_refused_change_keeps_what_was_typed_and_marks_its_statement():
    typed = {"edit.s1": ["Amoxicillin 875 mg."], "own.s1": [], "add.plan": ["Return in 2 weeks."]}
    refused = Refusal("the edited statement s1 is not supported", "s1", typed)
    page = note_page(view(["Amoxicillin.", "Rest."]), NOW, signer="dr", refused=refused)
    assert "class='statement refused-statement' id='statement-s1'" in page
    assert ">Amoxicillin 875 mg.</textarea>" in page and "id='editor-s1' hidden" not in page
    assert "id='editor-s2' hidden" in page, "an unopened statement stays closed"
    assert "<details class=adder open>" in page and ">Return in 2 weeks.</textarea>" in page
    assert "the edited statement s1 is not supported (nothing was changed)" in page


def test_a_signed_note_shows_who_signed_when_and_the_clinicians_changes_against_the_draft():
    draft = note(["Amoxicillin.", "Rest.", "Fluids."])
    signed_note = note(["Amoxicillin twice daily.", "Fluids."])
    signed_note.sections[0].statements[0].author = "clinician"
    signed_note.sections[0].statements[1].id = "s3"
    signed_note.sections[0].statements.append(NoteStatement(id="c1", text="Pulse 88.", author="clinician"))
    versions = [
        NoteVersion(version=1, by="model local", at=NOW),
        NoteVersion(version=2, by="dr", at=NOW, based_on=1, edited=["s1"], removed=["s2"], added=["c1"]),
    ]
    signed = NoteUnderReview(
        "choreography",
        record(status="SIGNED", signed_by="dr", signed_at=NOW, versions=versions),
        signed_note,
        SEGMENTS,
        draft,
    )
    page = note_page(signed, NOW, signer=None)
    assert "Signed note, version 2: signed by dr at 2026-01-05 09:00 UTC" in page
    assert "the clinician's changes to version 1: 1 edited, 1 removed, 1 added" in page
    assert "AI-generated draft" not in page, "no draft banner on a signed note"
    assert "<del>Amoxicillin.</del> <ins>Amoxicillin twice daily.</ins>" in page
    assert "<del>Rest.</del> <span class=change>removed by the clinician</span>" in page
    assert "Pulse 88. </span>" not in page and "their own statement, not from the recording" in page
    assert "sign-form" not in page


def test_a_sent_back_note_says_what_happens_next():
    sent_back = NoteUnderReview(
        "choreography",
        record(status="SENT_BACK", sent_back_by="dr", sent_back_at=NOW, reason="Add the dose."),
        note(["Amoxicillin."]),
        SEGMENTS,
    )
    page = note_page(sent_back, NOW, signer=None)
    assert "The model is drafting it again with this reason (redraft 1 of at most 2)" in page
    assert "it comes back to the worklist as version 2" in page


def test_the_worklist_shows_each_deadline_and_how_many_statements_are_flagged():
    flagged = record()
    flagged.versions[0].flagged = 2
    page = worklist_page(Worklist([Awaiting.of_record("orchestration", flagged)]), NOW)
    assert "2026-01-08 09:00 UTC <span class=cites>(in 72 h)</span>" in page
    assert "<span class=flag>2 flagged</span>" in page
    assert "href='notes/orchestration/enc-1'" in page and "<base href='/'>" in page
    assert "No notes awaiting review." in worklist_page(Worklist([]), NOW)
    assert "href='./?all=1'" in page


def test_the_whole_worklist_shows_signed_and_sent_back_reviews_by_status():
    signed = record(status="SIGNED", signed_by="dr", signed_at=NOW)
    page = worklist_page(Worklist([Awaiting.of_record("choreography", signed)]), NOW, everything=True)
    assert "<td class=status>SIGNED</td>" in page and "Awaiting review only" in page


def test_only_the_statements_changed_become_changes():
    drafted = note(["Amoxicillin.", "Chest X-ray."])
    form = {
        "edit.s1": ["Amoxicillin. "],  # opened, unchanged
        "edit.s2": [""],  # emptied: removes the statement
        "own.s1": ["on"],  # ticked for a statement left as it was: says nothing
        "add.plan": ["Return in 2 weeks.\n\n  Fluids.  "],
        "add.medications_and_orders": ["CBC"],
        "category.medications_and_orders": ["lab"],
        "reason": ["ignored"],
    }
    assert changes_from(form, drafted) == Changes(
        edits={"s2": ""},
        added=[
            Addition(section="plan", text="Return in 2 weeks."),
            Addition(section="plan", text="  Fluids.  "),
            Addition(section="medications_and_orders", text="CBC", category="lab"),
        ],
    )
    # A statement the note no longer has goes on, for clinical.review to refuse: no signature without the change.
    assert changes_from({"edit.s7": ["x"]}, drafted) == Changes(edits={"s7": "x"})


@pytest.mark.parametrize(
    "form",
    [
        {"edit.plan.0": ["x"]},
        {"edit.s\u0663": ["x"]},  # ARABIC-INDIC DIGIT THREE: a digit, but no ASCII one
        {"accept.s\u00b2": ["on"]},  # SUPERSCRIPT TWO
        {"category.medications_and_orders": ["surgery"]},
    ],
)
def test_a_form_naming_no_statement_is_refused_in_one_line(form):
    with pytest.raises(ReviewRefused) as refused:
        changes_from(form, note(["Amoxicillin."]))
    assert "\n" not in refused.value.message


@pytest.mark.parametrize(("value", "version"), [("", None), ("2", 2)])
def test_the_version_reviewed_is_read_from_the_form(value, version):
    assert version_from({"version": [value]}) == version


@pytest.mark.parametrize("value", ["\u0663", "2\u00b2", "two", "-1"])
def test_a_version_that_is_no_ascii_number_is_refused(value):
    with pytest.raises(ReviewRefused, match="the form's version is not a number"):
        version_from({"version": [value]})


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
