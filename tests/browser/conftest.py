"""The review page served against the in-process local cloud (both stacks deployed), driven by Playwright in
headless Chromium from Debian's packages (`apt-get install chromium`; .ci/run installs it when missing)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from localcloud.cloud import REGION, LocalCloud
from review_desk.desk import ReviewDesk
from scribe.review_page import review_server
from scribe.target import VARIANTS, Target
from tests.localcloud.conftest import STACKS

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "knee-followup.wav"


@pytest.fixture(scope="module")
def cloud(cdk_out):
    """One local cloud for the module's tests (each uses its own encounter ids): deploying is the slow part."""
    with LocalCloud(cdk_out) as cloud:
        for stack in STACKS:
            cloud.deploy(stack)
        cloud.transcribe.register(SAMPLE.read_bytes(), SAMPLE.with_suffix(".txt").read_text().strip())
        yield cloud


@pytest.fixture(scope="module")
def review_page(cloud) -> str:
    """The page's URL, its server on a thread of this process, reading and acting through moto in-process.

    Why a thread works here: the local cloud runs its actors only while the main thread drives it
    (`run_until_quiet`), and the main thread is blocked in Playwright whenever the browser talks to the page,
    so the page's AWS calls never overlap the simulation's. The server thread is no actor: its calls cost no
    simulated time and are made as the account's administrator, as `scribe` is in tests/localcloud/test_cli.py,
    on the simulation's clock (time-machine holds it for every thread). The server answers on a thread per
    request, but the tests' browser asks one thing at a time (each step waits for its page), so those never
    overlap either. Work that a signature sets off (a NoteSigned consumer) runs when the test next drives the
    simulation. (The moto server of `make localcloud` is the other way, but it runs the CDK CLI to deploy.)"""
    target = Target(region=REGION, local=True)
    server = review_server(ReviewDesk({variant: target.deployment(variant) for variant in VARIANTS}))
    thread = threading.Thread(target=server.serve_forever, name="review-page", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CHROMIUM to its path)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context.new_page()
    context.close()
