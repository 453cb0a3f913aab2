"""The input index remembers records and snapshot files, and never stands for a file that changed.

Each test builds once so the index holds every input, changes an input the
way an organizer or a broken sync could (in place, with the same size, or
swapped for a symlink), builds again, and compares the site with one built
from scratch without any cache.
"""

from __future__ import annotations

import gc
import math
import os
from pathlib import Path

import pytest

from site_builder import fileindex, render
from site_builder.cache import ContentCache, Fingerprints
from site_builder.render import build_site
from tests.site_fixture import SiteFixture, make_site_fixture
from tests.site_fixture import site_tree as _tree


@pytest.fixture
def fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SiteFixture:
    # The fixture is written just before the first build; without this, every
    # file would be too recent to be remembered and the index never consulted.
    monkeypatch.setattr(fileindex, "RACY_SECONDS", 0)
    return make_site_fixture(tmp_path / "base")


def _build(fixture: SiteFixture, out: Path, **options) -> render.BuildReport:
    return build_site(fixture.root, fixture.results, out, now=fixture.now, repository_url=fixture.repository_url, **options)


def _reference(fixture: SiteFixture, out: Path) -> dict[str, bytes]:
    _build(fixture, out, use_cache=False, workers=1)
    return _tree(out)


def _overwrite_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Change bytes inside the file without replacing it: same inode, same size."""
    assert len(old) == len(new)
    data = path.read_bytes()
    assert data.count(old) == 1, f"{old!r} not once in {path}"
    with open(path, "r+b") as handle:
        handle.write(data.replace(old, new))


def _index_entries(fixture: SiteFixture) -> int:
    folder = fixture.root / ".cache" / "site-builder" / fileindex.FolderIndex.NAMESPACE
    return sum(1 for path in folder.rglob("*") if path.is_file())


def test_the_second_build_reads_its_inputs_from_the_index_and_writes_the_same_site(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, out)
    assert _index_entries(fixture) > 0
    reads: list[str] = []
    original = fileindex.FolderIndex.remember

    def counting(self, name, *args):  # noqa: ANN001, ANN202
        reads.append(name)
        return original(self, name, *args)

    fileindex.FolderIndex.remember = counting  # type: ignore[method-assign]
    try:
        report = _build(fixture, out)
    finally:
        fileindex.FolderIndex.remember = original  # type: ignore[method-assign]
    assert reads == [] and report.rendered == 1 and report.changed == 0
    assert _tree(out) == _reference(fixture, tmp_path / "reference")


def test_a_record_edited_in_place_with_the_same_size_shows_its_new_score(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, out)
    record = fixture.results / "alpha" / "alice--a1.json"
    _overwrite_in_place(record, b"0.812345", b"0.912345")

    _build(fixture, out)

    page = (out / "challenges" / "alpha" / "submissions" / "alice" / "a1.html").read_text(encoding="utf-8")
    assert "0.9123" in page and "0.8123" not in page
    assert _tree(out) == _reference(fixture, tmp_path / "reference")


def test_a_snapshot_file_edited_in_place_shows_its_new_code(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, out)
    snapshot = fixture.results / "alpha" / "files" / "alice" / "a1" / "estimator.py"
    _overwrite_in_place(snapshot, b"get_estimator", b"get_EDITED_es")

    _build(fixture, out)

    page = (out / "challenges" / "alpha" / "submissions" / "alice" / "a1.html").read_text(encoding="utf-8")
    assert "get_EDITED_es" in page
    assert _tree(out) == _reference(fixture, tmp_path / "reference")


def test_a_snapshot_file_swapped_for_a_symlink_is_refused_although_the_index_knew_it(
    fixture: SiteFixture, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    _build(fixture, out)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN-3f9a", encoding="utf-8")
    snapshot = fixture.results / "alpha" / "files" / "alice" / "a1" / "estimator.py"
    snapshot.unlink()
    snapshot.symlink_to(secret)

    _build(fixture, out)

    page = (out / "challenges" / "alpha" / "submissions" / "alice" / "a1.html").read_text(encoding="utf-8")
    assert "TOKEN-3f9a" not in page and "not in the stored snapshot" in page
    assert _tree(out) == _reference(fixture, tmp_path / "reference")


def test_a_removed_record_leaves_the_site_and_the_index(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, out)
    (fixture.results / "alpha" / "alice--a1.json").unlink()

    _build(fixture, out)

    assert not (out / "challenges" / "alpha" / "submissions" / "alice" / "a1.html").exists()
    assert _tree(out) == _reference(fixture, tmp_path / "reference")
    index = fileindex.FolderIndex(ContentCache(fixture.root / ".cache" / "site-builder"), os.fspath(fixture.results / "alpha"), render.code_salt())
    assert "alice--a1.json" not in index.previous and "alice--a2.json" in index.previous


def test_a_file_changed_just_before_the_build_is_read_again_next_time(tmp_path: Path) -> None:
    """Racily clean: a file written within the clock tick of its read could change again with the
    same identity, so an entry newer than the start of the build minus the margin is not kept."""
    cache = ContentCache(tmp_path / "cache")
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "a.json").write_text("1", encoding="utf-8")
    began = os.stat(folder / "a.json").st_ctime_ns  # the build began as the file was written

    index = fileindex.FolderIndex(cache, os.fspath(folder), "salt", began_ns=began)
    assert index.read("a.json", bytes.decode) == (fileindex.file_digest(b"1"), "1")
    index.save()
    assert fileindex.FolderIndex(cache, os.fspath(folder), "salt").previous == {}

    later = began + (fileindex.RACY_SECONDS + 1) * 1_000_000_000
    index = fileindex.FolderIndex(cache, os.fspath(folder), "salt", began_ns=later)
    index.read("a.json", bytes.decode)
    index.save()
    again = fileindex.FolderIndex(cache, os.fspath(folder), "salt")
    assert again.lookup("a.json", fileindex.identity_of(os.stat(folder / "a.json"))) == (fileindex.file_digest(b"1"), "1")
    assert fileindex.FolderIndex(cache, os.fspath(folder), "other code").previous == {}


def test_a_damaged_or_foreign_index_is_ignored(fixture: SiteFixture, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _build(fixture, out)
    folder = fixture.root / ".cache" / "site-builder" / fileindex.FolderIndex.NAMESPACE
    for entry in folder.rglob("*"):
        if entry.is_file():  # valid checksum, wrong content: an index written for another folder
            ContentCache(fixture.root / ".cache" / "site-builder").put(
                fileindex.FolderIndex.NAMESPACE, entry.name, b'{"folder": "/elsewhere", "entries": {}}'
            )
    _overwrite_in_place(fixture.results / "alpha" / "alice--a1.json", b"0.812345", b"0.712345")
    _build(fixture, out)
    assert _tree(out) == _reference(fixture, tmp_path / "reference")


def test_equal_values_get_equal_fingerprints_however_their_objects_are_shared() -> None:
    shared = "x" * 40
    first = {"a": shared, "b": shared}
    second = {"a": "x" * 40, "b": "".join(["x"] * 40)}
    assert first == second and first["a"] is first["b"] and second["a"] is not second["b"]
    assert Fingerprints().digest(first) == Fingerprints().digest(second)
    assert Fingerprints().digest(first) != Fingerprints().digest({"a": shared, "b": shared + "y"})


def test_few_and_many_pages_highlight_to_the_same_bytes(fixture: SiteFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Joined patterns for many pages, Pygments' own loop for a few: the same site either way."""
    monkeypatch.setattr(render, "ACCELERATED_LEXING_MIN_PAGES", 0)
    _build(fixture, tmp_path / "joined", use_cache=False, workers=1)
    monkeypatch.setattr(render, "ACCELERATED_LEXING_MIN_PAGES", 10**9)
    _build(fixture, tmp_path / "plain", use_cache=False, workers=1)
    assert _tree(tmp_path / "joined") == _tree(tmp_path / "plain")


