"""The local all-in-one: run (for code), score and record every new submission.

This is what the pipeline does on GitHub, minus GitHub: an organizer or a
participant with the key gets exactly the scores the pipeline would record.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from site_builder.errors import PredictionsError, SiteBuilderError, SubmissionError
from site_builder.private import decrypt_file
from site_builder.record import (
    build_record,
    find_record,
    hash_files,
    record_path,
    sha256_bytes,
    sha256_file,
    snapshot_files,
    write_record,
)
from site_builder.score import Solution, parse_solution, score_file, test_ids
from site_builder.spec import Challenge, find_challenges, load_challenge
from site_builder.submission import Submission, load_submission, submission_folders


@dataclass(frozen=True)
class Outcome:
    """What happened to one submission folder during ``evaluate``."""

    challenge: str
    participant: str
    submission_id: str
    status: str  # scored | failed | unchanged | invalid
    primary: str  # the formatted primary public score, or the error class
    record_path: Path | None = None


def data_hash(challenge: Challenge) -> str:
    return hash_files({"train": challenge.train_path.read_bytes(), "test": challenge.test_path.read_bytes()})


def load_solution(challenge: Challenge, identity_text: str) -> Solution:
    """Decrypt in memory and check the answer key covers exactly the test ids."""
    solution = parse_solution(decrypt_file(challenge.solution_path, identity_text), challenge, source=str(challenge.solution_path))
    if set(solution.ids) != set(test_ids(challenge)):
        raise SiteBuilderError(
            "the ids of the decrypted solution differ from the ids of the test inputs; re-encrypt the matching solution",
            path=challenge.solution_path,
            key="data.solution",
        )
    return solution


def score_and_record(
    challenge: Challenge,
    predictions: Path | bytes,
    *,
    participant: str,
    submission_id: str,
    results: Path,
    solution: Solution | Callable[[], Solution],
    submitted_at: datetime,
    scored_at: datetime,
    run: Mapping[str, Any] | None = None,
    files: Mapping[str, bytes] | None = None,
    code_hash: str | None = None,
    commit: str | None = None,
    pull_request: int | None = None,
    display: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], Path, bool]:
    """Score strictly and write the record; an existing record is returned untouched.

    A :class:`PredictionsError` propagates before anything is written.
    """
    existing = find_record(results, challenge.slug, participant, submission_id)
    if existing is not None:
        return existing, record_path(results, challenge.slug, participant, submission_id), False
    answer_key = solution() if callable(solution) else solution
    scores = score_file(challenge, predictions, answer_key)
    return _store(
        challenge,
        status="scored",
        scores=scores,
        error=None,
        participant=participant,
        submission_id=submission_id,
        results=results,
        submitted_at=submitted_at,
        scored_at=scored_at,
        run=run,
        files=files,
        code_hash=code_hash,
        commit=commit,
        pull_request=pull_request,
        display=display,
    )


def record_failure(
    challenge: Challenge,
    *,
    participant: str,
    submission_id: str,
    results: Path,
    error: Mapping[str, str],
    submitted_at: datetime,
    scored_at: datetime,
    run: Mapping[str, Any] | None = None,
    files: Mapping[str, bytes] | None = None,
    commit: str | None = None,
    pull_request: int | None = None,
    display: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], Path, bool]:
    """Record a submission that could not be scored, with its error class."""
    return _store(
        challenge,
        status="failed",
        scores=None,
        error=error,
        participant=participant,
        submission_id=submission_id,
        results=results,
        submitted_at=submitted_at,
        scored_at=scored_at,
        run=run,
        files=files,
        code_hash=None,
        commit=commit,
        pull_request=pull_request,
        display=display,
    )


def _store(
    challenge: Challenge,
    *,
    status: str,
    scores: Mapping[str, Mapping[str, float | None]] | None,
    error: Mapping[str, str] | None,
    participant: str,
    submission_id: str,
    results: Path,
    submitted_at: datetime,
    scored_at: datetime,
    run: Mapping[str, Any] | None,
    files: Mapping[str, bytes] | None,
    code_hash: str | None,
    commit: str | None,
    pull_request: int | None,
    display: Mapping[str, str] | None,
) -> tuple[dict[str, Any], Path, bool]:
    """Build the record of either outcome and write it with its file snapshot."""
    record = build_record(
        challenge=challenge.slug,
        participant=participant,
        submission_id=submission_id,
        status=status,
        scores=scores,
        run=_run_figures(run),
        error=error,
        submitted_at=submitted_at,
        scored_at=scored_at,
        hashes=_hashes(challenge, files, code_hash),
        files=_file_entries(files),
        commit=commit,
        pull_request=pull_request,
        display=display,
    )
    path, written = write_record(results, record, files)
    return record, path, written


_RUN_FIELDS = ("fit_seconds", "predict_seconds", "peak_memory_mb", "wall_seconds", "isolation")


def _run_figures(run: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only the figures a record keeps: run.json is hostile data, so no free text."""
    if not run:
        return {}
    figures: dict[str, Any] = {}
    for key in _RUN_FIELDS:
        value = run.get(key)
        if key == "isolation" and isinstance(value, list):
            figures[key] = [str(item)[:40] for item in value[:10]]
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            figures[key] = round(float(value), 4)
    return figures


def _hashes(challenge: Challenge, files: Mapping[str, bytes] | None, code_hash: str | None) -> dict[str, str]:
    hashes = {"data": data_hash(challenge), "solution": sha256_file(challenge.solution_path)}
    if code_hash or files:
        hashes["code"] = code_hash or hash_files(dict(files or {}))
    return hashes


