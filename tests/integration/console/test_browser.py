"""The console in a real browser: Debian's headless chromium driven by Playwright.

Each test signs in through the sign-in page, as a user would, and saves a screenshot of
what it saw under ``.ci/artifacts/console/``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.integration.console.conftest import (
    ARTIFACTS,
    ConsoleEstate,
    find_chromium,
)
from tests.npm_packages import npm_ci

#: What this machine's chromium needs headless and offline (no sandbox as root, no GPU,
#: none of the background fetches a browser makes to Google).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, estate: ConsoleEstate, principal: str, then: str = "/") -> None:
    page.goto(estate.url + then)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Principal", exact=True).fill(principal)
    page.get_by_label("Password (its SCRAM credential)").fill(estate.password(principal))
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("principal")).to_have_text(principal)


def test_a_tenant_signs_in_browses_and_is_denied_another_tenants_private_topic(
    console_estate: ConsoleEstate, page: Page
) -> None:
    page.goto(console_estate.url + "/login")
    page.get_by_label("Principal", exact=True).fill("kyc-service")
    page.get_by_label("Password (its SCRAM credential)").fill("wrong")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("login-error")).to_contain_text("refused")
    shot(page, "01-login-refused")

    sign_in(page, console_estate, "kyc-service", then="/topics")
    expect(page).to_have_url(re.compile(r"/topics$"))
    table = page.get_by_role("table")
    expect(table.get_by_role("link", name="risk.fraud.decision.v1", exact=True)).to_be_visible()
    expect(
        table.get_by_role("link", name="payments.card.authorized.v1", exact=True)
    ).to_be_visible()
    expect(table.get_by_text("payments.card.holders", exact=True)).to_have_count(0)
    shot(page, "02-topics-as-kyc-service")

    page.get_by_label("Name contains").fill("decision")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("topic-total")).to_have_text("1 topic(s)")
    page.get_by_role("link", name="risk.fraud.decision.v1", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("risk.fraud.decision.v1")
    expect(page.get_by_text("FULL_TRANSITIVE").first).to_be_visible()
    shot(page, "03-topic-detail")

    answer = page.goto(console_estate.url + "/topics/payments.card.holders")
    assert answer is not None and answer.status == 403
    expect(page.get_by_test_id("denied")).to_contain_text("may not see topic payments.card.holders")
    shot(page, "04-denied-private-topic")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(console_estate.url + "/topics")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_lag_moves_on_the_group_page_as_a_consumer_runs(
    console_estate: ConsoleEstate, page: Page
) -> None:
    reader = "ledger-writer"
    group, consumer = console_estate.backlog(reader, 3000, "b")
    deadline = time.monotonic() + 30
    while not [m for m in consumer.consume(10, timeout=1) if m.error() is None]:
        assert time.monotonic() < deadline, "nothing to consume"
    consumer.commit(asynchronous=False)
    stop = threading.Event()

    def consume_slowly() -> None:
        # 200 records a second, committed each time: the lag shrinks as the page watches.
        while not stop.is_set():
            if [m for m in consumer.consume(200, timeout=0.5) if m.error() is None]:
                consumer.commit(asynchronous=False)
            time.sleep(0.5)

    # The group page exists once the console's background read has seen the group.
    with console_estate.api(reader) as api:
        deadline = time.monotonic() + 30
        while api.get(f"/groups/{group}").status_code != 200:
            assert time.monotonic() < deadline, "the console never saw the group"
            time.sleep(0.2)
    sign_in(page, console_estate, reader, then=f"/groups/{group}")
    lag = page.get_by_test_id("total-lag")
    expect(lag).not_to_have_text("-", timeout=15_000)
    first = int(lag.inner_text())
    assert first > 0
    shot(page, "05-group-lag-before")
    worker = threading.Thread(target=consume_slowly, daemon=True)
    worker.start()
    try:
        # No reload: the page refreshes its live part in place.
        deadline = time.monotonic() + 30
        while int(lag.inner_text()) >= first:
            assert time.monotonic() < deadline, "the lag shown never moved"
            page.wait_for_timeout(250)
        assert int(lag.inner_text()) < first
        expect(page.locator("svg.chart polyline")).to_have_count(1)
        shot(page, "06-group-lag-moving")
    finally:
        stop.set()
        worker.join(timeout=10)
        consumer.close()


def test_an_administrator_explores_lineage_plan_and_a_masked_message(
    console_estate: ConsoleEstate, page: Page
) -> None:
    sign_in(page, console_estate, "admin", then="/lineage")
    node = page.locator('#lineage g.node[data-id="topic:payments.card.authorized.v1"]')
    expect(node).to_be_visible()
    node.click()
    expect(node).to_have_class(re.compile(r"\bfocus\b"))
    unrelated = page.locator('#lineage g.node[data-id="topic:payments.card.holders"]')
    expect(unrelated).to_have_class(re.compile(r"\bdim\b"))
    shot(page, "07-lineage-selected")
    node.press("Escape")
    expect(unrelated).not_to_have_class(re.compile(r"\bdim\b"))

    page.get_by_role("link", name="Plan & drift").click()
    expect(page.get_by_test_id("drift")).to_contain_text("No drift")
    shot(page, "08-plan")

    page.goto(console_estate.url + "/topics/payments.card.holders/messages")
    expect(page.get_by_text("Masked for you: card_number, email, name")).to_be_visible()
    shot(page, "09-messages-masked")


def test_a_client_signs_in_through_the_oidc_issuer(
    console_estate: ConsoleEstate, page: Page
) -> None:
    conn = console_estate.as_app("volume-aggregator")
    assert conn.oauth_client_id and conn.oauth_client_secret
    page.goto(console_estate.url + "/login")
    page.get_by_label("Client id", exact=True).fill(conn.oauth_client_id)
    page.get_by_label("Client secret", exact=True).fill(conn.oauth_client_secret)
    page.get_by_role("button", name="Sign in with OIDC").click()
    expect(page.get_by_test_id("principal")).to_have_text("volume-aggregator")
    expect(page.get_by_role("table").get_by_role("rowheader", name="analytics")).to_be_visible()
    shot(page, "10-overview-oidc")


AXE = Path(__file__).resolve().parent / "axe"
#: Every page, as the super user sees it (the most content: every tenant, the plan).
PAGES = [
    "/", "/topics", "/topics/payments.card.authorized.v1", "/topics/payments.card.holders/messages",
    "/groups", "/lineage", "/plan", "/audit", "/slos", "/cost", "/replication",
]  # fmt: skip


def test_every_page_passes_axes_accessibility_rules(
    console_estate: ConsoleEstate, page: Page
) -> None:
    """axe-core (npm, pinned) in each page: no serious or critical violation of WCAG 2.1
    A and AA rules (contrast, labels, names, landmarks, keyboard reachability)."""
    npm_ci(AXE)
    sign_in(page, console_estate, "admin")
    found = {}
    for path in PAGES:
        page.goto(console_estate.url + path)
        page.add_script_tag(path=str(AXE / "node_modules" / "axe-core" / "axe.min.js"))
        result = page.evaluate(
            "() => axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        )
        serious = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if serious:
            found[path] = serious
        assert result["passes"], f"axe ran no rule on {path}"
    assert not found, json.dumps(found, indent=1)
