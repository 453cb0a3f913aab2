"""Shared fixtures: small real challenge folders with fresh age keys."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from site_builder.private import encrypt_bytes, generate_identity
from site_builder.spec import Challenge, load_challenge

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@dataclass
class ChallengeFixture:
    root: Path
    challenge: Challenge
    identity: str
    recipient: str
    solution: pd.DataFrame  # the plaintext answer key, for computing expected scores

    @property
    def directory(self) -> Path:
        return self.challenge.directory

    def submission_dir(self, login: str) -> Path:
        folder = self.root / "submissions" / self.challenge.slug / login
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def write_challenge(
    root: Path,
    slug: str,
    spec_yaml: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    solution: pd.DataFrame,
) -> tuple[Challenge, str, str]:
    identity, recipient = generate_identity()
    directory = root / "challenges" / slug
    (directory / "data").mkdir(parents=True)
    (directory / "private").mkdir()
    (directory / "challenge.yaml").write_text(textwrap.dedent(spec_yaml), encoding="utf-8")
    (directory / "README.md").write_text(f"# {slug}\n\nA test challenge.\n", encoding="utf-8")
    train.to_csv(directory / "data" / "train.csv", index=False)
    test.to_csv(directory / "data" / "test.csv", index=False)
    (directory / "private" / "solution.csv.age").write_bytes(
        encrypt_bytes(solution.to_csv(index=False).encode(), recipient)
    )
    (directory / "recipient.txt").write_text(recipient + "\n", encoding="utf-8")
    return load_challenge(directory), identity, recipient


def _split(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.5, "public", "private")


@pytest.fixture
def binary_challenge(tmp_path: Path) -> ChallengeFixture:
    """Breast cancer subset: mixed numeric + categorical columns with gaps, labels as words."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, [0, 1, 2, 3, 4, 5]].copy()
    frame.columns = ["radius", "texture", "perimeter", "area", "smoothness", "compactness"]
    rng = np.random.default_rng(0)
    frame["clinic"] = rng.choice(["north", "south", "east"], size=len(frame))
    frame.loc[rng.random(len(frame)) < 0.05, "texture"] = np.nan
    frame.loc[rng.random(len(frame)) < 0.05, "clinic"] = np.nan
    frame["diagnosis"] = np.where(data.target == 0, "malignant", "benign")
    frame.insert(0, "id", [f"p{index:04d}" for index in range(len(frame))])
    train = frame.iloc[:300].reset_index(drop=True)
    holdout = frame.iloc[300:].reset_index(drop=True)
    test = holdout.drop(columns=["diagnosis"])
    solution = holdout[["id", "diagnosis"]].assign(split=_split(len(holdout), 1))
    spec = """\
        title: Tumour diagnosis
        summary: Tell malignant from benign.
        kind: code
        id_column: id
        target: diagnosis
        prediction: proba
        positive_class: malignant
        metrics: [roc_auc, accuracy, log_loss]
        data:
          train: data/train.csv
          test: data/test.csv
          solution: private/solution.csv.age
        schedule:
          start: 2026-11-01T00:00:00Z
          end: 2026-12-31T00:00:00Z
        limits:
          time_seconds: 60
          memory_mb: 2048
        """
    challenge, identity, recipient = write_challenge(tmp_path, "tumour", spec, train, test, solution)
    return ChallengeFixture(tmp_path, challenge, identity, recipient, solution)


@pytest.fixture
def regression_challenge(tmp_path: Path) -> ChallengeFixture:
    """Diabetes subset as a predictions challenge scored by RMSE."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True)
    frame = data.frame.copy().rename(columns={"target": "progression"})
    frame.insert(0, "id", range(1000, 1000 + len(frame)))
    train = frame.iloc[:300].reset_index(drop=True)
    holdout = frame.iloc[300:].reset_index(drop=True)
    test = holdout.drop(columns=["progression"])
    solution = holdout[["id", "progression"]].assign(split=_split(len(holdout), 2))
    spec = """\
        title: Disease progression
        kind: predictions
        id_column: id
        target: progression
        metrics: [rmse, mae, r2]
        data:
          train: data/train.csv
          test: data/test.csv
          solution: private/solution.csv.age
        schedule:
          end: 2026-12-01T00:00:00Z
        """
    challenge, identity, recipient = write_challenge(tmp_path, "progression", spec, train, test, solution)
    return ChallengeFixture(tmp_path, challenge, identity, recipient, solution)
