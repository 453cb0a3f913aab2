"""Stage 3, score: decrypt the solution and score the public and private rows.

The middle of this module is pure (:func:`score_splits`); reading the
solution and predictions happens at the edges.

A large answer key stays compact: a plain solution CSV is read over its
bytes (:func:`site_builder.predictions.read_plain_csv`), its ids kept as
UTF-8 bytes in a numpy array rather than a million Python strings, and the
predictions are matched to it with numpy. Anything unusual in the file goes
through pandas as before.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from site_builder.errors import PrivateDataError
from site_builder.metrics import get_metric
from site_builder.predictions import ExpectedIds, Predictions, pandas_floats, read_plain_csv, read_predictions
from site_builder.spec import Challenge

SPLITS = ("public", "private")
Scores = dict[str, dict[str, float | None]]
class Solution:
    """The private answer key: ids, true targets and the split of each row.

    ``ids`` are a list of strings or a numpy bytes array of their UTF-8;
    ``splits`` a list of strings, a numpy bytes array, or a numpy boolean
    array (True for public) for a large key. Either way the attributes read
    as lists.
    """

    def __init__(
        self, ids: Sequence[str] | Any, targets: Any, splits: Sequence[str] | Any, *, expected: ExpectedIds | None = None
    ) -> None:
        self._ids = ids
        self.targets = targets
        self._splits = splits
        if expected is not None:  # already prepared while parsing
            self.__dict__["expected"] = expected

    def __repr__(self) -> str:
        return f"Solution({len(self._ids)} rows)"

    @functools.cached_property
    def ids(self) -> list[str]:
        return _strings(self._ids)

    @functools.cached_property
    def splits(self) -> list[str]:
        if _is_mask(self._splits):
            return ["public" if public else "private" for public in self._splits.tolist()]
        return _strings(self._splits)

    @functools.cached_property
    def expected(self) -> ExpectedIds:
        """The ids as predictions files are checked against them."""
        return ExpectedIds(self._ids)

    def rows(self, split: str) -> Any:
        """A boolean mask of the rows of ``split`` (worked out once: rescoring asks for each file).

        Masks, not positions: a byte per row rather than eight.
        """
        return self._rows[split]

    @functools.cached_property
    def _rows(self) -> dict[str, Any]:
        import numpy as np

        if _is_mask(self._splits):
            return {"public": self._splits, "private": ~self._splits}
        if isinstance(self._splits, np.ndarray) and self._splits.dtype.kind == "S":
            return {split: self._splits == split.encode("utf-8") for split in SPLITS}
        splits = np.asarray(self._splits, dtype=object)
        return {split: splits == split for split in SPLITS}


def _is_mask(values: Any) -> bool:
    import numpy as np

    return isinstance(values, np.ndarray) and values.dtype == bool


def _strings(values: Sequence[str] | Any) -> list[str]:
    import numpy as np

    if isinstance(values, np.ndarray) and values.dtype.kind == "S":
        return [value.decode("utf-8") for value in values.tolist()]
    return list(values)


def parse_solution(plaintext: bytes, challenge: Challenge, *, source: str = "solution") -> Solution:
    """Read the decrypted solution CSV; the errors never quote a label."""
    plain = _plain_solution(plaintext, challenge, source)
    return plain if plain is not None else _pandas_solution(plaintext, challenge, source)


def _plain_solution(plaintext: bytes, challenge: Challenge, source: str) -> Solution | None:
    """The solution of a plain CSV, kept compact; None for pandas to read (and to word its errors)."""
    import numpy as np

    spec = challenge.spec
    table = read_plain_csv(plaintext)
    if table is None or not {spec.id_column, spec.target, "split"} <= set(table.header):
        return None
    # The targets first, while little else is held: pandas' buffers are the
    # largest passing cost. The errors are those pandas' reader would give,
    # in the same order (splits, then duplicate ids, then the targets).
    if spec.prediction_kind == "value":
        targets = _plain_numbers(table, spec.target)
    else:
        labels, codes = np.unique(table.column(spec.target), return_inverse=True)
        # One string per distinct label, shared by its rows.
        targets = np.asarray([label.decode("utf-8") for label in labels.tolist()], dtype=object)[codes.ravel()]
    public = _public_mask(table.column("split"))
    if public is None:
        raise PrivateDataError("the split column may only hold 'public' or 'private'", path=source)
    ids = table.column(spec.id_column)
    expected = ExpectedIds(ids)
    if not expected.unique:
        raise PrivateDataError("the solution has duplicate ids", path=source)
    if targets is None:
        return None
    return Solution(ids=ids, targets=targets, splits=public, expected=expected)


def _public_mask(splits: Any) -> Any:
    """True for public rows, False for private ones; None if a cell is neither."""
    public = splits == b"public"
    if not bool((public | (splits == b"private")).all()):
        return None
    return public


def _plain_numbers(table: Any, name: str) -> Any:
    """Finite floats read by pandas' C parser where it reads them as pandas.to_numeric does; else None.

    Anything else (a cell the parser refuses, an older pandas) goes back to
    pandas.to_numeric, the reference, with its own errors.
    """
    import numpy as np

    numbers = pandas_floats(table, [name])
    if numbers is None or not bool(np.isfinite(numbers[0]).all()):
        return None
    return numbers[0]


def _pandas_solution(plaintext: bytes, challenge: Challenge, source: str) -> Solution:
    import pandas as pd

    spec = challenge.spec
    try:
        frame = pd.read_csv(io.BytesIO(plaintext), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise PrivateDataError("the decrypted solution is not a readable CSV", path=source) from None
    needed = [spec.id_column, spec.target, "split"]
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise PrivateDataError(
            f"the solution lacks column(s) {missing}; it needs {needed}", path=source, key="data.solution"
        )
    splits = frame["split"].tolist()
    if not set(splits) <= set(SPLITS):
        raise PrivateDataError("the split column may only hold 'public' or 'private'", path=source)
    if frame[spec.id_column].duplicated().any():
        raise PrivateDataError("the solution has duplicate ids", path=source)
    targets: Any = frame[spec.target].to_numpy(dtype=object)
    if spec.prediction_kind == "value":
        targets = pd.to_numeric(frame[spec.target], errors="raise").to_numpy(dtype=float)
    return Solution(ids=frame[spec.id_column].tolist(), targets=targets, splits=splits)


def _labels_from(predictions: Predictions, classes: tuple[str, ...]) -> Any:
    import numpy as np

    if predictions.kind == "proba":
        return np.asarray(classes, dtype=object)[predictions.values.argmax(axis=1)]
    return predictions.values


def _alignment(predictions: Predictions, solution: Solution) -> Any:
    """For each solution row, the position of its prediction; None when they are in the same order.

    None rather than ``arange``: the usual file is in the solution's order,
    and the rows of a split can then be taken from the predictions directly.
    """
    import numpy as np

    mine, theirs = predictions.id_bytes, solution.expected.array
    if solution.expected.in_order(mine):
        return None
    sorter = np.argsort(mine, kind="stable")
    order = sorter[np.searchsorted(mine, theirs, sorter=sorter).clip(0, max(len(mine) - 1, 0))]
    if len(mine) != len(theirs) or not np.array_equal(mine[order], theirs):
        raise ValueError("the predictions do not cover the ids of the solution")
    return order


def score_splits(challenge: Challenge, predictions: Predictions, solution: Solution) -> Scores:
    """Every metric of the challenge on the public rows and on the private rows."""
    order = _alignment(predictions, solution)
    classes = challenge.classes
    scores: Scores = {}
    for split in SPLITS:
        rows = solution.rows(split)
        if not rows.any():
            continue
        y_true = solution.targets[rows]
        positions = rows if order is None else order[rows]
        # Each form of the predictions (values, probabilities, labels) is cut out once per split, not once per metric.
        cut: dict[str, Any] = {}
        scores[split] = {}
        for name in challenge.spec.metrics:
            metric = get_metric(name)
            if metric.needs not in cut:
                predicted = predictions.values if metric.needs == predictions.kind else _labels_from(predictions, classes)
                cut[metric.needs] = predicted[positions]
            scores[split][name] = _safe_score(metric, y_true, cut[metric.needs], classes)
    return scores


def _safe_score(metric: Any, y_true: Any, y_pred: Any, classes: tuple[str, ...]) -> float | None:
    """A metric undefined on these rows (say AUC with one class) scores None, not a crash."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = metric(y_true, y_pred, classes)
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def solution_ids(solution: Solution) -> list[str]:
    return list(solution.ids)


def test_ids(challenge: Challenge) -> list[str]:
    """The ids of the public test inputs, as text, in file order."""
    import pandas as pd

    column = challenge.spec.id_column
    return pd.read_csv(challenge.test_path, usecols=[column], dtype=str, keep_default_na=False)[column].tolist()


def score_file(challenge: Challenge, predictions_path: Path | bytes, solution: Solution) -> Scores:
    """Parse a predictions file strictly, then score it against the solution."""
    predictions = read_predictions(predictions_path, challenge, solution.expected)
    return score_splits(challenge, predictions, solution)
