"""Read a predictions file as hostile input.

Everything a participant's run produces is untrusted: the parser checks size,
encoding, header, ids, duplicates and every value before any metric sees it,
and its errors name the problem and the first offending rows.

Two readers share that contract. The strict reader (the csv module, then a
check per cell) decides everything and words every error. The fast reader
handles the common case, a plain CSV (no quotes, LF or CRLF line ends, the
exact header, every row as wide as it, the expected ids, valid values), with
numpy over the bytes and keeps ids as compact byte strings, so a
million-row file costs little more time and memory than ``pandas.read_csv``.
It only ever accepts: anything it is unsure of, it hands to the strict
reader, so results and error messages are the strict reader's by
construction.
"""

from __future__ import annotations

import functools
import io
import math
import re
import weakref
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
    ``id_bytes`` holds the ids as UTF-8 in a numpy bytes array: a million
    Python strings would take more memory than the file.
    """

    id_bytes: Any
    values: Any
    kind: str

    @functools.cached_property
    def ids(self) -> list[str]:
        return [identifier.decode("utf-8") for identifier in self.id_bytes.tolist()]


def id_array(ids: Sequence[str]) -> Any:
    """Ids as a numpy bytes array of their UTF-8, as :class:`Predictions` keeps them."""
    import numpy as np

    return np.array([identifier.encode("utf-8") for identifier in ids], dtype=bytes)


class ExpectedIds:
    """The ids a predictions file must cover, prepared once for any number of files."""

    def __init__(self, ids: Sequence[str] | Any) -> None:
        import numpy as np

        self.array = ids if isinstance(ids, np.ndarray) else id_array(ids)
        # The last ids found in the expected order, weakly: scoring asks again
        # right after the check, and need not compare them a second time.
        self._last_in_order: weakref.ref[Any] | None = None

    @functools.cached_property
    def sorted(self) -> Any:
        import numpy as np

        return np.sort(self.array)

    @functools.cached_property
    def unique(self) -> bool:
        import numpy as np

        # The sort is not kept: files in the expected order, the usual case, never need it.
        ordered = self.__dict__.get("sorted")
        ordered = np.sort(self.array) if ordered is None else ordered
        return bool((ordered[1:] != ordered[:-1]).all())

    def as_list(self) -> list[str]:
        return [identifier.decode("utf-8") for identifier in self.array.tolist()]

    def covered_once_by(self, ids: Any) -> bool:
        """Whether ``ids`` (a numpy bytes array) holds each expected id exactly once."""
        import numpy as np

        if len(ids) != len(self.array) or not self.unique:
            return False
        if self.in_order(ids):  # the usual case: in the test file's order
            return True
        return bool(np.array_equal(np.sort(ids), self.sorted))

    def in_order(self, ids: Any) -> bool:
        """Whether ``ids`` are the expected ids, in the same order."""
        import numpy as np

        if self._last_in_order is not None and self._last_in_order() is ids:
            return True
        if not np.array_equal(ids, self.array):
            return False
        self._last_in_order = weakref.ref(ids)
        return True


def read_predictions(
    source: Path | bytes,
    challenge: Challenge,
    expected_ids: Sequence[str] | ExpectedIds,
    *,
    name: str = "predictions.csv",
) -> Predictions:
    """Parse and check a predictions file against the ids it must cover.

    Pass an :class:`ExpectedIds` to check many files against the same ids.
    """
    data = _read_capped(source, challenge.spec.limits.predictions_mb, name)
    if not data.isascii() or b"\0" in data:
        _decode(data, name)  # the encoding errors come first, as in the strict reader
    fast = _fast_predictions(data, challenge, expected_ids)
    if fast is not None:
        return fast
    return _strict_predictions(data, challenge, expected_ids, name)


def _strict_predictions(data: bytes, challenge: Challenge, expected_ids: Sequence[str] | ExpectedIds, name: str) -> Predictions:
    """The reference reader: every check, every error message."""
    if isinstance(expected_ids, ExpectedIds):
        expected_ids = expected_ids.as_list()
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
    return Predictions(id_bytes=id_array(ids), values=values, kind=kind)


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
    if not data or data.isspace():  # as `not data.strip()`, without a copy of the file
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


# --------------------------------------------------------------------------
# The fast reader: plain CSV files, checked with numpy over the bytes.

# float() reads a cell the same from its bytes as from its text as long as
# the cell is ASCII and holds none of these, which str.strip() counts as
# space but float(bytes) does not.
_SEPARATOR_CONTROLS = bytes(range(0x1C, 0x20))


def _fast_predictions(data: bytes, challenge: Challenge, expected_ids: Sequence[str] | ExpectedIds) -> Predictions | None:
    """The predictions, if the file is plain and valid throughout; None hands it to the strict reader."""
    table = read_plain_csv(data)
    if table is None or table.header != challenge.prediction_columns():
        return None
    ids = table.column(challenge.spec.id_column)
    expected = expected_ids if isinstance(expected_ids, ExpectedIds) else ExpectedIds(expected_ids)
    if not expected.covered_once_by(ids):
        return None
    kind = challenge.spec.prediction_kind
    value_columns = challenge.prediction_columns()[1:]
    if kind == "label":
        values = _fast_labels(table.column(value_columns[0]), challenge.classes)
    else:
        numbers = plain_floats(table, value_columns)
        if numbers is None:
            return None
        values = numbers[0] if kind == "value" else _fast_probabilities(numbers)
    return None if values is None else Predictions(id_bytes=ids, values=values, kind=kind)


# Below this many rows, Python's float() is quick enough and pandas need not be imported.
PANDAS_FLOATS_FROM_ROWS = 20_000


def plain_floats(table: PlainCsv, names: Sequence[str]) -> list[Any] | None:
    """The named columns as finite floats, each cell exactly as float() reads it; None if one is not."""
    import numpy as np

    numbers = pandas_floats(table, names) if table.rows >= PANDAS_FLOATS_FROM_ROWS else None
    if numbers is None:
        numbers = [_python_floats(table.column(name)) for name in names]
    if any(column is None or not bool(np.isfinite(column).all()) for column in numbers):
        return None
    return numbers


def _python_floats(column: Any) -> Any:
    """float() of every cell, or None if one is not a number."""
    import numpy as np

    if not _reads_as_text(column):
        return None
    try:
        return np.fromiter(map(float, column), dtype=float, count=len(column))
    except ValueError:
        return None


def pandas_floats(table: PlainCsv, names: Sequence[str]) -> list[Any] | None:
    """The columns read by pandas' C parser, when it reads numbers exactly as float() does; else None.

    From pandas 3.1 every float mode uses fast_float, which rounds correctly,
    as CPython does: a cell both accept gets the same double, and the cells
    pandas accepts are ones float() accepts (a test holds both to it). It is
    some five times quicker than calling float() per cell. Older pandas
    rounds some numbers differently: there, None, and float() it is.
    """
    import numpy as np
    import pandas as pd

    if tuple(int(part) for part in re.findall(r"\d+", pd.__version__)[:2]) < (3, 1):
        return None
    columns = [np.empty(table.rows) for _ in names]
    filled = 0
    try:
        with pd.read_csv(
            io.BytesIO(table.data),  # shares the bytes, no copy
            usecols=list(names),
            dtype={name: "float64" for name in names},
            na_filter=False,
            engine="c",
            chunksize=_pandas_chunk_rows(table),
        ) as chunks:
            for frame in chunks:
                if filled + len(frame) > table.rows:
                    return None
                for column, name in zip(columns, names):
                    column[filled : filled + len(frame)] = frame[name].to_numpy(dtype=float)
                filled += len(frame)
    except (ValueError, TypeError, pd.errors.ParserError):
        return None
    return columns if filled == table.rows else None


# Memory pandas' tokenizer may hold at once. It keeps the text of the rows
# it is reading plus two 8-byte entries per cell and per line: read whole,
# a 2.6 MB file cost 8 MB of buffers, three times the file. Read in chunks
# of rows within this bound, it costs about this much whatever the size.
# Each chunk adds some 0.4 ms (4 chunks for 100,000 rows of id and value);
# half the bound saves a megabyte more and costs as much again in time.
_PANDAS_CHUNK_BYTES = 1 << 21


def _pandas_chunk_rows(table: PlainCsv) -> int:
    """Rows per chunk, so that pandas' tokenizer stays within _PANDAS_CHUNK_BYTES."""
    per_row = len(table.data) / max(table.rows, 1) + 16 * (len(table.header) + 1)
    return max(1024, int(_PANDAS_CHUNK_BYTES / per_row))


