"""Synthetic repositories: N challenges × M code submissions with their result records.

Everything is derived from a seed, so two runs build the same bytes. Each
participant submits a few times; each version of their ``estimator.py``
(about 200 lines) differs from the previous one in a handful of lines, so the
site has realistic diffs as well as realistic highlighted code. Records and
snapshots go through :func:`site_builder.record.build_record` and
:func:`site_builder.record.write_record`, exactly as the pipeline writes them.
"""

from __future__ import annotations

import contextlib
import random
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

from site_builder.record import build_record, hash_files, sha256_bytes, write_record

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
# The first challenge has ended (its private board shows); the others are open.
ENDED = datetime(2026, 11, 25, tzinfo=timezone.utc)
OPEN_UNTIL = datetime(2026, 12, 20, tzinfo=timezone.utc)
SUBMISSIONS_PER_PARTICIPANT = 5
REPOSITORY_URL = "https://github.com/example/hackathon"
FEATURE_COUNT = 12  # makes estimator.py about 200 lines

SPEC = """\
title: Synthetic challenge {index}
summary: Predict the churn of customer segment {index}.
kind: code
id_column: id
target: churn
prediction: proba
{classes}positive_class: leave
metrics: [roc_auc, accuracy, log_loss]
tags: [synthetic, binary]
data:
  train: data/train.csv
  test: data/test.csv
  solution: private/solution.csv.age
schedule:
  start: {start}
  end: {end}
"""

README = """\
# Synthetic challenge {index}

Predict whether a customer will **leave**. The training data is in
[train.csv](data/train.csv) and the inputs to predict in [test.csv](data/test.csv).

| column | meaning |
|--------|---------|
| tenure | months as a customer |
| plan   | basic or pro |
| spend  | monthly spend in euros |
"""


@dataclass(frozen=True)
class SyntheticRepository:
    """Where a generated repository lives and the clock to build it with."""

    root: Path
    results: Path
    identity: str
    challenges: tuple[str, ...]
    submissions: int
    now: datetime = NOW
    repository_url: str = REPOSITORY_URL


def challenge_slug(index: int) -> str:
    return f"challenge-{index:02d}"


def make_repository(
    base: Path, challenges: int, submissions_per_challenge: int, *, seed: int = 0, rows: int = 200, declare_classes: bool = True
) -> SyntheticRepository:
    """Write ``challenges`` challenges with ``submissions_per_challenge`` records each under ``base``.

    ``rows`` rows of training and test data each; without ``declare_classes`` the
    specs leave the classes to be read from the training data.
    """
    from site_builder.private import generate_identity

    root = Path(base)
    results = root / "results"
    identity, recipient = generate_identity()
    slugs = tuple(challenge_slug(index) for index in range(challenges))
    with _without_fsync():
        for index, slug in enumerate(slugs):
            write_challenge(root, slug, index, recipient, rows=rows, seed=seed, declare_classes=declare_classes)
            for number in range(submissions_per_challenge):
                write_submission(results, slug, number, seed=seed)
    return SyntheticRepository(root, results, identity, slugs, challenges * submissions_per_challenge)


def add_submission(repository: SyntheticRepository, slug: str, *, seed: int = 0) -> str:
    """One more submission to ``slug`` (the next number, from a new participant every fifth); its site path."""
    folder = repository.results / slug
    number = sum(1 for _ in folder.glob("*.json"))
    with _without_fsync():
        write_submission(repository.results, slug, number, seed=seed)
    participant = participant_login(number)
    return f"challenges/{slug}/submissions/{participant}/v{number % SUBMISSIONS_PER_PARTICIPANT}-{number:05d}.html"


@contextlib.contextmanager
def _without_fsync() -> Iterator[None]:
    """``write_record`` flushes every file to disk, as the pipeline must; throwaway data need not wait for it."""
    with mock.patch("os.fsync"):
        yield


