"""A clinician at the review page, in a real browser, against both variants on the local cloud: the worklist,
a note beside its transcript, a statement's evidence highlighted (by mouse and by keyboard), an edit, a
signature, and the signed note showing the change; a refused action that shows its reason, keeps what was typed
and changes nothing; and another web site's forged forms, refused."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from playwright.sync_api import Page, expect

from tests.browser.conftest import SAMPLE
from tests.localcloud.conftest import STACKS, keys, read_json, upload
from tests.support.domain_events import contract_errors, received, subscribe
from tests.support.loopback import LoopbackServer

CHOREOGRAPHY, ORCHESTRATION = STACKS
HIGHLIGHTED = re.compile(r"\bhighlighted\b")
# `make screenshot` sets it: the note view with a statement's evidence highlighted, for the README.
SCREENSHOT = os.environ.get("REVIEW_PAGE_SCREENSHOT")


def drafted(cloud, encounter_id: str, stacks=STACKS) -> None:
    for stack in stacks:
        upload(cloud, stack, f"audio/{encounter_id}.wav", SAMPLE.read_bytes())
    cloud.run_until_quiet()


def plan_statement(cloud, stack: str, encounter_id: str, index: int = 0) -> dict:
    note = read_json(cloud, stack, f"notes/{encounter_id}.json")
    return next(s for s in note["sections"] if s["name"] == "plan")["statements"][index]


def review_versions(cloud, stack: str, encounter_id: str) -> list[str]:
    listing = cloud.client("s3").list_object_versions(
        Bucket=cloud.outputs[stack]["EncounterBucketName"], Prefix=f"reviews/{encounter_id}"
    )
    return sorted(version["VersionId"] for version in listing.get("Versions", []))


def test_a_clinician_reads_the_evidence_edits_a_statement_and_signs(cloud, review_page, page: Page):
    """GIVEN knee-followup drafted in both variants, WHEN the clinician opens choreography's note from the
    worklist, clicks the plan's first statement, edits it and signs, THEN its segments were highlighted, the
    signed note holds the edit, NoteSigned is on the bus, and the worklist keeps orchestration's."""
    events, sqs = cloud.client("events"), cloud.client("sqs")
    bus = subscribe(events, sqs, cloud.outputs[CHOREOGRAPHY]["DomainEventBusName"], "review-page-bus")
    drafted(cloud, "knee-followup")
    plan = plan_statement(cloud, CHOREOGRAPHY, "knee-followup")
    edited = plan["text"].removeprefix("[local note model] ")

    page.goto(review_page)
    awaiting = page.locator("tr.awaiting_review[data-encounter='knee-followup']")
    expect(awaiting).to_have_count(2)
    expect(awaiting.locator(".due").first).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in 72 h\)"))
    awaiting.and_(page.locator("[data-variant='choreography']")).get_by_role("link").click()
    expect(page.locator("#review-status")).to_have_text("AWAITING_REVIEW")
    expect(page.locator(".segment.highlighted")).to_have_count(0)

    statement = page.locator(f"#statement-{plan['id']}")
    statement.focus()
    page.keyboard.press("Enter")
    expect(statement).to_have_class(re.compile(r"\bselected\b"))
    page.locator(".segment").first.click()
    statement.click()
    expect(statement).to_have_class(re.compile(r"\bselected\b"))
    for number in plan["evidence"]:
        expect(page.locator(f"#segment-{number}")).to_have_class(HIGHLIGHTED)
        expect(page.locator(f"#segment-{number} .role")).to_have_text("Clinician")
    expect(page.locator(".segment.highlighted")).to_have_count(len(plan["evidence"]))
    if SCREENSHOT:
        page.mouse.move(0, 0)  # no hover on a statement
        page.evaluate("window.scrollTo(0, 0)")  # the whole page from its top, the transcript beside the note
        page.screenshot(path=SCREENSHOT, full_page=True)

    statement.get_by_role("button", name="Edit").click()
    page.locator(f"#edit-{plan['id']}").fill(edited)
    page.get_by_role("button", name="Sign with changes").click()
    expect(page.locator("#review-status")).to_have_text("SIGNED")
    expect(page.locator("#signed-banner")).to_contain_text("Signed note, version 2: signed by ")
    expect(page.locator("#signed-banner")).to_contain_text("the clinician's changes to version 1: 1 edited")
    expect(page.locator(f"#statement-{plan['id']} ins")).to_have_text(edited)
    expect(page.locator(f"#statement-{plan['id']} del")).to_have_text(plan["text"])
    expect(page.locator(".edit-button")).to_have_count(0)

    signed = read_json(cloud, CHOREOGRAPHY, "signed/knee-followup.json")
    assert (signed["version"], signed["signed_by"]) == (2, "arn:aws:sts::123456789012:user/moto")
    [signed_plan] = [s for s in signed["note"]["sections"] if s["name"] == "plan"]
    assert signed_plan["statements"][0]["text"] == edited
    [note_signed] = [event for event in received(sqs, bus) if event["detail-type"] == "NoteSigned"]
    assert contract_errors(note_signed) == []
    assert (note_signed["detail"]["encounter_id"], note_signed["detail"]["edited_statements"]) == ("knee-followup", 1)
    assert edited not in str(note_signed)
    # What a signature sets off runs when the test drives the simulation, from this thread.
    cloud.run_until_quiet()
    # The edge's consumer of NoteSigned wrote the signed note's FHIR DocumentReference, valid for fhir.resources.
    document = read_json(cloud, CHOREOGRAPHY, "exports/fhir/knee-followup.json")
    DocumentReference.model_validate(document)
    assert (document["docStatus"], document["context"]["encounter"][0]["identifier"]["value"]) == (
        "final",
        "knee-followup",
    )

    page.get_by_role("link", name="Worklist").click()
    expect(awaiting).to_have_count(1)
    expect(awaiting).to_have_attribute("data-variant", "orchestration")


