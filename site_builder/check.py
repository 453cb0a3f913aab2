"""``site-builder check SUBMISSION_DIR``: a participant's local test, no private data.

For a ``code`` challenge it does what ``ramp-test`` does: a seeded K-fold
cross-validation of the public train data, each fold fitted and predicted
by the same harness, under the same limits and isolation as the real run,
then every metric of the challenge on the train and validation parts. A
submission that passes here fails on the server only because of the data.

For a ``predictions`` challenge it parses ``predictions.csv`` as the scorer
will (header, ids, duplicates, values) against the public test inputs.
"""

from __future__ import annotations

import statistics
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from site_builder.errors import PredictionsError, SubmissionError
from site_builder.metrics import get_metric
from site_builder.predictions import Predictions, read_predictions
from site_builder.run import (
    PREDICTIONS_FILENAME,
    PredictTask,
    RunResult,
    SandboxLimits,
    check_structure,
    sandbox_run,
)
from site_builder.score import Solution, score_splits, test_ids
from site_builder.spec import Challenge

Echo = Callable[[str], Any]
PARTS = ("train", "valid")


@dataclass
class FoldScores:
    """Scores and times of one fold; a score is ``None`` where the metric is undefined."""

    scores: dict[str, dict[str, float | None]] = field(default_factory=dict)  # part -> metric -> score
    seconds: dict[str, float | None] = field(default_factory=dict)  # part -> fit (train) or predict (valid)


def check_submission(
    challenge: Challenge, submission_dir: Path, *, folds: int = 5, seed: int = 0, echo: Echo = print
) -> bool:
    """Check a submission locally; print what happened and return whether it passed."""
    submission_dir = Path(submission_dir)
    echo(f"Checking {submission_dir} for challenge {challenge.slug!r} ({challenge.spec.title})")
    try:
        check_structure(challenge, submission_dir)
        if challenge.spec.kind == "predictions":
            return _check_predictions_file(challenge, submission_dir, echo)
        return _check_code(challenge, submission_dir, folds=folds, seed=seed, echo=echo)
    except SubmissionError as error:
        echo(f"FAILED: {error}")
        return False


# --------------------------------------------------------------------------
# predictions challenges
# --------------------------------------------------------------------------


def _check_predictions_file(challenge: Challenge, submission_dir: Path, echo: Echo) -> bool:
    path = submission_dir / PREDICTIONS_FILENAME
    try:
        predictions = read_predictions(path, challenge, test_ids(challenge), name=str(path))
    except PredictionsError as error:
        echo(f"FAILED: {error}")
        return False
    echo(f"OK: {path} has the header {','.join(challenge.prediction_columns())} and a valid prediction for each "
         f"of the {len(predictions.ids)} test ids.")
    return True


# --------------------------------------------------------------------------
# code challenges: K-fold cross-validation in the sandbox
# --------------------------------------------------------------------------


def _read_train_text(challenge: Challenge) -> Any:
    """The public train data with every cell as written, so fold files reproduce it exactly."""
    import pandas as pd

    return pd.read_csv(challenge.train_path, dtype=str, keep_default_na=False, na_filter=False)


def _splitter(challenge: Challenge, folds: int, seed: int) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    if challenge.spec.is_classification:
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def _fold_indices(challenge: Challenge, frame: Any, folds: int, seed: int) -> list[tuple[Any, Any]]:
    target = frame[challenge.spec.target]
    with warnings.catch_warnings():
        # "The least populated class has only N members": fine for a smoke test.
        warnings.simplefilter("ignore")
        return list(_splitter(challenge, folds, seed).split(frame, target))


def _truth(challenge: Challenge, frame: Any) -> Solution:
    """The fold part's targets in the form the metrics expect, as a one-split solution."""
    import pandas as pd

    spec = challenge.spec
    targets: Any = frame[spec.target].to_numpy(dtype=object)
    if spec.prediction_kind == "value":
        targets = pd.to_numeric(frame[spec.target], errors="raise").to_numpy(dtype=float)
    return Solution(ids=frame[spec.id_column].tolist(), targets=targets, splits=["public"] * len(frame))


def _score(challenge: Challenge, predictions: Predictions, frame: Any) -> dict[str, float | None]:
    return score_splits(challenge, predictions, _truth(challenge, frame)).get("public", {})