def test_a_build_leaves_the_garbage_collector_as_it_found_it(fixture: SiteFixture, tmp_path: Path) -> None:
    _build(fixture, tmp_path / "site")
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(render.RenderError):
        build_site(fixture.root, fixture.results, tmp_path / "failed", now=fixture.now, repository_url="ftp://example.org")
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        _build(fixture, tmp_path / "site")
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_a_fresh_copy_of_unchanged_records_is_read_but_not_parsed_again(
    fixture: SiteFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a fresh checkout: every file is new (another inode), its bytes are not."""
    out = tmp_path / "site"
    _build(fixture, out)
    for record in (fixture.results / "alpha").glob("*.json"):
        data = record.read_bytes()
        record.unlink()
        record.write_bytes(data)
    edited = fixture.results / "alpha" / "alice--a1.json"
    edited.write_bytes(edited.read_bytes().replace(b"0.812345", b"0.612345"))
    parsed: list[str] = []
    original = render._parse_record

    def counting(path: str, data: bytes):  # noqa: ANN202
        parsed.append(os.path.basename(path))
        return original(path, data)

    monkeypatch.setattr(render, "_parse_record", counting)
    _build(fixture, out)
    assert parsed == ["alice--a1.json"]
    assert _tree(out) == _reference(fixture, tmp_path / "reference")



def test_cache_data_keeps_numbers_a_faster_json_library_would_change(tmp_path: Path) -> None:
    """Integers past 64 bits, infinities and NaN read back as they were (orjson would turn them into floats and nulls)."""
    from site_builder.cache import dump_data, load_data

    for value in ({"pull_request": 10**30}, {"score": float("inf")}, {"entries": [[1, 2, "digest", {"a": None}]]}):
        assert load_data(dump_data(value)) == value
    assert math.isnan(load_data(dump_data({"x": float("nan")}))["x"])
    with pytest.raises(ValueError):
        load_data(b"{not json")
