"""Stage 3, score: decrypt the solution and score the public and private rows.

The middle of this module is pure (:func:`score_splits`); reading the
solution and predictions happens at the edges.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from site_builder.errors import PrivateDataError
from site_builder.metrics import get_metric
from site_builder.predictions import Predictions, read_predictions
from site_builder.spec import Challenge

SPLITS = ("public", "private")
Scores = dict[str, dict[str, float | None]]


@dataclass(frozen=True)
class Solution:
    """The private answer key: ids, true targets and the split of each row."""

    ids: list[str]
    targets: Any
    splits: list[str]


def parse_solution(plaintext: bytes, challenge: Challenge, *, source: str = "solution") -> Solution:
    """Read the decrypted solution CSV; the errors never quote a label."""
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


def score_splits(challenge: Challenge, predictions: Predictions, solution: Solution) -> Scores:
    """Every metric of the challenge on the public rows and on the private rows."""
    import numpy as np

    position = {identifier: index for index, identifier in enumerate(predictions.ids)}
    order = np.asarray([position[identifier] for identifier in solution.ids])
    split_of_row = np.asarray(solution.splits)
    classes = challenge.classes
    scores: Scores = {}
    for split in SPLITS:
        rows = np.flatnonzero(split_of_row == split)
        if rows.size == 0:
            continue
        y_true = solution.targets[rows]
        scores[split] = {}
        for name in challenge.spec.metrics:
            metric = get_metric(name)
            predicted = predictions.values if metric.needs == predictions.kind else _labels_from(predictions, classes)
            scores[split][name] = _safe_score(metric, y_true, predicted[order[rows]], classes)
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
    predictions = read_predictions(predictions_path, challenge, solution.ids)
    return score_splits(challenge, predictions, solution)
