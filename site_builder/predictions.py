"""Read a predictions file as hostile input.

Everything a participant's run produces is untrusted: the parser checks size,
encoding, header, ids, duplicates and every value before any metric sees it,
and its errors name the problem and the first offending rows.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from site_builder.errors import PredictionsError
from site_builder.spec import Challenge

MAX_ROWS_SHOWN = 5
_BOMS = {
    b"\xef\xbb\xbf": "UTF-8",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


@dataclass(frozen=True)
class Predictions:
    """Validated predictions, one entry per id, in file order.

    ``values`` holds strings for labels, floats for values, and an (n, k)
    array of class probabilities in the challenge's class order for proba.
    """

    ids: list[str]
    values: Any
    kind: str


def read_predictions(
    source: Path | bytes,
    challenge: Challenge,
    expected_ids: Sequence[str],
    *,
    name: str = "predictions.csv",
) -> Predictions:
    """Parse and check a predictions file against the ids it must cover."""
    data = _read_capped(source, challenge.spec.limits.predictions_mb, name)
    text = _decode(data, name)
    frame = _parse_csv(text, name)
    _check_header(list(frame.columns), challenge.prediction_columns(), name)
    id_column = challenge.spec.id_column
    ids = list(frame[id_column])
    _check_ids(ids, expected_ids, name, id_column)
    kind = challenge.spec.prediction_kind
    value_columns = challenge.prediction_columns()[1:]
    if kind == "label":
        values = _labels(frame, value_columns[0], challenge.classes, name)
    elif kind == "value":
        values = _numbers(frame, value_columns[0], name, id_column)
    else:
        values = _probabilities(frame, value_columns, challenge.classes, name, id_column)
    return Predictions(ids=ids, values=values, kind=kind)


def _read_capped(source: Path | bytes, limit_mb: int, name: str) -> bytes:
    limit = limit_mb * 1024 * 1024
    if isinstance(source, bytes):
        data = source
    else:
        try:
            size = Path(source).stat().st_size
            if size > limit:
                raise PredictionsError(f"is {size / 2**20:.1f} MiB; the limit is {limit_mb} MiB", path=name)
            data = Path(source).read_bytes()
        except FileNotFoundError:
            raise PredictionsError("does not exist", path=name) from None
    if len(data) > limit:
        raise PredictionsError(f"is {len(data) / 2**20:.1f} MiB; the limit is {limit_mb} MiB", path=name)
    if not data.strip():
        raise PredictionsError("is empty; expected a header line and one row per test id", path=name)
    return data


def _decode(data: bytes, name: str) -> str:
    for bom, encoding in _BOMS.items():
        if data.startswith(bom):
            raise PredictionsError(
                f"starts with a {encoding} byte-order mark; save it as plain UTF-8 without BOM", path=name
            )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PredictionsError(
            f"is not UTF-8 text (bad byte at offset {error.start}); save it as UTF-8", path=name
        ) from None
    if "\x00" in text:
        raise PredictionsError("contains NUL bytes; expected a plain-text CSV", path=name)
    return text


class _Table:
    """A parsed CSV: the header and the cells of each column as text."""

    def __init__(self, header: list[str], rows: list[list[str]]) -> None:
        self.columns = header
        self._cells = {name: [row[index] for row in rows] for index, name in enumerate(header)}

    def __getitem__(self, column: str) -> list[str]:
        return self._cells[column]


def _parse_csv(text: str, name: str) -> _Table:
    """Strict CSV: every row has exactly as many cells as the header.

    The csv module rather than pandas: pandas quietly drops or shifts cells of
    ragged rows, and a strict contract must report them.
    """
    import csv

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        rows = [row for row in reader if row]
    except StopIteration:
        raise PredictionsError("has no header line", path=name) from None
    except csv.Error as error:
        raise PredictionsError(f"is not a well-formed CSV at line {reader.line_num}: {error}", path=name) from None
    ragged = [index for index, row in enumerate(rows) if len(row) != len(header)]
    if ragged:
        raise PredictionsError(
            f"is not a well-formed CSV: {len(ragged)} row(s) do not have the {len(header)} cells of the header, "
            f"at {_rows(ragged)}",
            path=name,
        )
    return _Table(header, rows)


def _check_header(found: list[str], expected: list[str], name: str) -> None:
    if found != expected:
        raise PredictionsError(
            f"header is {','.join(map(str, found))!r}; expected exactly {','.join(expected)!r}", path=name
        )


def _rows(indices: Sequence[int]) -> str:
    """File line numbers of data rows (line 1 is the header)."""
    shown = ", ".join(str(index + 2) for index in indices[:MAX_ROWS_SHOWN])
    more = f" and {len(indices) - MAX_ROWS_SHOWN} more" if len(indices) > MAX_ROWS_SHOWN else ""
    return f"line{'s' if len(indices) > 1 else ''} {shown}{more}"


def _sample(values: Sequence[str]) -> str:
    shown = ", ".join(repr(value) for value in list(values)[:MAX_ROWS_SHOWN])
    more = f" and {len(values) - MAX_ROWS_SHOWN} more" if len(values) > MAX_ROWS_SHOWN else ""
    return shown + more


def _check_ids(ids: list[str], expected_ids: Sequence[str], name: str, id_column: str) -> None:
    seen: dict[str, int] = {}
    duplicates: list[int] = []
    for index, identifier in enumerate(ids):
        if identifier in seen:
            duplicates.append(index)
        else:
            seen[identifier] = index
    if duplicates:
        raise PredictionsError(
            f"{len(duplicates)} duplicate id(s) in column {id_column!r} at {_rows(duplicates)} "
            f"({_sample([ids[i] for i in duplicates])}); keep one row per id",
            path=name,
        )
    expected = set(expected_ids)
    unexpected = [index for index, identifier in enumerate(ids) if identifier not in expected]
    if unexpected:
        raise PredictionsError(
            f"{len(unexpected)} id(s) in column {id_column!r} are not test ids, at {_rows(unexpected)} "
            f"({_sample([ids[i] for i in unexpected])}); predict exactly the ids of the test file",
            path=name,
        )
    missing = [identifier for identifier in expected_ids if identifier not in seen]
    if missing:
        raise PredictionsError(
            f"{len(missing)} test id(s) have no prediction ({_sample(missing)}); "
            f"expected {len(expected)} rows, found {len(ids)}",
            path=name,
        )


def _labels(frame: Any, column: str, classes: Sequence[str], name: str) -> Any:
    import numpy as np

    values = np.asarray(frame[column], dtype=object)
    allowed = set(classes)
    bad = [index for index, value in enumerate(values) if value not in allowed]
    if bad:
        raise PredictionsError(
            f"column {column!r} has {len(bad)} value(s) outside the labels {list(classes)} at {_rows(bad)} "
            f"({_sample([values[i] for i in bad])})",
            path=name,
        )
    return np.asarray(values, dtype=object)


def _numbers(frame: Any, column: str, name: str, id_column: str) -> Any:
    import numpy as np

    texts = frame[column]
    numbers = np.empty(len(texts), dtype=float)
    bad: list[int] = []
    for index, text in enumerate(texts):
        try:
            number = float(text)
        except ValueError:
            bad.append(index)
            continue
        if not math.isfinite(number):
            bad.append(index)
        numbers[index] = number
    if bad:
        raise PredictionsError(
            f"column {column!r} has {len(bad)} value(s) that are not finite numbers at {_rows(bad)} "
            f"({_sample([texts[i] for i in bad])}); NaN, inf and empty cells are not allowed",
            path=name,
        )
    return numbers


def _probabilities(frame: Any, columns: Sequence[str], classes: Sequence[str], name: str, id_column: str) -> Any:
    import numpy as np

    matrix = np.column_stack([_numbers(frame, column, name, id_column) for column in columns])
    outside = np.flatnonzero(((matrix < 0) | (matrix > 1)).any(axis=1)).tolist()
    if outside:
        raise PredictionsError(
            f"probabilities must lie in [0, 1]; {len(outside)} row(s) do not, at {_rows(outside)}", path=name
        )
    if len(columns) == 1:
        # Binary: the file holds the positive-class probability, which is last.
        return np.column_stack([1.0 - matrix[:, 0], matrix[:, 0]])
    sums = matrix.sum(axis=1)
    empty = np.flatnonzero(sums <= 0).tolist()
    if empty:
        raise PredictionsError(f"class probabilities of a row must not all be 0, at {_rows(empty)}", path=name)
    return matrix / sums[:, None]
