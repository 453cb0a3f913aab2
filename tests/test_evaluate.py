"""evaluate: a RAMP-style code submission is run, scored and recorded like sklearn would."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from site_builder.cli import main

RAMP_ESTIMATOR = '''\
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def get_estimator():
    numeric = ["radius", "texture", "perimeter", "area", "smoothness", "compactness"]
    categorical = ["clinic"]
    preprocess = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), categorical),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("classifier", LogisticRegression(max_iter=1000))])
'''


def _evaluate(fixture, monkeypatch, *paths: str, now: str = "2026-11-20T12:00:00Z") -> int:
    monkeypatch.setenv("SITE_BUILDER_AGE_KEY", fixture.identity)
    return main(["evaluate", "--root", str(fixture.root), "--now", now, "--no-progress", *paths])


def _records(fixture) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((fixture.root / "results").glob("*/*.json"))]


def _expected_scores(fixture, estimator_source: str) -> dict[str, dict[str, float]]:
    """Fit the same pipeline in this process, as a participant would in a notebook."""
    namespace: dict = {}
    exec(estimator_source, namespace)
    train = pd.read_csv(fixture.challenge.train_path)
    test = pd.read_csv(fixture.challenge.test_path)
    model = namespace["get_estimator"]().fit(train.drop(columns=["id", "diagnosis"]), train["diagnosis"])
    proba = model.predict_proba(test.drop(columns=["id"]))[:, list(model.classes_).index("malignant")]
    truth = fixture.solution.set_index("id").loc[test["id"]]
    expected = {}
    for split in ("public", "private"):
        rows = (truth["split"] == split).to_numpy()
        y = truth["diagnosis"].to_numpy()[rows]
        p = proba[rows]
        expected[split] = {
            "roc_auc": skm.roc_auc_score(y == "malignant", p),
            "accuracy": skm.accuracy_score(y, np.where(p > 0.5, "malignant", "benign")),
            "log_loss": skm.log_loss(y, np.column_stack([1 - p, p]), labels=["benign", "malignant"]),
        }
    return expected


def test_ramp_estimator_scores_equal_sklearn(binary_challenge, monkeypatch, capsys) -> None:
    folder = binary_challenge.submission_dir("alice")
    (folder / "estimator.py").write_text(RAMP_ESTIMATOR)
    (folder / "submission.yaml").write_text("name: Alice A.\nteam: Tumour Hunters\n")
    assert _evaluate(binary_challenge, monkeypatch) == 0
    [record] = _records(binary_challenge)
    assert record["status"] == "scored", record["error"]
    expected = _expected_scores(binary_challenge, RAMP_ESTIMATOR)
    for split in ("public", "private"):
        for metric, value in expected[split].items():
            assert record["scores"][split][metric] == pytest.approx(value, abs=1e-9), (split, metric)
    assert record["display"] == {"name": "Alice A.", "team": "Tumour Hunters"}
    assert record["run"]["fit_seconds"] >= 0 and record["run"]["peak_memory_mb"] > 0
    output = capsys.readouterr().out
    assert "alice" in output and "scored" in output


def test_unchanged_submission_is_not_evaluated_again(binary_challenge, monkeypatch, capsys) -> None:
    (binary_challenge.submission_dir("alice") / "estimator.py").write_text(RAMP_ESTIMATOR)
    _evaluate(binary_challenge, monkeypatch)
    assert _evaluate(binary_challenge, monkeypatch, now="2026-11-21T12:00:00Z") == 0
    assert "unchanged" in capsys.readouterr().out
    assert len(_records(binary_challenge)) == 1


def test_failures_are_recorded_with_their_class(binary_challenge, monkeypatch) -> None:
    spec = binary_challenge.directory / "challenge.yaml"
    spec.write_text(spec.read_text().replace("time_seconds: 60", "time_seconds: 3").replace("memory_mb: 2048", "memory_mb: 600"))
    sources = {
        "raiser": "def get_estimator():\n    raise RuntimeError('my model is broken')\n",
        "sleeper": "import time\n\ndef get_estimator():\n    time.sleep(120)\n",
        "hog": "def get_estimator():\n    block = bytearray(8 * 1024 ** 3)\n    return block\n",
    }
    for login, source in sources.items():
        (binary_challenge.submission_dir(login) / "estimator.py").write_text(source)
    _evaluate(binary_challenge, monkeypatch)
    by_login = {r["participant"]: r for r in _records(binary_challenge)}
    assert {login: r["status"] for login, r in by_login.items()} == {login: "failed" for login in sources}
    assert by_login["raiser"]["error"]["class"] == "exception"
    assert by_login["raiser"]["error"]["traceback"].startswith("Traceback")
    assert "my model is broken" in by_login["raiser"]["error"]["traceback"]
    assert by_login["sleeper"]["error"]["class"] == "timeout"
    assert by_login["hog"]["error"]["class"] == "memory"


def test_predictions_submission_and_rank(regression_challenge, monkeypatch, capsys) -> None:
    test = pd.read_csv(regression_challenge.challenge.test_path)
    for login, offset in (("alice", 0.0), ("bob", 40.0)):
        predictions = pd.DataFrame({"id": test["id"], "progression": 150.0 + offset + 1000 * test["bmi"]})
        predictions.to_csv(regression_challenge.submission_dir(login) / "predictions.csv", index=False)
    assert _evaluate(regression_challenge, monkeypatch) == 0
    capsys.readouterr()
    assert main(["rank", "progression", "--root", str(regression_challenge.root), "--now", "2026-11-20T00:00:00Z", "--json"]) == 0
    board = json.loads(capsys.readouterr().out)
    assert [row["participant"] for row in board["public"]] == ["alice", "bob"]
    assert board["private"] is None
    assert main(["rank", "progression", "--root", str(regression_challenge.root), "--now", "2026-12-02T00:00:00Z"]) == 0
    text = capsys.readouterr().out
    assert "private board" in text and "move" in text


def test_bad_submission_folder_is_reported_not_recorded(regression_challenge, monkeypatch, capsys) -> None:
    regression_challenge.submission_dir("carol")  # empty folder: no predictions.csv
    assert _evaluate(regression_challenge, monkeypatch) == 1
    assert "has no predictions.csv" in capsys.readouterr().out
    assert _records(regression_challenge) == []
