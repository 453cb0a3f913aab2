"""The site: pages, exports, escaping, links, determinism and the golden tree."""

from __future__ import annotations

import csv
import json
import threading
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from site_builder import publish, render
from site_builder.metrics import get_metric
from site_builder.rank import rank_challenge
from site_builder.record import load_records
from site_builder.render import RenderError, build_site
from site_builder.spec import find_challenges
from tests.regenerate_golden import GOLDEN, build_fixture_site
from tests.site_fixture import (
    HOSTILE_FILE,
    HOSTILE_NAME,
    HOSTILE_TEAM,
    NOW,
    REPOSITORY_URL,
    SECRET_PRIVATE_SCORE,
    SiteFixture,
    broken_links,
    html_pages,
    links,
    load_page,
    make_site_fixture,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[SiteFixture, Path]:
    base = tmp_path_factory.mktemp("site")
    fixture = make_site_fixture(base)
    out = base / "site"
    build_site(fixture.root, fixture.results, out, now=fixture.now, repository_url=fixture.repository_url)
    return fixture, out


def _tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _rankings(fixture: SiteFixture, slug: str, now: datetime = NOW):
    challenge = next(c for c in find_challenges(fixture.root) if c.slug == slug)
    spec = challenge.spec
    return spec.metrics, rank_challenge(load_records(fixture.results, slug), spec.metrics, spec.schedule.end, now, spec.schedule.start)


def test_every_page_and_export_is_written(built: tuple[SiteFixture, Path]) -> None:
    fixture, out = built
    assert (out / "index.html").is_file()
    assert (out / "static" / "style.css").is_file() and (out / "static" / "sort.js").is_file()
    for slug in ("alpha", "beta", "gamma"):
        for name in ("index.html", "leaderboard.json", "leaderboard.csv", "data/train.csv", "data/test.csv"):
            assert (out / "challenges" / slug / name).is_file(), (slug, name)
    for record in load_records(fixture.results):
        page = out / "challenges" / record["challenge"] / "submissions" / record["participant"] / f"{record['submission_id']}.html"
        assert page.is_file()
        assert (out / "participants" / f"{record['participant']}.html").is_file()
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert len(results["records"]) == len(load_records(fixture.results))
    # The public data is copied as is; the private solution never is.
    source = fixture.root / "challenges" / "alpha" / "data" / "train.csv"
    assert (out / "challenges" / "alpha" / "data" / "train.csv").read_bytes() == source.read_bytes()
    assert not list(out.rglob("*.age"))


def test_public_board_scores_equal_the_records_at_their_precision(built: tuple[SiteFixture, Path]) -> None:
    fixture, out = built
    for slug in ("alpha", "beta"):
        metrics, rankings = _rankings(fixture, slug)
        table = load_page(out / "challenges" / slug / "index.html").find_id("public-board")
        assert table is not None
        rows = table.find_all("tbody")[0].find_all("tr")
        assert len(rows) == len(rankings.public.rows) > 0
        for row, expected in zip(rows, rankings.public.rows):
            cells = row.find_all("td")
            assert cells[0].text.strip() == str(expected.rank)
            assert f"participants/{expected.participant}.html" in cells[1].find_all("a")[0].attrs["href"]
            for name in metrics:
                cell = next(c for c in cells if c.attrs.get("data-metric") == name)
                value = expected.record["scores"]["public"][name]
                assert cell.text == get_metric(name).format(value)
                assert float(cell.attrs["data-sort"]) == value


def test_private_board_shows_move_once_ended(built: tuple[SiteFixture, Path]) -> None:
    fixture, out = built
    metrics, rankings = _rankings(fixture, "alpha")
    assert rankings.private is not None
    table = load_page(out / "challenges" / "alpha" / "index.html").find_id("private-board")
    assert table is not None
    rows = table.find_all("tbody")[0].find_all("tr")
    for row, expected in zip(rows, rankings.private.rows, strict=True):
        cells = row.find_all("td")
        assert cells[1].attrs["data-sort"] == str(expected.move)
        primary = next(c for c in cells if c.attrs.get("data-metric") == metrics[0])
        assert primary.text == get_metric(metrics[0]).format(expected.record["scores"]["private"][metrics[0]])
    assert [row.find_all("td")[1].text for row in rows] == ["▲ 1", "▼ 1", "="]


def test_private_scores_stay_hidden_until_the_end(built: tuple[SiteFixture, Path], tmp_path: Path) -> None:
    fixture, out = built
    beta = load_page(out / "challenges" / "beta" / "index.html")
    assert beta.find_id("public-board") is not None
    assert beta.find_id("private-board") is None
    secret = repr(SECRET_PRIVATE_SCORE).encode()
    assert not [path for path in out.rglob("*") if path.is_file() and secret in path.read_bytes()]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))["records"]
    assert all("private" not in r["scores"] for r in results if r["challenge"] == "beta")
    assert json.loads((out / "challenges" / "beta" / "leaderboard.json").read_text())["private"] is None
    page = load_page(out / "challenges" / "beta" / "submissions" / "alice" / "ab1.html")
    assert "hidden until 2027-01-31" in page.find_id("score-table").text
    # After the end, the same build shows it.
    later = datetime(2027, 2, 1, tzinfo=timezone.utc)
    build_site(fixture.root, fixture.results, tmp_path / "later", now=later)
    assert load_page(tmp_path / "later" / "challenges" / "beta" / "index.html").find_id("private-board") is not None


