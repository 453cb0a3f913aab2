"""The metric registry: every metric agrees with sklearn and declares its metadata."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from site_builder.metrics import REGISTRY, get_metric

REQUIRED = {"accuracy", "balanced_accuracy", "f1", "f1_macro", "roc_auc", "log_loss", "rmse", "mae", "r2", "mape"}

LABELS = np.array(["a", "b", "b", "a", "b", "a", "b", "b"], dtype=object)
PREDICTED = np.array(["a", "b", "a", "a", "b", "b", "b", "b"], dtype=object)
PROBA_B = np.array([0.1, 0.8, 0.4, 0.3, 0.9, 0.6, 0.7, 0.95])
THREE = np.array(["x", "y", "z", "x", "y", "z", "x", "y"], dtype=object)
THREE_PROBA = np.array(
    [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2],
     [0.3, 0.4, 0.3], [0.1, 0.1, 0.8], [0.4, 0.4, 0.2], [0.2, 0.5, 0.3]]
)
Y = np.array([3.0, 5.0, 2.5, 7.0, 4.0])
Y_HAT = np.array([2.5, 5.0, 3.0, 8.0, 3.5])


def test_registry_has_the_promised_metrics_with_metadata() -> None:
    assert REQUIRED <= set(REGISTRY)
    for metric in REGISTRY.values():
        assert metric.lower < metric.upper
        assert metric.precision >= 0
        assert metric.needs in ("label", "proba", "value")


@pytest.mark.parametrize(
    ("name", "y_true", "y_pred", "classes", "expected"),
    [
        ("accuracy", LABELS, PREDICTED, ("a", "b"), skm.accuracy_score(LABELS, PREDICTED)),
        ("balanced_accuracy", LABELS, PREDICTED, ("a", "b"), skm.balanced_accuracy_score(LABELS, PREDICTED)),
        ("f1", LABELS, PREDICTED, ("a", "b"), skm.f1_score(LABELS, PREDICTED, pos_label="b")),
        ("f1_macro", LABELS, PREDICTED, ("a", "b"), skm.f1_score(LABELS, PREDICTED, average="macro")),
        ("roc_auc", LABELS, np.column_stack([1 - PROBA_B, PROBA_B]), ("a", "b"), skm.roc_auc_score(LABELS == "b", PROBA_B)),
        ("roc_auc", THREE, THREE_PROBA, ("x", "y", "z"), skm.roc_auc_score(THREE, THREE_PROBA, multi_class="ovr")),
        ("log_loss", THREE, THREE_PROBA, ("x", "y", "z"), skm.log_loss(THREE, THREE_PROBA)),
        ("rmse", Y, Y_HAT, (), math.sqrt(skm.mean_squared_error(Y, Y_HAT))),
        ("mae", Y, Y_HAT, (), skm.mean_absolute_error(Y, Y_HAT)),
        ("r2", Y, Y_HAT, (), skm.r2_score(Y, Y_HAT)),
        ("mape", Y, Y_HAT, (), skm.mean_absolute_percentage_error(Y, Y_HAT)),
    ],
)
def test_metric_equals_sklearn(name: str, y_true, y_pred, classes, expected: float) -> None:
    assert get_metric(name)(y_true, y_pred, classes) == pytest.approx(expected, abs=1e-12)


def test_direction_drives_ordering() -> None:
    auc, rmse = get_metric("roc_auc"), get_metric("rmse")
    assert auc.is_better(0.9, 0.8) and not auc.is_better(0.8, 0.9)
    assert rmse.is_better(1.0, 2.0) and not rmse.is_better(2.0, 1.0)
    assert auc.sort_key(None) == math.inf  # a missing score sorts last


def test_format_uses_declared_precision() -> None:
    assert get_metric("roc_auc").format(0.876543) == "0.8765"
    assert get_metric("rmse").format(53.12345) == "53.123"
    assert get_metric("rmse").format(None) == "–"


def test_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known metrics: .*rmse"):
        get_metric("rmsle2")


def test_probability_metrics_follow_the_challenge_class_order() -> None:
    """Columns come in the challenge's order (positive class last), not sklearn's alphabetical one."""
    truth = np.array(["stay", "leave", "stay", "stay", "leave"], dtype=object)
    p_leave = np.array([0.1, 0.8, 0.3, 0.2, 0.7])
    binary = np.column_stack([1 - p_leave, p_leave])  # classes ("stay", "leave")
    expected = skm.log_loss(truth, np.column_stack([p_leave, 1 - p_leave]), labels=["leave", "stay"])
    assert get_metric("log_loss")(truth, binary, ("stay", "leave")) == pytest.approx(expected, abs=1e-12)
    assert get_metric("roc_auc")(truth, binary, ("stay", "leave")) == pytest.approx(
        skm.roc_auc_score(truth == "leave", p_leave), abs=1e-12
    )
    unsorted = ("z", "x", "y")
    reordered = THREE_PROBA[:, [2, 0, 1]]  # the same probabilities, columns in (z, x, y) order
    assert get_metric("log_loss")(THREE, reordered, unsorted) == pytest.approx(skm.log_loss(THREE, THREE_PROBA), abs=1e-12)
    assert get_metric("roc_auc")(THREE, reordered, unsorted) == pytest.approx(
        skm.roc_auc_score(THREE, THREE_PROBA, multi_class="ovr"), abs=1e-12
    )
