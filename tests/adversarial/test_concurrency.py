"""Fifty writers at once: every record present exactly once, no partial file, nothing lost silently.

Writers are processes started together behind a barrier. Locally each runs
the ``score`` verb (``site_builder.cli.main``, forked with its imports warm);
on the git data branch each runs the pipeline's ``datastore.add_files``
against a local bare repository standing in for GitHub. A few extra writers
race on the same submission with different content: the first wins.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from site_builder.record import load_records

pytestmark = pytest.mark.slow

WRITERS = 50
RACERS = 6  # extra writers of one and the same submission


def run_together(target: Callable[..., Any], arguments: list[tuple[Any, ...]], timeout: float) -> list[Any]:
    """Run ``target(*arguments[i])`` in one forked process each, released at once; their results."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(arguments))
    queue = context.Queue()

    def body(index: int, *args: Any) -> None:
        barrier.wait()
        try:
            queue.put((index, "ok", target(*args)))
        except BaseException as error:  # noqa: BLE001 - reported to the parent, which asserts on it
            queue.put((index, "error", f"{type(error).__name__}: {error}"))

    processes = [context.Process(target=body, args=(index, *args)) for index, args in enumerate(arguments)]
    for process in processes:
        process.start()
    deadline = time.monotonic() + timeout
    results = [queue.get(timeout=max(1.0, deadline - time.monotonic())) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    return [outcome for _, *outcome in sorted(results, key=lambda item: item[0])]


# --------------------------------------------------------------------------
# The local results store, through the score verb
# --------------------------------------------------------------------------


def score_verb(root: Path, identity: str, predictions: Path, participant: str, submission_id: str, *extra: str) -> int:
    from site_builder.cli import main

    os.environ["SITE_BUILDER_AGE_KEY"] = identity
    os.chdir(root)
    return main(["score", "challenges/gallery", str(predictions), "--participant", participant,
                 "--submission-id", submission_id, "--now", "2026-11-20T12:00:00Z", *extra])  # fmt: skip


def test_fifty_score_verbs_at_once_each_land_exactly_once(tmp_path: Path) -> None:
    from tests.adversarial.conftest import make_workspace

    workspace = make_workspace(tmp_path)
    workspace.listeners.close()
    base = (workspace.repo / "challenges" / "gallery" / "data" / "test.csv").read_text().splitlines()[1:]
    ids = [line.split(",")[0] for line in base]
    warm_up = tmp_path / "warm-up.csv"
    warm_up.write_text("id,y\n" + "".join(f"{i},1\n" for i in ids), encoding="utf-8")
    # One score here first: the forks then race on writing, not on importing sklearn and pandas.
    cwd = os.getcwd()
    try:
        assert score_verb(workspace.repo, workspace.identity, warm_up, "warm-up", "w", "--results", str(tmp_path / "scratch")) == 0
    finally:
        os.chdir(cwd)
    arguments = []
    for index in range(WRITERS + RACERS):
        predictions = tmp_path / f"predictions-{index}.csv"
        predictions.write_text("id,y\n" + "".join(f"{i},{400 + index}.5\n" for i in ids), encoding="utf-8")
        participant, submission_id = (f"writer-{index}", f"s{index}") if index < WRITERS else ("racer", "same")
        arguments.append((workspace.repo, workspace.identity, predictions, participant, submission_id))

    results = run_together(score_verb, arguments, timeout=240)

    assert results == [["ok", 0]] * len(arguments)
    records = load_records(workspace.results, "gallery")
    keys = [(record["participant"], record["submission_id"]) for record in records]
    assert len(keys) == len(set(keys)) == WRITERS + 1
    assert {f"writer-{index}" for index in range(WRITERS)} <= {participant for participant, _ in keys}
    for index in range(WRITERS):
        (record,) = [r for r in records if r["participant"] == f"writer-{index}"]
        assert record["submission_id"] == f"s{index}" and record["status"] == "scored"
    # The racers' record is one racer's, whole; the others changed nothing.
    folder = workspace.results / "gallery"
    racer = json.loads((folder / "racer--same.json").read_text(encoding="utf-8"))
    assert racer["scores"]["public"]["rmse"] is not None
    assert sorted(path.name for path in folder.iterdir() if path.name.startswith(".tmp-")) == []
    for path in folder.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))  # every file is a whole record


# --------------------------------------------------------------------------
# The git data branch, through the pipeline's datastore
# --------------------------------------------------------------------------


def git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True, text=True).stdout.strip()


def push_record(remote: str, name: str, content: bytes) -> list[str]:
    from site_builder.datastore import add_files

    return add_files({name: content}, f"record {name}", remote=remote)


@pytest.fixture(scope="module")
def data_branch_race(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Fifty writers and six racers pushing to one bare repository at once."""
    origin = tmp_path_factory.mktemp("data-branch") / "origin.git"
    git(origin.parent, "init", "--quiet", "--bare", "-b", "main", str(origin))
    arguments = [(str(origin), f"vault/writer-{i}--s{i}.json", json.dumps({"writer": i}).encode()) for i in range(WRITERS)]
    arguments += [(str(origin), "vault/racer--same.json", json.dumps({"racer": i}).encode()) for i in range(RACERS)]
    started = time.monotonic()
    results = run_together(push_record, arguments, timeout=600)
    return {"origin": origin, "results": results, "arguments": arguments, "seconds": time.monotonic() - started}


def test_git_writers_at_once_never_duplicate_corrupt_or_silently_lose_a_record(data_branch_race: dict[str, Any]) -> None:
    origin, results, arguments = data_branch_race["origin"], data_branch_race["results"], data_branch_race["arguments"]
    files = git(origin, "ls-tree", "-r", "--name-only", "leaderboard-data").splitlines()
    assert len(files) == len(set(files))
    for (_, name, content), (status, value) in zip(arguments, results):
        if status == "ok" and value:
            assert value == [name] and name in files
        elif status == "ok":
            assert name == "vault/racer--same.json"  # lost the race to an identical name: first writer wins
        else:
            assert value.startswith("DataStoreError: could not push"), value  # loud: the job fails, the comment says so
            assert name not in files or name == "vault/racer--same.json"
    racer = json.loads(git(origin, "show", "leaderboard-data:vault/racer--same.json"))
    assert set(racer) == {"racer"}
    for name in files:
        json.loads(git(origin, "show", f"leaderboard-data:{name}"))
    # One commit per landed file, in a straight line: no merge, no lost commit.
    assert int(git(origin, "rev-list", "--count", "leaderboard-data")) == len(files)
    assert git(origin, "rev-list", "--merges", "leaderboard-data") == ""


def test_fifty_git_writers_at_once_all_land(data_branch_race: dict[str, Any]) -> None:
    files = set(git(data_branch_race["origin"], "ls-tree", "-r", "--name-only", "leaderboard-data").splitlines())
    assert {f"vault/writer-{i}--s{i}.json" for i in range(WRITERS)} <= files
