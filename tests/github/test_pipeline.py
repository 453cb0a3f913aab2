"""End to end: the real workflow files' steps, a fork pull request, a fake API and a bare origin."""

from __future__ import annotations

import json

import pytest

from tests.github.challenge_fixture import ESTIMATOR, FAILING_ESTIMATOR
from tests.github.conftest import Hackathon

pytestmark = pytest.mark.slow


def test_a_fork_pull_request_is_scored_recorded_commented_and_published(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions(offset=2.0, private_offset=7.0)})

    run = hackathon.submit_and_score(pull)

    assert {name: job.result for name, job in run.jobs.items()} == {
        "resolve": "success",
        "score": "success",
        "record": "success",
        "comment": "success",
        "deploy/reveal": "success",
        "deploy/build": "success",
        "deploy/deploy": "success",
        "deploy": "success",
    }, run.log
    # The result file sits on the data branch, one file per submission.
    records = hackathon.records()
    assert len(records) == 1
    (name, record), = records.items()
    assert name.startswith("houses/alice--")
    assert record["status"] == "scored" and record["commit"] == pull.head_sha and record["pull_request"] == 1
    assert record["scores"]["public"]["rmse"] == pytest.approx(2.0, abs=1e-3)
    assert "houses/files/alice/" in "\n".join(hackathon.data_files())
    # One sticky comment with the public score, the rank and the quota.
    (body,) = hackathon.comments(1)
    assert body.startswith("<!-- site-builder:score -->")
    assert "✅ Scored" in body and "| RMSE ↓ | 2.000 |" in body and "| MAE ↓ | 2.000 |" in body
    assert "Rank now: 1 of 1" in body and "Your first scored submission" in body and "You lead" in body
    assert "Quota: **4 of 5**" in body
    assert "Private scores stay hidden until" in body
    # The private scores left the score job sealed: only the key opens them.
    assert "private" not in record["scores"] and record["sealed_private"]
    (unsealed,) = hackathon.unsealed_records().values()
    assert unsealed["scores"]["private"]["rmse"] == pytest.approx(7.0, abs=1e-3)
    assert unsealed["scores"]["public"] == record["scores"]["public"]
    assert "7.000" not in body and "7.000" not in json.dumps(hackathon.fake.statuses) and "7.000" not in run.log
    # Nowhere public (data branch, the scored and revealed artifacts, logs,
    # comment, status, pages) holds a private score, at any precision.
    assert {"scored", "revealed", "github-pages"} <= set(run.artifacts)
    hackathon.assert_no_private_score_leaked()
    # The commit status on the head commit.
    (status,) = hackathon.fake.statuses
    assert status["sha"] == pull.head_sha and status["state"] == "success" and "rmse 2.000" in status["description"]
    # The network was cut while the key was in use.
    assert "network: cut (unshare --net)" in run.log
    # The deployed site shows the new score.
    published = hackathon.runner.published
    assert published is not None and (published / "index.html").is_file()
    pages = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in published.rglob("*.html"))
    assert "alice" in pages and "2.000" in pages
    everything = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in published.rglob("*") if path.is_file())
    assert "7.000" not in everything  # the private score waits for the end
    hackathon.assert_no_secret_leaked()


def test_a_second_run_updates_the_comment_instead_of_adding_one(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions(offset=2.0)})
    hackathon.submit_and_score(pull)

    hackathon.push_to_pull(pull, {"submissions/houses/alice/predictions.csv": houses.predictions(offset=1.0)})
    second = hackathon.submit_and_score(pull)

    assert second.result("record") == "success", second.log
    (body,) = hackathon.comments(1)
    assert "| RMSE ↓ | 1.000 |" in body
    assert "Against your previous best: -1.000 (better)" in body
    assert "Quota: **3 of 5**" in body
    assert len(hackathon.fake.requests_to("PATCH", r"/issues/comments/\d+$")) == 1
    assert len(hackathon.fake.requests_to("POST", r"/issues/1/comments$")) == 1
    assert len(hackathon.records()) == 2

    # The very same run again: nothing new is recorded or charged.
    third = hackathon.score(pull, hackathon.next_run_id)
    assert third.result("record") == "success" and third.result("deploy") == "skipped"
    (body,) = hackathon.comments(1)
    assert "✅ Already scored" in body and "Quota: **3 of 5**" in body
    assert len(hackathon.records()) == 2
    hackathon.assert_no_secret_leaked()


