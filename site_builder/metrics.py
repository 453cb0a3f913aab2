"""Metrics as data: each one is a small declaration over ``sklearn.metrics``.

A metric says what it needs from a prediction (labels, class probabilities or
numeric values), which way is better, its range and how many digits to show.
Ranking, formatting and validation read this metadata instead of branching on
names, so adding a metric is one entry in :data:`REGISTRY`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

PredictionKind = Literal["label", "proba", "value"]
# y_true, y_pred (in the form the metric ``needs``), the ordered class labels.
ScoreFunction = Callable[[Any, Any, Sequence[str]], float]


@dataclass(frozen=True)
class Metric:
    """One scoring rule and what the rest of the tool needs to know about it."""

    name: str
    title: str
    function: ScoreFunction
    greater_is_better: bool
    lower: float
    upper: float
    precision: int
    needs: PredictionKind
    task: Literal["classification", "regression"]

    def __call__(self, y_true: Any, y_pred: Any, classes: Sequence[str] = ()) -> float:
        return float(self.function(y_true, y_pred, classes))

    @property
    def direction(self) -> str:
        return "higher is better" if self.greater_is_better else "lower is better"

    @property
    def arrow(self) -> str:
        return "↑" if self.greater_is_better else "↓"

    def format(self, value: float | None) -> str:
        """The score as shown on the board, at the declared precision."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return f"{value:.{self.precision}f}"

    def sort_key(self, value: float | None) -> float:
        """Ascending sort key: the best score sorts first, a missing one last."""
        if value is None or math.isnan(value):
            return math.inf
        return -value if self.greater_is_better else value

    def is_better(self, candidate: float, incumbent: float) -> bool:
        return self.sort_key(candidate) < self.sort_key(incumbent)


def _accuracy(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import accuracy_score

    return accuracy_score(y_true, y_pred)


def _balanced_accuracy(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return balanced_accuracy_score(y_true, y_pred)


def _f1_binary(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    """F1 of the positive class, which is the last of the ordered classes."""
    from sklearn.metrics import f1_score

    if len(classes) == 2:
        return f1_score(y_true, y_pred, pos_label=classes[-1], average="binary")
    return f1_score(y_true, y_pred, labels=list(classes), average="macro")


def _f1_macro(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    return f1_score(y_true, y_pred, labels=list(classes), average="macro")


def _mcc(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import matthews_corrcoef

    return matthews_corrcoef(y_true, y_pred)


def _in_sorted_label_order(y_pred: Any, classes: Sequence[str]) -> tuple[Any, list[str]]:
    """Probability columns reordered to sorted labels, the order sklearn assumes.

    The tool keeps columns in the challenge's class order (the positive class
    last for a binary task), which need not be alphabetical.
    """
    order = sorted(range(len(classes)), key=lambda index: classes[index])
    return y_pred[:, order], [classes[index] for index in order]


def _roc_auc(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    """Binary AUC on the positive-class column, one-vs-rest macro AUC otherwise."""
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        is_positive = [label == classes[-1] for label in y_true]
        return roc_auc_score(is_positive, y_pred[:, 1])
    columns, labels = _in_sorted_label_order(y_pred, classes)
    return roc_auc_score(y_true, columns, multi_class="ovr", average="macro", labels=labels)


def _log_loss(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import log_loss

    columns, labels = _in_sorted_label_order(y_pred, classes)
    return log_loss(y_true, columns, labels=labels)


def _rmse(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import root_mean_squared_error

    return root_mean_squared_error(y_true, y_pred)


def _mse(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import mean_squared_error

    return mean_squared_error(y_true, y_pred)


def _mae(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import mean_absolute_error

    return mean_absolute_error(y_true, y_pred)


def _r2(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import r2_score

    return r2_score(y_true, y_pred)


def _mape(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import mean_absolute_percentage_error

    return mean_absolute_percentage_error(y_true, y_pred)


def _medae(y_true: Any, y_pred: Any, classes: Sequence[str]) -> float:
    from sklearn.metrics import median_absolute_error

    return median_absolute_error(y_true, y_pred)


_INF = math.inf

REGISTRY: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("accuracy", "Accuracy", _accuracy, True, 0.0, 1.0, 4, "label", "classification"),
        Metric("balanced_accuracy", "Balanced accuracy", _balanced_accuracy, True, 0.0, 1.0, 4, "label", "classification"),
        Metric("f1", "F1 (positive class)", _f1_binary, True, 0.0, 1.0, 4, "label", "classification"),
        Metric("f1_macro", "F1 (macro)", _f1_macro, True, 0.0, 1.0, 4, "label", "classification"),
        Metric("mcc", "Matthews correlation", _mcc, True, -1.0, 1.0, 4, "label", "classification"),
        Metric("roc_auc", "ROC AUC", _roc_auc, True, 0.0, 1.0, 4, "proba", "classification"),
        Metric("log_loss", "Log loss", _log_loss, False, 0.0, _INF, 4, "proba", "classification"),
        Metric("rmse", "RMSE", _rmse, False, 0.0, _INF, 3, "value", "regression"),
        Metric("mse", "MSE", _mse, False, 0.0, _INF, 3, "value", "regression"),
        Metric("mae", "MAE", _mae, False, 0.0, _INF, 3, "value", "regression"),
        Metric("medae", "Median absolute error", _medae, False, 0.0, _INF, 3, "value", "regression"),
        Metric("r2", "R²", _r2, True, -_INF, 1.0, 4, "value", "regression"),
        Metric("mape", "MAPE", _mape, False, 0.0, _INF, 4, "value", "regression"),
    )
}


def get_metric(name: str) -> Metric:
    """The registered metric called ``name``; ``KeyError`` names the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known metrics: {', '.join(sorted(REGISTRY))}") from None
