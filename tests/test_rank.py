"""Ranking: best per participant, ties to the earliest, private board only after the end."""

from __future__ import annotations

from datetime import datetime, timezone

from site_builder.rank import rank_challenge, rankings_to_json

END = datetime(2026, 12, 1, tzinfo=timezone.utc)
BEFORE = datetime(2026, 11, 30, tzinfo=timezone.utc)
AFTER = datetime(2026, 12, 2, tzinfo=timezone.utc)
METRICS = ("roc_auc", "accuracy")


def record(participant: str, sid: str, day: int, public: float | None, private: float | None = None, status: str = "scored") -> dict:
    scores = {} if public is None else {"public": {"roc_auc": public, "accuracy": 0.5}, "private": {"roc_auc": private if private is not None else public, "accuracy": 0.5}}
    return {
        "challenge": "c", "participant": participant, "submission_id": sid, "status": status,
        "scores": scores, "submitted_at": f"2026-11-{day:02d}T10:00:00Z",
        "error": {"class": "timeout", "message": "", "traceback": ""} if status == "failed" else None,
    }


def test_best_submission_per_participant_ranks_first() -> None:
    records = [record("alice", "a1", 1, 0.80), record("alice", "a2", 2, 0.90), record("alice", "a3", 3, 0.85), record("bob", "b1", 2, 0.88)]
    board = rank_challenge(records, METRICS, END, BEFORE).public
    assert [(row.rank, row.participant, row.record["submission_id"]) for row in board.rows] == [(1, "alice", "a2"), (2, "bob", "b1")]
    assert board.rows[0].submissions == 3 and board.rows[0].last_submitted_at == "2026-11-03T10:00:00Z"


def test_ties_go_to_the_earliest_submission() -> None:
    records = [record("late", "l1", 5, 0.9), record("early", "e1", 2, 0.9), record("early", "e2", 6, 0.9)]
    board = rank_challenge(records, METRICS, END, BEFORE).public
    assert [row.participant for row in board.rows] == ["early", "late"]
    assert board.rows[0].record["submission_id"] == "e1"


def test_lower_is_better_metrics_rank_ascending() -> None:
    records = [record("a", "1", 1, 0.0), record("b", "2", 1, 0.0)]
    records[0]["scores"]["public"]["rmse"] = 30.0
    records[1]["scores"]["public"]["rmse"] = 20.0
    board = rank_challenge(records, ("rmse",), END, BEFORE).public
    assert [row.participant for row in board.rows] == ["b", "a"]


def test_private_board_only_after_the_end_with_move() -> None:
    records = [record("alice", "a", 1, 0.95, private=0.70), record("bob", "b", 1, 0.90, private=0.85), record("carol", "c", 1, 0.80, private=0.80)]
    assert rank_challenge(records, METRICS, END, BEFORE).private is None
    rankings = rank_challenge(records, METRICS, END, AFTER)
    assert rankings.ended
    assert [(row.participant, row.rank, row.move) for row in rankings.private.rows] == [("bob", 1, 1), ("carol", 2, 1), ("alice", 3, -2)]
    assert rankings_to_json(rankings)["private"][2]["move"] == -2


def test_private_board_uses_the_publicly_chosen_submission() -> None:
    # alice's second entry has a better hidden score but a worse public one: it does not count.
    records = [record("alice", "a1", 1, 0.9, private=0.6), record("alice", "a2", 2, 0.8, private=0.99)]
    private = rank_challenge(records, METRICS, END, AFTER).private
    assert private.rows[0].record["submission_id"] == "a1"


def test_failed_submissions_are_listed_apart_newest_first() -> None:
    records = [record("alice", "a1", 1, 0.9), record("bob", "b1", 2, None, status="failed"), record("carol", "c1", 3, None, status="failed")]
    rankings = rank_challenge(records, METRICS, END, BEFORE)
    assert [row.participant for row in rankings.public.rows] == ["alice"]
    assert [r["participant"] for r in rankings.failed] == ["carol", "bob"]
    assert rankings_to_json(rankings)["failed"][0]["error_class"] == "timeout"


def test_submissions_after_the_end_count_on_no_board() -> None:
    late = record("mallory", "m1", 1, 0.99)
    late["submitted_at"] = "2026-12-05T00:00:00Z"
    rankings = rank_challenge([record("alice", "a1", 1, 0.9), late], METRICS, END, AFTER)
    assert [row.participant for row in rankings.public.rows] == ["alice"]
    assert [r["participant"] for r in rankings.late] == ["mallory"]


def test_missing_primary_score_is_not_ranked() -> None:
    records = [record("alice", "a1", 1, 0.9), record("bob", "b1", 1, 0.9)]
    records[1]["scores"]["public"]["roc_auc"] = None
    assert [row.participant for row in rank_challenge(records, METRICS, END, BEFORE).public.rows] == ["alice"]
