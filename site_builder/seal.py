"""Sealed private scores: hidden from everyone until the challenge ends.

On GitHub the data branch and the workflow artifacts of a public repository
are readable by anyone, so a record that left the ``score`` job with its
private scores in clear would tell participants how they do on the hidden
rows. While a challenge is open the trusted scoring path therefore moves
``scores.private`` out of the record into ``sealed_private``: the age
encryption of the canonical JSON of those scores to the challenge's public
recipient (``challenges/<slug>/recipient.txt``), as base64 text. Every other
field stays where it is (``scores`` keeps ``public``).

After ``schedule.end``, :func:`reveal` (``site-builder gh reveal``, run in the
``scoring`` environment by the pages workflow) writes copies of the records
with ``scores.private`` restored, and the site is built from those copies.
Nothing here ever prints a score.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from site_builder.errors import PrivateDataError, SiteBuilderError

SEALED_FIELD = "sealed_private"
RECIPIENT_FILE = "recipient.txt"
REVEAL_SUMMARY = "reveal.json"  # at the top of the revealed folder; not a record (load_records reads sub-folders only)


class SealError(SiteBuilderError):
    """Private scores could not be sealed or revealed."""


def canonical_json(scores: Mapping[str, Any]) -> bytes:
    """One byte form for one set of scores: sorted keys, no spaces, no NaN."""
    return json.dumps(dict(scores), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def is_sealed(record: Mapping[str, Any]) -> bool:
    return SEALED_FIELD in record


def read_recipient(challenge_directory: Path) -> str:
    """The challenge's public key, from ``recipient.txt`` next to ``challenge.yaml``."""
    path = Path(challenge_directory) / RECIPIENT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SealError(
            f"cannot read the challenge's public key ({error.strerror}); private scores are sealed to it until the end",
            path=path,
        ) from None
    if not text.strip():
        raise SealError("is empty; it must hold the challenge's age public key (age1…)", path=path)
    return text


def seal_record(record: Mapping[str, Any], recipient_text: str) -> dict[str, Any]:
    """A copy of ``record`` whose private scores are encrypted to ``recipient_text``.

    A record without private scores (a failed submission) comes back as it is.
    """
    from site_builder.private import encrypt_bytes

    sealed = dict(record)
    scores = dict(record.get("scores") or {})
    if "private" not in scores:
        return sealed
    private = scores.pop("private")
    if not isinstance(private, Mapping):
        raise SealError("scores.private is not a mapping; refusing to seal it")
    ciphertext = encrypt_bytes(canonical_json(private), recipient_text)
    sealed["scores"] = scores
    sealed[SEALED_FIELD] = base64.b64encode(ciphertext).decode("ascii")
    return sealed


def unseal_record(record: Mapping[str, Any], identity_text: str) -> dict[str, Any]:
    """A copy of ``record`` with ``scores.private`` decrypted from ``sealed_private``.

    A record that is not sealed comes back as it is.
    """
    from site_builder.private import decrypt_bytes

    revealed = dict(record)
    if SEALED_FIELD not in record:
        return revealed
    where = f"record {record.get('challenge')!r}/{record.get('participant')!r}/{record.get('submission_id')!r}"
    text = record[SEALED_FIELD]
    try:
        ciphertext = base64.b64decode(str(text).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SealError(f"{where}: {SEALED_FIELD} is not base64 text") from None
    try:
        plaintext = decrypt_bytes(ciphertext, identity_text)
    except PrivateDataError as error:
        raise SealError(f"{where}: cannot open {SEALED_FIELD}: {error.message}") from None
    private = _parse_scores(plaintext, where)
    del revealed[SEALED_FIELD]
    revealed["scores"] = {**dict(record.get("scores") or {}), "private": private}
    return revealed


def _parse_scores(plaintext: bytes, where: str) -> dict[str, float | None]:
    """The decrypted private scores: metric names to finite numbers or null, nothing else."""
    try:
        scores = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SealError(f"{where}: {SEALED_FIELD} does not hold JSON") from None
    good = isinstance(scores, dict) and all(
        isinstance(name, str)
        and (value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)))
        for name, value in scores.items()
    )
    if not good:
        raise SealError(f"{where}: {SEALED_FIELD} does not hold a mapping of metric names to numbers")
    return scores


