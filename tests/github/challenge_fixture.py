"""Small challenges for the pipeline tests, with canary labels and a fresh age key.

The solution's target values are odd numbers like ``7301.58317``: if one of
them ever shows up in a log, a comment, an artifact or a page, a label has
leaked. The identity is likewise a canary for the secret.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from site_builder.private import encrypt_bytes, generate_identity

TEST_IDS = [f"t{index:02d}" for index in range(12)]
TRAIN_ROWS = 16


def canary_label(index: int) -> str:
    """A label value that appears nowhere else (never a round number)."""
    return f"{7301 + 37 * index}.{58317 + 1931 * index:05d}"


@dataclass(frozen=True)
class ChallengeFiles:
    slug: str
    identity: str
    recipient: str
    labels: dict[str, str]  # id → target, the private answer key
    solution_lines: list[str]
    end: str = "2026-12-31T23:59:00Z"

    def predictions(self, offset: float = 1.0, private_offset: float | None = None) -> bytes:
        """A valid predictions file: every label moved by ``offset`` (private rows by ``private_offset``)."""
        moved = [offset if index % 2 == 0 or private_offset is None else private_offset for index in range(len(self.labels))]
        rows = [f"{identifier},{float(value) + shift:.3f}" for (identifier, value), shift in zip(self.labels.items(), moved)]
        return ("id,price\n" + "\n".join(rows) + "\n").encode()


def write_challenge(root: Path, slug: str = "houses", *, kind: str = "predictions", per_day: int = 5, end: str = "2026-12-31T23:59:00Z") -> ChallengeFiles:
    """challenges/<slug>/ with challenge.yaml, public train/test CSV and the encrypted solution."""
    identity, recipient = generate_identity()
    directory = root / "challenges" / slug
    (directory / "data").mkdir(parents=True)
    (directory / "private").mkdir()
    (directory / "challenge.yaml").write_text(
        textwrap.dedent(
            f"""\
            title: House prices ({slug})
            kind: {kind}
            id_column: id
            target: price
            metrics: [rmse, mae]
            summary: Predict the price of a house from its size.
            data:
              train: data/train.csv
              test: data/test.csv
              solution: private/solution.csv.age
            schedule:
              start: 2026-11-01T00:00:00Z
              end: {end}
            limits:
              per_day: {per_day}
              predictions_mb: 1
              time_seconds: 60
            """
        ),
        encoding="utf-8",
    )
    (directory / "README.md").write_text(f"# House prices\n\nThe {slug} test challenge.\n", encoding="utf-8")
    train = ["id,size,price"] + [f"r{i:02d},{50 + i},{1000 + 20 * i}" for i in range(TRAIN_ROWS)]
    (directory / "data" / "train.csv").write_text("\n".join(train) + "\n", encoding="utf-8")
    (directory / "data" / "test.csv").write_text("id,size\n" + "".join(f"{t},{60 + i}\n" for i, t in enumerate(TEST_IDS)), encoding="utf-8")
    labels = {identifier: canary_label(index) for index, identifier in enumerate(TEST_IDS)}
    solution_lines = [f"{identifier},{value},{'public' if index % 2 == 0 else 'private'}" for index, (identifier, value) in enumerate(labels.items())]
    plaintext = ("id,price,split\n" + "\n".join(solution_lines) + "\n").encode()
    (directory / "private" / "solution.csv.age").write_bytes(encrypt_bytes(plaintext, recipient))
    (directory / "recipient.txt").write_text(recipient + "\n", encoding="utf-8")
    return ChallengeFiles(slug, identity, recipient, labels, solution_lines, end)


def score_canaries(value: float) -> set[str]:
    """The ways a score could be printed: the site's three decimals, more, and Python's repr.

    None of them can hide in sealed text (base64 has no '.'), so finding one
    anywhere public means a private score leaked.
    """
    return {f"{value:.{digits}f}" for digits in range(3, 9)} | {repr(value)}


ESTIMATOR = '''\
from sklearn.linear_model import LinearRegression


def get_estimator():
    return LinearRegression()
'''

FAILING_ESTIMATOR = '''\
class Broken:
    def fit(self, X, y):
        raise RuntimeError("this estimator is broken on purpose")

    def predict(self, X):
        return X


def get_estimator():
    return Broken()
'''
