"""Small real fixtures for the run and check tests: a challenge folder and submissions.

Kept out of ``conftest.py`` (owned elsewhere); tests import it by name.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from site_builder.spec import Challenge, load_challenge

ID, TARGET = "id", "label"

GOOD_ESTIMATOR = """
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def get_estimator():
    columns = ColumnTransformer(
        [
            ("numbers", StandardScaler(), ["x1", "x2"]),
            ("colour", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
        ]
    )
    return Pipeline([("columns", columns), ("model", LogisticRegression(C=0.7, max_iter=500))])
"""

REGRESSION_ESTIMATOR = """
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def get_estimator():
    columns = ColumnTransformer(
        [("numbers", "passthrough", ["x1", "x2"]), ("colour", OneHotEncoder(), ["colour"])]
    )
    return Pipeline([("columns", columns), ("model", Ridge(alpha=0.3))])
"""


def load_estimator(code: str):
    """``get_estimator()`` of an estimator source, defined in this process (the reference)."""
    namespace: dict = {}
    exec(compile(textwrap.dedent(code), "estimator.py", "exec"), namespace)
    return namespace["get_estimator"]()


def make_frames(
    rows: int = 120, seed: int = 0, *, classes: tuple[str, ...] = ("no", "yes")
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (with target) and test (without) frames of a learnable toy problem.

    ``classes=()`` makes it a regression: the target is the noisy score itself.
    """
    rng = np.random.default_rng(seed)
    total = rows + rows // 3
    x1 = rng.normal(size=total)
    x2 = rng.normal(size=total)
    colour = rng.choice(["red", "green", "blue"], size=total)
    score = x1 - 0.5 * x2 + (colour == "red") + rng.normal(scale=0.5, size=total)
    if classes:
        bins = np.quantile(score, np.linspace(0, 1, len(classes) + 1)[1:-1])
        label = np.asarray(classes, dtype=object)[np.digitize(score, bins)]
    else:
        label = score
    frame = pd.DataFrame(
        {ID: [f"r{index:04d}" for index in range(total)], "x1": x1, "x2": x2, "colour": colour, TARGET: label}
    )
    return frame.iloc[:rows].reset_index(drop=True), frame.iloc[rows:].drop(columns=[TARGET]).reset_index(drop=True)


def make_challenge(
    tmp_path: Path,
    *,
    kind: str = "code",
    metrics: tuple[str, ...] = ("roc_auc", "accuracy"),
    classes: tuple[str, ...] = ("no", "yes"),
    time_seconds: int = 60,
    memory_mb: int = 2048,
    output_kb: int = 16,
    slug: str = "toy",
    extra: str = "",
) -> Challenge:
    """Write a tiny challenge folder (spec, public CSVs, dummy encrypted solution) and load it."""
    directory = tmp_path / "challenges" / slug
    (directory / "data").mkdir(parents=True)
    (directory / "private").mkdir()
    train, test = make_frames(classes=classes)
    train.to_csv(directory / "data" / "train.csv", index=False)
    test.to_csv(directory / "data" / "test.csv", index=False)
    # The run stage never opens the solution; its content is irrelevant here.
    (directory / "private" / "solution.csv.age").write_bytes(b"age-encryption.org/v1 placeholder\n")
    metric_list = ", ".join(metrics)
    (directory / "challenge.yaml").write_text(
        textwrap.dedent(
            f"""\
            title: Toy challenge
            kind: {kind}
            id_column: {ID}
            target: {TARGET}
            metrics: [{metric_list}]
            data:
              train: data/train.csv
              test: data/test.csv
              solution: private/solution.csv.age
            schedule:
              end: 2030-01-01T00:00:00Z
            limits:
              time_seconds: {time_seconds}
              memory_mb: {memory_mb}
              output_kb: {output_kb}
            """
        )
        + extra,
        encoding="utf-8",
    )
    return load_challenge(directory)


def make_submission(tmp_path: Path, code: str, *, name: str = "alice", files: dict[str, str] | None = None) -> Path:
    """A submission folder holding ``estimator.py`` (dedented) and any extra files."""
    folder = tmp_path / "submissions" / name
    folder.mkdir(parents=True)
    (folder / "estimator.py").write_text(textwrap.dedent(code), encoding="utf-8")
    for relative, text in (files or {}).items():
        (folder / relative).write_text(text, encoding="utf-8")
    return folder


def estimator_with(body: str) -> str:
    """An ``estimator.py`` whose ``fit`` runs ``body`` and then fits a real model.

    Lets a test inject hostile behaviour at fit time while the rest of the
    contract (classes_, predict_proba) stays intact.
    """
    indented = textwrap.indent(textwrap.dedent(body), " " * 8)
    return (
        "from sklearn.base import BaseEstimator, ClassifierMixin\n"
        "from sklearn.dummy import DummyClassifier\n\n\n"
        "class Hostile(ClassifierMixin, BaseEstimator):\n"
        "    def fit(self, X, y):\n"
        f"{indented}\n"
        "        self.model_ = DummyClassifier(strategy='prior').fit(X, y)\n"
        "        self.classes_ = self.model_.classes_\n"
        "        return self\n\n"
        "    def predict_proba(self, X):\n"
        "        return self.model_.predict_proba(X)\n\n"
        "    def predict(self, X):\n"
        "        return self.model_.predict(X)\n\n\n"
        "def get_estimator():\n"
        "    return Hostile()\n"
    )
