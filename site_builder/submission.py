"""Submission folders: ``submissions/<challenge>/<login>/``.

A folder holds ``predictions.csv`` (kind ``predictions``) or ``estimator.py``
(kind ``code``), and optionally ``submission.yaml`` (display name, team,
description) and ``README.md``. Its id is the hash of its content, so the same
files always make the same submission, whatever the file times say.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from site_builder.errors import SubmissionError
from site_builder.record import LOGIN_PATTERN, hash_files
from site_builder.spec import Challenge

MAX_FILES = 50
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_META_BYTES = 16 * 1024  # three short fields; more is not a display name
META_FILENAME = "submission.yaml"
REQUIRED_FILE = {"predictions": "predictions.csv", "code": "estimator.py"}


class SubmissionMeta(BaseModel):
    """The optional ``submission.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=80, description="Display name on the boards.")
    team: str | None = Field(default=None, max_length=80, description="Team name, if any.")
    description: str | None = Field(default=None, max_length=2000, description="A few words on the approach.")

    @field_validator("name", "team")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        """No control character in a name: a tab or carriage return would start a new cell or row downstream."""
        found = _control_characters(value) if value is not None else []
        if found:
            raise ValueError(f"holds control characters {found}; use plain text on one line")
        return value

    @field_validator("description")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        found = _control_characters(value, allowed="\n\t") if value is not None else []
        if found:
            raise ValueError(f"holds control characters {found}; use plain text (new lines and tabs are fine)")
        return value

    def display(self) -> dict[str, str]:
        return {key: value for key, value in self.model_dump().items() if value}


def _control_characters(text: str, allowed: str = "") -> list[str]:
    """The distinct control characters (Unicode category Cc) in ``text``, as escapes."""
    found = sorted({char for char in text if unicodedata.category(char) == "Cc" and char not in allowed})
    return [f"U+{ord(char):04X}" for char in found]


@dataclass(frozen=True)
class Submission:
    challenge: str
    participant: str
    directory: Path
    files: dict[str, bytes]
    meta: SubmissionMeta = field(default_factory=SubmissionMeta)

    @property
    def content_hash(self) -> str:
        return hash_files(self.files)

    @property
    def submission_id(self) -> str:
        """Stable id from the content: same files, same id."""
        return self.content_hash.removeprefix("sha256:")[:16]


def read_files(directory: Path) -> dict[str, bytes]:
    """Every regular file under ``directory`` by relative POSIX name.

    Symlinks, hard links, devices and the like are refused rather than
    followed: a submission must not point the harness at files outside its
    folder, and a second name of a file elsewhere (a key, a solution) is just
    that. Names must be UTF-8 text, as in git; they end up in records and pages.
    """
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if not _is_utf8(relative):
            shown = os.fsencode(relative).decode("utf-8", errors="replace")
            raise SubmissionError(f"{shown!r} is not a UTF-8 file name; rename it", path=directory)
        status = path.lstat()
        mode = status.st_mode
        if stat.S_ISLNK(mode):
            raise SubmissionError(f"{relative!r} is a symbolic link; submit regular files only", path=directory)
        if stat.S_ISREG(mode) and status.st_nlink > 1:
            raise SubmissionError(
                f"{relative!r} is a hard link ({status.st_nlink} names for one file); submit a plain copy",
                path=directory,
            )
        if stat.S_ISDIR(mode):
            if path.name == "__pycache__":
                continue
            continue
        if "__pycache__" in path.parts:
            continue
        if not stat.S_ISREG(mode):
            raise SubmissionError(f"{relative!r} is not a regular file", path=directory)
        # Sizes are checked before reading: a 10 GB file must not be loaded to be refused.
        total += status.st_size
        if len(files) + 1 > MAX_FILES:
            raise SubmissionError(f"has more than {MAX_FILES} files; keep only what the submission needs", path=directory)
        if total > MAX_TOTAL_BYTES:
            raise SubmissionError(
                f"is larger than {MAX_TOTAL_BYTES // 2**20} MiB; keep data and models out of the submission",
                path=directory,
            )
        with open(path, "rb") as handle:
            files[relative] = handle.read(MAX_TOTAL_BYTES + 1)  # a file growing meanwhile is cut, not followed
    return files


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
        return False
    return True


def parse_meta(files: dict[str, bytes], directory: Path) -> SubmissionMeta:
    raw_bytes = files.get(META_FILENAME)
    if raw_bytes is None:
        return SubmissionMeta()
    path = directory / META_FILENAME
    if len(raw_bytes) > MAX_META_BYTES:
        raise SubmissionError(f"is larger than {MAX_META_BYTES // 1024} KiB; it holds three short fields", path=path)
    try:
        raw = yaml.safe_load(raw_bytes.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise SubmissionError(f"is not valid UTF-8 YAML ({error})", path=path) from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise SubmissionError("nests collections too deeply; use plain text values", path=path) from None
    if raw is None:
        return SubmissionMeta()
    if not isinstance(raw, dict):
        raise SubmissionError("must be a mapping with the keys name, team and description", path=path)
    try:
        return SubmissionMeta.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise SubmissionError(
            f"{first['msg']} (allowed keys: name, team, description; short text values)", path=path, key=key
        ) from None


def load_submission(directory: Path, challenge: Challenge) -> Submission:
    """Read and check one submission folder against its challenge's kind."""
    directory = Path(directory)
    login = directory.name
    if not LOGIN_PATTERN.match(login):
        raise SubmissionError(
            "the folder name must be the participant's GitHub login (letters, digits and hyphens)", path=directory
        )
    if not directory.is_dir() or directory.is_symlink():
        raise SubmissionError("is not a folder", path=directory)
    files = read_files(directory)
    required = REQUIRED_FILE[challenge.spec.kind]
    if required not in files:
        raise SubmissionError(
            f"has no {required}; a {challenge.spec.kind!r} challenge expects submissions/{challenge.slug}/{login}/{required}",
            path=directory,
        )
    return Submission(
        challenge=challenge.slug,
        participant=login,
        directory=directory,
        files=files,
        meta=parse_meta(files, directory),
    )


def submission_folders(root: Path, challenge: Challenge) -> list[Path]:
    base = Path(root) / "submissions" / challenge.slug
    if not base.is_dir():
        return []
    return [child for child in sorted(base.iterdir()) if child.is_dir() and not child.name.startswith(".")]
