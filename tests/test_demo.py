"""The README's first command: the demo evaluates everything and builds a whole site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from site_builder.cli import main
from site_builder.metrics import get_metric
from site_builder.record import load_records
from site_builder.spec import find_challenges
from tests.site_fixture import broken_links, load_page, serving
from tests.test_browser import Session, _column, _only_loopback, browser, session  # noqa: F401

pytestmark = pytest.mark.slow
DEMO_NOW = "2026-12-01T12:00:00Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo") / "workspace"
    assert main(["demo", "--dir", str(directory), "--no-serve", "--now", DEMO_NOW]) == 0
    return directory


def test_every_page_exists_for_every_challenge(demo: Path) -> None:
    site = demo / "_site"
    assert (site / "index.html").is_file() and (site / "results.json").is_file()
    challenges = find_challenges(demo)
    assert len(challenges) >= 3
    for challenge in challenges:
        folder = site / "challenges" / challenge.slug
        for name in ("index.html", "leaderboard.json", "leaderboard.csv"):
            assert (folder / name).is_file(), f"{challenge.slug}/{name}"
        records = load_records(demo / "results", challenge.slug)
        assert len({r["participant"] for r in records}) >= 4
        for record in records:
            page = folder / "submissions" / record["participant"] / f"{record['submission_id']}.html"
            assert page.is_file(), page
            assert (site / "participants" / f"{record['participant']}.html").is_file()


def test_every_internal_link_resolves(demo: Path) -> None:
    assert broken_links(demo / "_site") == []


def test_boards_show_the_recorded_scores(demo: Path) -> None:
    for challenge in find_challenges(demo):
        board = json.loads((demo / "_site" / "challenges" / challenge.slug / "leaderboard.json").read_text())
        page = load_page(demo / "_site" / "challenges" / challenge.slug / "index.html")
        text = " ".join(page.itertext()) if hasattr(page, "itertext") else str(page)
        metric = get_metric(challenge.primary_metric)
        public = board["public"]
        assert public, challenge.slug
        for row in public:
            assert metric.format(row["scores"][challenge.primary_metric]) in text


def test_one_challenge_has_ended_with_a_private_board_and_a_failure_is_listed(demo: Path) -> None:
    boards = {c.slug: json.loads((demo / "_site" / "challenges" / c.slug / "leaderboard.json").read_text()) for c in find_challenges(demo)}
    ended = [slug for slug, board in boards.items() if board.get("private")]
    assert len(ended) == 1
    assert all("move" in row for row in boards[ended[0]]["private"])
    failed = [row for board in boards.values() for row in board.get("failed", [])]
    assert any(row.get("error_class") == "exception" for row in failed)


@pytest.fixture(scope="module")
def demo_url(demo: Path) -> Iterator[str]:
    with serving(demo / "_site") as url:
        yield url


@pytest.mark.browser
def test_demo_site_in_the_browser(session: Session, demo_url: str) -> None:  # noqa: F811
    page = session.page
    page.goto(demo_url + "index.html")  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert session.errors == []
    page.get_by_role("link", name="Wine cultivars").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/challenges/wine/index.html")  # type: ignore[attr-defined]
    header = page.locator("#public-board thead th").nth(0)  # type: ignore[attr-defined]
    ranks = _column(page, "#public-board", 1)
    header.get_by_role("button").click()
    assert _column(page, "#public-board", 1) == list(reversed(ranks))
    page.locator("#public-board tbody tr").first.get_by_role("link", name="View").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/challenges/wine/submissions/**")  # type: ignore[attr-defined]
    assert "get_estimator" in page.locator("#files").inner_text()  # type: ignore[attr-defined]
    assert session.errors == []
    assert _only_loopback(session.requests) == []
