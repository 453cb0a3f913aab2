"""The data branch: one file per submission, pushes that race all land."""

from __future__ import annotations

import concurrent.futures
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from site_builder.datastore import DataStoreError, add_files, fetch
from tests.github.conftest import git


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    path = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(path))
    return path


def branch_files(origin: Path) -> list[str]:
    return git(origin, "ls-tree", "-r", "--name-only", "leaderboard-data").splitlines()


def answer_pushes(monkeypatch: pytest.MonkeyPatch, answer: Callable[[tuple[str, ...]], subprocess.CompletedProcess[str] | None]) -> None:
    """Route the data store's pushes through ``answer``; every other git command, and a push it answers None to, runs."""
    import site_builder.datastore as datastore

    real_git = datastore._git

    def answering_git(directory: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        answered = answer(args) if args[0] == "push" else None
        return answered if answered is not None else real_git(directory, *args, check=check)

    monkeypatch.setattr(datastore, "_git", answering_git)


def test_the_first_record_creates_an_orphan_branch(origin: Path, tmp_path: Path) -> None:
    assert fetch(tmp_path / "empty", remote=str(origin)) is False
    assert add_files({"houses/alice--1.json": b"{}\n"}, "record alice", remote=str(origin)) == ["houses/alice--1.json"]
    assert branch_files(origin) == ["houses/alice--1.json"]
    assert git(origin, "rev-list", "--count", "leaderboard-data") == "1"  # no parent: an orphan
    assert fetch(tmp_path / "copy", remote=str(origin)) is True
    assert (tmp_path / "copy" / "houses" / "alice--1.json").read_text() == "{}\n"
    assert not (tmp_path / "copy" / ".git").exists()


def test_an_existing_record_is_never_overwritten(origin: Path) -> None:
    add_files({"houses/alice--1.json": b"first\n"}, "one", remote=str(origin))
    assert add_files({"houses/alice--1.json": b"second\n"}, "two", remote=str(origin)) == []
    assert git(origin, "show", "leaderboard-data:houses/alice--1.json") == "first"


def test_writers_racing_all_land(origin: Path) -> None:
    add_files({"README": b"data\n"}, "start", remote=str(origin))

    def write(index: int) -> list[str]:
        return add_files({f"houses/p{index}--{index}.json": b"{}\n"}, f"record {index}", remote=str(origin))

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(write, range(6)))
    assert all(result for result in results)
    assert sorted(branch_files(origin)) == sorted(["README", *(f"houses/p{i}--{i}.json" for i in range(6))])


def test_names_that_leave_the_store_are_refused(origin: Path) -> None:
    for name in ("../x", "/etc/passwd", ".git/config", "a/../../b"):
        with pytest.raises(DataStoreError):
            add_files({name: b"x"}, "bad", remote=str(origin))


