"""The pure checks of the trusted side, without files or network."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from site_builder.github import (
    MARKER,
    ChangedFile,
    CommentView,
    Quota,
    Rejection,
    Standing,
    TreeEntry,
    check_changed_files,
    check_tree,
    parse_run_event,
    parse_run_json,
    quota_state,
    read_artifact_zip,
    render_comment,
    sanitize_error,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
CAP = 1024 * 1024


def changed(*names: str, status: str = "added") -> list[ChangedFile]:
    return [ChangedFile(name, status) for name in names]


def test_changed_files_in_the_authors_own_folder_name_the_challenge() -> None:
    files = changed("submissions/houses/alice/predictions.csv", "submissions/houses/alice/README.md")
    assert check_changed_files(files, "alice") == "houses"


@pytest.mark.parametrize(
    "name",
    [
        "submissions/houses/bob/predictions.csv",
        ".github/workflows/scoring.yml",
        "site_builder/github.py",
        "submissions/houses/alice",
        "submissions/houses/../houses/alice/x.csv",
        "submissions/Houses!/alice/x.csv",
    ],
)
def test_a_file_outside_the_folder_is_rejected_by_name(name: str) -> None:
    with pytest.raises(Rejection, match="is outside"):
        check_changed_files(changed("submissions/houses/alice/predictions.csv", name), "alice")


def test_removed_and_renamed_files_are_rejected() -> None:
    with pytest.raises(Rejection, match="is removed"):
        check_changed_files(changed("submissions/houses/alice/old.csv", status="removed"), "alice")
    with pytest.raises(Rejection, match="is renamed"):
        check_changed_files(changed("submissions/houses/alice/new.csv", status="renamed"), "alice")


def test_two_challenges_in_one_pull_request_are_rejected() -> None:
    with pytest.raises(Rejection, match="several challenges"):
        check_changed_files(changed("submissions/a/alice/predictions.csv", "submissions/b/alice/predictions.csv"), "alice")


def test_hostile_names_are_shown_inert() -> None:
    with pytest.raises(Rejection) as caught:
        check_changed_files(changed("submissions/houses/alice/x.csv", "`@org/admins <img src=x>\n$(id)`"), "alice")
    assert "`'@org/admins <img src=x>?$(id)'`" in caught.value.message


def entry(path: str, mode: str = "100644", size: int = 10, kind: str = "blob") -> TreeEntry:
    return TreeEntry(path, mode, kind, size, "0" * 40)


def test_the_tree_must_hold_regular_capped_files_and_the_required_one() -> None:
    check_tree([entry("predictions.csv"), entry("docs", kind="tree", mode="040000", size=0)], "predictions.csv", CAP)
    with pytest.raises(Rejection, match="symbolic link"):
        check_tree([entry("predictions.csv", mode="120000")], "predictions.csv", CAP)
    with pytest.raises(Rejection, match="not a regular file"):
        check_tree([entry("predictions.csv"), entry("vendored", mode="160000", kind="commit")], "predictions.csv", CAP)
    with pytest.raises(Rejection, match="larger than"):
        check_tree([entry("predictions.csv", size=CAP + 1)], "predictions.csv", CAP)
    with pytest.raises(Rejection, match="has no `estimator.py`"):
        check_tree([entry("predictions.csv")], "estimator.py", CAP)


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_clean_artifact_is_read_into_memory() -> None:
    members = read_artifact_zip(zipped({"predictions.csv": b"id,price\n", "run.json": b"{}"}), CAP)
    assert members == {"predictions.csv": b"id,price\n", "run.json": b"{}"}


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../predictions.csv": b"x", "run.json": b"{}"}, "only predictions.csv and run.json"),
        ({"/etc/cron.d/x": b"x", "run.json": b"{}"}, "only predictions.csv and run.json"),
        ({"sub/run.json": b"{}"}, "only predictions.csv and run.json"),
        ({"predictions.csv": b"x"}, "has no run.json"),
        ({"run.json": b"{}", "predictions.csv": b"0" * (CAP + 1)}, "larger than"),
    ],
)
def test_a_hostile_artifact_is_rejected(members: dict[str, bytes], message: str) -> None:
    with pytest.raises(Rejection, match=message):
        read_artifact_zip(zipped(members), CAP)


def test_a_duplicate_member_and_a_lying_size_are_caught() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("run.json", b"{}")
        with pytest.warns(UserWarning):
            archive.writestr("run.json", b"{}")
    with pytest.raises(Rejection, match="twice"):
        read_artifact_zip(buffer.getvalue(), CAP)
    with pytest.raises(Rejection, match="not a zip"):
        read_artifact_zip(b"PK\x03\x04 nonsense", CAP)


def test_run_json_keeps_known_fields_and_a_sanitized_error() -> None:
    run = parse_run_json(json.dumps({"status": "failed", "fit_seconds": 1.5, "evil": "x" * 10, "error": {"class": "<b>", "message": "m" * 900, "traceback": "\n".join(f"line {i}" for i in range(100))}}).encode())
    assert run["status"] == "failed" and run["fit_seconds"] == 1.5 and "evil" not in run
    assert run["error"]["class"] == "exception" and len(run["error"]["message"]) == 500
    assert run["error"]["traceback"].splitlines()[0] == "line 75"
    with pytest.raises(Rejection):
        parse_run_json(b'{"status": "maybe"}')


def record(participant: str, hours_ago: float, status: str = "scored") -> dict[str, object]:
    moment = (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"participant": participant, "status": status, "submitted_at": moment, "scored_at": moment}


def test_the_quota_counts_scored_records_of_the_last_24_hours() -> None:
    records = [record("alice", 1), record("alice", 5), record("alice", 30), record("alice", 2, "failed"), record("bob", 1)]
    quota = quota_state(records, "alice", NOW, per_day=3)
    assert (quota.used, quota.left) == (2, 1)
    assert quota.next_slot == NOW - timedelta(hours=5) + timedelta(hours=24)
    assert quota_state([], "alice", NOW, per_day=3) == Quota(3, 0, None)


def test_a_fork_run_event_is_parsed_as_data() -> None:
    payload = {"workflow_run": {"id": 7, "event": "pull_request", "path": ".github/workflows/submission.yml", "conclusion": "success", "head_sha": "a" * 40, "head_branch": "$(touch /tmp/x)", "pull_requests": [], "head_repository": {"full_name": "eve/hack", "owner": {"login": "eve"}}}}
    run = parse_run_event(payload)
    assert run.head_branch == "$(touch /tmp/x)" and run.head_owner == "eve" and run.run_id == 7


def test_the_comment_shows_public_scores_only_and_starts_with_the_marker() -> None:
    view = CommentView(
        "scored",
        challenge="houses",
        title="Houses",
        participant="alice",
        submission_id="abc",
        head_sha="f" * 40,
        public_scores={"rmse": 1.23456},
        metrics=["rmse"],
        standing=Standing(rank=2, board_size=3, previous_best=2.0, leader="bob", leader_score=1.0),
        quota=Quota(5, 2, NOW + timedelta(hours=3)),
        end=NOW + timedelta(days=30),
    )
    body = render_comment(view)
    assert body.startswith(MARKER + "\n")
    assert "| RMSE ↓ | 1.235 |" in body
    assert "Rank now: 2 of 3" in body
    assert "Against your previous best: -0.765 (better)" in body
    assert "Against the leader, **bob**: +0.235 (worse)" in body
    assert "Quota: **3 of 5**" in body and "2026-11-22T13:00:00Z" in body
    assert "private" not in body.lower().replace("private scores stay hidden", "")


def test_a_failure_comment_fences_the_traceback_safely() -> None:
    error = sanitize_error({"class": "timeout", "message": "took too long", "traceback": "Traceback\n```\n</details><script>"})
    body = render_comment(CommentView("failed", error=error))
    assert "Error class: **timeout**" in body
    assert "````text\nTraceback\n```\n</details><script>\n````" in body
