"""Records: immutable, idempotent, atomic, and safe with hostile names."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from site_builder.errors import SubmissionError
from site_builder.record import build_record, load_records, record_path, write_record

T = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def make(participant: str = "alice", submission_id: str = "abc123", scored_at: datetime = T) -> dict:
    return build_record(
        challenge="demo", participant=participant, submission_id=submission_id, status="scored",
        scores={"public": {"rmse": 1.5}, "private": {"rmse": 1.7}}, run={"fit_seconds": 0.1},
        error=None, submitted_at=T, scored_at=scored_at, hashes={"code": "sha256:00"},
    )


def test_record_has_the_contract_fields(tmp_path: Path) -> None:
    path, written = write_record(tmp_path, make(), {"estimator.py": b"print(1)\n"})
    assert written and path == tmp_path / "demo" / "alice--abc123.json"
    data = json.loads(path.read_text())
    for field in ("challenge", "participant", "submission_id", "status", "error", "scores", "run", "submitted_at"):
        assert field in data
    assert data["submitted_at"] == "2026-11-20T10:00:00Z"
    assert (tmp_path / "demo" / "files" / "alice" / "abc123" / "estimator.py").read_bytes() == b"print(1)\n"


def test_writing_the_same_submission_twice_changes_nothing(tmp_path: Path) -> None:
    path, _ = write_record(tmp_path, make())
    before = path.read_bytes()
    _, written = write_record(tmp_path, make(scored_at=datetime(2027, 1, 1, tzinfo=timezone.utc)))
    assert not written and path.read_bytes() == before
    assert len(load_records(tmp_path)) == 1


def test_concurrent_writers_of_one_submission_leave_one_whole_file(tmp_path: Path) -> None:
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(write_record(tmp_path, make())[1])) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert [p.name for p in (tmp_path / "demo").iterdir() if p.is_file()] == ["alice--abc123.json"]


@pytest.mark.parametrize("login", ["../etc", "a/b", "-alice", "alice--x", "x" * 40, "", "al ice"])
def test_hostile_logins_are_refused(tmp_path: Path, login: str) -> None:
    with pytest.raises(SubmissionError):
        record_path(tmp_path, "demo", login, "abc")


@pytest.mark.parametrize("submission_id", ["../x", "a/b", "..", ".hidden", ""])
def test_hostile_submission_ids_are_refused(tmp_path: Path, submission_id: str) -> None:
    with pytest.raises(SubmissionError):
        make(submission_id=submission_id)


def test_snapshot_file_names_cannot_escape(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError):
        write_record(tmp_path, make(), {"../../evil.py": b"x"})
    assert not (tmp_path / "evil.py").exists()


def test_unreadable_record_is_skipped_with_a_warning(tmp_path: Path) -> None:
    write_record(tmp_path, make())
    (tmp_path / "demo" / "broken.json").write_text("{not json")
    with pytest.warns(UserWarning, match="broken.json"):
        records = load_records(tmp_path)
    assert [r["participant"] for r in records] == ["alice"]