def test_a_leader_is_named_and_the_gap_shown(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    bob = hackathon.open_pull(1, "bob", {"submissions/houses/bob/predictions.csv": houses.predictions(offset=0.5)})
    hackathon.submit_and_score(bob)
    alice = hackathon.open_pull(2, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions(offset=2.0)})
    hackathon.submit_and_score(alice)

    (body,) = hackathon.comments(2)
    assert "Rank now: 2 of 2" in body
    assert "Against the leader, **bob**: +1.500 (worse)" in body


def test_a_branch_named_like_a_command_is_only_data(hackathon: Hackathon) -> None:
    canary = hackathon.tmp / "pwned"
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions()}, head_ref=f"$(touch {canary})")

    run = hackathon.submit_and_score(pull)

    assert not canary.exists()
    assert run.result("record") == "success", run.log
    assert "✅ Scored" in hackathon.comments(1)[0]


def test_a_failed_structure_check_in_the_pull_request_run_still_gets_the_real_reason(hackathon: Hackathon) -> None:
    """The sandbox run fails on a broken predictions file; the trusted side records the failure."""
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": b"id,price\nt00,1\n"})
    submission, run_id = hackathon.submit(pull)
    assert submission.result("run") == "failure"
    run = hackathon.score(pull, run_id, conclusion="failure")
    (body,) = hackathon.comments(1)
    assert "❌ The submission failed" in body and "invalid-output" in body
    (record,) = hackathon.records().values()
    assert record["status"] == "failed"
    assert "uses no quota" in body and "Quota: **5 of 5**" in body
    assert run.result("deploy") == "success"


def test_two_scoring_runs_recording_at_once_both_land(hackathon: Hackathon) -> None:
    import concurrent.futures

    houses = hackathon.challenges["houses"]
    pulls = [
        hackathon.open_pull(number, login, {f"submissions/houses/{login}/predictions.csv": houses.predictions(offset=number)})
        for number, login in ((1, "alice"), (2, "bob"), (3, "carol"))
    ]
    run_ids = [hackathon.submit(pull)[1] for pull in pulls]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda pair: hackathon.score(*pair), zip(pulls, run_ids)))

    for run in runs:
        assert run.result("record") == "success", run.log
    assert sorted(record["participant"] for record in hackathon.records().values()) == ["alice", "bob", "carol"]
    assert all(len(hackathon.comments(pull.number)) == 1 for pull in pulls)


def test_the_quota_counts_scored_submissions_only_and_names_the_next_slot(tmp_path) -> None:
    from tests.github.conftest import make_hackathon

    for hackathon in make_hackathon(tmp_path, {"houses": {"per_day": 1}}):
        houses = hackathon.challenges["houses"]
        pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions(offset=2.0)})
        hackathon.submit_and_score(pull)
        hackathon.push_to_pull(pull, {"submissions/houses/alice/predictions.csv": houses.predictions(offset=1.0)})

        run = hackathon.submit_and_score(pull)

        assert run.result("score") == "success" and run.result("deploy") == "skipped"
        (body,) = hackathon.comments(1)
        assert "⏳ Daily quota reached" in body
        assert "Quota: **0 of 1**" in body and "the next slot frees at 2026-11-23T10:00:00Z" in body
        assert len(hackathon.records()) == 1
        statuses = [status for status in hackathon.fake.statuses if status["sha"] == pull.head_sha]
        assert statuses[-1]["state"] == "failure" and "quota" in statuses[-1]["description"]
        hackathon.assert_no_secret_leaked()


def test_the_run_json_of_the_artifact_is_data(hackathon: Hackathon) -> None:
    """Whatever the untrusted run wrote for a predictions challenge is ignored: git is the source."""
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions(offset=3.0)})
    run_id = hackathon.new_run_id()
    from tests.github.test_hostile import hostile_zip

    hackathon.fake.add_artifact(run_id, "submission", hostile_zip({"predictions.csv": houses.predictions(offset=0.0), "run.json": json.dumps({"status": "ok"}).encode()}))

    hackathon.score(pull, run_id)

    (record,) = hackathon.records().values()
    assert record["scores"]["public"]["rmse"] == pytest.approx(3.0, abs=1e-3)