def _fast_labels(column: Any, classes: Sequence[str]) -> Any:
    """The labels (the challenge's own strings, in an object array), or None if one is not a class."""
    import numpy as np

    known = id_array(classes)
    order = np.argsort(known)
    position = np.searchsorted(known[order], column).clip(0, len(known) - 1)
    if not bool((known[order][position] == column).all()):
        return None
    return np.asarray(list(classes), dtype=object)[order[position]]


def _fast_probabilities(numbers: Sequence[Any]) -> Any:
    """As the strict reader's probabilities, or None where it would complain."""
    import numpy as np

    matrix = np.column_stack(numbers)
    if bool(((matrix < 0) | (matrix > 1)).any()):
        return None
    if len(numbers) == 1:
        return np.column_stack([1.0 - matrix[:, 0], matrix[:, 0]])
    sums = matrix.sum(axis=1)
    if bool((sums <= 0).any()):
        return None
    return matrix / sums[:, None]


def _reads_as_text(column: Any) -> bool:
    """Whether float() of each cell's bytes equals float() of its text (see _SEPARATOR_CONTROLS)."""
    import numpy as np

    flat = column.view(np.uint8)
    return bool((flat < 0x80).all() and not ((flat - np.uint8(0x1C)) < 4).any())


class PlainCsv:
    """A plain CSV: its header, its bytes, and where each cell lies in them.

    A column's cells are cut out as a numpy bytes array only when asked for:
    a column of numbers read by pandas never needs them.
    """

    def __init__(self, header: list[str], data: bytes, raw: Any, starts: Any, ends: Any, commas: Any) -> None:
        self.header = header
        self.data = data
        self.rows = len(starts)
        self._raw = raw
        self._starts, self._ends, self._commas = starts, ends, commas

    def column(self, name: str) -> Any:
        """The cells of column ``name`` as a numpy bytes array."""
        index = self.header.index(name)
        # A cell runs from its line's start, or from just past a comma, to the next comma or its line's end.
        begin, skip = (self._starts, 0) if index == 0 else (self._commas[:, index - 1], 1)
        end = self._ends if index == len(self.header) - 1 else self._commas[:, index]
        return _cells(self._raw, self.data, begin, end, skip)


