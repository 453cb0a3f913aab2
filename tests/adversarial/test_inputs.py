"""Hostile folders, arguments and artifacts: refused with the tool's own error, nothing written.

Folder cases ran in the session's ``evaluate`` (they must come out
``invalid`` without stopping the rest); argument cases drive the CLI verbs
the pipeline uses; the artifact cases feed zip bombs to the pipeline's reader.
"""

from __future__ import annotations

import json
import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.adversarial import hostile
from tests.adversarial.conftest import Workspace

INVALID_REASONS = {
    "symlink": "is a symbolic link",
    "hardlink": "is a hard link",
    "non-utf8-name": "is not a UTF-8 file name",
    "sparse-10g": "is larger than 64 MiB",
    "yaml-bomb": "nests collections too deeply",
    "control-chars": "holds control characters",
}


@pytest.mark.slow
@pytest.mark.parametrize("login", sorted(INVALID_REASONS))
def test_a_broken_folder_is_invalid_with_its_reason_and_nothing_is_recorded(workspace: Workspace, login: str) -> None:
    assert workspace.outcomes[login] == "invalid"
    line = next(line for line in workspace.logs["evaluate"].splitlines() if f" {login} " in line)
    assert INVALID_REASONS[login] in line
    assert workspace.record(login) is None
    assert not (workspace.results / hostile.PREDICTIONS_CHALLENGE / "files" / login).exists()


@pytest.mark.slow
def test_folder_names_that_are_not_logins_are_refused_or_ignored(workspace: Workspace) -> None:
    for name in hostile.INVALID_FOLDERS:
        if name.startswith("."):
            assert name not in workspace.outcomes  # a hidden folder is not a submission
        else:
            assert workspace.outcomes[name] == "invalid"
    recorded = {path.name for path in (workspace.results / hostile.PREDICTIONS_CHALLENGE).iterdir()}
    assert not any(name in entry for name in hostile.INVALID_FOLDERS for entry in recorded)


@pytest.mark.slow
def test_the_key_behind_a_link_reaches_no_snapshot(workspace: Workspace) -> None:
    key = workspace.identity.encode()
    for path in workspace.results.rglob("*"):
        if path.is_file():
            assert key not in path.read_bytes(), path


@pytest.mark.slow
@pytest.mark.parametrize("login", ["symlink", "hardlink"])
def test_the_run_verb_refuses_links_before_anything_runs(workspace: Workspace, login: str, tmp_path: Path) -> None:
    case = hostile.CASES[login]
    folder = workspace.case_folder(case)
    (folder / "estimator.py").write_text("raise SystemExit('must not run')\n", encoding="utf-8")
    try:
        completed = workspace.cli(f"run-{login}", "run", "challenges/vault", str(folder), "-o", str(tmp_path / "out"))
    finally:
        (folder / "estimator.py").unlink()
    assert completed.returncode == 1
    assert INVALID_REASONS[login] in completed.stderr
    assert not (tmp_path / "out" / "run.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--participant", "../../../etc", "is not a valid participant login"),
        ("--participant", "alice/../../bob", "is not a valid participant login"),
        ("--submission-id", "../../../../tmp/planted", "is not a valid submission id"),
        ("--submission-id", "..", "is not a valid submission id"),
    ],
)
def test_path_traversal_in_score_arguments_is_refused(
    workspace: Workspace, tmp_path: Path, option: str, value: str, problem: str
) -> None:
    predictions = tmp_path / "predictions.csv"
    predictions.write_text(workspace.constants["xss-meta"]["predictions_csv"], encoding="utf-8")
    results = tmp_path / "deep" / "er" / "results"
    arguments = {"--participant": "mallory", "--submission-id": "s1", option: value}
    completed = workspace.cli(
        "score-traversal", "score", "challenges/gallery", str(predictions), "--results", str(results),
        *(item for pair in arguments.items() for item in pair),
    )  # fmt: skip
    assert completed.returncode == 1 and problem in completed.stderr
    assert not results.exists() and not (tmp_path / "planted").exists()
    assert not any(path.name.endswith(".json") for path in tmp_path.rglob("*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "content",
    [b"id,y\n=cmd|' /C calc'!A0,1\n", b"id,y\nr080,nan\n", b"\xff\xfeid,y\n", b"id,y\n" + b"r080,1\n" * 200_000],
    ids=["formula-id", "nan", "utf16-bom", "oversized"],
)
def test_hostile_predictions_are_refused_by_score_and_nothing_is_recorded(
    workspace: Workspace, tmp_path: Path, content: bytes
) -> None:
    predictions = tmp_path / "predictions.csv"
    predictions.write_bytes(content)
    results = tmp_path / "results"
    completed = workspace.cli("score-hostile", "score", "challenges/gallery", str(predictions),
                              "--participant", "mallory", "--results", str(results))  # fmt: skip
    assert completed.returncode == 1 and completed.stderr.startswith("error: ")
    assert "Traceback" not in completed.stderr
    assert not results.exists() or not any(results.rglob("*.json"))


# --------------------------------------------------------------------------
# Zip bombs against the pipeline's artifact reader
# --------------------------------------------------------------------------


def deflate_zeros(mebibytes: int) -> bytes:
    """A raw deflate stream of that many MiB of zeros: one 1 MiB block repeated (full flush, no shared window)."""
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = block.compress(b"\0" * 2**20) + block.flush(zlib.Z_FULL_FLUSH)
    return chunk * mebibytes + zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)