def test_a_code_submission_runs_in_the_sandbox_and_is_scored_from_its_artifact(code_hackathon: Hackathon) -> None:
    pull = code_hackathon.open_pull(1, "alice", {"submissions/houses/alice/estimator.py": ESTIMATOR.encode()})

    run = code_hackathon.submit_and_score(pull)

    assert run.result("deploy") == "success", run.log
    (body,) = code_hackathon.comments(1)
    assert "✅ Scored" in body and "| RMSE ↓ |" in body
    (record,) = code_hackathon.records().values()
    assert record["status"] == "scored" and record["run"]["fit_seconds"] >= 0
    assert [entry["name"] for entry in record["files"]] == ["estimator.py"]
    code_hackathon.assert_no_secret_leaked()


def test_a_code_submission_that_raises_is_recorded_as_failed_with_its_traceback(code_hackathon: Hackathon) -> None:
    pull = code_hackathon.open_pull(1, "alice", {"submissions/houses/alice/estimator.py": FAILING_ESTIMATOR.encode()})

    run = code_hackathon.submit_and_score(pull)

    assert run.result("record") == "success", run.log
    (body,) = code_hackathon.comments(1)
    assert "❌ The submission failed" in body and "Error class: **exception**" in body
    assert "this estimator is broken on purpose" in body
    (record,) = code_hackathon.records().values()
    assert record["status"] == "failed"
    statuses = code_hackathon.fake.statuses
    assert statuses[-1]["state"] == "failure" and "exception" in statuses[-1]["description"]


def test_a_missing_key_is_our_failure_not_the_participants(hackathon: Hackathon) -> None:
    hackathon.runner.secrets = {}
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions()})

    run = hackathon.submit_and_score(pull)

    assert run.result("score") == "failure" and run.result("record") == "skipped"
    assert "no age identity" in run.log
    (body,) = hackathon.comments(1)
    assert "⚠️ Scoring failed on our side" in body
    assert hackathon.records() == {}
    assert hackathon.fake.statuses[-1]["state"] == "error"


def test_a_cancelled_run_is_skipped_without_a_comment(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions()})

    run = hackathon.score(pull, hackathon.new_run_id(), conclusion="cancelled")

    assert run.result("resolve") == "success" and run.result("comment") == "skipped"
    assert hackathon.comments(1) == [] and hackathon.records() == {}


def test_the_scheduled_pages_build_reveals_the_private_board_after_the_end(hackathon: Hackathon) -> None:
    houses = hackathon.challenges["houses"]
    alice = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions(offset=2.0, private_offset=7.0)})
    hackathon.submit_and_score(alice)
    bob = hackathon.open_pull(2, "bob", {"submissions/houses/bob/predictions.csv": houses.predictions(offset=3.0, private_offset=0.5)})
    hackathon.submit_and_score(bob)
    # During the challenge: an hourly build shows no private score anywhere.
    during = hackathon.runner.run("pages.yml", "schedule", {"schedule": "17 * * * *"}, sha=hackathon.main_sha)
    hackathon.runs.append(during)
    assert during.result("deploy") == "success", during.log
    assert "houses: open until 2026-12-31T23:59:00Z; 2 record(s) stay sealed" in during.log
    canaries = hackathon.private_score_canaries()
    hackathon.assert_no_private_score_leaked(canaries)
    hackathon.assert_no_secret_leaked()

    hackathon.runner.extra_env["SITE_BUILDER_NOW"] = "2027-01-02T00:00:00Z"
    run = hackathon.runner.run("pages.yml", "schedule", {"schedule": "17 * * * *"}, sha=hackathon.main_sha)

    assert run.result("reveal") == "success" and run.result("deploy") == "success", run.log
    assert "houses: ended at 2026-12-31T23:59:00Z; 2 record(s) revealed" in run.log
    assert not [canary for canary in canaries if canary in run.log]  # the log never prints a score
    published = hackathon.runner.published
    assert published is not None
    board = (published / "challenges" / "houses" / "index.html").read_text(encoding="utf-8")
    assert "7.000" in board and "0.500" in board
    # The private board ranks by the private scores the key opens, and shows the move.
    unsealed = {record["participant"]: record for record in hackathon.unsealed_records().values()}
    leaderboard = json.loads((published / "challenges" / "houses" / "leaderboard.json").read_text(encoding="utf-8"))
    assert [row["participant"] for row in leaderboard["public"]] == ["alice", "bob"]
    assert [row["participant"] for row in leaderboard["private"]] == ["bob", "alice"]
    for row in leaderboard["private"]:
        assert row["scores"] == unsealed[row["participant"]]["scores"]["private"]
    assert leaderboard["private"][0]["scores"]["rmse"] == pytest.approx(0.5, abs=1e-3)
    assert leaderboard["private"][0]["move"] == 1
    # The data branch itself stays sealed: only the build reads the revealed copies.
    assert all("private" not in record["scores"] for record in hackathon.records().values())