def test_submission_pages_show_scores_at_precision(built: tuple[SiteFixture, Path]) -> None:
    fixture, out = built
    for record in load_records(fixture.results):
        if record["status"] != "scored":
            continue
        page = load_page(out / "challenges" / record["challenge"] / "submissions" / record["participant"] / f"{record['submission_id']}.html")
        table = page.find_id("score-table")
        for row in table.find_all("tbody")[0].find_all("tr"):
            public = row.find_all("td")[0]
            value = record["scores"]["public"][public.attrs["data-metric"]]
            assert public.text == get_metric(public.attrs["data-metric"]).format(value)


def test_no_script_or_handler_comes_from_participant_or_organizer_text(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    for page in html_pages(out):
        document = load_page(page)
        for element in document.iter():
            where = f"{page.relative_to(out)}: <{element.tag} {element.attrs}>"
            assert element.tag not in ("iframe", "object", "embed", "style", "form", "base"), where
            if element.tag == "script":
                assert element.attrs.get("src", "").endswith("static/sort.js") and not element.text.strip(), where
            assert not [name for name in element.attrs if name.startswith("on")], where
            for name in ("href", "src", "xlink:href", "action", "formaction"):
                value = element.attrs.get(name, "").strip().lower()
                assert not value.startswith(("javascript:", "data:text", "vbscript:")), where


def test_hostile_names_and_file_names_show_as_text(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    board = load_page(out / "challenges" / "alpha" / "index.html").find_id("public-board")
    assert HOSTILE_NAME in board.text and HOSTILE_TEAM in board.text
    bob = load_page(out / "challenges" / "alpha" / "submissions" / "bob" / "b1.html")
    assert HOSTILE_NAME in bob.find_all("h1")[0].text
    assert any(summary.text.startswith(HOSTILE_FILE) for summary in bob.find_all("summary"))
    raw = (out / "challenges" / "alpha" / "submissions" / "bob" / "b1.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(3)&gt;.py" in raw
    # The participant's README: the safe link to their own file survives, the rest is inert.
    readme = bob.find_id("readme")
    hrefs = [a.attrs.get("href") for a in readme.find_all("a")]
    estimator = next(d for d in bob.find_all("details") if d.find_all("summary")[0].text.startswith("estimator.py"))
    assert "#" + estimator.attrs["id"] in hrefs
    assert not readme.find_all("img") and not readme.find_all("svg")


def test_no_asset_comes_from_another_host(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    for page in html_pages(out):
        for element in load_page(page).iter():
            loads = element.attrs.get("src") or (element.attrs.get("href") if element.tag == "link" else None)
            if loads and not loads.startswith("data:"):
                assert "://" not in loads and not loads.startswith("//"), f"{page}: {element.tag} {loads}"
    assert b"evil.example/pixel.png" not in (out / "challenges" / "alpha" / "index.html").read_bytes()


def test_every_internal_link_resolves(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    assert broken_links(out) == []


def test_links_are_relative(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    for page in html_pages(out):
        for _, _, value in links(load_page(page)):
            assert not value.startswith("/"), f"{page}: {value}"


def test_challenge_readme_is_rendered_with_local_links(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    description = load_page(out / "challenges" / "alpha" / "index.html").find_id("description")
    hrefs = [a.attrs.get("href") for a in description.find_all("a")]
    assert "data/train.csv" in hrefs
    assert not [h for h in hrefs if h and ("private" in h or "passwd" in h)]
    assert [img.attrs["src"] for img in description.find_all("img")] == ["assets/figures/plot.png"]
    assert (out / "challenges" / "alpha" / "assets" / "figures" / "plot.png").is_file()
    assert description.find_all("table") and description.find_all("strong")


def test_submission_page_has_code_anchors_links_and_diff(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    page = load_page(out / "challenges" / "alpha" / "submissions" / "alice" / "a2.html")
    estimator = next(d for d in page.find_all("details") if d.find_all("summary")[0].text.startswith("estimator.py"))
    anchor = estimator.attrs["id"]
    assert page.find_id(f"{anchor}-1") is not None and page.find_id(f"{anchor}-5") is not None
    assert "HistGradientBoostingClassifier" in estimator.text
    hrefs = {a.attrs.get("href") for a in page.find_all("a")}
    assert f"{REPOSITORY_URL}/pull/12" in hrefs
    assert f"{REPOSITORY_URL}/commit/0123456789abcdef0123456789abcdef01234567" in hrefs
    changes = page.find_id("changes")
    assert "a1.html" in {a.attrs.get("href") for a in changes.find_all("a")}
    assert "-    return make_pipeline(StandardScaler(), LogisticRegression())" in changes.text
    assert "+    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05)" in changes.text
    assert page.find_id("readme") is not None


def test_failed_submissions_are_listed_with_their_error_class(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    failed = load_page(out / "challenges" / "alpha" / "index.html").find_id("failed-board")
    assert "exception" in failed.text and "@carol" in failed.text
    page = load_page(out / "challenges" / "alpha" / "submissions" / "carol" / "c1.html")
    assert "ValueError: <script>boom</script>" in page.find_id("error").text


def test_chart_has_a_dot_per_ranked_submission(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    page = load_page(out / "challenges" / "alpha" / "index.html")
    svg = page.find_id("progress").find_all("svg")[0]
    targets = sorted(a.attrs["href"] for a in svg.find_all("a"))
    assert targets == ["submissions/alice/a1.html", "submissions/alice/a2.html", "submissions/bob/b1.html", "submissions/erin/e1.html"]
    assert len(svg.find_all("circle")) == 4 and svg.find_all("path")
    assert load_page(out / "challenges" / "gamma" / "index.html").find_id("progress") is None


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(timezone.utc)),
    span=st.one_of(st.none(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3000))),
)
@example(now=datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc), span=timedelta(days=30))
@example(now=datetime(2026, 12, 1, 12, 0, 0, 1, tzinfo=timezone.utc), span=None)
def test_the_chart_clock_ends_at_most_one_small_step_after_now(now: datetime, span: timedelta | None) -> None:
    since = now - span if span is not None else None
    until = render.chart_clock(now, since)
    step = until.timestamp() - now.timestamp()
    allowed = max(60.0, span.total_seconds() / 400) if span is not None else 60.0
    assert until.tzinfo is not None and 0 <= step < allowed
    # A later clock within the step gives the same end (the span kept, so the step is too): the page keeps its key.
    later = (until - now) / 2
    assert render.chart_clock(now + later, since + later if since is not None else None) == until
    # Before the start nothing can be drawn: the axis ends at the start, whatever the clock.
    assert render.chart_clock(now, now + timedelta(days=1)) == now + timedelta(days=1)


def test_index_lists_each_challenge_with_status_and_leader(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    cards = load_page(out / "index.html").find_all("li", class_="card")
    text = [" ".join(card.text.split()) for card in cards]
    assert [t.split(" ")[0] for t in text] == ["Open", "Upcoming", "Ended"]
    assert "House prices" in text[0] and "Leader alice 11000.500" in text[0] and "60 days left" in text[0]
    assert "Winner" in text[2] and HOSTILE_NAME in text[2]


def test_csv_cells_cannot_start_a_formula(built: tuple[SiteFixture, Path]) -> None:
    _, out = built
    for slug in ("alpha", "beta"):
        with open(out / "challenges" / slug / "leaderboard.csv", encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows
        for row in rows:
            for column in ("participant", "display_name", "team", "submission_id"):
                assert not row[column].startswith(("=", "+", "-", "@")), row
    with open(out / "challenges" / "alpha" / "leaderboard.csv", encoding="utf-8", newline="") as handle:
        erin = next(row for row in csv.DictReader(handle) if row["participant"] == "erin")
    assert erin["display_name"] == "'-2+3" and erin["team"] == "'@SUM(A1)"
    assert render.neutralize_cell("=1+1") == "'=1+1" and render.neutralize_cell("plain") == "plain"


def test_building_twice_gives_identical_bytes(built: tuple[SiteFixture, Path], tmp_path: Path) -> None:
    fixture, out = built
    again = tmp_path / "again"
    build_site(fixture.root, fixture.results, again, now=fixture.now, repository_url=fixture.repository_url)
    assert _tree(again) == _tree(out)
    times = {p: p.stat().st_mtime_ns for p in again.rglob("*") if p.is_file()}
    report = build_site(fixture.root, fixture.results, again, now=fixture.now, repository_url=fixture.repository_url)
    assert report.changed == 0 and report.removed == 0
    assert {p: p.stat().st_mtime_ns for p in again.rglob("*") if p.is_file()} == times


def test_golden_site(tmp_path: Path) -> None:
    """The fixture's site equals ``tests/golden/site``; regenerate with ``python -m tests.regenerate_golden``."""
    built = _tree(build_fixture_site(tmp_path))
    golden = _tree(GOLDEN)
    hint = "the site changed; if intended, run `python -m tests.regenerate_golden` and review the diff"
    assert sorted(built) == sorted(golden), hint
    different = [name for name in sorted(built) if built[name] != golden[name]]
    assert different == [], hint


def test_an_organizer_overrides_one_template_block_and_a_static_file(tmp_path: Path) -> None:
    fixture = make_site_fixture(tmp_path)
    templates = fixture.root / "site" / "templates"
    templates.mkdir(parents=True)
    (templates / "challenge.html").write_text(
        '{% extends "builtin/challenge.html" %}{% block how_to_submit %}<p id="custom">Ask {{ site.title }}</p>{% endblock %}',
        encoding="utf-8",
    )
    (fixture.root / "site" / "static").mkdir()
    (fixture.root / "site" / "static" / "style.css").write_text("body { color: teal }\n", encoding="utf-8")
    build_site(fixture.root, fixture.results, tmp_path / "out", now=fixture.now)
    page = load_page(tmp_path / "out" / "challenges" / "alpha" / "index.html")
    assert page.find_id("custom").text == "Ask Data challenges"
    assert page.find_id("how-to-submit") is None and page.find_id("public-board") is not None
    assert (tmp_path / "out" / "static" / "style.css").read_text() == "body { color: teal }\n"


def test_refuses_to_replace_a_folder_it_did_not_build(tmp_path: Path) -> None:
    fixture = make_site_fixture(tmp_path)
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work", encoding="utf-8")
    with pytest.raises(RenderError, match="not empty"):
        build_site(fixture.root, fixture.results, out, now=fixture.now)
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "years of work"
    with pytest.raises(RenderError, match="would contain"):
        build_site(fixture.root, fixture.results, fixture.root.parent, now=fixture.now)


def test_a_build_killed_midway_leaves_the_previous_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = make_site_fixture(tmp_path)
    out = tmp_path / "site"
    build_site(fixture.root, fixture.results, out, now=fixture.now)
    before = _tree(out)
    calls = {"count": 0}
    original = publish._write

    def dying_write(path: Path, data: bytes) -> None:
        calls["count"] += 1
        if calls["count"] == 5:
            raise KeyboardInterrupt
        original(path, data)

    monkeypatch.setattr(publish, "_write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        build_site(fixture.root, fixture.results, out, now=datetime(2027, 2, 1, tzinfo=timezone.utc))
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo", "site"]


def test_a_record_that_cannot_be_shown_safely_is_reported_not_rendered(tmp_path: Path) -> None:
    fixture = make_site_fixture(tmp_path)
    bad = fixture.results / "alpha" / "zed--x.json"
    record = json.loads(next((fixture.results / "alpha").glob("erin--*.json")).read_text())
    bad.write_text(json.dumps({**record, "participant": "../../etc", "submission_id": "x"}), encoding="utf-8")
    report = build_site(fixture.root, fixture.results, tmp_path / "out", now=fixture.now)
    assert any("'../../etc'" in warning for warning in report.warnings)
    assert not (tmp_path / "etc").exists() and broken_links(tmp_path / "out") == []


def test_a_record_with_a_non_finite_score_is_reported_not_rendered(tmp_path: Path) -> None:
    fixture = make_site_fixture(tmp_path)
    path = next((fixture.results / "beta").glob("bob--*.json"))
    path.write_text(path.read_text().replace('"r2": -0.12345', '"r2": NaN'), encoding="utf-8")
    report = build_site(fixture.root, fixture.results, tmp_path / "out", now=fixture.now)
    assert any("scores.public.r2 is nan" in warning for warning in report.warnings)
    assert "bob" not in {row["participant"] for row in json.loads((tmp_path / "out" / "challenges" / "beta" / "leaderboard.json").read_text())["public"]}


def test_binary_oversized_and_missing_files_are_described_not_dumped() -> None:
    files = render.source_files({"model.pkl": b"\x80\x04\x00binary", "big.py": b"x = 1\n" * 5000, "gone.py": None})
    by_name = {source.name: source for source in files}
    assert by_name["model.pkl"].html is None and "binary" in by_name["model.pkl"].note
    assert by_name["big.py"].note == "only the beginning is shown"
    assert by_name["big.py"].html.count('<a id="') == render.MAX_SHOWN_LINES
    assert by_name["gone.py"].html is None and by_name["gone.py"].note == "not in the stored snapshot"


def test_languages_whose_lexers_can_stall_are_shown_as_plain_text() -> None:
    """Pygments' Makefile, YAML, INI, Markdown and IPython lexers take time quadratic in hostile
    input (17 s for 16 KB of underscores in a Makefile); every GitHub build highlights every file."""
    hostile = {"Makefile": b"_" * 3000, "submission.yaml": b"*" * 3000, "setup.cfg": b"\t" * 3000,
               "README.md": b"# Title\n" + b"\r" * 3000, "cell.ipy": b"." * 3000, "estimator.py": b"import os\n"}  # fmt: skip
    by_name = {source.name: source for source in render.source_files(hostile)}
    for name in ("Makefile", "submission.yaml", "setup.cfg", "README.md", "cell.ipy"):
        html = by_name[name].html
        assert html is not None and 'class="linenos"' in html, name  # line numbers and anchors stay
        assert '<span class="' not in html.split('<td class="code">', 1)[1], f"{name} was highlighted"
        assert render.UNHIGHLIGHTED_NOTE not in by_name[name].note  # plain by language, not by budget
    assert '<span class="kn">import</span>' in by_name["estimator.py"].html
    fenced = render.render_markdown("```yaml\n" + "*" * 3000 + "\n```\n\n```python\nimport os\n```\n", lambda tag, url: None)
    assert "*" * 3000 in fenced and '<span class="kn">import</span>' in fenced


def test_code_block_languages_are_looked_up_among_pygments_own_lexers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A README block marked with a language Pygments does not ship (```csv) made Pygments ask
    every lexer plugin, importing IPython and more on each build: a third of a second."""
    import pygments.plugin

    asked: list[str] = []
    monkeypatch.setattr(pygments.plugin, "iter_entry_points", lambda group: asked.append(group) or iter(()))
    render._code_lexer.cache_clear()
    try:
        html = render.render_markdown("```csv\na,b\n```\n\n```SH\necho hi\n```\n\n```nosuchlang\nx\n```\n", lambda tag, url: None)
    finally:
        render._code_lexer.cache_clear()
    assert asked == []
    assert "a,b" in html and '<span class="nb">echo</span>' in html and ">x\n<" in html.replace("</span>", "")


def test_highlighting_stops_after_the_submission_budget() -> None:
    """Even a linear lexer costs up to about 20 µs a character on hostile text: past 128 KB per
    submission, files are shown plain, with their line numbers, and say so."""
    line = b"x = compute(" + b"1, " * 40 + b"2)\n"
    big = line * (render.MAX_HIGHLIGHTED_CHARS // len(line) - 10)  # just under the budget, in fewer lines than shown
    assert big.count(b"\n") < render.MAX_SHOWN_LINES
    files = render.source_files({"a.py": big, "b.py": line * 20, "c.py": line})
    by_name = {source.name: source for source in files}
    assert '<span class="n">compute</span>' in by_name["a.py"].html and by_name["a.py"].note == ""
    assert '<span class="' not in by_name["b.py"].html.split('<td class="code">', 1)[1]
    assert by_name["b.py"].note == render.UNHIGHLIGHTED_NOTE and by_name["b.py"].html.count('<a id="') == 20
    assert '<span class="n">compute</span>' in by_name["c.py"].html  # what still fits is highlighted


def test_diffs_stop_before_difflib_can_stall() -> None:
    """difflib takes 10 s on 8,000 lines drawn from 150 values (0.2 s on 2,000): long changed files
    are not compared, and a submission's changed files are compared up to a budget."""

    def lines(count: int, step: int) -> bytes:
        return "".join(f"value_{(index * step) % 150}\n" for index in range(count)).encode()

    previous = {"long.py": lines(8000, 1), "a.py": lines(2000, 1), "b.py": lines(2000, 1), "c.py": lines(2000, 1), "d.py": b"x = 1\n"}
    current = {"long.py": lines(8000, 7), "a.py": lines(2000, 7), "b.py": lines(2000, 7), "c.py": lines(2000, 7), "d.py": b"x = 2\n",
               "new.py": lines(8000, 3)}  # fmt: skip
    by_name = {diff.name: diff for diff in render.diff_files(previous, current, ("v1", "v2"))}
    assert by_name["long.py"].html is None and by_name["long.py"].note == "too long to compare here (more than 2,000 lines)"
    for name in ("a.py", "b.py", "c.py"):  # 6,000 lines: the whole budget
        assert by_name[name].html is not None and "value_" in by_name[name].html, name
    assert by_name["d.py"].html is None and by_name["d.py"].note.startswith("not compared: this submission's changed files pass 6,000 lines")
    assert by_name["new.py"].change == "added" and by_name["new.py"].html is not None  # listed, nothing to compare
    hidden = {"cr.py": ("\r".join(f"v{i % 150}" for i in range(3000))).encode()}  # line breaks difflib counts, not "\n"
    changed = {"cr.py": ("\r".join(f"v{(i * 7) % 150}" for i in range(3000))).encode()}
    assert render.diff_files(hidden, changed, ("v1", "v2"))[0].note.startswith("too long to compare")


def test_a_symlink_in_a_snapshot_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=hunter2", encoding="utf-8")
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "estimator.py").symlink_to(secret)
    contents = render.read_snapshot(snapshot, {"files": [{"name": "estimator.py"}, {"name": "../secret.txt"}]})
    assert contents == {"../secret.txt": None, "estimator.py": None}


def test_serve_answers_on_loopback(built: tuple[SiteFixture, Path]) -> None:
    from site_builder.serve import make_server

    _, out = built
    server = make_server(out, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/challenges/alpha/index.html") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/html")
            assert b"Customer churn" in response.read()
    finally:
        server.shutdown()
        server.server_close()


def test_leftovers_of_a_killed_build_are_cleaned_up(tmp_path: Path) -> None:
    fixture = make_site_fixture(tmp_path)
    (tmp_path / ".site.build-stale").mkdir()
    build_site(fixture.root, fixture.results, tmp_path / "site", now=fixture.now)
    assert not (tmp_path / ".site.build-stale").exists()
