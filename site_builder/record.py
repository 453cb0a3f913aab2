"""Stage 4, record: one immutable JSON file per scored submission.

Records live under ``<results>/<challenge>/<participant>--<submission_id>.json``
and a snapshot of the submission's files under
``<results>/<challenge>/files/<participant>/<submission_id>/`` so the site can
show the code of every past submission, not only the current one. Writing the
same submission twice changes nothing: the first record wins.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from site_builder import __version__
from site_builder.errors import SiteBuilderError, SubmissionError

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
SUBMISSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
FILES_DIRECTORY = "files"
# Files a submission may carry into a record snapshot, and how large.
MAX_SNAPSHOT_FILE_BYTES = 1024 * 1024
MAX_SNAPSHOT_FILES = 50


def check_login(login: str) -> str:
    """A GitHub login: letters, digits and single hyphens, at most 39 characters."""
    if not LOGIN_PATTERN.match(login) or "--" in login or login.endswith("-"):
        raise SubmissionError(
            f"{login!r} is not a valid participant login (GitHub logins use letters, digits and single hyphens)",
            key="participant",
        )
    return login


def check_submission_id(submission_id: str) -> str:
    if not SUBMISSION_ID_PATTERN.match(submission_id) or ".." in submission_id:
        raise SubmissionError(
            f"{submission_id!r} is not a valid submission id (letters, digits, '.', '_' and '-', at most 80)",
            key="submission_id",
        )
    return submission_id


def utc_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second: the one timestamp form of records."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def hash_files(files: Mapping[str, bytes]) -> str:
    """One hash over named contents, independent of order and of mtimes."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(files[name]).digest())
    return "sha256:" + digest.hexdigest()