def test_a_deploy_called_by_scoring_after_the_end_reveals_too(hackathon: Hackathon) -> None:
    """The workflow_call path: the reveal job, called from scoring.yml on main, gets the key."""
    houses = hackathon.challenges["houses"]
    alice = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions(offset=2.0, private_offset=7.0)})
    hackathon.submit_and_score(alice)
    hackathon.assert_no_private_score_leaked()

    hackathon.runner.extra_env["SITE_BUILDER_NOW"] = "2027-01-02T00:00:00Z"
    bob = hackathon.open_pull(2, "bob", {"submissions/houses/bob/predictions.csv": houses.predictions(offset=1.0)})
    run = hackathon.submit_and_score(bob)

    assert run.result("deploy/reveal") == "success" and run.result("deploy/deploy") == "success", run.log
    assert "houses: ended at 2026-12-31T23:59:00Z; 1 record(s) revealed" in run.log
    published = hackathon.runner.published
    assert published is not None
    leaderboard = json.loads((published / "challenges" / "houses" / "leaderboard.json").read_text(encoding="utf-8"))
    # alice's sealed score was opened by the called reveal; bob's run, scored
    # after the end, recorded its private scores in clear (nothing left to hide).
    private = {row["participant"]: row["scores"]["rmse"] for row in leaderboard["private"]}
    assert private == {"alice": pytest.approx(7.0, abs=1e-3), "bob": pytest.approx(1.0, abs=1e-3)}
    bobs = next(record for record in hackathon.records().values() if record["participant"] == "bob")
    assert "sealed_private" not in bobs and bobs["scores"]["private"]["rmse"] == pytest.approx(1.0, abs=1e-3)


def test_the_key_never_reaches_a_pages_run_from_another_branch(hackathon: Hackathon) -> None:
    """workflow_dispatch can name any branch; the scoring environment deploys from main only."""
    houses = hackathon.challenges["houses"]
    pull = hackathon.open_pull(1, "alice", {"submissions/houses/alice/predictions.csv": houses.predictions(offset=2.0, private_offset=7.0)})
    hackathon.submit_and_score(pull)
    before = sorted(path.relative_to(hackathon.runner.published).as_posix() for path in hackathon.runner.published.rglob("*"))
    hackathon.runner.extra_env["SITE_BUILDER_NOW"] = "2027-01-02T00:00:00Z"

    run = hackathon.runner.run("pages.yml", "workflow_dispatch", {}, sha=hackathon.main_sha, ref="refs/heads/feature")

    assert run.result("reveal") == "failure" and "environment protection rules" in run.log
    assert run.result("build") == "skipped" and run.result("deploy") == "skipped"
    assert sorted(path.relative_to(hackathon.runner.published).as_posix() for path in hackathon.runner.published.rglob("*")) == before


def test_the_gh_verbs_are_registered_in_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from site_builder.cli import main

    with pytest.raises(SystemExit):
        main(["gh", "--help"])
    out = capsys.readouterr().out
    for verb in ("run", "resolve", "fetch-data", "score", "record", "comment", "reveal", "doctor"):
        assert verb in out
