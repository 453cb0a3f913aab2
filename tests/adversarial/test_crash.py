"""SIGKILL at any moment: the store and the site stay whole, and a re-run finishes the job.

A writer process records submissions (with their file snapshots) in a loop
and is killed at random moments, then at each step of an atomic write. A
``site-builder build`` is killed at random moments. After every kill the
store holds only whole records and the site is the previous or the new one,
never a mix.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.adversarial.conftest import NOW, REPOSITORY, Workspace

pytestmark = pytest.mark.slow

SUBMISSIONS = 1500
KILLS = 12

# Records submission i (i in the given range) unless present; optionally dies at the Nth call of one os function.
WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime, timezone
    from site_builder import record as store

    results, first, last, fatal, nth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    if fatal != "-":
        original, calls = getattr(os, fatal), []
        def dying(*args, **kwargs):
            calls.append(1)
            if len(calls) == nth:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        setattr(os, fatal, dying)
    moment = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    for index in range(first, last):
        files = {"estimator.py": f"# submission {index}\\n".encode() * 100, "README.md": f"# {index}\\n".encode()}
        record = store.build_record(
            challenge="vault", participant=f"writer-{index}", submission_id=f"s{index}", status="scored",
            scores={"public": {"rmse": float(index)}}, run={}, error=None, submitted_at=moment, scored_at=moment,
            hashes={"code": store.hash_files(files)},
            files=[{"name": name, "size": len(data), "sha256": store.sha256_bytes(data)} for name, data in files.items()],
        )
        store.write_record(results, record, files)
    """
)


def start_writer(results: Path, first: int = 0, last: int = SUBMISSIONS, fatal: str = "-", nth: int = 0) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(results), str(first), str(last), fatal, str(nth)],
        cwd=REPOSITORY,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def expected_snapshot(index: int) -> dict[str, bytes]:
    return {"estimator.py": f"# submission {index}\n".encode() * 100, "README.md": f"# {index}\n".encode()}


def assert_store_whole(results: Path, *, complete: int | None = None) -> int:
    """Every record file parses and matches its submission; every snapshot file is whole. The records found."""
    folder = results / "vault"
    records = sorted(folder.glob("*.json")) if folder.is_dir() else []
    for path in records:
        record = json.loads(path.read_text(encoding="utf-8"))  # a partial record would not parse
        index = int(record["submission_id"].removeprefix("s"))
        assert path.name == f"writer-{index}--s{index}.json" and record["scores"]["public"]["rmse"] == index
        snapshot = folder / "files" / f"writer-{index}" / f"s{index}"
        for name, content in expected_snapshot(index).items():
            assert (snapshot / name).read_bytes() == content, (snapshot / name)
    if folder.is_dir():
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                assert path.suffix == ".json" or path.parent.parent.parent.name == "files", path
    if complete is not None:
        assert len(records) == complete
        assert not [path for path in folder.rglob(".tmp-*")], "temporary files of killed writers were not swept"
    return len(records)


def test_a_writer_killed_at_random_moments_leaves_only_whole_records(tmp_path: Path) -> None:
    results = tmp_path / "results"
    rng = random.Random(5)
    counts = []
    for _ in range(KILLS):
        writer = start_writer(results)
        time.sleep(rng.uniform(0.1, 0.5))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        counts.append(assert_store_whole(results))
    finisher = start_writer(results)
    assert finisher.wait(timeout=120) == 0, finisher.stderr.read() if finisher.stderr else ""
    assert_store_whole(results, complete=SUBMISSIONS)
    assert counts == sorted(counts) and counts[-1] < SUBMISSIONS, "every kill landed while records were being written"


@pytest.mark.parametrize(
    ("fatal", "nth"),
    [("fsync", 1), ("fsync", 3), ("link", 1), ("link", 3), ("unlink", 1), ("unlink", 3), ("mkdir", 2)],
    ids=lambda value: str(value),
)
def test_a_writer_killed_inside_an_atomic_write_leaves_no_partial_record(tmp_path: Path, fatal: str, nth: int) -> None:
    """Killed after the data is on disk but before its name exists, after the name exists, and in between."""
    results = tmp_path / "results"
    writer = start_writer(results, 0, 3, fatal, nth)
    assert writer.wait(timeout=60) == -signal.SIGKILL
    assert_store_whole(results)
    finisher = start_writer(results, 0, 3)
    assert finisher.wait(timeout=60) == 0
    assert_store_whole(results, complete=3)