def read_plain_csv(data: bytes) -> PlainCsv | None:
    """The cells of a plain CSV, or None for anything else.

    Plain: no quote, no NUL, line ends LF or CRLF, a non-empty first line
    of distinct non-empty UTF-8 names, every other non-empty line with as
    many cells, no cell longer than the csv module's field limit. Empty
    lines are skipped, as the csv module skips them. On such a file the
    csv module (and pandas) would read exactly these cells.
    """
    import csv

    import numpy as np

    if b'"' in data or b"\0" in data:
        return None
    if b"\r" in data:
        if data.count(b"\r") != data.count(b"\r\n"):
            return None  # a lone CR also ends a row for the csv module: leave it to it
        data = data.replace(b"\r\n", b"\n")
    raw = np.frombuffer(data, dtype=np.uint8)  # a view: the bytes are never copied
    bounds = _positions(raw, ord("\n"), around=(-1, len(raw)))
    # -1, every newline, then the length: line i runs from bounds[i] + 1 to bounds[i + 1].
    # ``ends`` is a view, only ``starts`` is a new array.
    starts, ends = bounds[:-1] + 1, bounds[1:]
    if ends[0] == 0 or int((ends - starts).max()) > csv.field_size_limit():
        return None
    try:
        header = data[: ends[0]].decode("utf-8").split(",")
    except UnicodeDecodeError:
        return None
    if "" in header or len(set(header)) != len(header):
        return None
    starts, ends = _data_lines(starts, ends)
    commas = _positions(raw, ord(","))
    width = len(header) - 1
    # The header's own commas come first. With exactly ``width`` commas per
    # row in all, and each row's block of ``width`` lying inside that row,
    # no row can have more or fewer (the rows are in order, and so are the commas).
    if len(commas) != width * (len(starts) + 1):
        return None
    commas = commas[width:].reshape(len(starts), width)
    if width and len(starts) and not bool(((commas[:, 0] > starts) & (commas[:, -1] < ends)).all()):
        return None
    return PlainCsv(header, data, raw, starts, ends, commas)


