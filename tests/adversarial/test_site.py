"""The site built from hostile records: every text shown as text, spreadsheets safe, builds bounded.

The pages come from the session's ``site-builder build`` over the records of
``evaluate``: names, teams, descriptions, READMEs, file names, code and
tracebacks written by the hostile cases.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from site_builder.render import CSV_DANGEROUS_PREFIXES, participant_path, submission_path
from tests.adversarial import hostile
from tests.adversarial.conftest import NOW, Workspace
from tests.adversarial.pages import Page, all_pages, read_page

pytestmark = pytest.mark.slow


def page_of(workspace: Workspace, login: str) -> Page:
    record = workspace.record(login)
    assert record is not None, login
    return read_page(workspace.site / submission_path(record["challenge"], login, record["submission_id"]))


def test_the_build_succeeded_and_every_page_is_inert(workspace: Workspace) -> None:
    assert f"built {workspace.site}: " in workspace.logs["build"], workspace.logs["build"][-2000:]
    pages = all_pages(workspace.site)
    assert len(pages) > 20
    problems = {str(page.path.relative_to(workspace.site)): page.problems() for page in pages}
    assert {path: found for path, found in problems.items() if found} == {}


@pytest.mark.parametrize(
    ("login", "texts"),
    [
        ("xss-meta", [hostile.XSS_PAYLOADS[0], hostile.XSS_PAYLOADS[1], "{{7*7}}{% raw %}${7*7}", *hostile.HOSTILE_FILE_NAMES]),
        ("xss-code", ["</script><script>window.__pwned=1;alert('code-comment')</script>", "</code></pre><script>alert('pre')</script>"]),
        ("xss-traceback", ["<script>window.__pwned=1;alert('traceback')</script><img src=x onerror=alert('tb')>"]),
    ],
)
def test_hostile_text_is_shown_as_plain_text(workspace: Workspace, login: str, texts: list[str]) -> None:
    page = page_of(workspace, login)
    for text in texts:
        assert text in page.visible_text, text
    assert page.problems() == []


def test_a_hostile_readme_keeps_its_words_and_loses_everything_active(workspace: Workspace) -> None:
    page = page_of(workspace, "xss-meta")
    assert "Approach" in page.visible_text and "click me" in page.visible_text
    links = [attributes.get("href", "") for tag, attributes in page.elements if tag == "a"]
    assert not any("javascript" in link.lower() or link.lower().startswith("data:") for link in links)
    assert not any(tag == "img" and "evil.example" in attributes.get("src", "") for tag, attributes in page.elements)


def test_hostile_names_are_text_on_every_page_that_shows_them(workspace: Workspace) -> None:
    name = hostile.XSS_PAYLOADS[0]
    showing = [page for page in all_pages(workspace.site) if name in page.visible_text]
    paths = {str(page.path.relative_to(workspace.site)) for page in showing}
    assert {participant_path("xss-meta"), "challenges/gallery/index.html"} <= paths
    assert all(page.problems() == [] for page in showing)


def board_rows(workspace: Workspace, slug: str) -> dict[str, dict[str, str]]:
    text = (workspace.site / "challenges" / slug / "leaderboard.csv").read_bytes().decode("utf-8")
    return {row["participant"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}


@pytest.mark.parametrize("login", sorted(hostile.FORMULA_NAMES))
def test_spreadsheet_formulas_in_names_are_neutralized_in_leaderboard_csv(workspace: Workspace, login: str) -> None:
    rows = board_rows(workspace, hostile.PREDICTIONS_CHALLENGE)
    name, team = hostile.FORMULA_NAMES[login]
    assert rows[login]["display_name"] == "'" + name
    assert rows[login]["team"] == "'" + team
    for row in rows.values():
        for cell in row.values():
            assert not cell.startswith(CSV_DANGEROUS_PREFIXES) or cell.lstrip("-").replace(".", "", 1).isdigit(), cell


def test_a_carriage_return_in_a_stored_name_cannot_start_a_csv_row(workspace: Workspace, tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(workspace.results, results)
    path = next((results / "gallery").glob("csv-inject--*.json"))
    record = json.loads(path.read_text(encoding="utf-8"))
    record["display"]["team"] = "x\r=1+1"
    path.write_text(json.dumps(record), encoding="utf-8")
    out = tmp_path / "site"
    workspace.cli("build-tampered", "build", "--results", str(results), "--out", str(out), "--now", NOW)
    text = (out / "challenges" / "gallery" / "leaderboard.csv").read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))  # as a spreadsheet reads it: a bare CR ends the row
    assert not any(row and row[0].startswith(CSV_DANGEROUS_PREFIXES) for row in rows)
    assert any(len(row) == len(rows[0]) and row[5] == "x\r=1+1" for row in rows)


def test_right_to_left_and_emoji_names_display_unchanged(workspace: Workspace) -> None:
    for page in (page_of(workspace, "rtl-emoji"), read_page(workspace.site / participant_path("rtl-emoji"))):
        assert hostile.RTL_NAME in page.visible_text
        assert hostile.RTL_TEAM in page.visible_text
    assert hostile.RTL_DESCRIPTION in page_of(workspace, "rtl-emoji").visible_text
    assert hostile.RTL_NAME in read_page(workspace.site / "challenges" / "gallery" / "index.html").visible_text
    assert board_rows(workspace, hostile.PREDICTIONS_CHALLENGE)["rtl-emoji"]["display_name"] == hostile.RTL_NAME
    board = json.loads((workspace.site / "challenges" / "gallery" / "leaderboard.json").read_text(encoding="utf-8"))
    assert hostile.RTL_NAME in json.dumps(board, ensure_ascii=False)


def test_participant_text_is_bidi_isolated(workspace: Workspace) -> None:
    html = (workspace.site / submission_path("gallery", "rtl-emoji", workspace.record("rtl-emoji")["submission_id"])).read_text(encoding="utf-8")  # type: ignore[index]
    start = html.index(hostile.RTL_TEAM)
    before = html[:start]
    assert before.rstrip().endswith(("<bdi>", 'dir="auto">')), before[-80:]


def test_a_huge_readme_neither_bloats_the_page_nor_slows_the_build(workspace: Workspace) -> None:
    record = workspace.record("huge-readme")
    assert record is not None
    readme = next(entry for entry in record["files"] if entry["name"] == "README.md")
    assert readme["size"] > hostile.HUGE_README_BYTES - 2**20 and readme["stored"] is False
    page = workspace.site / submission_path("gallery", "huge-readme", record["submission_id"])
    assert page.stat().st_size < 2**20
    assert workspace.seconds["build"] < 60
    snapshot = workspace.results / "gallery" / "files" / "huge-readme" / record["submission_id"]
    assert not (snapshot / "README.md").exists()


def render_in_a_child(expression: str, seconds: float = 10) -> None:
    """Render the README ``expression`` evaluates to in a fresh interpreter; fail past ``seconds``, start-up included."""
    code = f"from site_builder.render import render_markdown\nrender_markdown({expression}, lambda tag, path: None)\n"
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, "-c", code], timeout=seconds, check=True, capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"rendering {expression} took more than {time.monotonic() - started:.0f} s")


def test_a_pathological_readme_renders_in_bounded_time() -> None:
    """python-markdown took ~100 s on 20 000 '[' (quadratic); markdown-it-py is linear."""
    render_in_a_child("'[' * 20000")


@pytest.mark.parametrize(
    "expression",
    [
        "'*' * 20000",
        "'_' * 20000",
        "'*a **a ' * 20000",  # emphasis openers that never close
        "'<' * 20000",
        "'<a ' * 20000",  # unclosed tags (quadratic in python-markdown)
        "'<div>' * 20000",  # raw HTML nested 20 000 deep (quadratic in the sanitizer's HTML parser)
        "'`' * 20000",
        "''.join('e' + '`' * i for i in range(1, 1000))",  # code spans of every length
        "'![' * 20000",
        "'[a](' * 20000",
        "'[^' * 20000",  # footnote references
        "'>' * 20000",
        "'> ' * 20000 + 'a'",  # nested block quotes
        "'1. ' * 20000",  # nested lists (python-markdown: RecursionError)
        "'- a\\n' * 20000",
        "'# a\\n' * 20000",  # 20 000 headings of the same name, each with its own id
        "'| a ' * 2000 + '|\\n' + '|-' * 2000 + '|\\n' + ('| x ' * 2000 + '|\\n') * 10",  # a wide table
    ],
)
def test_repeated_markdown_constructs_render_in_bounded_time(expression: str) -> None:
    render_in_a_child(expression)


def test_the_site_loads_nothing_from_another_host(workspace: Workspace) -> None:
    for page in all_pages(workspace.site):
        for tag, attributes in page.elements:
            if tag in ("img", "script", "link", "source", "video", "audio"):
                for name in ("src", "href", "srcset"):
                    assert not attributes.get(name, "").startswith(("http:", "https:", "//")), (page.path, tag, attributes)


def test_no_site_file_escaped_the_output_folder(workspace: Workspace) -> None:
    """File names from submissions never become paths outside the site."""
    site = workspace.site.resolve()
    for path in workspace.site.rglob("*"):
        assert site in path.resolve().parents or path.resolve() == site
        assert not path.is_symlink()
    assert not (workspace.base / "planted").exists()


def test_site_paths_and_names_are_from_logins_only(workspace: Workspace) -> None:
    names = {path.name for path in (workspace.site / "participants").iterdir()}
    logins = {case.login for case in hostile.ALL_CASES if workspace.record(case.login) is not None}
    assert names == {participant_path(login).split("/")[1] for login in logins}


def test_the_build_writes_nothing_from_a_snapshot_as_a_page(workspace: Workspace) -> None:
    """A submitted file named like a page stays inside its snapshot's listing."""
    for name in hostile.HOSTILE_FILE_NAMES:
        assert not list(workspace.site.rglob(Path(name).name))


def test_a_huge_hostile_submission_readme_is_cut_and_renders_in_bounded_time() -> None:
    """Every cold build renders every README: one participant's megabyte of '[' must not cost minutes."""
    code = (
        "from site_builder import render\n"
        "html = render._submission_readme({'README.md': b'[' * (1 << 20)}, [])\n"
        "assert html.endswith(render.README_CUT_NOTE), html[-200:]\n"
        "assert len(html) < 3 * render.MAX_README_BYTES\n"
        "small = render._submission_readme({'README.md': b'# Notes\\nshort'}, [])\n"
        "assert 'only its beginning' not in small and 'Notes' in small\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], timeout=20, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 20
