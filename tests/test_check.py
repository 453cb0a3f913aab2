"""``site-builder check``: local cross-validation in the sandbox, and predictions-file checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from site_builder.check import check_submission
from site_builder.spec import Challenge
from tests.conftest_run_helpers import (
    GOOD_ESTIMATOR,
    ID,
    REGRESSION_ESTIMATOR,
    TARGET,
    load_estimator,
    make_challenge,
    make_submission,
)


class Lines(list):
    """Collects what ``check_submission`` echoes."""

    def __call__(self, line: str) -> None:
        self.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self)


def _expected_mean_valid_auc(challenge: Challenge, folds: int, seed: int) -> float:
    """The same cross-validation done in this process, for comparison."""
    train = pd.read_csv(challenge.train_path, dtype={ID: str})
    X, y = train.drop(columns=[ID, TARGET]), train[TARGET]
    scores = []
    for fit_rows, valid_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y.astype(str)):
        model = load_estimator(GOOD_ESTIMATOR).fit(X.iloc[fit_rows], y.iloc[fit_rows])
        positive = list(model.classes_).index(challenge.classes[-1])
        scores.append(roc_auc_score(y.iloc[valid_rows] == challenge.classes[-1],
                                    model.predict_proba(X.iloc[valid_rows])[:, positive]))
    return sum(scores) / len(scores)


@pytest.mark.slow
def test_cross_validation_of_a_good_pipeline_matches_an_in_process_run(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path, metrics=("roc_auc", "accuracy"))
    lines = Lines()

    passed = check_submission(challenge, make_submission(tmp_path, GOOD_ESTIMATOR), folds=3, seed=1, echo=lines)

    assert passed, lines.text
    assert [line for line in lines if line.startswith("CV fold")] == ["CV fold 0", "CV fold 1", "CV fold 2"]
    summary = lines[lines.index("Mean CV scores"):]
    valid_row = next(line for line in summary if line.strip().startswith("valid"))
    assert f"{_expected_mean_valid_auc(challenge, 3, 1):.4f} ±" in valid_row
    assert any(line.startswith("Sandbox: clean-environment") for line in lines)


@pytest.mark.slow
def test_regression_uses_plain_k_fold(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path, metrics=("rmse", "r2"), classes=())
    lines = Lines()

    assert check_submission(challenge, make_submission(tmp_path, REGRESSION_ESTIMATOR), folds=2, echo=lines), lines.text
    header = next(line for line in lines if line.strip().startswith("score"))
    assert "rmse" in header and "r2" in header and "time" in header


def test_a_failing_estimator_fails_the_check_with_its_traceback(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path)
    submission = make_submission(tmp_path, "def get_estimator():\n    raise RuntimeError('broken 5521')\n")
    lines = Lines()

    assert not check_submission(challenge, submission, folds=2, echo=lines)
    assert "FAILED in CV fold 0: exception" in lines.text
    assert "RuntimeError: broken 5521" in lines.text
    assert "Traceback (most recent call last)" in lines.text


def test_a_folder_without_estimator_fails_before_running_anything(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path)
    submission = tmp_path / "submissions" / "dave"
    submission.mkdir(parents=True)
    lines = Lines()

    assert not check_submission(challenge, submission, echo=lines)
    assert "estimator.py" in lines.text and "get_estimator()" in lines.text
    assert not any(line.startswith("CV fold") for line in lines)


@pytest.mark.slow
def test_default_five_folds(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path)
    lines = Lines()

    assert check_submission(challenge, make_submission(tmp_path, GOOD_ESTIMATOR), echo=lines), lines.text
    assert sum(line.startswith("CV fold") for line in lines) == 5


# --------------------------------------------------------------------------
# predictions challenges
# --------------------------------------------------------------------------


def _predictions_folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "submissions" / "erin"
    folder.mkdir(parents=True)
    (folder / "predictions.csv").write_text(text, encoding="utf-8")
    return folder


def _test_ids(challenge: Challenge) -> list[str]:
    return pd.read_csv(challenge.test_path, dtype={ID: str})[ID].tolist()


def test_a_valid_predictions_file_passes(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path, kind="predictions")
    text = f"{ID},{TARGET}\n" + "".join(f"{identifier},0.5\n" for identifier in _test_ids(challenge))
    lines = Lines()

    assert check_submission(challenge, _predictions_folder(tmp_path, text), echo=lines), lines.text
    assert f"{len(_test_ids(challenge))} test ids" in lines.text


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda ids: f"Id,{TARGET}\n" + "".join(f"{i},0.5\n" for i in ids), "header"),
        (lambda ids: f"{ID},{TARGET}\n" + "".join(f"{i},0.5\n" for i in ids + ids[:1]), "duplicate"),
        (lambda ids: f"{ID},{TARGET}\n" + "".join(f"{i},0.5\n" for i in ids[1:]), "no prediction"),
        (lambda ids: f"{ID},{TARGET}\n" + "".join(f"{i},inf\n" for i in ids), "finite"),
    ],
    ids=["header", "duplicate", "missing-id", "not-finite"],
)
def test_a_broken_predictions_file_fails_with_the_reason(tmp_path: Path, mutate, reason: str) -> None:
    challenge = make_challenge(tmp_path, kind="predictions")
    lines = Lines()

    assert not check_submission(challenge, _predictions_folder(tmp_path, mutate(_test_ids(challenge))), echo=lines)
    assert "FAILED" in lines.text and reason in lines.text
