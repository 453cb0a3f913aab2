"""Fast builds are exact builds: cold, warm, incremental and parallel sites are byte-identical.

The timings live in ``benchmarks/``; these tests only check that what makes
the build fast (the highlight cache, kept pages, worker processes, the joined
lexer patterns) never changes a byte of the site.
"""

from __future__ import annotations

import dataclasses
import os
import sysconfig
from datetime import datetime, timezone
from pathlib import Path

import pytest

from site_builder import fileindex, lexing, render
from site_builder.render import build_site
from tests.site_fixture import SiteFixture, _files, _record, make_site_fixture
from tests.site_fixture import site_tree as _tree


def _build(fixture: SiteFixture, out: Path, *, now: datetime | None = None, **options) -> render.BuildReport:
    return build_site(
        fixture.root, fixture.results, out, now=now or fixture.now, repository_url=fixture.repository_url, **options
    )


def _reference(fixture: SiteFixture, tmp_path: Path, name: str, *, now: datetime | None = None) -> dict[str, bytes]:
    """The site built from scratch without any cache, in one process."""
    return _tree(_build_cold(fixture, tmp_path / name, now=now))


def _build_cold(fixture: SiteFixture, out: Path, *, now: datetime | None = None) -> Path:
    _build(fixture, out, now=now, use_cache=False, workers=1)
    return out


def _new_alpha_record(fixture: SiteFixture) -> None:
    """Erin's second, best-ever submission: it moves every rank of the alpha boards."""
    _record(fixture.results, "alpha", "erin", "e2", "2026-11-01T08:00:00",
            public={"roc_auc": 0.995, "accuracy": 0.97}, private={"roc_auc": 0.5, "accuracy": 0.5},
            files=_files(**{"estimator.py": "def get_estimator():\n    return None  # a second try\n"}))  # fmt: skip


@pytest.fixture
def fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SiteFixture:
    # Files written just before a build are too recent for the input index to
    # remember; trusting them here makes every second build use the index.
    monkeypatch.setattr(fileindex, "RACY_SECONDS", 0)
    return make_site_fixture(tmp_path / "base")


def test_a_warm_build_renders_only_the_index_and_changes_nothing(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    first = _build(fixture, out)
    times = {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.is_file()}
    again = _build(fixture, out)
    assert first.rendered == first.pages and again.rendered == 1
    assert again.changed == 0 and again.removed == 0 and again.pages == first.pages
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.is_file()} == times
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_an_incremental_build_equals_a_cold_build(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, out)
    _new_alpha_record(fixture)
    report = _build(fixture, out)
    assert 1 < report.rendered < report.pages
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_a_newcomer_at_the_bottom_of_the_board_leaves_the_other_participants_pages_alone(
    fixture: SiteFixture, tmp_path: Path
) -> None:
    """Participant pages show their own rank, not the board's size: the last
    place moves nobody, so nobody else's page is written again."""
    out = tmp_path / "site"
    _build(fixture, out)
    others = {path: path.stat().st_mtime_ns for path in (out / "participants").glob("*.html")}
    _record(fixture.results, "alpha", "zed", "z1", "2026-11-01T08:00:00",
            public={"roc_auc": 0.01, "accuracy": 0.01}, private={"roc_auc": 0.01, "accuracy": 0.01},
            files=_files(**{"estimator.py": "def get_estimator():\n    return None\n"}))  # fmt: skip

    _build(fixture, out)

    assert {path: path.stat().st_mtime_ns for path in others} == others
    assert (out / "participants" / "zed.html").is_file()
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_a_later_clock_rebuilds_what_it_changes(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, out)
    later = datetime(2027, 2, 1, tzinfo=timezone.utc)  # beta has ended: its private scores appear
    _build(fixture, out, now=later)
    assert _tree(out) == _reference(fixture, tmp_path, "reference", now=later)


def test_an_open_challenge_page_is_kept_while_the_clock_stays_within_its_step(fixture: SiteFixture, tmp_path: Path) -> None:
    """Beta is open: its chart's time axis ends at the clock, rounded up to
    the hour (a 400th of its 30 days is 1.8 hours). Builds later within that
    hour keep its page; the first one past it renders and changes it."""
    out = tmp_path / "site"
    beta = out / "challenges" / "beta" / "index.html"
    _build(fixture, out, now=datetime(2026, 12, 1, 11, 5, tzinfo=timezone.utc))
    before = beta.read_bytes()
    within = _build(fixture, out, now=datetime(2026, 12, 1, 11, 55, tzinfo=timezone.utc))
    assert within.rendered == 1 and within.changed == 0  # the index alone, unchanged
    assert _tree(out) == _reference(fixture, tmp_path, "within", now=datetime(2026, 12, 1, 11, 55, tzinfo=timezone.utc))
    past = datetime(2026, 12, 1, 12, 5, tzinfo=timezone.utc)
    _build(fixture, out, now=past)
    assert beta.read_bytes() != before  # the dots moved left as the axis grew by an hour
    assert _tree(out) == _reference(fixture, tmp_path, "past", now=past)


