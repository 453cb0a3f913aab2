"""The fast readers agree with the strict ones: same values, same errors, same scores.

The fast predictions reader (numpy over the bytes, pandas for numbers) may
only accept what the strict reader accepts, with bit-identical values; the
compact solution reader must give what pandas gave. The timings live in
``benchmarks/``.
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from site_builder import predictions as reader
from site_builder import score
from site_builder.errors import PredictionsError, PrivateDataError
from site_builder.spec import Challenge, load_challenge

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
IDS = ["a1", "a2", "é3", "4"]
NUMBERS = ["1", "-0", "0.5", "1e3", " 2.5", "3.0 ", "1_0", "nan", "inf", "", "x", "1e400", "+.5", "5.", "0x1", "\x1c1", "١"]


def _challenge(folder: Path, prediction: str, metric: str, classes: str = "") -> Challenge:
    directory = folder / "challenges" / f"c-{prediction}"
    (directory / "data").mkdir(parents=True)
    (directory / "private").mkdir()
    (directory / "challenge.yaml").write_text(
        textwrap.dedent(f"""\
            title: Reader agreement
            kind: predictions
            id_column: id
            target: y
            prediction: {prediction}
            {classes}
            metrics: [{metric}]
            data: {{train: data/train.csv, test: data/test.csv, solution: private/solution.csv.age}}
            schedule: {{end: 2027-01-01T00:00:00Z}}
            """),
        encoding="utf-8",
    )
    (directory / "data" / "train.csv").write_text("id,x,y\nr1,1,no\nr2,2,yes\n", encoding="utf-8")
    (directory / "data" / "test.csv").write_text("id,x\n" + "".join(f"{i},1\n" for i in IDS), encoding="utf-8")
    (directory / "private" / "solution.csv.age").write_bytes(b"not used")
    return load_challenge(directory)


@pytest.fixture(scope="module")
def challenges(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Challenge]:
    folder = tmp_path_factory.mktemp("agreement")
    return {
        "value": _challenge(folder, "value", "rmse"),
        "label": _challenge(folder, "label", "accuracy", "classes: ['no', 'yes', 'n,o']"),
        "proba": _challenge(folder, "proba", "roc_auc", "classes: ['no', 'yes']"),
    }


def _strict(data: bytes, challenge: Challenge, expected: list[str]) -> reader.Predictions | str:
    try:
        return reader._strict_predictions(data, challenge, expected, "predictions.csv")
    except PredictionsError as error:
        return str(error)


def _public(data: bytes, challenge: Challenge, expected: list[str]) -> reader.Predictions | str:
    try:
        return reader.read_predictions(data, challenge, reader.ExpectedIds(expected))
    except PredictionsError as error:
        return str(error)


def _assert_same(found: reader.Predictions | str, expected: reader.Predictions | str) -> None:
    if isinstance(expected, str) or isinstance(found, str):
        assert found == expected
        return
    assert found.ids == expected.ids and found.kind == expected.kind
    values, reference = np.asarray(found.values), np.asarray(expected.values)
    assert values.dtype == reference.dtype and values.shape == reference.shape
    if values.dtype == float:
        assert values.tobytes() == reference.tobytes()  # bit for bit, -0.0 included
    else:
        assert values.tolist() == reference.tolist()


cells = {
    "value": st.sampled_from(NUMBERS),
    "label": st.sampled_from(["no", "yes", "n,o", "maybe", "", " no"]),
    "proba": st.sampled_from(["0", "1", "0.25", "1.5", "-0.1", "nan", "", "7e-1"]),
}


@st.composite
def prediction_files(draw: st.DrawFn, kind: str) -> bytes:
    ids = draw(st.permutations(IDS))
    ids = draw(st.sampled_from([ids, ids[:-1], ids + ids[:1], ids[:2] + ["zz"] + ids[3:]]))
    rows = [f"{identifier},{draw(cells[kind])}" for identifier in ids]
    if draw(st.booleans()):
        rows.insert(draw(st.integers(0, len(rows))), draw(st.sampled_from(["", " ", "a1,1,2", "a1"])))
    header = draw(st.sampled_from(["id,y", "id,y", "y,id", "id, y"]))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = ending.join([header, *rows]) + draw(st.sampled_from(["", ending, ending * 2]))
    return text.encode("utf-8")


@pytest.mark.parametrize("kind", ["value", "label", "proba"])
@pytest.mark.parametrize("pandas_from", [1, 10**9], ids=["pandas-numbers", "float-numbers"])
def test_the_fast_reader_accepts_only_what_the_strict_one_does(
    challenges: dict[str, Challenge], kind: str, pandas_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "PANDAS_FLOATS_FROM_ROWS", pandas_from)
    challenge = challenges[kind]

    @SETTINGS
    @given(data=prediction_files(kind))
    def check(data: bytes) -> None:
        strict = _strict(data, challenge, IDS)
        fast = reader._fast_predictions(data, challenge, IDS)
        if fast is not None:
            _assert_same(fast, strict)
        _assert_same(_public(data, challenge, IDS), strict)

    check()


def test_a_large_file_reads_the_same_both_ways(challenges: dict[str, Challenge]) -> None:
    rng = random.Random(3)
    ids = [f"t{index}" for index in range(30_000)]
    rng.shuffle(ids)
    values = [repr(rng.gauss(0, 1e3)) for _ in ids] + ["-0", "1e-320", "123456789012345678901234567890", "0.1000000000000000055511151231257827"]
    ids += ["x1", "x2", "x3", "x4"]
    data = ("id,y\r\n" + "".join(f"{i},{v}\r\n" for i, v in zip(ids, values))).encode()
    assert reader.PANDAS_FLOATS_FROM_ROWS <= len(ids)
    fast = reader._fast_predictions(data, challenges["value"], ids)
    assert fast is not None
    _assert_same(fast, _strict(data, challenges["value"], ids))


def test_files_with_quotes_go_to_the_strict_reader(challenges: dict[str, Challenge]) -> None:
    data = b'id,y\n"a1",1\na2,2\n\xc3\xa93,3\n4,4\n'
    assert reader.read_plain_csv(data) is None
    _assert_same(_public(data, challenges["value"], IDS), _strict(data, challenges["value"], IDS))
    assert reader.read_predictions(data, challenges["value"], IDS).ids == IDS


# --------------------------------------------------------------------------
# The compact solution reader gives what pandas gave.


@st.composite
def solution_files(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(0, 6))
    ids = draw(st.lists(st.sampled_from(["s1", "s2", "s3", "s4", "s5", "é"]), min_size=count, max_size=count))
    targets = [draw(st.sampled_from(["1", "2.5", "-0", "1e3", "x", "", "1_0", "nan", " 2.5", "3.0 ", "+.5", "1e400", "007"])) for _ in ids]
    splits = [draw(st.sampled_from(["public", "private", "public", "hidden"])) for _ in ids]
    header = draw(st.sampled_from(["id,y,split", "split,id,y", "id,y,split,extra", "id,y"]))
    columns = header.split(",")
    rows = []
    for identifier, target, split in zip(ids, targets, splits):
        cell = {"id": identifier, "y": target, "split": split, "extra": "e"}
        rows.append(",".join(cell[column] for column in columns))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return (ending.join([header, *rows]) + ending).encode("utf-8")


def _solution(parse, data: bytes, challenge: Challenge) -> tuple | str:
    try:
        solution = parse(data, challenge, "solution")
    except (PrivateDataError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    if solution is None:
        return "not plain"
    targets = np.asarray(solution.targets)
    # Equal values: pandas reads "-0" as the integer 0, float() as -0.0, and no metric tells them apart.
    return solution.ids, solution.splits, targets.dtype.kind, targets.tolist()


@pytest.mark.parametrize("kind", ["value", "label"])
def test_the_compact_solution_reader_agrees_with_pandas(challenges: dict[str, Challenge], kind: str, monkeypatch) -> None:
    monkeypatch.setattr(reader, "PANDAS_FLOATS_FROM_ROWS", 1)
    challenge = challenges[kind]

    @SETTINGS
    @given(data=solution_files())
    def check(data: bytes) -> None:
        plain = _solution(score._plain_solution, data, challenge)
        if plain != "not plain":
            assert plain == _solution(score._pandas_solution, data, challenge)

    check()


def test_scores_from_the_fast_readers_equal_the_strict_ones(challenges: dict[str, Challenge]) -> None:
    challenge = challenges["value"]
    rng = random.Random(7)
    truth = "id,y,split\n" + "".join(f"{i},{rng.uniform(0, 10)!r},{rng.choice(['public', 'private'])}\n" for i in IDS)
    guess = "id,y\n" + "".join(f"{i},{rng.uniform(0, 10)!r}\n" for i in reversed(IDS))
    fast = score.score_file(challenge, guess.encode(), score.parse_solution(truth.encode(), challenge))
    strict_solution = score._pandas_solution(truth.encode(), challenge, "solution")
    strict_predictions = reader._strict_predictions(guess.encode(), challenge, strict_solution.ids, "predictions.csv")
    assert fast == score.score_splits(challenge, strict_predictions, strict_solution)
    assert isinstance(score.parse_solution(truth.encode(), challenge).expected, reader.ExpectedIds)


# --------------------------------------------------------------------------
# Large files are read a piece at a time; the edges of the pieces change nothing.


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """pandas reads 1,024 rows at a time, newlines and commas are found 61 bytes at a time
    (so scans end mid-cell), cells are cut out 777 rows at a time (so blocks end mid-chunk)."""
    monkeypatch.setattr(reader, "PANDAS_FLOATS_FROM_ROWS", 1)
    monkeypatch.setattr(reader, "_PANDAS_CHUNK_BYTES", 1)
    monkeypatch.setattr(reader, "_SCAN_BYTES", 61)
    monkeypatch.setattr(reader, "_CELL_ROWS", 777)


def _many_rows(count: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    ids = [f"t{index}" for index in range(count)]
    return ids, [repr(rng.gauss(0, 1e3)) for _ in ids]


def _csv(header: str, rows: Iterable[Iterable[str]]) -> bytes:
    return (header + "\n" + "".join(",".join(row) + "\n" for row in rows)).encode()


def _assert_fast_equals_strict(data: bytes, challenge: Challenge, ids: list[str]) -> None:
    fast = reader._fast_predictions(data, challenge, ids)
    assert fast is not None
    _assert_same(fast, _strict(data, challenge, ids))


@pytest.mark.usefixtures("small_pieces")
def test_numbers_read_in_many_chunks_equal_the_strict_reader(challenges: dict[str, Challenge]) -> None:
    ids, values = _many_rows(5_000, seed=11)
    _assert_fast_equals_strict(_csv("id,y", zip(ids, values)), challenges["value"], ids)


@pytest.mark.usefixtures("small_pieces")
def test_a_bad_number_in_a_late_chunk_gets_the_strict_error(challenges: dict[str, Challenge]) -> None:
    ids, values = _many_rows(5_000, seed=12)
    values[3_500], values[4_999] = "nan", "1e400"
    data = _csv("id,y", zip(ids, values))
    assert reader._fast_predictions(data, challenges["value"], ids) is None
    error = _public(data, challenges["value"], ids)
    assert error == _strict(data, challenges["value"], ids)
    assert "not finite numbers at lines 3502, 5001" in error


@pytest.mark.usefixtures("small_pieces")
def test_labels_cut_out_in_many_blocks_equal_the_strict_reader(challenges: dict[str, Challenge]) -> None:
    rng = random.Random(14)
    ids = [f"t{index}" for index in range(5_000)]
    labels = [rng.choice(["no", "yes"]) for _ in ids]
    _assert_fast_equals_strict(_csv("id,y", zip(ids, labels)), challenges["label"], ids)


@pytest.mark.usefixtures("small_pieces")
def test_a_solution_read_in_many_chunks_equals_pandas(challenges: dict[str, Challenge]) -> None:
    ids, values = _many_rows(5_000, seed=13)
    data = _csv("id,y,split", ((i, v, "public" if n % 3 else "private") for n, (i, v) in enumerate(zip(ids, values))))
    plain = _solution(score._plain_solution, data, challenges["value"])
    assert plain != "not plain"
    assert plain == _solution(score._pandas_solution, data, challenges["value"])


# --------------------------------------------------------------------------
# Memory: what scoring holds at once (the peak is measured in benchmarks/scoring.py).


def test_the_solution_is_decrypted_without_a_second_copy(tmp_path: Path) -> None:
    """Streamed decryption holds the plaintext once; reading the file, then decrypting it, held the file and the plaintext."""
    import tracemalloc

    from site_builder.private import decrypt_file, encrypt_bytes, generate_identity

    identity, recipient = generate_identity()
    plaintext = random.Random(5).randbytes(2**21)
    path = tmp_path / "solution.csv.age"
    path.write_bytes(encrypt_bytes(plaintext, recipient))
    tracemalloc.start()
    try:
        decrypted = decrypt_file(path, identity)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decrypted == plaintext
    assert peak < 1.5 * len(plaintext)