# --------------------------------------------------------------------------
# The site build
# --------------------------------------------------------------------------


def site_files(site: Path) -> dict[str, bytes]:
    return {path.relative_to(site).as_posix(): path.read_bytes() for path in sorted(site.rglob("*")) if path.is_file()}


def build(workspace: Workspace, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "site_builder", "build", "--out", str(out), "--now", NOW],
        cwd=workspace.repo,
        env=workspace.environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_build_killed_at_random_moments_leaves_the_previous_site_whole(workspace: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "site"
    first = build(workspace, out)
    assert first.wait(timeout=120) == 0
    reference = site_files(out)
    assert len(reference) > 40
    rng = random.Random(7)
    for _ in range(8):
        builder = build(workspace, out)
        time.sleep(rng.uniform(0.5, 4.0))
        builder.send_signal(signal.SIGKILL)
        builder.wait()
        assert out.is_dir(), "the site disappeared"
        assert site_files(out) == reference
    final = build(workspace, out)
    assert final.wait(timeout=120) == 0
    assert site_files(out) == reference
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site"], "a killed build's staging folder was left"


# Builds and dies at one moment of the swap (the first argument), then runs the CLI with the rest.
SWAP_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from site_builder import publish

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    moment = sys.argv.pop(1)
    rename = os.rename
    if moment == "after-the-exchange":  # the one step that puts the new site in place of the old
        exchange = publish._exchange
        def exchanging(*args):
            done = exchange(*args)
            assert done, "this filesystem cannot exchange two folders"
            die()
        publish._exchange = exchanging
    elif moment == "between-the-two-renames":  # where the system cannot exchange: the old site aside, the new not yet in
        publish._exchange = lambda first, second: False
        def renaming(source, target):
            rename(source, target)
            if ".old-" in str(target):
                die()
        os.rename = renaming
    elif moment == "after-a-folder-move":  # an unchanged folder has left the old site for the new one
        def renaming(source, target):
            rename(source, target)
            if ".build-" in str(target):
                die()
        os.rename = renaming
    elif moment == "before-the-swap":  # staged, nothing replaced yet
        publish._swap = lambda *args, **kwargs: die()
    else:
        raise SystemExit(f"unknown moment {moment}")
    from site_builder.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


STRAY = "stray.txt"


def build_killed(workspace: Workspace, out: Path, moment: str) -> None:
    """A build that must replace the site (a stray file to remove), killed at ``moment``.

    Without a change the build leaves the site in place and never swaps."""
    if out.is_dir():
        (out / STRAY).write_bytes(b"not part of the site")
    killed = subprocess.run(
        [sys.executable, "-c", SWAP_KILLER, moment, "build", "--out", str(out), "--now", NOW],
        cwd=workspace.repo,
        env=workspace.environment(),
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode("utf-8", "replace")[-2000:]


def test_a_build_killed_right_after_the_exchange_of_the_swap_leaves_the_new_site(workspace: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert build(workspace, out).wait(timeout=120) == 0
    reference = site_files(out)
    build_killed(workspace, out, "after-the-exchange")
    assert out.is_dir() and site_files(out) == reference


def test_a_build_killed_between_the_two_renames_of_the_swap_leaves_a_site(workspace: Workspace, tmp_path: Path) -> None:
    """Without an exchange (a filesystem that lacks it), the next build puts the old site back before anything else."""
    out = tmp_path / "site"
    assert build(workspace, out).wait(timeout=120) == 0
    reference = site_files(out)
    build_killed(workspace, out, "between-the-two-renames")
    assert not out.exists() and len(list(tmp_path.glob(".site.old-*"))) == 1
    build_killed(workspace, out, "before-the-swap")
    assert out.is_dir() and site_files(out) == {**reference, STRAY: b"not part of the site"}
    assert build(workspace, out).wait(timeout=120) == 0
    assert site_files(out) == reference
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site"], "a killed build's folders were left"


def test_a_build_killed_while_unchanged_folders_move_leaves_a_site_the_next_build_completes(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The one window of the swap: unchanged folders move whole into the staged site before the exchange."""
    out = tmp_path / "site"
    assert build(workspace, out).wait(timeout=120) == 0
    reference = site_files(out)
    build_killed(workspace, out, "after-a-folder-move")
    assert out.is_dir() and (out / "index.html").is_file()
    assert build(workspace, out).wait(timeout=120) == 0
    assert site_files(out) == reference
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site"], "a killed build's folders were left"
