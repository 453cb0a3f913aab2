"""The example challenges in the repository and the demo workspace built from them."""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from site_builder import examples
from site_builder.private import decrypt_file, generate_identity
from site_builder.score import parse_solution, score_file
from site_builder.score import test_ids as solution_test_ids
from site_builder.spec import load_challenge
from site_builder.submission import load_submission

REPOSITORY = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> examples.DemoWorkspace:
    return examples.write_demo_workspace(tmp_path_factory.mktemp("demo") / "workspace", now=NOW)


def _predict_as_harness(slug: str, version: Path) -> bytes:
    """The predictions file a submission folder stands for, made in-process."""
    if (version / "predictions.csv").is_file():
        return (version / "predictions.csv").read_bytes()
    example = examples.get_example(slug)
    values = examples.fit_predict(example, (version / "estimator.py").read_text(encoding="utf-8"))
    test = examples.example_data(slug).test
    return pd.DataFrame({"id": test["id"], example.target: values}).to_csv(index=False).encode()


# ------------------------------------------------------------------ committed examples


@pytest.mark.parametrize("slug", examples.EXAMPLES)
def test_committed_example_loads_with_its_baseline(slug: str) -> None:
    challenge = load_challenge(REPOSITORY / "challenges" / slug)
    baseline = load_submission(REPOSITORY / "submissions" / slug / "baseline", challenge)
    assert challenge.readme_path.read_text(encoding="utf-8").startswith(f"# {challenge.spec.title}\n")
    assert challenge.recipient_path.read_text(encoding="utf-8").startswith("age1")
    assert baseline.meta.name == "Baseline"


@pytest.mark.parametrize("slug", examples.EXAMPLES)
def test_regenerating_an_example_rewrites_the_committed_files(slug: str, tmp_path: Path) -> None:
    committed = REPOSITORY / "challenges" / slug
    recipient = (committed / "recipient.txt").read_text(encoding="utf-8")
    fresh = examples.write_example(slug, tmp_path / "challenges", recipient)
    for name in ("data/train.csv", "data/test.csv", "challenge.yaml", "README.md", "recipient.txt"):
        assert (fresh / name).read_bytes() == (committed / name).read_bytes(), name

    baseline = examples.write_baseline(slug, tmp_path / "submissions" / slug)
    committed_baseline = REPOSITORY / "submissions" / slug / "baseline"
    assert sorted(p.name for p in baseline.iterdir()) == sorted(p.name for p in committed_baseline.iterdir())
    for path in baseline.iterdir():
        if path.name == "predictions.csv":  # fitted numbers: equal up to BLAS rounding
            pd.testing.assert_frame_equal(pd.read_csv(path), pd.read_csv(committed_baseline / path.name), atol=1e-3)
        else:
            assert path.read_bytes() == (committed_baseline / path.name).read_bytes(), path.name


def test_no_secret_key_is_committed_with_the_examples() -> None:
    for folder in ("challenges", "submissions"):
        for path in (REPOSITORY / folder).rglob("*"):
            if path.is_file() and path.suffix != ".age":
                assert b"AGE-SECRET-KEY" not in path.read_bytes(), path


def test_the_mixed_example_has_categories_and_gaps() -> None:
    train = examples.example_data("wine").train
    assert set(train["color"].dropna()) == {"pale", "ruby", "deep"}
    assert train[list(examples.WINE_GAPS)].isna().any().all()
    source = (REPOSITORY / "submissions" / "wine" / "baseline" / "estimator.py").read_text(encoding="utf-8")
    assert "ColumnTransformer" in source and "OneHotEncoder" in source and "SimpleImputer" in source


def test_command_line_writes_chosen_examples_and_refuses_unknown_ones(tmp_path: Path) -> None:
    _, recipient = generate_identity()
    assert examples.main(["--root", str(tmp_path), "-r", recipient, "diabetes"]) == 0
    load_challenge(tmp_path / "challenges" / "diabetes")
    assert (tmp_path / "submissions" / "diabetes" / "baseline" / "predictions.csv").is_file()
    # Without -r it re-encrypts to the recipient already in the folder.
    assert examples.main(["--root", str(tmp_path), "diabetes"]) == 0
    assert (tmp_path / "challenges" / "diabetes" / "recipient.txt").read_text().strip() == recipient
    with pytest.raises(SystemExit):
        examples.main(["--root", str(tmp_path), "titanic"])