def _run_fold(
    challenge: Challenge, submission_dir: Path, train: Any, valid: Any, limits: SandboxLimits
) -> tuple[RunResult, FoldScores | None]:
    """Fit on the fold's train part and predict both parts, in the sandbox."""
    with tempfile.TemporaryDirectory(prefix="site-builder-check-") as folder:
        train_path, valid_path = Path(folder) / "train.csv", Path(folder) / "valid.csv"
        train.to_csv(train_path, index=False)
        valid.drop(columns=[challenge.spec.target]).to_csv(valid_path, index=False)
        outcome = sandbox_run(
            challenge,
            submission_dir,
            train=train_path,
            tasks=[PredictTask("train", train_path), PredictTask("valid", valid_path)],
            limits=limits,
        )
    if outcome.result.status != "ok":
        return outcome.result, None
    fold = FoldScores(
        scores={"train": _score(challenge, outcome.predictions["train"], train),
                "valid": _score(challenge, outcome.predictions["valid"], valid)},
        seconds={"train": outcome.result.fit_seconds, "valid": outcome.predict_seconds_by_input.get("valid")},
    )
    return outcome.result, fold


def _check_code(challenge: Challenge, submission_dir: Path, *, folds: int, seed: int, echo: Echo) -> bool:
    frame = _read_train_text(challenge)
    folds = min(folds, len(frame))
    if folds < 2:
        echo("FAILED: the public train data has fewer than 2 rows; cross-validation needs at least 2 folds")
        return False
    limits = SandboxLimits.for_challenge(challenge)
    echo(f"Reading {challenge.train_path.name}: {len(frame)} rows; {folds}-fold cross-validation (seed {seed}), "
         f"limits {limits.time_seconds} s and {limits.memory_mb} MiB per fold")
    results: list[FoldScores] = []
    for number, (train_rows, valid_rows) in enumerate(_fold_indices(challenge, frame, folds, seed)):
        train, valid = frame.iloc[train_rows], frame.iloc[valid_rows]
        result, fold = _run_fold(challenge, submission_dir, train, valid, limits)
        if number == 0:
            echo(f"Sandbox: {', '.join(result.isolation)}")
        if fold is None:
            _echo_failure(number, result, echo)
            return False
        echo(f"CV fold {number}")
        _echo_table(challenge, [(part, fold.scores[part], fold.seconds[part]) for part in PARTS], echo)
        results.append(fold)
    _echo_summary(challenge, results, echo)
    echo("OK: the submission runs under the challenge's limits.")
    return True


# --------------------------------------------------------------------------
# Printing, after ramp-test
# --------------------------------------------------------------------------


def _format_score(name: str, value: float | None) -> str:
    return get_metric(name).format(value)


def _echo_table(challenge: Challenge, rows: Sequence[tuple[str, dict[str, Any], Any]], echo: Echo) -> None:
    """``score | metric... | time`` rows; cells are preformatted strings or numbers."""
    names = challenge.spec.metrics
    cells = [
        [part, *(_cell(name, scores.get(name)) for name in names), _time_cell(seconds)]
        for part, scores, seconds in rows
    ]
    header = ["score", *names, "time"]
    widths = [max(len(header[i]), *(len(row[i]) for row in cells)) for i in range(len(header))]
    echo("\t" + "  ".join(text.rjust(width) for text, width in zip(header, widths)))
    for row in cells:
        echo("\t" + "  ".join(text.rjust(width) for text, width in zip(row, widths)))


def _cell(name: str, value: Any) -> str:
    return value if isinstance(value, str) else _format_score(name, value)


def _time_cell(seconds: Any) -> str:
    if isinstance(seconds, str):
        return seconds
    return "–" if seconds is None else f"{seconds:.2f}"


def _mean_std(values: Sequence[float | None], formatter: Callable[[float | None], str]) -> str:
    present = [value for value in values if value is not None]
    if not present:
        return "–"
    spread = statistics.pstdev(present) if len(present) > 1 else 0.0
    return f"{formatter(statistics.fmean(present))} ± {formatter(spread)}"


def _echo_summary(challenge: Challenge, results: Sequence[FoldScores], echo: Echo) -> None:
    echo("-" * 28)
    echo("Mean CV scores")
    echo("-" * 28)
    rows = []
    for part in PARTS:
        scores = {
            name: _mean_std([fold.scores[part].get(name) for fold in results], get_metric(name).format)
            for name in challenge.spec.metrics
        }
        seconds = _mean_std([fold.seconds[part] for fold in results], lambda value: _time_cell(value))
        rows.append((part, scores, seconds))
    _echo_table(challenge, rows, echo)


def _echo_failure(number: int, result: RunResult, echo: Echo) -> None:
    error = result.error or {}
    echo(f"FAILED in CV fold {number}: {error.get('class', 'error')}: {error.get('message', '')}")
    if error.get("traceback"):
        echo(error["traceback"].rstrip())
    if result.output.strip():
        echo("Output of the run:")
        echo(result.output.rstrip())
