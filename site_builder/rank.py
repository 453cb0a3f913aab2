"""Stage 5, rank: pure functions from result records to leaderboards.

The public board keeps each participant's best submission by the primary
public score, ties going to the earliest. Once the challenge has ended, the
private board ranks those same submissions by their private score and shows
how far each one moved. Failed submissions are listed apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from site_builder.metrics import Metric, get_metric
from site_builder.record import parse_timestamp

Record = Mapping[str, Any]


@dataclass(frozen=True)
class BoardRow:
    """One participant's line on a board."""

    rank: int
    participant: str
    record: Record
    scores: Mapping[str, float | None]
    submissions: int
    last_submitted_at: str
    move: int | None = None

    @property
    def display_name(self) -> str:
        return str(self.record.get("display", {}).get("name") or self.participant)

    @property
    def team(self) -> str:
        return str(self.record.get("display", {}).get("team") or "")


@dataclass(frozen=True)
class Board:
    split: str
    metrics: Sequence[str]
    rows: Sequence[BoardRow]

    @property
    def primary(self) -> str:
        return self.metrics[0]


@dataclass(frozen=True)
class Rankings:
    """Everything a page or the CLI shows about one challenge's standings."""

    public: Board
    private: Board | None
    failed: Sequence[Record]
    ended: bool
    late: Sequence[Record] = field(default_factory=tuple)


def _score(record: Record, split: str, metric: str) -> float | None:
    value = record.get("scores", {}).get(split, {}).get(metric)
    return float(value) if isinstance(value, (int, float)) else None


def _order_key(record: Record, split: str, metric: Metric) -> tuple[float, str, str]:
    """Best score first; equal scores go to the earliest submission."""
    return (metric.sort_key(_score(record, split, metric.name)), record["submitted_at"], record["submission_id"])


def scored(records: Iterable[Record]) -> list[Record]:
    return [record for record in records if record.get("status") == "scored"]


def failed(records: Iterable[Record]) -> list[Record]:
    """Failed submissions, newest first."""
    return sorted(
        (record for record in records if record.get("status") == "failed"),
        key=lambda record: (record["submitted_at"], record["participant"], record["submission_id"]),
        reverse=True,
    )


def best_per_participant(records: Iterable[Record], metric: Metric, split: str = "public") -> dict[str, Record]:
    """Each participant's best scored record on ``split`` by ``metric``."""
    best: dict[str, Record] = {}
    for record in scored(records):
        if _score(record, split, metric.name) is None:
            continue
        incumbent = best.get(record["participant"])
        if incumbent is None or _order_key(record, split, metric) < _order_key(incumbent, split, metric):
            best[record["participant"]] = record
    return best


def _counts(records: Iterable[Record]) -> tuple[dict[str, int], dict[str, str]]:
    counts: dict[str, int] = {}
    last: dict[str, str] = {}
    for record in records:
        participant = record["participant"]
        counts[participant] = counts.get(participant, 0) + 1
        last[participant] = max(last.get(participant, ""), record["submitted_at"])
    return counts, last


def board(records: Sequence[Record], metrics: Sequence[str], split: str, chosen: Mapping[str, Record]) -> Board:
    """Rank the chosen record of each participant on ``split``."""
    primary = get_metric(metrics[0])
    counts, last = _counts(records)
    ordered = sorted(chosen.values(), key=lambda record: _order_key(record, split, primary))
    rows = [
        BoardRow(
            rank=position,
            participant=record["participant"],
            record=record,
            scores={name: _score(record, split, name) for name in metrics},
            submissions=counts[record["participant"]],
            last_submitted_at=last[record["participant"]],
        )
        for position, record in enumerate(ordered, start=1)
    ]
    return Board(split=split, metrics=tuple(metrics), rows=tuple(rows))


def public_board(records: Sequence[Record], metrics: Sequence[str]) -> Board:
    return board(records, metrics, "public", best_per_participant(records, get_metric(metrics[0])))


def private_board(records: Sequence[Record], metrics: Sequence[str], public: Board) -> Board:
    """The public board's submissions re-ranked by private score, with ``move``.

    ``move`` is the public rank minus the private rank: positive means the
    participant climbed when the hidden rows were revealed.
    """
    chosen = {row.participant: row.record for row in public.rows if _score(row.record, "private", metrics[0]) is not None}
    private = board(records, metrics, "private", chosen)
    public_rank = {row.participant: row.rank for row in public.rows}
    rows = tuple(
        BoardRow(**{**row.__dict__, "move": public_rank[row.participant] - row.rank}) for row in private.rows
    )
    return Board(split="private", metrics=private.metrics, rows=rows)


def rank_challenge(
    records: Iterable[Record],
    metrics: Sequence[str],
    end: datetime,
    now: datetime,
    start: datetime | None = None,
) -> Rankings:
    """Boards for one challenge at time ``now`` (injected, so tests and builds are repeatable).

    Submissions made after ``end`` (or before ``start``) are kept apart as
    late and count on no board.
    """
    in_window: list[Record] = []
    late: list[Record] = []
    for record in records:
        moment = parse_timestamp(record["submitted_at"])
        (late if moment > end or (start is not None and moment < start) else in_window).append(record)
    public = public_board(in_window, metrics)
    ended = now >= end
    private = private_board(in_window, metrics, public) if ended else None
    return Rankings(public=public, private=private, failed=tuple(failed(in_window)), ended=ended, late=tuple(late))


def rankings_to_json(rankings: Rankings) -> dict[str, Any]:
    """A plain-data view of the boards for ``rank --json`` and ``leaderboard.json``."""

    def rows(board_: Board | None) -> list[dict[str, Any]] | None:
        if board_ is None:
            return None
        return [
            {
                "rank": row.rank,
                "participant": row.participant,
                "display_name": row.display_name,
                "team": row.team,
                "submission_id": row.record["submission_id"],
                "scores": dict(row.scores),
                "submissions": row.submissions,
                "submitted_at": row.record["submitted_at"],
                "last_submitted_at": row.last_submitted_at,
                **({"move": row.move} if row.move is not None else {}),
            }
            for row in board_.rows
        ]

    return {
        "ended": rankings.ended,
        "metrics": list(rankings.public.metrics),
        "public": rows(rankings.public),
        "private": rows(rankings.private),
        "failed": [
            {
                "participant": record["participant"],
                "submission_id": record["submission_id"],
                "submitted_at": record["submitted_at"],
                "error_class": (record.get("error") or {}).get("class"),
            }
            for record in rankings.failed
        ],
    }
