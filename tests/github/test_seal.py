"""Sealed private scores: nothing readable before the end, exactly the scores after."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from site_builder.private import generate_identity
from site_builder.record import encode_record
from site_builder.seal import (
    SEALED_FIELD,
    SealError,
    canonical_json,
    reveal,
    seal_if_open,
    seal_record,
    unseal_record,
)
from tests.github.challenge_fixture import score_canaries, write_challenge

PRIVATE = {"rmse": 6.918273645, "mae": 5.4321987}
PUBLIC = {"rmse": 2.000125, "mae": 1.999875}
BEFORE = datetime(2026, 11, 22, 10, tzinfo=timezone.utc)
AFTER = datetime(2027, 1, 2, tzinfo=timezone.utc)


def a_record(participant: str = "alice", submission_id: str = "0123456789abcdef", *, challenge: str = "houses") -> dict[str, Any]:
    return {
        "challenge": challenge,
        "participant": participant,
        "submission_id": submission_id,
        "status": "scored",
        "error": None,
        "scores": {"public": dict(PUBLIC), "private": dict(PRIVATE)},
        "run": {},
        "submitted_at": "2026-11-22T09:58:00Z",
        "scored_at": "2026-11-22T10:00:00Z",
        "commit": "a" * 40,
        "pull_request": 1,
        "display": {},
        "files": [{"name": "predictions.csv", "size": 10, "sha256": "sha256:" + "b" * 64}],
        "hashes": {"data": "sha256:" + "c" * 64},
        "tool_version": "0.1.0",
    }


def private_canaries() -> set[str]:
    return set().union(*(score_canaries(value) for value in PRIVATE.values()))


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_identity()


def test_a_sealed_record_holds_no_private_score_and_keeps_every_other_field(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    record = a_record()

    sealed = seal_record(record, recipient)

    text = encode_record(sealed).decode()
    leaked = sorted(canary for canary in private_canaries() if canary in text)
    assert not leaked, leaked
    assert sealed["scores"] == {"public": PUBLIC}
    assert set(sealed) == set(record) | {SEALED_FIELD}
    assert all(sealed[key] == record[key] for key in record if key != "scores")
    assert record["scores"]["private"] == PRIVATE  # the input is left alone
    assert identity.split("-")[-1][:20] not in text


def test_unsealing_with_the_identity_gives_back_exactly_the_scores(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    record = a_record()

    revealed = unseal_record(seal_record(record, recipient), identity)

    assert revealed == record
    assert revealed["scores"]["private"] == PRIVATE  # the same floats, not approximately
    assert encode_record(revealed) == encode_record(record)


def test_sealing_is_not_deterministic_so_equal_scores_do_not_show(keys: tuple[str, str]) -> None:
    _, recipient = keys
    first, second = seal_record(a_record(), recipient), seal_record(a_record("bob"), recipient)
    assert first[SEALED_FIELD] != second[SEALED_FIELD]


def test_another_key_cannot_unseal(keys: tuple[str, str]) -> None:
    _, recipient = keys
    stranger, _ = generate_identity()
    with pytest.raises(SealError, match="cannot open sealed_private"):
        unseal_record(seal_record(a_record(), recipient), stranger)


def test_damaged_or_forged_seals_are_refused(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    sealed = seal_record(a_record(), recipient)
    with pytest.raises(SealError, match="not base64"):
        unseal_record({**sealed, SEALED_FIELD: "not base64 at all!"}, identity)
    import base64

    from site_builder.private import encrypt_bytes

    forged = base64.b64encode(encrypt_bytes(b'{"rmse": "<script>"}', recipient)).decode()
    with pytest.raises(SealError, match="mapping of metric names to numbers"):
        unseal_record({**sealed, SEALED_FIELD: forged}, identity)


def test_a_failed_record_has_nothing_to_seal(keys: tuple[str, str]) -> None:
    _, recipient = keys
    failed = {**a_record(), "status": "failed", "scores": {}, "error": {"class": "exception", "message": "", "traceback": ""}}
    assert seal_record(failed, recipient) == failed


def test_the_canonical_json_is_one_byte_form() -> None:
    assert canonical_json({"mae": 1.5, "rmse": None}) == canonical_json({"rmse": None, "mae": 1.5}) == b'{"mae":1.5,"rmse":null}'


def test_seal_if_open_seals_before_the_end_only(tmp_path: Path) -> None:
    files = write_challenge(tmp_path)
    directory = tmp_path / "challenges" / "houses"
    end = datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc)

    sealed = seal_if_open(a_record(), directory, end, BEFORE, files.identity)
    assert "private" not in sealed["scores"] and SEALED_FIELD in sealed
    assert unseal_record(sealed, files.identity) == a_record()

    assert seal_if_open(a_record(), directory, end, end, files.identity) == a_record()  # now == end: ended


def test_a_recipient_that_does_not_match_the_key_is_refused_before_anything_is_recorded(tmp_path: Path) -> None:
    write_challenge(tmp_path)
    stranger, _ = generate_identity()
    end = datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc)
    with pytest.raises(SealError, match="does not match the scoring key"):
        seal_if_open(a_record(), tmp_path / "challenges" / "houses", end, BEFORE, stranger)
    (tmp_path / "challenges" / "houses" / "recipient.txt").unlink()
    with pytest.raises(SealError, match="public key"):
        seal_if_open(a_record(), tmp_path / "challenges" / "houses", end, BEFORE, stranger)


# ---------------------------------------------------------------- reveal


def a_store(tmp_path: Path, recipient: str) -> Path:
    """A data branch checkout: an ended and an open challenge, snapshots, a non-record file."""
    data = tmp_path / "data"
    for slug in ("houses", "later"):
        for participant in ("alice", "bob"):
            record = seal_record(a_record(participant, f"{participant}0001", challenge=slug), recipient)
            path = data / slug / f"{participant}--{participant}0001.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode_record(record))
            snapshot = data / slug / "files" / participant / f"{participant}0001" / "predictions.csv"
            snapshot.parent.mkdir(parents=True)
            snapshot.write_text("id,price\nt00,1\n", encoding="utf-8")
    (data / "README").write_text("records\n", encoding="utf-8")
    return data


@pytest.fixture
def two_challenges(tmp_path: Path) -> tuple[Path, str, str]:
    root = tmp_path / "root"
    files = write_challenge(root, "houses", end="2026-12-31T23:59:00Z")
    write_challenge(root, "later", end="2027-06-30T00:00:00Z")
    # one key for both, as on GitHub
    (root / "challenges" / "later" / "recipient.txt").write_text(files.recipient + "\n", encoding="utf-8")
    return root, files.identity, files.recipient


def test_reveal_unseals_ended_challenges_and_copies_the_rest_byte_for_byte(tmp_path: Path, two_challenges: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, identity, recipient = two_challenges
    data = a_store(tmp_path, recipient)
    out = tmp_path / "revealed"

    report = reveal(data, root, out, AFTER, lambda: identity)

    for participant in ("alice", "bob"):
        name = f"{participant}--{participant}0001.json"
        revealed = json.loads((out / "houses" / name).read_text(encoding="utf-8"))
        assert revealed == a_record(participant, f"{participant}0001")
        assert (out / "later" / name).read_bytes() == (data / "later" / name).read_bytes()  # still sealed
        assert (out / "houses" / "files" / participant / f"{participant}0001" / "predictions.csv").is_file()
    assert (out / "README").read_text(encoding="utf-8") == "records\n"
    assert report.challenges["houses"].revealed == 2 and report.challenges["later"].sealed == 2
    lines = "\n".join(report.lines()) + (out / "reveal.json").read_text(encoding="utf-8")
    assert "houses: ended" in lines and "later: open until 2027-06-30T00:00:00Z" in lines
    assert not [canary for canary in private_canaries() if canary in lines + capsys.readouterr().out]


def test_reveal_before_any_end_needs_no_key(tmp_path: Path, two_challenges: tuple[Path, str, str]) -> None:
    root, _, recipient = two_challenges
    data = a_store(tmp_path, recipient)

    def no_key() -> str:
        raise AssertionError("the key was read although no challenge has ended")

    reveal(data, root, tmp_path / "revealed", BEFORE, no_key)
    text = "\n".join(path.read_text(encoding="utf-8") for path in (tmp_path / "revealed").rglob("*.json"))
    assert not [canary for canary in private_canaries() if canary in text]


def test_reveal_of_an_empty_store_writes_the_summary_only(tmp_path: Path, two_challenges: tuple[Path, str, str]) -> None:
    root, identity, _ = two_challenges
    (tmp_path / "data").mkdir()
    reveal(tmp_path / "data", root, tmp_path / "revealed", AFTER, lambda: identity)
    assert [path.name for path in (tmp_path / "revealed").iterdir()] == ["reveal.json"]


def test_reveal_refuses_a_record_another_key_sealed(tmp_path: Path, two_challenges: tuple[Path, str, str]) -> None:
    root, identity, _ = two_challenges
    _, other_recipient = generate_identity()
    data = a_store(tmp_path, other_recipient)
    with pytest.raises(SealError, match="cannot open"):
        reveal(data, root, tmp_path / "revealed", AFTER, lambda: identity)


def test_the_reveal_verb_prints_no_score_and_hands_its_clock_on(tmp_path: Path, two_challenges: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from site_builder.cli import main

    root, identity, recipient = two_challenges
    data = a_store(tmp_path, recipient)
    output = tmp_path / "github-output"
    monkeypatch.setenv("SITE_BUILDER_AGE_KEY", identity)
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))

    code = main(["gh", "reveal", "--data", str(data), "--root", str(root), "--out", str(tmp_path / "revealed"), "--now", "2027-01-02T00:00:00Z"])

    assert code in (0, None)
    printed = capsys.readouterr()
    assert "houses: ended" in printed.out and "2 record(s) revealed" in printed.out
    assert not [canary for canary in private_canaries() if canary in printed.out + printed.err]
    assert output.read_text(encoding="utf-8") == "now=2027-01-02T00:00:00Z\n"


def test_the_reveal_verb_says_where_the_key_should_come_from(tmp_path: Path, two_challenges: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from site_builder.cli import main

    root, _, recipient = two_challenges
    data = a_store(tmp_path, recipient)
    monkeypatch.delenv("SITE_BUILDER_AGE_KEY", raising=False)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)

    code = main(["gh", "reveal", "--data", str(data), "--root", str(root), "--out", str(tmp_path / "revealed"), "--now", "2027-01-02T00:00:00Z"])

    assert code == 1
    assert "secrets: inherit" in capsys.readouterr().err