def seal_if_open(
    record: Mapping[str, Any],
    challenge_directory: Path,
    end: datetime,
    now: datetime,
    identity_text: str | None = None,
) -> dict[str, Any]:
    """Seal while ``now < end``; after the end the private scores are public anyway.

    With ``identity_text`` the sealed copy is opened again at once: a
    ``recipient.txt`` that does not match the key would otherwise lock the
    scores away for good, so it is refused before anything is recorded.
    """
    if now >= end or "private" not in (record.get("scores") or {}):
        return dict(record)
    sealed = seal_record(record, read_recipient(challenge_directory))
    if identity_text is not None:
        try:
            reopened = unseal_record(sealed, identity_text)
        except SealError:
            reopened = None
        if reopened is None or canonical_json(reopened["scores"]["private"]) != canonical_json(record["scores"]["private"]):
            raise SealError(
                f"{RECIPIENT_FILE} of this challenge does not match the scoring key; "
                "write the key's public part (site-builder private keygen prints it) into it",
                path=Path(challenge_directory) / RECIPIENT_FILE,
            )
    return sealed


# ---------------------------------------------------------------- reveal


@dataclass
class ChallengeReveal:
    slug: str
    ended: bool
    revealed: int = 0
    sealed: int = 0  # records left sealed (open challenge)
    end: str = ""


@dataclass
class RevealReport:
    now: str
    challenges: dict[str, ChallengeReveal] = field(default_factory=dict)
    files: int = 0

    def lines(self) -> list[str]:
        """What the log may say: counts and dates, never a score."""
        out = []
        for slug, item in sorted(self.challenges.items()):
            if item.ended:
                out.append(f"{slug}: ended at {item.end}; {item.revealed} record(s) revealed")
            elif item.end:
                out.append(f"{slug}: open until {item.end}; {item.sealed} record(s) stay sealed")
            else:
                out.append(f"{slug}: no such challenge on the default branch; its records are copied as they are")
        out.append(f"{self.files} file(s) written")
        return out


def reveal(data: Path, root: Path, out: Path, now: datetime, identity: Callable[[], str]) -> RevealReport:
    """Copy the records store ``data`` to ``out``, unsealing the records of ended challenges.

    ``identity`` is called only if a sealed record of an ended challenge is
    found, so the key is not needed (nor read) while every challenge is open.
    Records of open challenges, and every other file, are copied byte for byte.
    """
    from site_builder.datastore import read_tree
    from site_builder.record import encode_record, utc_timestamp
    from site_builder.spec import load_challenge

    data, root, out = Path(data), Path(root), Path(out)
    if out.exists() and any(out.iterdir()):
        raise SealError("must be an empty or new folder", path=out)
    files = read_tree(data) if data.is_dir() else {}
    report = RevealReport(now=utc_timestamp(now))
    ends: dict[str, datetime | None] = {}
    identity_text: str | None = None

    def end_of(slug: str) -> datetime | None:
        if slug not in ends:
            folder = root / "challenges" / slug
            ends[slug] = load_challenge(folder).spec.schedule.end if (folder / "challenge.yaml").is_file() else None
            end = ends[slug]
            report.challenges[slug] = ChallengeReveal(slug, end is not None and now >= end, end=utc_timestamp(end) if end else "")
        return ends[slug]

    written: dict[str, bytes] = {}
    for name, content in files.items():
        parts = PurePosixPath(name).parts
        if len(parts) != 2 or not name.endswith(".json"):
            written[name] = content
            continue
        slug = parts[0]
        end = end_of(slug)
        item = report.challenges[slug]
        try:
            record = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            written[name] = content  # not a record: the site builder reports it
            continue
        if not isinstance(record, dict) or not is_sealed(record):
            written[name] = content
            continue
        if end is None or not item.ended or record.get("challenge") != slug:
            item.sealed += 1
            written[name] = content
            continue
        if identity_text is None:
            identity_text = identity()
        written[name] = encode_record(unseal_record(record, identity_text))
        item.revealed += 1
    out.mkdir(parents=True, exist_ok=True)
    for name, content in sorted(written.items()):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    summary = {
        "now": report.now,
        "challenges": {
            slug: {"ended": item.ended, "end": item.end, "revealed": item.revealed, "sealed": item.sealed}
            for slug, item in sorted(report.challenges.items())
        },
    }
    (out / REVEAL_SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    report.files = len(written) + 1
    return report