def zip_with(name: str, data: bytes, *, size: int, method: int = 8, crc: int = 0) -> bytes:
    """A one-member zip whose headers declare ``size`` (zip64 when needed), whatever ``data`` holds."""
    encoded = name.encode()
    zip64 = size >= 0xFFFFFFFF or len(data) >= 0xFFFFFFFF
    extra = struct.pack("<HHQQ", 1, 16, size, len(data)) if zip64 else b""
    declared = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (len(data), size)
    version = 45 if zip64 else 20
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, version, 0, method, 0, 0, crc, *declared, len(encoded), len(extra))
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, method, 0, 0, crc, *declared,
                          len(encoded), len(extra), 0, 0, 0, 0, 0)  # fmt: skip
    body = local + encoded + extra + data
    directory = central + encoded + extra
    return body + directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)


ARTIFACT_CAP = 2**20


def test_a_10_gb_zip_bomb_declaring_its_size_is_refused_at_once() -> None:
    from site_builder.github import Rejection, read_artifact_zip

    bomb = zip_with("predictions.csv", deflate_zeros(10 * 1024), size=10 * 2**30)
    started = time.monotonic()
    with pytest.raises(Rejection, match="larger than"):
        read_artifact_zip(bomb, ARTIFACT_CAP)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "artifact",
    [
        zip_with("predictions.csv", deflate_zeros(64), size=1000),  # lies about its size
        zip_with("predictions.csv", b"\xff" * 64, size=30),  # not deflate data
        zip_with("predictions.csv", b"abc", size=3, method=99),  # an unknown method (AES)
    ],
    ids=["lying-size-bomb", "corrupt-deflate", "unknown-method"],
)
def test_a_lying_or_corrupt_artifact_is_a_rejection_not_a_crash(artifact: bytes) -> None:
    from site_builder.github import Rejection, read_artifact_zip

    started = time.monotonic()
    with pytest.raises(Rejection):
        read_artifact_zip(artifact, ARTIFACT_CAP)
    assert time.monotonic() - started < 2


def test_a_lying_bomb_is_never_inflated_past_its_cap() -> None:
    """The reader stops at the declared size (then the CRC fails): a rejection, memory and time bounded."""
    import resource

    from site_builder.github import Rejection, read_artifact_zip

    bomb = zip_with("predictions.csv", deflate_zeros(4 * 1024), size=ARTIFACT_CAP - 1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(Rejection, match="artifact"):
        read_artifact_zip(bomb, ARTIFACT_CAP)
    assert time.monotonic() - started < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 256 * 1024  # KiB


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"])
def test_a_bzip2_or_lzma_member_is_refused_before_any_inflation(method: int) -> None:
    """zipfile inflates a whole bzip2/LZMA chunk at once (no max_length): 2 KB of bzip2 is gigabytes in memory."""
    import io

    from site_builder.github import Rejection, read_artifact_zip

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr("predictions.csv", b"\0" * 2**20)
        archive.writestr("run.json", json.dumps({"status": "ok"}))
    with pytest.raises(Rejection, match="only stored or deflate"):
        read_artifact_zip(buffer.getvalue(), ARTIFACT_CAP)


def test_artifact_member_names_cannot_climb_out() -> None:
    import io
    import zipfile

    from site_builder.github import Rejection, read_artifact_zip

    for name in ("../../predictions.csv", "/etc/predictions.csv", "predictions.csv/../run.json", "./run.json"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name, "id,y\n")
            archive.writestr("run.json", json.dumps({"status": "ok"}))
        with pytest.raises(Rejection, match="only predictions.csv and run.json"):
            read_artifact_zip(buffer.getvalue(), ARTIFACT_CAP)
