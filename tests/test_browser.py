"""The built site in a real browser: Chromium driven by Playwright.

The fixture site is served on 127.0.0.1 from a thread. Every request the page
makes is recorded, and any that would leave 127.0.0.1 is aborted and fails the
test. These tests run whenever /usr/bin/chromium exists (CI installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.regenerate_golden import build_fixture_site
from tests.site_fixture import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"]

pytestmark = [
    pytest.mark.browser,
    # CI sets SITE_BUILDER_REQUIRE_BROWSER so a missing Chromium fails instead of skipping.
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("SITE_BUILDER_REQUIRE_BROWSER"),
        reason=f"{CHROMIUM} is not installed (apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = build_fixture_site(tmp_path_factory.mktemp("browser"))
    with serving(out) as url:
        yield url


class Session:
    """A page plus what it logged and requested."""

    def __init__(self, page: object) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def session(browser: object) -> Iterator[Session]:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    watched = Session(page)

    def route(route: object, request: object) -> None:
        url = request.url  # type: ignore[attr-defined]
        watched.requests.append(url)
        host = urlsplit(url).hostname
        if url.startswith(("data:", "file:")) or host == "127.0.0.1":
            route.continue_()  # type: ignore[attr-defined]
        else:
            route.abort()  # type: ignore[attr-defined]

    context.route("**/*", route)
    page.on("console", lambda message: watched.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    try:
        yield watched
    finally:
        context.close()


def _only_loopback(requests: list[str]) -> list[str]:
    return [url for url in requests if not url.startswith(("data:", "file:")) and urlsplit(url).hostname != "127.0.0.1"]


def test_index_loads_without_console_errors(session: Session, site_url: str) -> None:
    page = session.page
    page.goto(site_url + "index.html")  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert page.title() == "Data challenges"  # type: ignore[attr-defined]
    assert page.locator("li.card").count() == 3  # type: ignore[attr-defined]
    # The stylesheet applied: the page is not browser-default black on white Times.
    family = page.evaluate("getComputedStyle(document.body).fontFamily")  # type: ignore[attr-defined]
    assert "system-ui" in family
    assert session.errors == []
    assert len(session.requests) >= 3 and _only_loopback(session.requests) == []


def test_challenge_and_submission_pages_open_from_links(session: Session, site_url: str) -> None:
    page = session.page
    page.goto(site_url + "index.html")  # type: ignore[attr-defined]
    page.get_by_role("link", name="Customer churn").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/challenges/alpha/index.html")  # type: ignore[attr-defined]
    assert page.locator("main h1").inner_text() == "Customer churn"  # type: ignore[attr-defined]
    page.locator("#public-board tbody tr").first.get_by_role("link", name="View").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/challenges/alpha/submissions/alice/a2.html")  # type: ignore[attr-defined]
    assert page.locator("#files details.source").count() == 3  # type: ignore[attr-defined]
    assert "HistGradientBoostingClassifier" in page.locator("#files").inner_text()  # type: ignore[attr-defined]
    page.locator("#changes a", has_text="a1").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/submissions/alice/a1.html")  # type: ignore[attr-defined]
    assert session.errors == []
    assert _only_loopback(session.requests) == []


def _column(page: object, table: str, index: int) -> list[str]:
    cells = page.locator(f"{table} tbody tr td:nth-child({index})")  # type: ignore[attr-defined]
    return [text.strip() for text in cells.all_inner_texts()]


def test_clicking_a_column_header_sorts_the_board(session: Session, site_url: str) -> None:
    page = session.page
    page.goto(site_url + "challenges/alpha/index.html")  # type: ignore[attr-defined]
    board = "#public-board"
    assert _column(page, board, 1) == ["1", "2", "3"]
    header = page.locator(f"{board} thead th").nth(0)  # type: ignore[attr-defined]
    header.get_by_role("button").click()
    assert _column(page, board, 1) == ["3", "2", "1"]
    assert header.get_attribute("aria-sort") == "descending"
    # Accuracy, higher is better: the first press puts the best first, numerically.
    accuracy = page.locator(f"{board} thead th", has_text="Accuracy")  # type: ignore[attr-defined]
    accuracy.get_by_role("button").click()
    assert _column(page, board, 4) == ["0.8000", "0.7700", "0.7600"]
    accuracy.get_by_role("button").click()
    assert _column(page, board, 4) == ["0.7600", "0.7700", "0.8000"]
    # Keyboard: the header's button takes focus and Enter sorts.
    participant = page.locator(f"{board} thead th", has_text="Participant").get_by_role("button")  # type: ignore[attr-defined]
    participant.focus()
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    names = [name.split("\n")[0] for name in _column(page, board, 2)]
    assert names == sorted(names, key=str.casefold)
    assert session.errors == []


def test_numeric_sort_handles_negative_and_large_numbers(session: Session, site_url: str) -> None:
    page = session.page
    page.goto(site_url + "challenges/beta/index.html")  # type: ignore[attr-defined]
    r2 = page.locator("#public-board thead th", has_text="R²").get_by_role("button")  # type: ignore[attr-defined]
    r2.click()
    r2.click()
    assert _column(page, "#public-board", 4) == ["-0.1235", "0.6000"]
    assert session.errors == []


def test_pages_work_from_file_urls(session: Session, tmp_path: Path) -> None:
    out = build_fixture_site(tmp_path)
    page = session.page
    page.goto((out / "challenges" / "alpha" / "index.html").as_uri())  # type: ignore[attr-defined]
    assert "system-ui" in page.evaluate("getComputedStyle(document.body).fontFamily")  # type: ignore[attr-defined]
    page.locator("#public-board thead th").nth(0).get_by_role("button").click()  # type: ignore[attr-defined]
    assert _column(page, "#public-board", 1) == ["3", "2", "1"]
    page.get_by_role("link", name="Challenges").first.click()  # type: ignore[attr-defined]
    page.wait_for_url("**/index.html")  # type: ignore[attr-defined]
    assert session.errors == []


def test_hostile_text_runs_nothing(session: Session, site_url: str) -> None:
    page = session.page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
    for path in ("challenges/alpha/index.html", "challenges/alpha/submissions/bob/b1.html", "participants/bob.html"):
        page.goto(site_url + path)  # type: ignore[attr-defined]
        page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
        page.mouse.move(200, 300)  # type: ignore[attr-defined]
    assert dialogs == []
    assert _only_loopback(session.requests) == []