# ------------------------------------------------------------------ demo workspace


def test_demo_solutions_decrypt_with_the_workspace_key(demo: examples.DemoWorkspace) -> None:
    identity = demo.key_file.read_text(encoding="utf-8")
    for slug in examples.EXAMPLES:
        challenge = load_challenge(demo.root / "challenges" / slug)
        solution = parse_solution(decrypt_file(challenge.solution_path, identity), challenge)
        assert solution.ids == solution_test_ids(challenge)
        counts = Counter(solution.splits)
        assert abs(counts["public"] - counts["private"]) <= 1


def test_demo_has_one_ended_challenge_and_the_others_open(demo: examples.DemoWorkspace) -> None:
    schedules = {slug: load_challenge(demo.root / "challenges" / slug).spec.schedule for slug in examples.EXAMPLES}
    ended = [slug for slug, schedule in schedules.items() if schedule.end <= NOW]
    assert ended == [demo.ended]
    for slug, schedule in schedules.items():
        assert schedule.start is not None and schedule.start < NOW
    for step in demo.steps:
        schedule = schedules[step.challenge]
        assert schedule.start is not None and schedule.start < step.submitted_at < min(schedule.end, NOW)


def test_demo_steps_are_chronological_with_several_participants_and_versions(demo: examples.DemoWorkspace) -> None:
    times = [step.submitted_at for step in demo.steps]
    assert times == sorted(times)
    versions: dict[str, Counter[str]] = defaultdict(Counter)
    for step in demo.steps:
        versions[step.challenge][step.participant] += 1
    for slug in examples.EXAMPLES:
        assert 4 <= len(versions[slug]) <= 6
        assert max(versions[slug].values()) >= 2, f"{slug} has no history"


def test_demo_versions_are_valid_submissions_with_display_names(
    demo: examples.DemoWorkspace, tmp_path: Path
) -> None:
    named = 0
    for step in demo.steps:
        challenge = load_challenge(demo.root / "challenges" / step.challenge)
        folder = tmp_path / step.challenge / step.participant
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(step.version, folder)
        submission = load_submission(folder, challenge)
        named += bool(submission.meta.name or submission.meta.team)
    assert 0 < named < len(demo.steps)


def test_demo_scores_vary_and_one_submission_fails(demo: examples.DemoWorkspace) -> None:
    identity = demo.key_file.read_text(encoding="utf-8")
    failures: list[str] = []
    primary_scores: dict[str, set[float]] = defaultdict(set)
    for step in demo.steps:
        challenge = load_challenge(demo.root / "challenges" / step.challenge)
        solution = parse_solution(decrypt_file(challenge.solution_path, identity), challenge)
        try:
            predictions = _predict_as_harness(step.challenge, step.version)
        except TypeError as error:  # get_estimator() of the failing version
            failures.append(f"{step.challenge}/{step.participant}: {error}")
            continue
        scores = score_file(challenge, predictions, solution)
        primary_scores[step.challenge].add(round(scores["public"][challenge.primary_metric], 6))
    assert len(failures) == 1 and "regularization" in failures[0]
    for slug in examples.EXAMPLES:
        assert len(primary_scores[slug]) >= 4, f"{slug}: scores hardly vary"


@pytest.mark.parametrize(("slug", "check"), [
    ("breast-cancer", lambda scores: scores["roc_auc"] > 0.95),
    ("diabetes", lambda scores: scores["rmse"] < 60),
    ("wine", lambda scores: scores["accuracy"] > 0.9),
])
def test_baselines_score_well_on_both_halves(demo: examples.DemoWorkspace, slug: str, check) -> None:  # type: ignore[no-untyped-def]
    challenge = load_challenge(demo.root / "challenges" / slug)
    solution = parse_solution(decrypt_file(challenge.solution_path, demo.key_file.read_text()), challenge)
    baseline = next(step.version for step in demo.steps if step.challenge == slug and step.participant == "baseline")
    scores = score_file(challenge, _predict_as_harness(slug, baseline), solution)
    assert check(scores["public"]) and check(scores["private"]), scores
