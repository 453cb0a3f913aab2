"""Hostile pull requests: each is rejected with a clear comment, and nothing is recorded."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping

import pytest

from tests.github.challenge_fixture import ESTIMATOR
from tests.github.conftest import Hackathon

pytestmark = pytest.mark.slow


def hostile_zip(members: Mapping[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "../../../etc/passwd")
    return buffer.getvalue()


def assert_rejected(hackathon: Hackathon, number: int, sha: str, *fragments: str) -> str:
    """The run comments a rejection naming the problem, sets a failing status and records nothing."""
    (body,) = hackathon.comments(number)
    assert "🚫 Not scored" in body, body
    for fragment in fragments:
        assert fragment in body, body
    assert "Nothing was recorded and no quota was used" in body
    assert hackathon.records() == {}
    statuses = [status for status in hackathon.fake.statuses if status["sha"] == sha]
    assert statuses and statuses[-1]["state"] == "failure"
    hackathon.assert_no_secret_leaked()
    return body


def test_a_pull_request_touching_another_participants_folder(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(
        1,
        "alice",
        {
            "submissions/houses/alice/predictions.csv": houses.predictions(),
            "submissions/houses/bob/predictions.csv": houses.predictions(offset=9.0),
        },
    )
    run = hackathon.score(pull, hackathon.new_run_id())
    assert run.result("score") == "skipped"
    assert_rejected(hackathon, 1, pull.head_sha, "`submissions/houses/bob/predictions.csv` is outside `submissions/<challenge>/alice/`")


def test_a_pull_request_touching_a_workflow_file(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(
        1,
        "alice",
        {
            "submissions/houses/alice/predictions.csv": houses.predictions(),
            ".github/workflows/scoring.yml": b"name: pwned\non: workflow_run\n",
        },
    )
    hackathon.score(pull, hackathon.new_run_id())
    assert_rejected(hackathon, 1, pull.head_sha, "`.github/workflows/scoring.yml` is outside")


def test_an_author_who_does_not_own_the_folder(hackathon: Hackathon) -> None:
    """mallory opens a pull request that writes alice's folder; the actor is alice-lookalike."""
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "mallory", {"submissions/houses/alice/predictions.csv": houses.predictions()}, head_owner="mallory")
    hackathon.score(pull, hackathon.new_run_id(), actor="alice")
    assert_rejected(hackathon, 1, pull.head_sha, "`submissions/houses/alice/predictions.csv` is outside `submissions/<challenge>/mallory/`")


def test_a_symlink_in_the_submission(hackathon: Hackathon) -> None:
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": ("symlink", "../../../challenges/houses/private/solution.csv.age")})
    hackathon.score(pull, hackathon.new_run_id())
    assert_rejected(hackathon, 1, pull.head_sha, "`predictions.csv` is a symbolic link")


def test_a_head_sha_that_does_not_match(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions()})
    old = pull.head_sha
    new = hackathon.push_to_pull(pull, {"submissions/houses/alice/predictions.csv": houses.predictions(offset=5.0)})
    hackathon.score(pull, hackathon.new_run_id(), head_sha=old)
    assert_rejected(hackathon, 1, old, f"this run is for commit `{old[:7]}` but the pull request's head is now `{new[:7]}`")


def test_a_file_larger_than_the_cap(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(
        1,
        "alice",
        {"submissions/houses/alice/predictions.csv": houses.predictions(), "submissions/houses/alice/model.bin": b"\0" * (1024 * 1024 + 1)},
    )
    hackathon.score(pull, hackathon.new_run_id())
    assert_rejected(hackathon, 1, pull.head_sha, "`model.bin` is larger than 1024 KiB")


def test_a_pull_request_touching_the_challenge(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions(), "challenges/houses/README.md": b"# hijacked\n"})
    hackathon.score(pull, hackathon.new_run_id())
    assert_rejected(hackathon, 1, pull.head_sha, "`challenges/houses/README.md` is outside")


# ---------------------------------------------------------------- artifacts of a code challenge


def _code_pull(hackathon: Hackathon, members: Mapping[str, bytes], **options: str) -> tuple[int, str]:
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/estimator.py": ESTIMATOR.encode()})
    run_id = hackathon.new_run_id()
    hackathon.fake.add_artifact(run_id, "submission", hostile_zip(members, **options))
    hackathon.score(pull, run_id)
    return run_id, pull.head_sha


def test_an_artifact_with_a_parent_directory_member(code_hackathon: Hackathon) -> None:
    houses = code_hackathon.challenges["houses"]
    _, sha = _code_pull(code_hackathon, {"run.json": b'{"status": "ok"}', "../predictions.csv": houses.predictions()})
    assert_rejected(code_hackathon, 1, sha, "the artifact holds `../predictions.csv`; only predictions.csv and run.json are accepted")
    assert not (code_hackathon.tmp / "predictions.csv").exists()


def test_an_artifact_with_an_oversized_member(code_hackathon: Hackathon) -> None:
    _, sha = _code_pull(code_hackathon, {"run.json": b'{"status": "ok"}', "predictions.csv": b"id,price\n" + b"t00,1\n" * 200_000})
    assert_rejected(code_hackathon, 1, sha, "the artifact member `predictions.csv` is larger than 1024 KiB")


def test_an_artifact_with_a_symlink_member(code_hackathon: Hackathon) -> None:
    _, sha = _code_pull(code_hackathon, {"run.json": b'{"status": "ok"}'}, symlink="predictions.csv")
    assert_rejected(code_hackathon, 1, sha, "the artifact member `predictions.csv` is a symbolic link")


def test_an_artifact_with_a_malformed_run_json(code_hackathon: Hackathon) -> None:
    _, sha = _code_pull(code_hackathon, {"run.json": b"[1, 2"})
    assert_rejected(code_hackathon, 1, sha, "run.json in the artifact is not valid JSON")


def test_a_code_run_that_failed_is_recorded_with_its_error_and_traceback(code_hackathon: Hackathon) -> None:
    run_json = {
        "status": "failed",
        "error": {"class": "exception", "message": "boom ``` <script>", "traceback": "Traceback (most recent call last):\n  File \"estimator.py\", line 3\nRuntimeError: boom ```"},
    }
    _code_pull(code_hackathon, {"run.json": json.dumps(run_json).encode()})
    (body,) = code_hackathon.comments(1)
    assert "❌ The submission failed" in body and "Error class: **exception**" in body
    assert "RuntimeError: boom" in body and "````text" in body  # a fence longer than any backtick run inside
    (record,) = code_hackathon.records().values()
    assert record["status"] == "failed" and record["error"]["class"] == "exception"
    assert "Quota: **5 of 5**" in body


def test_a_code_submission_with_a_clean_artifact_is_scored(code_hackathon: Hackathon) -> None:
    houses = code_hackathon.challenges["houses"]
    _code_pull(code_hackathon, {"run.json": json.dumps({"status": "ok", "fit_seconds": 0.5}).encode(), "predictions.csv": houses.predictions(offset=4.0)})
    (body,) = code_hackathon.comments(1)
    assert "✅ Scored" in body and "| RMSE ↓ | 4.000 |" in body
    (record,) = code_hackathon.records().values()
    assert record["run"]["fit_seconds"] == 0.5
    assert "estimator.py" in {entry["name"] for entry in record["files"]}
    code_hackathon.assert_no_secret_leaked()
