"""Scoring at scale: a regression challenge with N test rows, predictions, and the floor.

The floor is what scoring cannot avoid: ``pandas.read_csv`` of the
predictions and of the (plaintext) solution, then the same sklearn metric
calls on the public and on the private rows, in one process. Scoring proper
also decrypts the solution and checks the predictions strictly.
"""

from __future__ import annotations

import random
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = ("rmse", "mae", "r2")

SPEC = """\
title: Scoring benchmark
kind: predictions
id_column: id
target: value
prediction: value
metrics: [rmse, mae, r2]
data:
  train: data/train.csv
  test: data/test.csv
  solution: private/solution.csv.age
schedule:
  start: 2026-10-01T00:00:00Z
  end: 2026-11-01T00:00:00Z
"""


@dataclass(frozen=True)
class ScoringCase:
    """A challenge folder with ``rows`` test rows, its key, and the plaintext solution for the floor."""

    directory: Path
    identity: str
    solution_csv: Path
    rows: int


def make_case(folder: Path, rows: int, *, seed: int = 0) -> ScoringCase:
    """Write the challenge (train, test, encrypted solution) and a plaintext copy of the solution."""
    from site_builder.private import encrypt_bytes, generate_identity

    rng = random.Random(seed)
    directory = folder / "challenges" / "scoring"
    (directory / "data").mkdir(parents=True, exist_ok=True)
    (directory / "private").mkdir(exist_ok=True)
    identity, recipient = generate_identity()
    (directory / "challenge.yaml").write_text(SPEC, encoding="utf-8")
    (directory / "recipient.txt").write_text(recipient + "\n", encoding="utf-8")
    (directory / "data" / "train.csv").write_text(
        "id,x,value\n" + "".join(f"r{i},{i % 7},{i * 0.5}\n" for i in range(100)), encoding="utf-8"
    )
    ids = [f"t{i:07d}" for i in range(rows)]
    (directory / "data" / "test.csv").write_text("id,x\n" + "".join(f"{i},{n % 7}\n" for n, i in enumerate(ids)), encoding="utf-8")
    lines = ["id,value,split"] + [f"{i},{rng.gauss(100, 15):.6f},{'public' if n % 3 else 'private'}" for n, i in enumerate(ids)]
    plaintext = ("\n".join(lines) + "\n").encode("utf-8")
    (directory / "private" / "solution.csv.age").write_bytes(encrypt_bytes(plaintext, recipient))
    solution_csv = folder / "solution.csv"
    solution_csv.write_bytes(plaintext)
    return ScoringCase(directory, identity, solution_csv, rows)


def write_predictions(case: ScoringCase, path: Path, *, seed: int) -> Path:
    """One participant's predictions: every test id, in test order, a noisy value each.

    Values are written at full precision, as ``DataFrame.to_csv`` (and so the
    run harness) writes them: up to 17 significant digits.
    """
    rng = random.Random(seed)
    lines = ["id,value"] + [f"t{i:07d},{rng.gauss(100, 20)!r}" for i in range(case.rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def floor_scores(predictions: Path, solution_csv: Path) -> dict[str, dict[str, float]]:
    """The floor: read both files with pandas, call the sklearn metrics per split."""
    import pandas as pd
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    predicted = pd.read_csv(predictions)
    solution = pd.read_csv(solution_csv)
    scores: dict[str, dict[str, float]] = {}
    for split in ("public", "private"):
        rows = (solution["split"] == split).to_numpy()
        truth, guess = solution["value"].to_numpy()[rows], predicted["value"].to_numpy()[rows]
        scores[split] = {
            "rmse": float(root_mean_squared_error(truth, guess)),
            "mae": float(mean_absolute_error(truth, guess)),
            "r2": float(r2_score(truth, guess)),
        }
    return scores


def site_builder_scores(case: ScoringCase, predictions: Path) -> dict[str, dict[str, float | None]]:
    """What ``site-builder score`` does: decrypt and parse the solution, read the predictions strictly, score."""
    from site_builder.private import decrypt_file
    from site_builder.score import parse_solution, score_file
    from site_builder.spec import load_challenge

    challenge = load_challenge(case.directory)
    solution = parse_solution(decrypt_file(challenge.solution_path, case.identity), challenge)
    return score_file(challenge, predictions, solution)


def rescore_all(case: ScoringCase, predictions: Sequence[Path]) -> list[dict[str, dict[str, float | None]]]:
    """Every recorded submission scored again in one process: the solution is decrypted once."""
    from site_builder.private import decrypt_file
    from site_builder.score import parse_solution, score_file
    from site_builder.spec import load_challenge

    challenge = load_challenge(case.directory)
    solution = parse_solution(decrypt_file(challenge.solution_path, case.identity), challenge)
    return [score_file(challenge, path, solution) for path in predictions]


def best_time(action: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The fastest of ``repeats`` runs (the least disturbed by other load), and its result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_growth_mb(action: Callable[[], Any]) -> float:
    """How far resident memory peaks above where it was, while ``action`` runs once more.

    ``action`` runs once first, so what happens once per process (lazy
    imports, compiled patterns, allocator arenas) is not counted; then freed
    memory goes back to the system and Linux's peak counter is reset, so the
    peak is that of one scoring. Elsewhere: the growth of the process peak
    over the first run, an upper bound.
    """
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    action()
    first = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # Linux reports KiB
    try:
        baseline = _reset_peak()
    except OSError:
        return first
    action()
    return (_status_kib("VmHWM") - baseline) / 1024


def _reset_peak() -> int:
    """Return freed memory to the system, reset the peak, and give the resident size (KiB)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux 4.0 and later)
    return _status_kib("VmRSS")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _memory_main(arguments: Sequence[str]) -> None:
    """``python -m benchmarks.scoring MODE CHALLENGE_DIR SOLUTION_CSV PREDICTIONS``: peak growth in MB, printed.

    The key comes from SITE_BUILDER_AGE_KEY. Run in a fresh process, so the
    peak belongs to this one scoring and the imports are done before it.
    """
    import os

    import pandas  # noqa: F401  (imported before the measurement, as the pipeline has)
    import sklearn.metrics  # noqa: F401

    import site_builder.score  # noqa: F401

    mode, directory, solution_csv, predictions = arguments
    case = ScoringCase(Path(directory), os.environ["SITE_BUILDER_AGE_KEY"], Path(solution_csv), 0)
    if mode == "floor":
        growth = peak_growth_mb(lambda: floor_scores(Path(predictions), case.solution_csv))
    else:
        growth = peak_growth_mb(lambda: site_builder_scores(case, Path(predictions)))
    print(f"{growth:.1f}")


if __name__ == "__main__":
    import sys

    _memory_main(sys.argv[1:])