def test_leaderboard_exports_are_made_again_only_for_a_changed_challenge(
    fixture: SiteFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    boards = render.leaderboard_csv
    monkeypatch.setattr(render, "leaderboard_csv", lambda challenge: made.append(challenge.slug) or boards(challenge))
    out = tmp_path / "site"
    _build(fixture, out)
    assert sorted(made) == ["alpha", "beta", "gamma"]
    made.clear()
    _build(fixture, out)
    assert made == []
    _new_alpha_record(fixture)
    _build(fixture, out)
    assert made == ["alpha"]
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_a_damaged_cache_changes_no_byte(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, tmp_path / "warm-up")
    for entry in (fixture.root / ".cache").rglob("*"):
        if entry.is_file():
            entry.write_bytes(b"garbage" + entry.read_bytes()[7:])
    _build(fixture, out)
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_a_page_edited_by_hand_is_rendered_again(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, out)
    page = out / "challenges" / "alpha" / "submissions" / "alice" / "a2.html"
    page.write_bytes(b"<p>defaced</p>")
    report = _build(fixture, out)
    assert report.changed == 1
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_a_stray_file_in_an_unchanged_folder_is_removed(fixture: SiteFixture, tmp_path: Path) -> None:
    """Unchanged folders move into the new site whole, but only if they hold nothing else."""
    out = tmp_path / "site"
    _build(fixture, out)
    (out / "challenges" / "beta" / "submissions" / "alice" / "stray.txt").write_text("left behind", encoding="utf-8")
    report = _build(fixture, out)
    assert report.removed == 1 and report.rendered == 1
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_a_page_reaching_its_previous_submission_is_rebuilt_when_that_changes(fixture: SiteFixture, tmp_path: Path) -> None:
    templates = fixture.root / "site" / "templates"
    templates.mkdir(parents=True)
    (templates / "submission.html").write_text(
        '{% extends "builtin/submission.html" %}{% block readme %}{% if submission.previous %}'
        '<p id="rank">{{ submission.previous.public_rank }}</p>{% endif %}{% endblock %}',
        encoding="utf-8",
    )
    # Alice's a3 follows her best, a2, which Erin's new best then moves from rank 1 to 2:
    # a3's own inputs do not change, only what its page reached through ``previous``.
    _record(fixture.results, "alpha", "alice", "a3", "2026-10-28T09:00:00",
            public={"roc_auc": 0.5, "accuracy": 0.5}, private={"roc_auc": 0.5, "accuracy": 0.5},
            files=_files(**{"estimator.py": "def get_estimator():\n    return None\n"}))  # fmt: skip
    out = tmp_path / "site"
    page = out / "challenges" / "alpha" / "submissions" / "alice" / "a3.html"
    _build(fixture, out)
    assert b'<p id="rank">1</p>' in page.read_bytes()
    _new_alpha_record(fixture)
    _build(fixture, out)
    assert b'<p id="rank">2</p>' in page.read_bytes()
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_a_template_reaching_past_its_view_is_rebuilt_with_what_it_reached(fixture: SiteFixture, tmp_path: Path) -> None:
    """An organizer's footer that counts every submission must change on every page after a new one."""
    templates = fixture.root / "site" / "templates"
    templates.mkdir(parents=True)
    (templates / "base.html").write_text(
        '{% extends "builtin/base.html" %}{% block footer %}<p id="count">{{ site.submissions|length }}</p>{% endblock %}',
        encoding="utf-8",
    )
    out = tmp_path / "site"
    _build(fixture, out)
    _new_alpha_record(fixture)
    report = _build(fixture, out)
    assert report.rendered == report.pages
    assert _tree(out) == _reference(fixture, tmp_path, "reference")
    assert b'<p id="count">10</p>' in (out / "challenges" / "beta" / "submissions" / "bob" / "bb1.html").read_bytes()


def test_pages_rendered_by_worker_processes_are_the_same(fixture: SiteFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "PARALLEL_MIN_PAGES", 2)
    out = tmp_path / "site"
    report = _build(fixture, out, workers=2, use_cache=False)
    assert report.rendered == report.pages
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_a_second_build_into_the_same_folder_waits_for_the_first(
    fixture: SiteFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build removes the staging folders it finds beside the site: two at once would delete each
    other's. Here the test holds the lock a running build would hold."""
    import fcntl
    import threading

    out = tmp_path / "sites" / "site"
    out.parent.mkdir()
    started = threading.Event()
    original = render._build_site

    def build_body(*args):  # noqa: ANN002, ANN202
        started.set()
        return original(*args)

    monkeypatch.setattr(render, "_build_site", build_body)
    holder = os.open(out.parent, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    reports: list[render.BuildReport] = []
    waiting = threading.Thread(target=lambda: reports.append(_build(fixture, out)))
    try:
        waiting.start()
        assert not started.wait(timeout=1.5), "the build began while another held the folder"
    finally:
        os.close(holder)
    assert started.wait(timeout=30)
    waiting.join(timeout=120)
    assert not waiting.is_alive() and reports and reports[0].pages > 0
    assert _tree(out) == _reference(fixture, tmp_path, "reference")
    assert sorted(path.name for path in out.parent.iterdir()) == ["site"]


def test_the_cache_lives_outside_the_site(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, out, cache_dir=tmp_path / "cache")
    assert any((tmp_path / "cache").rglob("*")) and not (fixture.root / ".cache").exists()
    with pytest.raises(render.RenderError, match="would contain"):
        _build(fixture, out, cache_dir=out / "cache")


def _changed(value: object) -> object:
    """Another value of the same kind, for a field whose change must move a page's key."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, tuple):
        return (*value, "extra.py")
    if isinstance(value, dict):
        return {**value, "extra": "changed"}
    if value is None:
        return "now set"
    raise AssertionError(f"no changed value for {value!r}")


def _content_fields(kind: type) -> list[str]:
    return [field.name for field in dataclasses.fields(kind) if field.metadata.get("content", True)]


def test_every_field_a_submission_page_sees_moves_its_key(fixture: SiteFixture) -> None:
    """The submission fingerprint is written out by hand for speed: this catches a field it forgets."""
    site = render.gather_site(fixture.root, fixture.results, now=fixture.now, repository_url=fixture.repository_url)
    submission = next(item for item in site.submissions if item.previous is not None)
    page = render.Page(submission.path, "submission.html", {"site": site.header, "challenge": submission.challenge, "submission": submission})
    original = render.PageKeys(site, "salt").key(page)

    def key_with(changed: render.SubmissionModel) -> str:
        return render.PageKeys(site, "salt").key(page._replace(context={**page.context, "submission": changed}))

    assert key_with(dataclasses.replace(submission)) == original
    checked = []
    for name in _content_fields(render.SubmissionModel):
        if name == "challenge":
            other = dataclasses.replace(submission.challenge, title=submission.challenge.title + " changed")
            assert key_with(dataclasses.replace(submission, challenge=other)) != original, name
        elif name == "snapshot":
            for part in _content_fields(render.Snapshot):
                snapshot = dataclasses.replace(submission.snapshot, **{part: _changed(getattr(submission.snapshot, part))})
                assert key_with(dataclasses.replace(submission, snapshot=snapshot)) != original, f"snapshot.{part}"
        elif name == "previous":
            previous = submission.previous
            for part in _content_fields(render.PreviousSubmission):
                if part in ("challenge", "snapshot"):
                    replaced = {"challenge": dataclasses.replace(previous.challenge, slug="other"),
                                "snapshot": dataclasses.replace(previous.snapshot, digest="other")}[part]  # fmt: skip
                else:
                    replaced = _changed(getattr(previous, part))
                changed = dataclasses.replace(submission, previous=dataclasses.replace(previous, **{part: replaced}))
                if part == "record":  # the digest of its file stands for it, unless there is none
                    changed.previous.record_digest = ""
                assert key_with(changed) != original, f"previous.{part}"
        elif name == "record":
            assert key_with(dataclasses.replace(submission, record={**submission.record, "x": 1}, record_digest="")) != original
        else:
            assert key_with(dataclasses.replace(submission, **{name: _changed(getattr(submission, name))})) != original, name
        checked.append(name)
    assert set(checked) == set(_content_fields(render.SubmissionModel))


def test_shipped_templates_compile_once_and_a_changed_one_is_compiled_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled code for the shipped templates is kept beside them, checked against their source."""
    import jinja2

    package = tmp_path / "templates"
    package.mkdir()
    (package / "page.html").write_text("one {{ value }}", encoding="utf-8")
    monkeypatch.setattr(render, "__file__", str(tmp_path / "render.py"))
    monkeypatch.setattr(render.sys, "dont_write_bytecode", False)

    def render_page() -> str:
        environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(package)), bytecode_cache=render.shipped_template_code())
        return environment.get_template("page.html").render(value=1)

    assert render_page() == "one 1"
    stored = list((package / "__pycache__").iterdir())
    assert len(stored) == 1
    (package / "page.html").write_text("two {{ value }}", encoding="utf-8")
    assert render_page() == "two 1"  # the stored code's checksum no longer matches: compiled again
    stored[0].write_bytes(b"damaged")
    assert render_page() == "two 1"
    organizer = tmp_path / "organizer"
    organizer.mkdir()
    (organizer / "page.html").write_text("theirs", encoding="utf-8")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(organizer)), bytecode_cache=render.shipped_template_code())
    assert environment.get_template("page.html").render() == "theirs"
    assert not (organizer / "__pycache__").exists() and len(list((package / "__pycache__").iterdir())) == 1