def write_challenge(
    root: Path, slug: str, index: int, recipient: str, *, rows: int = 200, seed: int = 0, declare_classes: bool = True
) -> None:
    """A small code challenge: public train and test data, the encrypted solution."""
    from site_builder.private import encrypt_bytes

    rng = random.Random(f"{seed}-{slug}")
    folder = root / "challenges" / slug
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "private").mkdir(exist_ok=True)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    end = ENDED if index == 0 else OPEN_UNTIL
    classes = "classes: [stay, leave]\n" if declare_classes else ""  # else read from the training data
    spec = SPEC.format(index=index, start=START.strftime(stamp), end=end.strftime(stamp), classes=classes)
    (folder / "challenge.yaml").write_text(spec, encoding="utf-8")
    (folder / "README.md").write_text(README.format(index=index), encoding="utf-8")
    (folder / "recipient.txt").write_text(recipient + "\n", encoding="utf-8")
    train = ["id,tenure,plan,spend,churn"] + [_customer(rng, f"c{i}") + f",{rng.choice(['stay', 'leave'])}" for i in range(rows)]
    test = ["id,tenure,plan,spend"] + [_customer(rng, f"t{i}") for i in range(rows)]
    solution = ["id,churn,split"] + [f"t{i},{rng.choice(['stay', 'leave'])},{'public' if i % 2 else 'private'}" for i in range(rows)]
    (folder / "data" / "train.csv").write_text("\n".join(train) + "\n", encoding="utf-8")
    (folder / "data" / "test.csv").write_text("\n".join(test) + "\n", encoding="utf-8")
    encrypted = encrypt_bytes(("\n".join(solution) + "\n").encode("utf-8"), recipient)
    (folder / "private" / "solution.csv.age").write_bytes(encrypted)


def _customer(rng: random.Random, identifier: str) -> str:
    return f"{identifier},{rng.randint(1, 72)},{rng.choice(['basic', 'pro'])},{rng.uniform(5, 120):.2f}"


def participant_login(number: int) -> str:
    return f"student-{number // SUBMISSIONS_PER_PARTICIPANT:04d}"


def write_submission(results: Path, slug: str, number: int, *, seed: int = 0) -> None:
    """The ``number``-th submission of a challenge: its record and its file snapshot.

    Submission ``number`` is version ``number % 5`` of participant
    ``number // 5``, submitted in order over the challenge's schedule.
    """
    participant = participant_login(number)
    version = number % SUBMISSIONS_PER_PARTICIPANT
    rng = random.Random(f"{seed}-{slug}-{number}")
    files = {"estimator.py": estimator_source(f"{seed}-{slug}-{participant}", version).encode("utf-8")}
    if version == 0:
        files["README.md"] = f"# {participant}'s approach\n\nGradient boosting on tenure, plan and spend.\n".encode()
    submitted = START + timedelta(minutes=7 * number + rng.randint(0, 6))
    public, private = rng.uniform(0.6, 0.95), rng.uniform(0.6, 0.95)
    failed = rng.random() < 0.03
    record = build_record(
        challenge=slug,
        participant=participant,
        submission_id=f"v{version}-{number:05d}",
        status="failed" if failed else "scored",
        scores=None if failed else {
            "public": {"roc_auc": public, "accuracy": public - 0.1, "log_loss": 1 - public},
            "private": {"roc_auc": private, "accuracy": private - 0.1, "log_loss": 1 - private},
        },
        run={"fit_seconds": rng.uniform(0.1, 30), "predict_seconds": rng.uniform(0.01, 2), "peak_memory_mb": rng.uniform(100, 900)},
        error={"class": "exception", "message": "ValueError: bad input", "traceback": "Traceback (most recent call last):\nValueError: bad input\n"} if failed else None,
        submitted_at=submitted,
        scored_at=submitted + timedelta(minutes=2),
        hashes={"code": hash_files(files)},
        files=[{"name": name, "size": len(data), "sha256": sha256_bytes(data)} for name, data in sorted(files.items())],
        commit=f"{rng.getrandbits(160):040x}",
        pull_request=number + 1,
        display={"name": f"Student {participant[-4:]}"},
    )
    record["tool_version"] = "benchmark"  # so the bytes do not depend on the installed version
    write_record(results, record, files)