def _data_lines(starts: Any, ends: Any) -> tuple[Any, Any]:
    """The bounds of the non-empty lines after the header (empty lines are skipped, as the csv module does).

    Usually the only empty line is the one after the final newline: then
    the result is a view, not a copy.
    """
    filled = ends > starts
    if bool(filled[1:-1].all()):
        last = len(starts) if filled[-1] and len(starts) > 1 else len(starts) - 1
        return starts[1:last], ends[1:last]
    filled[0] = False
    return starts[filled], ends[filled]


# Bytes scanned at a time: each scan's mask is this big, small next to the file.
_SCAN_BYTES = 1 << 18


def _positions(raw: Any, byte: int, *, around: tuple[int, int] | None = None) -> Any:
    """Where ``byte`` occurs in ``raw``, optionally between the two values of ``around``.

    A scan at a time, so no mask or 64-bit index array the size of the file
    exists at once; each scan's positions are kept as 32-bit integers when
    they fit, half the memory of numpy's indices.
    """
    import numpy as np

    kind = np.int32 if len(raw) < 2**31 - 1 else np.int64
    chunks = [
        (np.flatnonzero(raw[offset : offset + _SCAN_BYTES] == byte) + offset).astype(kind)
        for offset in range(0, len(raw), _SCAN_BYTES)
    ]
    if around is not None:
        chunks = [np.array(around[:1], kind), *chunks, np.array(around[1:], kind)]
    return np.concatenate(chunks) if chunks else np.zeros(0, kind)


# Cells cut out at a time: the scratch arrays of a block (numpy's 64-bit
# indices, lengths, masks) stay small next to the column.
_CELL_ROWS = 1 << 15


def _cells(raw: Any, data: bytes, begins: Any, ends: Any, skip: int = 0) -> Any:
    """``data[begins[i] + skip : ends[i]]`` for every i, as one fixed-width numpy bytes array."""
    import numpy as np

    blocks = [slice(first, first + _CELL_ROWS) for first in range(0, len(begins), _CELL_ROWS)]
    width = max([int((ends[block] - begins[block]).max()) - skip for block in blocks] + [1])
    if len(raw) < width:  # a tiny file: cut each cell out
        pairs = zip(begins.tolist(), ends.tolist())
        return np.array([data[begin + skip : end] for begin, end in pairs], dtype=f"S{width}")
    cells = np.empty(len(begins), dtype=f"S{width}")
    for block in blocks:
        cells[block] = _cell_block(raw, data, begins[block], ends[block], skip, width)
    return cells


def _cell_block(raw: Any, data: bytes, begins: Any, ends: Any, skip: int, width: int) -> Any:
    """The cells of a block of rows, ``width`` bytes each.

    A window of ``width`` bytes at each start, gathered in one step, then
    each cell's bytes past its end set to zero (a bytes array ignores
    trailing zeros). The last cells, too close to the end of the data for a
    whole window, are cut out one by one.
    """
    import numpy as np

    starts = begins.astype(np.intp)  # the index numpy would make anyway
    starts += skip
    lengths = ends - starts
    last = len(raw) - width
    tail = np.flatnonzero(starts > last).tolist()
    np.minimum(starts, last, out=starts)
    matrix = np.lib.stride_tricks.sliding_window_view(raw, width)[starts]
    for column in range(width):
        matrix[lengths <= column, column] = 0
    cells = matrix.view(f"S{width}").ravel()
    for index in tail:
        cells[index] = data[int(begins[index]) + skip : int(ends[index])]
    return cells