def test_a_refused_action_shows_its_reason_on_the_page_and_changes_nothing(cloud, review_page, page: Page):
    """GIVEN knee-recheck awaiting review in orchestration, WHEN the clinician sends it back without a reason,
    then signs with an edit its evidence does not support, THEN each refusal is shown in one line and the
    review, its versions and the signed notes are as they were."""
    drafted(cloud, "knee-recheck", stacks=[ORCHESTRATION])
    before = review_versions(cloud, ORCHESTRATION, "knee-recheck")

    page.goto(f"{review_page}/notes/orchestration/knee-recheck")
    page.get_by_role("button", name="Send back").click()
    # The browser asks for the reason before sending anything (the page refuses one without it all the same).
    assert page.locator("input[name=reason]").evaluate("field => field.validationMessage")
    expect(page.locator("#review-status")).to_have_text("AWAITING_REVIEW")
    page.locator("input[name=reason]").fill("   ")
    page.get_by_role("button", name="Send back").click()
    expect(page.get_by_role("alert")).to_have_text("sending a note back needs a reason (nothing was changed)")

    plan = plan_statement(cloud, ORCHESTRATION, "knee-recheck")
    page.locator(f"#statement-{plan['id']}").get_by_role("button", name="Edit").click()
    page.locator(f"#edit-{plan['id']}").fill("Start warfarin 5 mg.")
    page.get_by_role("button", name="Sign with changes").click()
    expect(page.get_by_role("alert")).to_have_text(
        f"the edited statement {plan['id']} is not supported by the segments it cites: the medication warfarin is "
        "not in its evidence. Sign it as your own statement (not from the recording) to keep it (nothing was changed)"
    )
    # What was typed is kept, in the statement marked, for the clinician to correct or to sign as their own.
    expect(page.locator(f"#statement-{plan['id']}")).to_have_class(re.compile(r"\brefused-statement\b"))
    expect(page.locator(f"#edit-{plan['id']}")).to_have_value("Start warfarin 5 mg.")

    assert review_versions(cloud, ORCHESTRATION, "knee-recheck") == before
    assert keys(cloud, ORCHESTRATION, "signed/") == []
    assert read_json(cloud, ORCHESTRATION, "reviews/knee-recheck.json")["status"] == "AWAITING_REVIEW"


def forging_site(action: str, fields: dict[str, str]) -> LoopbackServer:
    """Another web site on this machine (its own port): a page whose form posts itself to `action` as it loads."""
    inputs = "".join(f"<input type=hidden name='{name}' value='{value}'>" for name, value in fields.items())
    page = (
        f"<!doctype html><form id=forged method=post action='{action}'>{inputs}</form>"
        "<script>document.getElementById('forged').submit()</script>"
    )
    return LoopbackServer(lambda _request: (200, page.encode()), content_type="text/html; charset=utf-8")


@pytest.mark.parametrize("site_host", ["127.0.0.1", "localhost"])
def test_another_sites_forged_forms_are_refused_and_change_nothing(cloud, review_page, page: Page, site_host):
    """GIVEN knee-forged awaiting review in orchestration and the clinician's browser holding the page's session,
    WHEN a page of another origin (127.0.0.1 at another port: the same site, so the session cookie goes along;
    localhost: another site) posts the sign and send-back forms itself, THEN the review page refuses each (403)
    and the review, its versions and the signed notes are as they were."""
    encounter = f"knee-forged-{site_host.replace('.', '-')}"
    drafted(cloud, encounter, stacks=[ORCHESTRATION])
    before = review_versions(cloud, ORCHESTRATION, encounter)
    note = f"{review_page}/notes/orchestration/{encounter}"
    page.goto(note)
    expect(page.locator("#review-status")).to_have_text("AWAITING_REVIEW")

    for action, fields in (("sign", {}), ("send-back", {"reason": "forged"})):
        site = forging_site(f"{note}/{action}", {**fields, "form-token": "guessed"})
        try:
            with page.expect_response(lambda response, action=action: response.url.endswith(action)) as posted:
                page.goto(site.url.replace("127.0.0.1", site_host) + "/")
            assert posted.value.request.method == "POST" and posted.value.status == 403
            assert urlsplit(posted.value.request.all_headers()["origin"]).port == urlsplit(site.url).port
            expect(page.get_by_role("alert")).to_contain_text("posted from this page only")
        finally:
            site.close()

    assert review_versions(cloud, ORCHESTRATION, encounter) == before
    assert f"signed/{encounter}.json" not in keys(cloud, ORCHESTRATION, "signed/")
    assert read_json(cloud, ORCHESTRATION, f"reviews/{encounter}.json")["status"] == "AWAITING_REVIEW"