def _file_entries(files: Mapping[str, bytes] | None) -> list[dict[str, Any]]:
    """Every file of the submission; ``stored`` says whether its snapshot keeps the content."""
    stored = snapshot_files(files)
    return [
        {"name": name, "size": len(content), "sha256": sha256_bytes(content), "stored": name in stored}
        for name, content in sorted((files or {}).items())
    ]


def evaluate_submission(
    challenge: Challenge,
    submission: Submission,
    *,
    results: Path,
    solution: Callable[[], Solution],
    submitted_at: datetime,
    scored_at: datetime,
) -> Outcome:
    """Run (code), score and record one submission folder, unless already recorded."""
    from site_builder.metrics import get_metric

    participant, submission_id = submission.participant, submission.submission_id
    common: dict[str, Any] = dict(
        participant=participant,
        submission_id=submission_id,
        results=results,
        submitted_at=submitted_at,
        scored_at=scored_at,
        files=submission.files,
        display=submission.meta.display(),
    )
    if find_record(results, challenge.slug, participant, submission_id) is not None:
        return Outcome(challenge.slug, participant, submission_id, "unchanged", "")
    with tempfile.TemporaryDirectory(prefix="site-builder-evaluate-") as scratch:
        run_json: dict[str, Any] | None = None
        if challenge.spec.kind == "code":
            from site_builder.run import run_submission

            result = run_submission(challenge, submission.directory, Path(scratch))
            run_json = result.to_json()
            if result.status != "ok":
                error = result.error or {"class": "exception", "message": "the run failed", "traceback": ""}
                _, path, _ = record_failure(challenge, error=error, run=run_json, **common)
                return Outcome(challenge.slug, participant, submission_id, "failed", error["class"], path)
            predictions: Path | bytes = Path(scratch) / "predictions.csv"
        else:
            predictions = submission.files["predictions.csv"]
        try:
            record, path, _ = score_and_record(challenge, predictions, solution=solution, run=run_json, **common)
        except PredictionsError as problem:
            error = {"class": "invalid-output", "message": str(problem), "traceback": ""}
            _, path, _ = record_failure(challenge, error=error, run=run_json, **common)
            return Outcome(challenge.slug, participant, submission_id, "failed", "invalid-output", path)
    primary = challenge.primary_metric
    value = record["scores"].get("public", {}).get(primary)
    return Outcome(challenge.slug, participant, submission_id, "scored", get_metric(primary).format(value), path)


def resolve_targets(root: Path, paths: Sequence[Path]) -> list[tuple[Challenge, Path]]:
    """Submission folders to evaluate: all of them, or those under the given paths.

    A path may be a submission folder, a challenge's submissions folder, or a
    challenge folder.
    """
    challenges = {challenge.slug: challenge for challenge in find_challenges(root)}
    everything = [(challenge, folder) for challenge in challenges.values() for folder in submission_folders(root, challenge)]
    if not paths:
        return everything
    chosen: list[tuple[Challenge, Path]] = []
    for path in paths:
        resolved = Path(path).resolve()
        matches = [
            (challenge, folder)
            for challenge, folder in everything
            if resolved == folder.resolve()
            or resolved in folder.resolve().parents
            or resolved == challenge.directory.resolve()
        ]
        if not matches:
            raise SubmissionError(
                "is not a submission folder, a challenge folder or a folder of submissions under this root",
                path=path,
            )
        chosen.extend(match for match in matches if match not in chosen)
    return chosen


def evaluate(
    root: Path,
    results: Path,
    identity_text: str | Callable[[], str],
    now: Callable[[], datetime],
    paths: Sequence[Path] = (),
    *,
    submitted_at: datetime | None = None,
    progress: bool = True,
) -> list[Outcome]:
    """Evaluate every submission folder not yet recorded; return one outcome each."""
    from tqdm import tqdm

    targets = resolve_targets(root, paths)
    solutions: dict[str, Solution] = {}

    def solution_of(challenge: Challenge) -> Callable[[], Solution]:
        def load() -> Solution:
            if challenge.slug not in solutions:
                identity = identity_text() if callable(identity_text) else identity_text
                solutions[challenge.slug] = load_solution(challenge, identity)
            return solutions[challenge.slug]

        return load

    outcomes: list[Outcome] = []
    bar = tqdm(targets, desc="evaluating", unit="submission", disable=not progress, file=sys.stderr, leave=False)
    for challenge, folder in bar:
        bar.set_postfix_str(f"{challenge.slug}/{folder.name}")
        try:
            submission = load_submission(folder, challenge)
        except SubmissionError as problem:
            outcomes.append(Outcome(challenge.slug, folder.name, "", "invalid", str(problem)))
            continue
        moment = now()
        outcomes.append(
            evaluate_submission(
                challenge,
                submission,
                results=results,
                solution=solution_of(challenge),
                submitted_at=submitted_at or moment,
                scored_at=moment,
            )
        )
    bar.close()
    return outcomes


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """A plain-text table of outcomes for the terminal."""
    header = ("challenge", "participant", "submission", "status", "public score / error")
    rows = [header] + [(o.challenge, o.participant, o.submission_id, o.status, o.primary) for o in outcomes]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    lines.append("")
    lines.append(", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "nothing to evaluate")
    return "\n".join(lines)


def challenge_from_argument(root: Path, argument: str) -> Challenge:
    """A challenge named by its slug (under root/challenges) or by its folder."""
    candidate = Path(argument)
    if (candidate / "challenge.yaml").is_file():
        return load_challenge(candidate)
    by_slug = Path(root) / "challenges" / argument
    if (by_slug / "challenge.yaml").is_file():
        return load_challenge(by_slug)
    raise SiteBuilderError(
        f"no challenge {argument!r}: give a slug under {Path(root) / 'challenges'} or a folder holding challenge.yaml"
    )