def build_record(
    *,
    challenge: str,
    participant: str,
    submission_id: str,
    status: str,
    scores: Mapping[str, Mapping[str, float | None]] | None,
    run: Mapping[str, Any] | None,
    error: Mapping[str, str] | None,
    submitted_at: datetime,
    scored_at: datetime,
    hashes: Mapping[str, str],
    files: Iterable[Mapping[str, Any]] = (),
    commit: str | None = None,
    pull_request: int | None = None,
    display: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The result record of the design contract; extra fields are additive."""
    if status not in ("scored", "failed"):
        raise ValueError(f"status must be scored or failed, not {status!r}")
    return {
        "challenge": challenge,
        "participant": check_login(participant),
        "submission_id": check_submission_id(submission_id),
        "status": status,
        "error": dict(error) if error else None,
        "scores": {split: dict(values) for split, values in (scores or {}).items()},
        "run": dict(run or {}),
        "submitted_at": utc_timestamp(submitted_at),
        "scored_at": utc_timestamp(scored_at),
        "commit": commit,
        "pull_request": pull_request,
        "display": dict(display or {}),
        "files": [dict(entry) for entry in files],
        "hashes": dict(hashes),
        "tool_version": __version__,
    }


def record_path(results: Path, challenge: str, participant: str, submission_id: str) -> Path:
    return Path(results) / challenge / f"{check_login(participant)}--{check_submission_id(submission_id)}.json"


def snapshot_directory(results: Path, challenge: str, participant: str, submission_id: str) -> Path:
    return Path(results) / challenge / FILES_DIRECTORY / check_login(participant) / check_submission_id(submission_id)


def encode_record(record: Mapping[str, Any]) -> bytes:
    """Deterministic bytes: sorted keys, two-space indent, trailing newline."""
    return (json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


TEMPORARY_PREFIX = ".tmp-"


def write_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` atomically with ``data`` unless it exists; True if written.

    The bytes go to a temporary file in the same folder, are flushed to disk,
    then hard-linked into place: the link fails if the name exists, so two
    writers racing on one submission leave exactly one whole file, and a
    writer killed midway leaves only a stray temporary file, never a partial
    record. The temporary file's name holds the writer's pid; the next write
    in that folder removes the leftovers of writers that are gone.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(path.parent)
    descriptor, temporary = tempfile.mkstemp(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)


def snapshot_files(files: Mapping[str, bytes] | None) -> dict[str, bytes]:
    """The files a snapshot keeps: at most ``MAX_SNAPSHOT_FILES``, each at most ``MAX_SNAPSHOT_FILE_BYTES``.

    A larger file is listed in the record (name, size, hash) but not stored,
    so one huge README cannot bloat the store or stall the site's build.
    """
    kept = [(name, content) for name, content in sorted((files or {}).items()) if len(content) <= MAX_SNAPSHOT_FILE_BYTES]
    return dict(kept[:MAX_SNAPSHOT_FILES])


def sweep_temporaries(folder: Path) -> None:
    """Remove temporary files left in ``folder`` by writers that were killed (their pid is gone)."""
    for leftover in folder.glob(f"{TEMPORARY_PREFIX}*"):
        pid = leftover.name.removeprefix(TEMPORARY_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            leftover.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def write_record(results: Path, record: Mapping[str, Any], files: Mapping[str, bytes] | None = None) -> tuple[Path, bool]:
    """Store the record (and its file snapshot); (path, False) if it was already there."""
    path = record_path(results, record["challenge"], record["participant"], record["submission_id"])
    if path.exists():
        return path, False
    if files:
        snapshot = snapshot_directory(results, record["challenge"], record["participant"], record["submission_id"])
        for name, content in sorted(snapshot_files(files).items()):
            target = snapshot / safe_relative_name(name)
            if not target.exists():
                write_exclusive(target, content)
    return path, write_exclusive(path, encode_record(record))


def safe_relative_name(name: str) -> Path:
    """A snapshot file name that cannot leave its folder."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or any(part in ("..", ".", "") for part in parts):
        raise SubmissionError(f"file name {name!r} is not a plain relative path")
    return Path(*parts)


def load_records(results: Path, challenge: str | None = None) -> list[dict[str, Any]]:
    """Every record under ``results`` (or one challenge's), sorted for determinism.

    A file that is not a valid record is skipped with a warning rather than
    taking the whole board down.
    """
    folders = [Path(results) / challenge] if challenge else record_folders(Path(results))
    records: list[dict[str, Any]] = []
    for folder in folders:
        for path in record_files(folder):
            record = _read_record(path)
            if record is not None:
                records.append(record)
    records.sort(key=record_sort_key)
    return records


def record_sort_key(record: Mapping[str, Any]) -> tuple[str, ...]:
    """Challenge, time, participant, id; as text, so a record with a number where text belongs cannot break the sort."""
    return (str(record["challenge"]), str(record["submitted_at"]), str(record["participant"]), str(record["submission_id"]))


def record_folders(results: Path) -> list[Path]:
    """The challenge folders under ``results``, by name."""
    return sorted(child for child in results.iterdir() if child.is_dir()) if results.is_dir() else []


def record_files(folder: Path) -> list[str]:
    """The ``*.json`` files directly in ``folder``, by name.

    Plain strings and one ``scandir``: over ten thousand records, ``Path.glob``
    and sorting ``Path`` objects cost more than reading the files.
    """
    try:
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries if entry.name.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    base = os.fspath(folder)
    return [os.path.join(base, name) for name in names]


_REQUIRED_FIELDS = ("challenge", "participant", "submission_id", "status", "scores", "submitted_at")


def _read_record(path: Path | str) -> dict[str, Any] | None:
    import warnings

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        warnings.warn(unreadable_record(path, error), stacklevel=3)
        return None
    record, problem = parse_record(data, path)
    if problem is not None:
        warnings.warn(problem, stacklevel=3)
    return record


def parse_record(data: bytes, path: Path | str) -> tuple[dict[str, Any] | None, str | None]:
    """The record in ``data`` (the file ``path``), or None and why it is not one."""
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError as error:
        return None, unreadable_record(path, error)
    if not isinstance(record, dict) or any(field not in record for field in _REQUIRED_FIELDS):
        return None, f"{path}: skipped, a record needs the fields {', '.join(_REQUIRED_FIELDS)}"
    return record, None


def unreadable_record(path: Path | str, error: Exception) -> str:
    """Why a record file was skipped: it could not be read or decoded."""
    return f"{path}: skipped, not a readable record ({error})"


def find_record(results: Path, challenge: str, participant: str, submission_id: str) -> dict[str, Any] | None:
    path = record_path(results, challenge, participant, submission_id)
    return _read_record(path) if path.exists() else None


class RecordError(SiteBuilderError):
    """A record cannot be built or stored."""