def estimator_source(participant_seed: str, version: int) -> str:
    """About 200 lines of plausible scikit-learn code.

    The participant seed fixes the structure; the version changes a few
    hyperparameters, so consecutive versions differ in a handful of lines.
    """
    rng = random.Random(participant_seed)
    tweak = random.Random(f"{participant_seed}-{version}")
    parts = [_HEADER.format(author=participant_seed, version=version)]
    for index in range(FEATURE_COUNT):
        parts.append(_FEATURE.format(index=index, scale=rng.uniform(0.5, 3.0), shift=rng.randint(-9, 9), window=rng.randint(2, 12)))
    features = ", ".join(f"feature_{index}" for index in range(FEATURE_COUNT))
    parts.append(_TRANSFORMER.format(clip=rng.uniform(1, 5), features=features))
    parts.append(
        _ESTIMATOR.format(
            learning_rate=tweak.choice([0.01, 0.03, 0.05, 0.1]),
            max_iter=tweak.choice([100, 200, 300, 500]),
            max_depth=tweak.choice(["None", 3, 5, 8]),
            l2=round(tweak.uniform(0, 1), 3),
        )
    )
    return "".join(textwrap.dedent(part) for part in parts)


_HEADER = '''\
    """Churn model by {author}, version {version}.

    Feature engineering on tenure, plan and spend, then gradient boosting.
    """

    from __future__ import annotations

    import math

    import numpy as np
    import pandas as pd
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    NUMERIC = ["tenure", "spend"]
    CATEGORICAL = ["plan"]

'''

_FEATURE = '''\

    def feature_{index}(frame: pd.DataFrame) -> pd.Series:
        """Rolling ratio number {index}: spend against tenure, smoothed."""
        tenure = frame["tenure"].clip(lower=1)
        ratio = frame["spend"] / tenure * {scale:.3f} + {shift}
        # A window of {window} smooths the noise of short tenures.
        smoothed = ratio.rolling({window}, min_periods=1).mean()
        return smoothed.fillna(0.0).rename("feature_{index}")

'''

_TRANSFORMER = '''\

    class Features(BaseEstimator, TransformerMixin):
        """Adds the engineered features to the raw columns."""

        def __init__(self, clip: float = {clip:.2f}) -> None:
            self.clip = clip

        def fit(self, X: pd.DataFrame, y=None) -> "Features":
            self.columns_ = list(X.columns)
            return self

        def transform(self, X: pd.DataFrame) -> pd.DataFrame:
            extra = [feature(X) for feature in FEATURES]
            frame = pd.concat([X.reset_index(drop=True)] + [e.reset_index(drop=True) for e in extra], axis=1)
            numeric = frame.select_dtypes("number")
            frame[numeric.columns] = numeric.clip(-self.clip * 100, self.clip * 100)
            return frame


    FEATURES = [{features}]


    def preprocessing() -> ColumnTransformer:
        numeric = NUMERIC + [f"feature_{{index}}" for index in range(len(FEATURES))]
        return ColumnTransformer(
            [
                ("numeric", StandardScaler(), numeric),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ]
        )


    def entropy(probabilities: np.ndarray) -> float:
        """Mean binary entropy, to check the model is not over-confident."""
        p = np.clip(probabilities, 1e-9, 1 - 1e-9)
        return float(np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p))))


    def describe(frame: pd.DataFrame) -> str:
        lines = []
        for column in frame.columns:
            values = frame[column]
            if values.dtype.kind in "if":
                lines.append(f"{{column}}: mean {{values.mean():.3f}}, std {{values.std():.3f}}")
            else:
                lines.append(f"{{column}}: {{values.nunique()}} distinct values")
        return "\\n".join(lines)

'''

_ESTIMATOR = '''\

    def get_estimator():
        """The model the harness fits and scores."""
        model = HistGradientBoostingClassifier(
            learning_rate={learning_rate},
            max_iter={max_iter},
            max_depth={max_depth},
            l2_regularization={l2},
            early_stopping=True,
            validation_fraction=0.15,
            random_state=0,
        )
        return make_pipeline(Features(), preprocessing(), model)


    def sanity_check(frame: pd.DataFrame) -> None:
        """Run by hand: fit on a sample and print the entropy of the predictions."""
        sample = frame.sample(min(len(frame), 500), random_state=0)
        y = (sample.pop("churn") == "leave").astype(int)
        estimator = get_estimator().fit(sample, y)
        probabilities = estimator.predict_proba(sample)[:, 1]
        print(describe(sample))
        print(f"entropy {{entropy(probabilities):.4f}}, log {{math.log(len(sample)):.2f}}")
'''