# --------------------------------------------------------------------------
# The joined lexer patterns find exactly Pygments' tokens.

TRICKY_PYTHON = '''\
#!/usr/bin/env python
"""Docstring with "quotes" and \'\'\'more\'\'\'."""
from __future__ import annotations
import os, sys as system
@decorator(arg=1)
async def f(x: int = 0x1F, *args, **kw) -> dict[str, "T"]:
    y = rb'raw\\bytes' + Rb"\\x00" + f"{x!r:>{10}} {{braces}} {kw['a']}" + fr'{x}\\d'
    z = 1_000.5e-3j + 0o17 + 0b101 - ~x ** 2 // 3 @ m
    match y:
        case [a, *rest] if a > 0: pass
        case {"k": v}: ...
    lambda q: (yield q)
    return {k: v for k, v in zip("ab", b"cd")} | set()
class Ünïcode(Base, metaclass=Meta):
    λ = "unterminated
    def __init__(self): super().__init__(); self.__private = None
\tmixed\tindentation = True\r
print(  # comment ending in backslash \\
    "end")
'''


def _corpus() -> list[str]:
    """Varied real Python: a sample of the standard library, this package and tricky snippets."""
    stdlib = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    sample = stdlib[:: max(1, len(stdlib) // 60)]
    package = sorted(Path(render.__file__).parent.glob("*.py"))
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in sample + package]
    return texts + [TRICKY_PYTHON, "", "\n", "x", "'''", "f'{", "\x00\x01", "def"]


def _plain_and_fast(lexer_class: type) -> tuple[object, object]:
    return lexer_class(stripnl=False, ensurenl=True), lexing.accelerate_lexer(lexer_class(stripnl=False, ensurenl=True))


def test_the_joined_python_lexer_yields_pygments_tokens() -> None:
    from pygments.lexers import PythonLexer

    plain, fast = _plain_and_fast(PythonLexer)
    assert lexing._state_matchers(PythonLexer)["root"] is not None
    for text in _corpus():
        assert list(fast.get_tokens(text)) == list(plain.get_tokens(text))


@pytest.mark.parametrize("name", ["diff", "markdown", "toml", "ini", "bash", "c", "rst", "html"])
def test_other_lexers_are_unchanged_too(name: str) -> None:
    from pygments.lexers import get_lexer_by_name

    lexer_class = type(get_lexer_by_name(name))
    plain, fast = _plain_and_fast(lexer_class)
    texts = _corpus()[-12:] + [Path(render.__file__).read_text(encoding="utf-8")[:20000]]
    texts += ["--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n", "# Title\n\n*em* `code` [l](u)\n\n```py\nx=1\n```\n", "[s]\nk = 'v' # c\n"]
    for text in texts:
        assert list(fast.get_tokens(text)) == list(plain.get_tokens(text))


def test_highlighted_code_is_the_same_with_and_without_the_joined_patterns() -> None:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    formatter = HtmlFormatter(linenos="table", anchorlinenos=True, lineanchors="file-1", wrapcode=True)
    expected = highlight(TRICKY_PYTHON, PythonLexer(stripnl=False, ensurenl=True), formatter)
    assert render.highlight_file("estimator.py", TRICKY_PYTHON, "file-1") == expected


def test_results_json_from_cached_blocks_equals_the_whole_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """results.json is joined from blocks cached under their records' keys: after a record
    changes and another arrives mid-list, the text is still exactly json.dumps of all of them,
    and only the blocks around the two changes are encoded again."""
    import hashlib
    import json

    from site_builder.cache import ContentCache

    def record(number: int, score: float) -> dict[str, object]:
        return {"challenge": "alpha", "participant": f"p{number:04d}", "submission_id": "s1", "scores": {"public": {"rmse": score}},
                "display": {"name": "Zoë \"<b>\"", "team": "t\u202e"}}  # fmt: skip

    def key(item: dict[str, object]) -> str:
        return hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest() + " False"

    records = [record(number, number / 7) for number in range(600)]
    encoded: list[object] = []
    original = render._record_text
    monkeypatch.setattr(render, "_record_text", lambda item: encoded.append(item) or original(item))
    whole = (json.dumps({"records": records}, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()
    cache = ContentCache(tmp_path / "cache")
    with render._caching(cache, "salt"):
        assert render._records_json(records, [key(item) for item in records]) == whole
        assert len(render._record_blocks([key(item) for item in records])) > 4
        encoded.clear()
        assert render._records_json(records, [key(item) for item in records]) == whole
        assert encoded == []  # every block from the cache

        records[300] = record(300, 0.5)
        records.insert(100, record(9999, 1.0))
        whole = (json.dumps({"records": records}, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()
        encoded.clear()
        assert render._records_json(records, [key(item) for item in records]) == whole
    assert 2 <= len(encoded) <= 4 * render.RECORD_BLOCK_MAX and len(encoded) < 200
    # A record without a key (its file's digest unknown) is encoded every time, never cached.
    keys = [key(item) for item in records]
    keys[50] = ""
    encoded.clear()
    with render._caching(cache, "salt"):
        assert render._records_json(records, keys) == whole
        assert records[50] in encoded


def test_unchanged_data_files_are_not_read_again_and_a_changed_one_is(
    fixture: SiteFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A challenge's training data can be millions of rows: counting them and reading its
    classes with pandas took seconds on every build. Both are kept while the file is
    unchanged; an edited file shows its new rows and classes, as a build from scratch does."""
    from site_builder import spec as spec_module

    out = tmp_path / "site"
    _build(fixture, out)
    reads: list[str] = []
    count_rows, read_labels, spec_labels = render.csv_shape, render.train_labels, spec_module.train_labels
    monkeypatch.setattr(render, "csv_shape", lambda data: reads.append("rows") or count_rows(data))
    monkeypatch.setattr(render, "train_labels", lambda *args: reads.append("labels") or read_labels(*args))
    monkeypatch.setattr(spec_module, "train_labels", lambda *args: reads.append("labels on demand") or spec_labels(*args))

    _build(fixture, out)
    assert reads == []

    train = fixture.root / "challenges" / "gamma" / "data" / "train.csv"
    with train.open("a", encoding="utf-8") as handle:
        handle.write("i9,7.7,3.1,hybrid\n")
    report = _build(fixture, out)
    assert reads == ["rows", "labels"] and report.rendered > 1
    page = (out / "challenges" / "gamma" / "index.html").read_text(encoding="utf-8")
    assert "<code>hybrid</code>" in page and '<td class="num">10</td>' in page
    assert _tree(out) == _reference(fixture, tmp_path, "reference")


def test_a_challenge_readme_is_rendered_again_only_when_its_text_or_its_links_change(
    fixture: SiteFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendering a README imports markdown-it and the lexers of its code blocks on every build;
    the HTML is kept with the answer each of its links got, and a link that resolves differently
    (an image removed) renders it again, as a build from scratch would."""
    out = tmp_path / "site"
    _build(fixture, out)
    rendered: list[str] = []
    render_markdown = render.render_markdown
    monkeypatch.setattr(render, "render_markdown", lambda text, *args, **kwargs: rendered.append(text[:20]) or render_markdown(text, *args, **kwargs))

    _build(fixture, out)
    assert rendered == []
    assert (out / "challenges" / "alpha" / "assets" / "figures" / "plot.png").is_file()

    (fixture.root / "challenges" / "alpha" / "figures" / "plot.png").unlink()
    _build(fixture, out)
    assert rendered == ["# Customer churn\n\nPr"]
    assert "plot.png" not in (out / "challenges" / "alpha" / "index.html").read_text(encoding="utf-8")
    assert not (out / "challenges" / "alpha" / "assets").exists()
    assert _tree(out) == _reference(fixture, tmp_path, "reference")