def test_a_lost_race_is_retried_on_the_new_tip(origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer pushes between our fetch and our push: we refetch and push again."""
    import site_builder.datastore as datastore

    add_files({"README": b"data\n"}, "start", remote=str(origin))
    original = datastore._commit_on_tip
    calls = []

    def interleaved(work: Path, branch: str, files: dict[str, bytes], message: str) -> tuple[str | None, list[str]]:
        tip, added = original(work, branch, files, message)
        if not calls:
            calls.append(1)
            add_files({"houses/bob--2.json": b"{}\n"}, "bob wins the race", remote=str(origin))
        return tip, added

    monkeypatch.setattr(datastore, "_commit_on_tip", interleaved)
    assert add_files({"houses/alice--1.json": b"{}\n"}, "alice", remote=str(origin)) == ["houses/alice--1.json"]
    assert sorted(branch_files(origin)) == ["README", "houses/alice--1.json", "houses/bob--2.json"]
    log = git(origin, "log", "--format=%s", "leaderboard-data").splitlines()
    assert log[:2] == ["alice", "bob wins the race"]


def test_the_token_is_never_written_to_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from site_builder.datastore import _auth_environment

    extra = _auth_environment({"GITHUB_TOKEN": "ghs_secret"})
    assert extra["GIT_CONFIG_KEY_0"] == "http.extraheader" and "ghs_secret" not in extra["GIT_CONFIG_VALUE_0"]
    assert "GIT_CONFIG_COUNT" not in _auth_environment({"GITHUB_TOKEN": "x", "SITE_BUILDER_DATA_REMOTE": "/tmp/o"})


def test_a_push_that_keeps_failing_stops_loudly_within_the_budget(origin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rejected pushes are retried after jittered, capped pauses; the attempts and the time budget both bound it."""
    import site_builder.datastore as datastore

    add_files({"README": b"data\n"}, "start", remote=str(origin))
    pauses: list[float] = []
    answer_pushes(monkeypatch, lambda args: subprocess.CompletedProcess(["git", *args], 1, LOST_RACE, "error: failed to push some refs"))
    monkeypatch.setattr(datastore.time, "sleep", pauses.append)
    with pytest.raises(DataStoreError, match=r"could not push to leaderboard-data after 5 attempts"):
        add_files({"houses/alice--1.json": b"{}\n"}, "alice", remote=str(origin), attempts=5)
    assert len(pauses) == 4  # none after the last attempt
    for failures, pause in enumerate(pauses, start=1):
        assert 0 <= pause <= min(datastore.PAUSE_CAP_SECONDS, datastore.PAUSE_BASE_SECONDS * 2 ** (failures - 1))
    pauses.clear()
    with pytest.raises(DataStoreError, match="could not push"):
        add_files({"houses/alice--1.json": b"{}\n"}, "alice", remote=str(origin), budget_seconds=0)
    assert pauses == []  # out of time: no pause, no further attempt
    assert branch_files(origin) == ["README"]


def test_a_remote_rejection_while_the_branch_moved_is_a_lost_race(origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pushes at once may end in "[remote rejected] (cannot lock ref)": the branch moved, so it is retried."""
    import site_builder.datastore as datastore

    add_files({"README": b"data\n"}, "start", remote=str(origin))
    rejected: list[int] = []

    def bob_pushes_first(args: tuple[str, ...]) -> subprocess.CompletedProcess[str] | None:
        if not rejected:
            rejected.append(1)
            other = tmp_path / "other"
            git(tmp_path, "clone", "--quiet", "--branch", "leaderboard-data", str(origin), str(other))
            (other / "bob.json").write_text("{}\n")
            git(other, "add", "bob.json")
            git(other, "-c", "user.name=bob", "-c", "user.email=bob@example.com", "commit", "--quiet", "-m", "bob")
            git(other, "push", "--quiet", "origin", "HEAD:refs/heads/leaderboard-data")
            refused = "!\tHEAD:refs/heads/leaderboard-data\t[remote rejected] (cannot lock ref)\nDone\n"
            return subprocess.CompletedProcess(["git", *args], 1, refused, "")
        return None

    answer_pushes(monkeypatch, bob_pushes_first)
    monkeypatch.setattr(datastore.time, "sleep", lambda seconds: None)
    assert add_files({"houses/alice--1.json": b"{}\n"}, "alice", remote=str(origin)) == ["houses/alice--1.json"]
    assert sorted(branch_files(origin)) == ["README", "bob.json", "houses/alice--1.json"]


LOST_RACE = "To origin\n!\tHEAD:refs/heads/leaderboard-data\t[rejected] (fetch first)\nDone\n"


def test_a_push_the_server_refuses_fails_at_once_with_its_reason(origin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A protected branch or a hook is not a race: no four minutes of retries, and the message says why."""
    import site_builder.datastore as datastore

    add_files({"README": b"data\n"}, "start", remote=str(origin))
    hook = origin / "hooks" / "pre-receive"
    hook.write_text('#!/bin/sh\necho attempt >> "$GIT_DIR/attempts"\necho "GH006: Protected branch update failed" >&2\nexit 1\n')
    hook.chmod(0o755)
    pauses: list[float] = []
    monkeypatch.setattr(datastore.time, "sleep", pauses.append)
    with pytest.raises(DataStoreError, match=r"refused the push.*pre-receive hook declined.*GH006.*branch protection"):
        add_files({"houses/alice--1.json": b"{}\n"}, "alice", remote=str(origin))
    assert (origin / "attempts").read_text().count("attempt") == 1 and pauses == []
    assert branch_files(origin) == ["README"]


def test_a_push_without_an_answer_is_tried_a_few_times(origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The network or the server failing is tried again, but not for the whole budget of a race."""
    import site_builder.datastore as datastore

    add_files({"README": b"data\n"}, "start", remote=str(origin))
    pushes: list[str] = []

    def unreachable(args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        pushes.append(args[0])
        return subprocess.CompletedProcess(["git", *args], 128, "", "fatal: unable to access: The requested URL returned error: 502")

    answer_pushes(monkeypatch, unreachable)
    monkeypatch.setattr(datastore.time, "sleep", lambda seconds: None)
    with pytest.raises(DataStoreError, match=r"after 3 attempts.*502"):
        add_files({"houses/alice--1.json": b"{}\n"}, "alice", remote=str(origin))
    assert len(pushes) == datastore.UNANSWERED_PUSH_ATTEMPTS == 3


def test_the_pauses_are_full_jitter_not_lockstep() -> None:
    """Writers that collide must not retry together: the pauses spread over [0, ceiling]."""
    import site_builder.datastore as datastore

    assert datastore.PUSH_ATTEMPTS >= 30 and datastore.PUSH_BUDGET_SECONDS >= 120
    pauses = [datastore._pause(3) for _ in range(200)]
    ceiling = min(datastore.PAUSE_CAP_SECONDS, datastore.PAUSE_BASE_SECONDS * 4)
    assert all(0 <= pause <= ceiling for pause in pauses)
    assert len(set(pauses)) > 190 and min(pauses) < ceiling / 4 and max(pauses) > ceiling * 3 / 4
    assert max(datastore._pause(40) for _ in range(50)) <= datastore.PAUSE_CAP_SECONDS
