"""Stage 6, render: the static site from the challenges and the result records.

Gather first, then write (the MkDocs shape). :func:`gather_site` reads every
challenge, record and snapshot into a :class:`Site` model without touching the
output; :func:`render_site` turns that model into bytes per site path;
:func:`publish` writes them into a temporary sibling folder and swaps it into
place, so a killed build never leaves half a site.

Templates are jinja2 package data (``site_builder/templates/``) with named
blocks. An organizer overrides one by placing a file of the same name in
``<root>/site/templates/``; the override may extend the shipped template as
``builtin/<name>.html`` and replace a single block. Files in
``<root>/site/static/`` replace or add static files the same way.

Everything written by participants or organizers is escaped by jinja2
autoescaping or, for markdown, sanitized with nh3: no script, no event
handler, no ``javascript:`` link, no image from another host. Links are
relative, so the site works from ``file://``, under ``python -m http.server``
and below a ``/<repo>/`` prefix. Output is deterministic: everything is sorted
and the clock is injected as ``now``.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import posixpath
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from site_builder.errors import SiteBuilderError
from site_builder.metrics import Metric, get_metric
from site_builder.rank import BoardRow, Rankings, rank_challenge, rankings_to_json
from site_builder.record import (
    check_login,
    check_submission_id,
    parse_timestamp,
    safe_relative_name,
    snapshot_directory,
)
from site_builder.spec import Challenge, find_challenges

SITE_TITLE = "Data challenges"
OVERRIDE_FOLDER = "site"
MARKER_FILE = ".site-builder"
MARKER_TEXT = b"Built by site-builder. This folder is replaced as a whole on every build.\n"
# Past these, a file is shown truncated: a page must stay readable in a browser.
MAX_SHOWN_BYTES = 512 * 1024
MAX_SHOWN_LINES = 2000
MAX_DIFF_LINES = 2000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
CSV_DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class RenderError(SiteBuilderError):
    """The site cannot be built or written where asked."""


# --------------------------------------------------------------------------
# Site paths: one function per kind of page, all relative to the site root.


def challenge_path(slug: str) -> str:
    return f"challenges/{slug}/index.html"


def submission_path(slug: str, participant: str, submission_id: str) -> str:
    return f"challenges/{slug}/submissions/{participant}/{submission_id}.html"


def participant_path(login: str) -> str:
    return f"participants/{login}.html"


def relative_url(target: str, page: str) -> str:
    """The link from ``page`` to ``target`` (both site paths), percent-encoded."""
    start = posixpath.dirname(page) or "."
    return quote(posixpath.relpath(target, start))


# --------------------------------------------------------------------------
# The site model: everything the templates need, gathered before writing.


@dataclass(frozen=True)
class Status:
    """Where a challenge stands at build time: ``upcoming``, ``open`` or ``ended``."""

    state: str
    label: str
    detail: str


@dataclass(frozen=True)
class DataFile:
    """A public data file copied into the site."""

    label: str
    name: str
    path: str
    source: Path
    size: int
    rows: int | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class SourceFile:
    """One file of a submission snapshot, highlighted (or why it is not shown)."""

    name: str
    anchor: str
    size: int
    html: str | None
    note: str
    is_data: bool


@dataclass(frozen=True)
class FileDiff:
    name: str
    change: str
    html: str | None
    note: str = ""


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    label: str
    href: str
    improved: bool


@dataclass(frozen=True)
class Chart:
    """An SVG chart of the best public score over time, in viewBox units."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    points: tuple[ChartPoint, ...]
    best_path: str
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    metric: Metric


@dataclass
class SubmissionModel:
    """One record and what its page shows."""

    record: Mapping[str, Any]
    challenge: ChallengeModel
    path: str
    late: bool = False
    public_rank: int | None = None
    files: list[SourceFile] = field(default_factory=list)
    readme: str | None = None
    previous: SubmissionModel | None = None
    diffs: list[FileDiff] = field(default_factory=list)
    commit_url: str | None = None
    tree_url: str | None = None
    pull_request_url: str | None = None

    @property
    def participant(self) -> str:
        return str(self.record["participant"])

    @property
    def submission_id(self) -> str:
        return str(self.record["submission_id"])

    @property
    def display_name(self) -> str:
        return str((self.record.get("display") or {}).get("name") or self.participant)

    @property
    def team(self) -> str:
        return str((self.record.get("display") or {}).get("team") or "")

    @property
    def description(self) -> str:
        return str((self.record.get("display") or {}).get("description") or "")

    @property
    def scored(self) -> bool:
        return self.record.get("status") == "scored"

    @property
    def error(self) -> Mapping[str, Any]:
        return self.record.get("error") or {}

    def score(self, split: str, metric: str) -> float | None:
        """A score, never a private one before the challenge has ended."""
        if split == "private" and not self.challenge.ended:
            return None
        value = (self.record.get("scores") or {}).get(split, {}).get(metric)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def primary_score(self) -> float | None:
        return self.score("public", self.challenge.metrics[0].name)

    @property
    def run_details(self) -> list[tuple[str, str]]:
        """Run figures beyond the three the boards show, as text, sorted by name."""
        run = self.record.get("run") or {}
        shown = ("fit_seconds", "predict_seconds", "peak_memory_mb")
        return [
            (key.replace("_", " "), str(value))
            for key, value in sorted(run.items())
            if key not in shown and isinstance(value, (str, int, float, bool))
        ]


@dataclass
class ChallengeModel:
    """One challenge page and the data files, exports and chart that go with it."""

    challenge: Challenge
    path: str
    status: Status
    metrics: list[Metric]
    rankings: Rankings
    readme: str
    data_files: list[DataFile]
    assets: dict[str, Path]
    prediction_columns: list[str]
    submissions: list[SubmissionModel] = field(default_factory=list)
    chart: Chart | None = None

    @property
    def slug(self) -> str:
        return self.challenge.slug

    @property
    def title(self) -> str:
        return self.challenge.spec.title

    @property
    def ended(self) -> bool:
        return self.status.state == "ended"

    @property
    def participants(self) -> int:
        return len({submission.participant for submission in self.submissions})

    @property
    def final_board(self) -> Any:
        """The board that decides: private once ended, public before."""
        return self.rankings.private if self.rankings.private is not None else self.rankings.public

    @property
    def leader(self) -> BoardRow | None:
        rows = self.final_board.rows
        return rows[0] if rows else None

    @property
    def late(self) -> list[SubmissionModel]:
        return [submission for submission in self.submissions if submission.late]

    def submission_for(self, record: Mapping[str, Any]) -> str:
        return submission_path(self.slug, record["participant"], record["submission_id"])


@dataclass
class ParticipantModel:
    login: str
    path: str
    submissions: list[SubmissionModel]

    @property
    def display_name(self) -> str:
        """The name they chose most recently, or their login."""
        named = [s for s in self.submissions if (s.record.get("display") or {}).get("name")]
        if not named:
            return self.login
        return max(named, key=lambda s: (s.record["submitted_at"], s.challenge.slug, s.submission_id)).display_name

    @property
    def teams(self) -> list[str]:
        return sorted({submission.team for submission in self.submissions if submission.team})

    def by_challenge(self) -> list[tuple[ChallengeModel, list[SubmissionModel]]]:
        groups: dict[str, list[SubmissionModel]] = {}
        for submission in self.submissions:
            groups.setdefault(submission.challenge.slug, []).append(submission)
        return [(items[0].challenge, items) for _, items in sorted(groups.items())]


@dataclass
class Site:
    """Everything the site shows, gathered before a byte is written."""

    title: str
    now: datetime
    repository_url: str | None
    challenges: list[ChallengeModel]
    participants: list[ParticipantModel]
    records: list[dict[str, Any]]
    warnings: list[str]
    override_templates: Path
    override_static: Path

    @property
    def submissions(self) -> list[SubmissionModel]:
        return [submission for challenge in self.challenges for submission in challenge.submissions]


@dataclass(frozen=True)
class BuildReport:
    """What a build produced, for the CLI to print."""

    out: Path
    challenges: int
    records: int
    pages: int
    files: int
    changed: int
    removed: int
    warnings: tuple[str, ...]


# --------------------------------------------------------------------------
# Formatting, shared by the model and the templates.


def format_timestamp(value: str | datetime | None) -> str:
    """``2026-11-22 10:00 UTC``: minutes are enough for a reader."""
    if value is None or value == "":
        return "–"
    moment = parse_timestamp(value) if isinstance(value, str) else value.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def format_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def format_duration(delta: timedelta) -> str:
    """A coarse duration, so pages only change when the shown text does."""
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "less than a minute"


def format_seconds(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "–"
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes} min {seconds} s"


def format_megabytes(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "–"
    return f"{value:.1f} MB" if value < 10 else f"{value:.0f} MB"


def format_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_move(move: int | None) -> str:
    if move is None:
        return ""
    if move > 0:
        return f"▲ {move}"
    if move < 0:
        return f"▼ {-move}"
    return "="


def sort_value(value: Any) -> str:
    """A ``data-sort`` attribute: the raw number for numeric columns, else empty."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return ""
    return repr(value)


def challenge_status(challenge: Challenge, now: datetime) -> Status:
    schedule = challenge.spec.schedule
    if schedule.start is not None and now < schedule.start:
        return Status("upcoming", "Upcoming", f"opens in {format_duration(schedule.start - now)}")
    if now >= schedule.end:
        return Status("ended", "Ended", f"ended {format_date(schedule.end)}")
    return Status("open", "Open", f"{format_duration(schedule.end - now)} left")


# --------------------------------------------------------------------------
# Markdown, sanitized. Organizer and participant text alike is untrusted.


_MARKDOWN_EXTENSIONS = ["fenced_code", "tables", "sane_lists", "toc", "footnotes", "codehilite"]
_MARKDOWN_CONFIG = {"codehilite": {"guess_lang": False, "css_class": "highlight"}}
_SANITIZER_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q",
    "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul", "var",
}  # fmt: skip
_SANITIZER_ATTRIBUTES = {
    "*": {"id", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
    "span": {"class"},
    "div": {"class"},
    "code": {"class"},
    "pre": {"class"},
}
_ID_PREFIX = "md-"
_IMAGE_WITHOUT_SOURCE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
_HEADING_TAG = re.compile(r"<(/?)h([1-6])\b")


UrlMapper = Callable[[str, str], str | None]


def render_markdown(text: str, map_url: UrlMapper, link_rel: str = "noopener noreferrer") -> str:
    """Markdown to HTML, then sanitized: nothing active survives.

    ``map_url(tag, path)`` decides what a relative link or image may point at
    (a site path relative to the page, or ``None`` to drop it). Images from
    other hosts are dropped: the site loads no asset from another host.
    """
    import markdown
    import nh3

    html = markdown.markdown(text, extensions=_MARKDOWN_EXTENSIONS, extension_configs=_MARKDOWN_CONFIG)

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if attribute in ("href", "src"):
            return _filter_url(tag, value, map_url)
        return value

    cleaned = nh3.clean(
        html,
        tags=_SANITIZER_TAGS,
        attributes=_SANITIZER_ATTRIBUTES,
        attribute_filter=attribute_filter,
        id_prefix=_ID_PREFIX,
        link_rel=link_rel,
        url_schemes={"http", "https", "mailto"},
        strip_comments=True,
    )
    # An image whose source was refused would show as a broken icon: drop it.
    cleaned = _IMAGE_WITHOUT_SOURCE.sub("", cleaned)
    # The README sits under the page's own h1 and a section's h2.
    return _HEADING_TAG.sub(lambda match: f"<{match[1]}h{min(6, int(match[2]) + 2)}", cleaned)


def _filter_url(tag: str, value: str, map_url: UrlMapper) -> str | None:
    parts = urlsplit(value.strip())
    if parts.scheme or parts.netloc:
        # A link elsewhere is fine to follow; an image from elsewhere would load on view.
        return None if tag == "img" else value
    if not parts.path:
        return f"#{_ID_PREFIX}{parts.fragment}" if parts.fragment and tag == "a" else None
    relative = posixpath.normpath(unquote(parts.path))
    if relative.startswith(("/", "../")) or relative == "..":
        return None
    return map_url(tag, relative)


def _challenge_url_mapper(challenge: Challenge, data_files: Sequence[DataFile], assets: dict[str, Path]) -> UrlMapper:
    """Links from a challenge README: to its public data files and to its images."""
    page_dir = posixpath.dirname(challenge_path(challenge.slug))
    by_source = {_relative_to(challenge.directory, data.source): data.path for data in data_files}
    private = {_relative_to(challenge.directory, challenge.solution_path)}

    def map_url(tag: str, relative: str) -> str | None:
        if relative in by_source and tag == "a":
            return quote(posixpath.relpath(by_source[relative], page_dir))
        source = challenge.directory / relative
        if (
            relative.lower().endswith(IMAGE_SUFFIXES)
            and relative not in private
            and not relative.startswith("private/")
            and source.is_file()
            and not _has_symlink(challenge.directory, relative)
        ):
            target = f"challenges/{challenge.slug}/assets/{relative}"
            assets[target] = source
            return quote(posixpath.relpath(target, page_dir))
        return None

    return map_url


def _submission_url_mapper(files: Sequence[SourceFile]) -> UrlMapper:
    """Links from a submission README: to its own files on the same page; no images."""
    anchors = {source.name: source.anchor for source in files}

    def map_url(tag: str, relative: str) -> str | None:
        if tag == "a" and relative in anchors:
            return f"#{anchors[relative]}"
        return None

    return map_url


def _relative_to(directory: Path, path: Path) -> str:
    try:
        return path.relative_to(directory).as_posix()
    except ValueError:
        return ""


def _has_symlink(directory: Path, relative: str) -> bool:
    current = directory
    for part in PurePosixPath(relative).parts:
        current = current / part
        if current.is_symlink():
            return True
    return False


# --------------------------------------------------------------------------
# Code: every snapshot file highlighted, with line numbers and line anchors.


def _decode_text(data: bytes, truncated: bool = False) -> str | None:
    """UTF-8 text, or ``None`` for binary data; a cut-off last character is dropped."""
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if truncated and error.start >= len(data) - 3:
            return data[: error.start].decode("utf-8", errors="replace")
        return None


def _lexer_for(name: str) -> Any:
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        return get_lexer_for_filename(PurePosixPath(name).name, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=True)


def highlight_file(name: str, text: str, anchor: str) -> str:
    """Highlighted HTML with linked line numbers; ``anchor-N`` is line N's id."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    formatter = HtmlFormatter(linenos="table", anchorlinenos=True, lineanchors=anchor, wrapcode=True)
    return highlight(text, _lexer_for(name), formatter)


def highlight_diff(text: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import DiffLexer

    formatter = HtmlFormatter(cssclass="highlight diff", wrapcode=True)
    return highlight(text, DiffLexer(stripnl=False, ensurenl=True), formatter)


def _truncate_lines(text: str, limit: int) -> tuple[str, int]:
    """The first ``limit`` lines and how many more there were."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= limit:
        return text, 0
    return "".join(lines[:limit]), len(lines) - limit


def read_snapshot(directory: Path, record: Mapping[str, Any]) -> dict[str, bytes | None]:
    """The snapshot's files by name; ``None`` for a listed file that cannot be read safely."""
    names = sorted(str(entry.get("name", "")) for entry in record.get("files") or [] if isinstance(entry, Mapping))
    if not names and directory.is_dir():
        names = sorted(
            path.relative_to(directory).as_posix()
            for path in directory.rglob("*")
            if path.is_file() and not path.is_symlink()
        )
    contents: dict[str, bytes | None] = {}
    for name in names:
        contents[name] = _read_snapshot_file(directory, name)
    return contents


def _read_snapshot_file(directory: Path, name: str) -> bytes | None:
    try:
        relative = safe_relative_name(name)
    except SiteBuilderError:
        return None
    path = directory / relative
    if _has_symlink(directory, relative.as_posix()) or not path.is_file():
        return None
    return path.read_bytes()


def source_files(contents: Mapping[str, bytes | None]) -> list[SourceFile]:
    files = []
    for index, (name, data) in enumerate(sorted(contents.items()), start=1):
        files.append(_source_file(name, data, f"file-{index}"))
    return files


def _source_file(name: str, data: bytes | None, anchor: str) -> SourceFile:
    is_data = name.lower().endswith((".csv", ".tsv", ".json", ".txt")) and not name.lower().endswith("requirements.txt")
    if data is None:
        return SourceFile(name, anchor, 0, None, "not in the stored snapshot", is_data)
    text = _decode_text(data[:MAX_SHOWN_BYTES], truncated=len(data) > MAX_SHOWN_BYTES)
    if text is None:
        return SourceFile(name, anchor, len(data), None, "binary or not UTF-8 text, not shown", is_data)
    shown, hidden = _truncate_lines(text, MAX_SHOWN_LINES)
    note = ""
    if hidden or len(data) > MAX_SHOWN_BYTES:
        note = "only the beginning is shown"
    return SourceFile(name, anchor, len(data), highlight_file(name, shown, anchor), note, is_data)


def diff_files(
    previous: Mapping[str, bytes | None], current: Mapping[str, bytes | None], labels: tuple[str, str]
) -> list[FileDiff]:
    """A unified diff per file that changed, was added or was removed."""
    diffs = []
    for name in sorted(set(previous) | set(current)):
        old, new = previous.get(name), current.get(name)
        if name in previous and name in current and old == new:
            continue
        change = "added" if name not in previous else "removed" if name not in current else "changed"
        diffs.append(_file_diff(name, change, old, new, labels))
    return diffs


def _file_diff(name: str, change: str, old: bytes | None, new: bytes | None, labels: tuple[str, str]) -> FileDiff:
    if max(len(old or b""), len(new or b"")) > MAX_SHOWN_BYTES:
        return FileDiff(name, change, None, "too large to compare here")
    old_text = "" if old is None else _decode_text(old)
    new_text = "" if new is None else _decode_text(new)
    if old_text is None or new_text is None:
        return FileDiff(name, change, None, "binary file, not compared")
    lines = list(
        difflib.unified_diff(
            old_text.splitlines(),
            new_text.splitlines(),
            fromfile=f"{labels[0]}/{name}",
            tofile=f"{labels[1]}/{name}",
            lineterm="",
        )
    )
    note = ""
    if len(lines) > MAX_DIFF_LINES:
        note = f"{len(lines) - MAX_DIFF_LINES} more lines of diff not shown"
        lines = lines[:MAX_DIFF_LINES]
    return FileDiff(name, change, highlight_diff("\n".join(lines) + "\n") if lines else None, note)


# --------------------------------------------------------------------------
# The chart: best public score over time, every submission a dot.


_CHART_WIDTH, _CHART_HEIGHT = 880, 270
_CHART_MARGIN = (64, 14, 20, 30)  # left, top, right, bottom
_TIME_STEPS = tuple(hours * 3600 for hours in (1, 3, 6, 12, 24, 48, 168, 336, 720, 1440, 2880, 8760))


def build_chart(challenge: ChallengeModel, now: datetime) -> Chart | None:
    metric = challenge.metrics[0]
    entries = sorted(
        (s for s in challenge.submissions if s.scored and not s.late and s.primary_score is not None),
        key=lambda s: (s.record["submitted_at"], s.participant, s.submission_id),
    )
    if not entries:
        return None
    times = [parse_timestamp(s.record["submitted_at"]).timestamp() for s in entries]
    scores = [float(s.primary_score) for s in entries]  # type: ignore[arg-type]
    schedule = challenge.challenge.spec.schedule
    t0 = min([times[0]] + ([schedule.start.timestamp()] if schedule.start else []))
    t1 = max(times[-1], min(now, schedule.end).timestamp())
    if t1 - t0 < 3600:
        t1 = t0 + 3600
    y_low, y_high, y_ticks = _value_axis(min(scores), max(scores), metric)
    left, top, right, bottom = _CHART_MARGIN
    plot_width, plot_height = _CHART_WIDTH - left - right, _CHART_HEIGHT - top - bottom

    def x_of(moment: float) -> float:
        return round(left + (moment - t0) / (t1 - t0) * plot_width, 1)

    def y_of(value: float) -> float:
        return round(top + (y_high - value) / (y_high - y_low) * plot_height, 1)

    points, path, best = [], "", None
    for moment, value, submission in zip(times, scores, entries):
        improved = best is None or metric.is_better(value, best)
        if improved:
            path += f"M{x_of(moment)},{y_of(value)}" if best is None else f"H{x_of(moment)}V{y_of(value)}"
            best = value
        when = format_timestamp(submission.record["submitted_at"])
        label = f"{submission.display_name}: {metric.format(value)} ({when})"
        points.append(ChartPoint(x_of(moment), y_of(value), label, submission.path, improved))
    path += f"H{x_of(t1)}"
    x_ticks = tuple(Tick(x_of(moment), label) for moment, label in _time_ticks(t0, t1))
    y_tick_marks = tuple(Tick(y_of(value), label) for value, label in y_ticks)
    return Chart(_CHART_WIDTH, _CHART_HEIGHT, left, top, _CHART_WIDTH - right, _CHART_HEIGHT - bottom,
                 tuple(points), path, x_ticks, y_tick_marks, metric)  # fmt: skip


def _value_axis(low: float, high: float, metric: Metric) -> tuple[float, float, list[tuple[float, str]]]:
    """A padded, rounded value range and its tick labels."""
    span = high - low
    pad = span * 0.1 if span > 0 else max(abs(high) * 0.05, 10.0 ** -metric.precision)
    low, high = low - pad, high + pad
    raw_step = (high - low) / 4
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    decimals = max(0, -math.floor(math.log10(step)) + (1 if round(step / magnitude, 1) == 2.5 else 0))
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    count = int(round((high - low) / step))
    ticks = [(low + index * step, f"{low + index * step:.{decimals}f}") for index in range(count + 1)]
    return low, high, ticks


def _time_ticks(t0: float, t1: float) -> list[tuple[float, str]]:
    step = next((s for s in _TIME_STEPS if (t1 - t0) / s <= 8), _TIME_STEPS[-1])
    first = math.ceil(t0 / step) * step
    ticks = []
    moment = first
    while moment <= t1:
        when = datetime.fromtimestamp(moment, tz=timezone.utc)
        label = f"{MONTHS[when.month - 1]} {when.day}"
        if step < 86400:
            label += f" {when:%H:%M}"
        elif step >= 8760 * 3600:
            label = f"{when.year}"
        ticks.append((moment, label))
        moment += step
    return ticks


# --------------------------------------------------------------------------
# Gathering: read everything into the model; nothing is written here.


def gather_site(root: Path, results: Path, *, now: datetime, repository_url: str | None = None) -> Site:
    """Read the challenges, the records and their snapshots into a :class:`Site`."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (UTC)")
    root, results = Path(root), Path(results)
    repository_url = _check_repository_url(repository_url)
    problems: list[str] = []
    challenges = find_challenges(root)
    records = _valid_records(results, {challenge.slug for challenge in challenges}, problems)
    models = [
        _gather_challenge(challenge, records.get(challenge.slug, []), results, now, repository_url)
        for challenge in challenges
    ]
    published = [_public_record(s.record, model.ended) for model in models for s in reversed(model.submissions)]
    return Site(
        title=SITE_TITLE,
        now=now,
        repository_url=repository_url,
        challenges=sorted(models, key=_challenge_order),
        participants=_gather_participants(models),
        records=published,
        warnings=problems,
        override_templates=root / OVERRIDE_FOLDER / "templates",
        override_static=root / OVERRIDE_FOLDER / "static",
    )


def _check_repository_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise RenderError(f"the repository URL must start with https://, got {url!r}", key="repository_url")
    return url.rstrip("/")


def _valid_records(results: Path, slugs: set[str], problems: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Records by challenge; one that could not be shown safely is reported and left out."""
    from site_builder.record import load_records

    grouped: dict[str, list[dict[str, Any]]] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_records(results)
    problems.extend(str(warning.message) for warning in caught)
    seen: set[tuple[str, str, str]] = set()
    for record in loaded:
        problem = _record_problem(record, slugs, seen)
        if problem:
            problems.append(problem)
            continue
        grouped.setdefault(record["challenge"], []).append(record)
    return grouped


def _record_problem(record: Mapping[str, Any], slugs: set[str], seen: set[tuple[str, str, str]]) -> str | None:
    where = f"record {record.get('challenge')!r}/{record.get('participant')!r}/{record.get('submission_id')!r}"
    if record["challenge"] not in slugs:
        return f"{where}: skipped, no such challenge"
    try:
        check_login(str(record["participant"]))
        check_submission_id(str(record["submission_id"]))
        parse_timestamp(str(record["submitted_at"]))
    except (SiteBuilderError, ValueError) as error:
        return f"{where}: skipped, {error}"
    shape = _shape_problem(record)
    if shape:
        return f"{where}: skipped, {shape}"
    key = (record["challenge"], record["participant"], record["submission_id"])
    if key in seen:
        return f"{where}: skipped, a second record of the same submission"
    seen.add(key)
    return None


def _shape_problem(record: Mapping[str, Any]) -> str | None:
    """What makes a record unfit to publish: wrong types or a score that is not a finite number."""
    for name, kind in (("scores", dict), ("run", dict), ("display", dict), ("files", list)):
        if not isinstance(record.get(name) or kind(), kind):
            return f"{name} is not a {kind.__name__}"
    if not isinstance(record.get("error") or {}, dict):
        return "error is not a mapping"
    if not all(isinstance(value, str) for value in (record.get("display") or {}).values()):
        return "display holds something other than text"
    for split, values in (record.get("scores") or {}).items():
        if not isinstance(values, dict):
            return f"scores.{split} is not a mapping"
        for metric, value in values.items():
            if value is not None and not _finite_number(value):
                return f"scores.{split}.{metric} is {value!r}, not a finite number"
    return None


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _gather_challenge(
    challenge: Challenge, records: list[dict[str, Any]], results: Path, now: datetime, repository_url: str | None
) -> ChallengeModel:
    spec = challenge.spec
    rankings = rank_challenge(records, spec.metrics, spec.schedule.end, now, spec.schedule.start)
    data_files = _data_files(challenge)
    assets: dict[str, Path] = {}
    readme = ""
    if challenge.readme_path.is_file():
        text = challenge.readme_path.read_text(encoding="utf-8", errors="replace")
        readme = render_markdown(text, _challenge_url_mapper(challenge, data_files, assets))
    model = ChallengeModel(
        challenge=challenge,
        path=challenge_path(challenge.slug),
        status=challenge_status(challenge, now),
        metrics=[get_metric(name) for name in spec.metrics],
        rankings=rankings,
        readme=readme,
        data_files=data_files,
        assets=assets,
        prediction_columns=challenge.prediction_columns(),
    )
    late = {(r["participant"], r["submission_id"]) for r in rankings.late}
    ranks = {(row.participant, row.record["submission_id"]): row.rank for row in rankings.public.rows}
    for record in sorted(records, key=_record_order, reverse=True):
        key = (record["participant"], record["submission_id"])
        model.submissions.append(
            SubmissionModel(record, model, model.submission_for(record), late=key in late, public_rank=ranks.get(key))
        )
    _attach_snapshots(model, results, repository_url)
    model.chart = build_chart(model, now)
    return model


def _record_order(record: Mapping[str, Any]) -> tuple[str, str, str]:
    return (record["submitted_at"], record["participant"], record["submission_id"])


def _data_files(challenge: Challenge) -> list[DataFile]:
    train, test = challenge.train_path, challenge.test_path
    test_name = test.name if test.name != train.name else f"test-{test.name}"
    return [
        _data_file("Training data (with the target)", train, f"challenges/{challenge.slug}/data/{train.name}"),
        _data_file("Test inputs (predict these)", test, f"challenges/{challenge.slug}/data/{test_name}"),
    ]


def _data_file(label: str, source: Path, path: str) -> DataFile:
    rows, columns = None, ()
    if source.suffix.lower() == ".csv":
        with open(source, encoding="utf-8", errors="replace", newline="") as handle:
            reader = csv.reader(handle)
            columns = tuple(next(reader, []))
            rows = sum(1 for _ in reader)
    return DataFile(label, PurePosixPath(path).name, path, source, source.stat().st_size, rows, columns)


def _attach_snapshots(model: ChallengeModel, results: Path, repository_url: str | None) -> None:
    """Files, README, links and the diff against the previous scored submission."""
    previous: dict[str, tuple[SubmissionModel, dict[str, bytes | None]]] = {}
    for submission in reversed(model.submissions):  # oldest first
        record = submission.record
        directory = snapshot_directory(results, model.slug, submission.participant, submission.submission_id)
        contents = read_snapshot(directory, record)
        submission.files = source_files(contents)
        submission.readme = _submission_readme(contents, submission.files)
        _attach_links(submission, repository_url)
        before = previous.get(submission.participant)
        if before is not None:
            submission.previous = before[0]
            labels = (before[0].submission_id, submission.submission_id)
            submission.diffs = diff_files(before[1], contents, labels)
        if submission.scored:
            previous[submission.participant] = (submission, contents)


def _submission_readme(contents: Mapping[str, bytes | None], files: Sequence[SourceFile]) -> str | None:
    for name in ("README.md", "readme.md", "Readme.md"):
        data = contents.get(name)
        if data:
            text = data.decode("utf-8", errors="replace")
            return render_markdown(text, _submission_url_mapper(files), link_rel="noopener noreferrer nofollow ugc")
    return None


def _attach_links(submission: SubmissionModel, repository_url: str | None) -> None:
    if repository_url is None:
        return
    commit = submission.record.get("commit")
    if isinstance(commit, str) and len(commit) >= 7 and all(c in "0123456789abcdef" for c in commit):
        submission.commit_url = f"{repository_url}/commit/{commit}"
        folder = f"submissions/{submission.challenge.slug}/{submission.participant}"
        submission.tree_url = f"{repository_url}/tree/{commit}/{folder}"
    pull_request = submission.record.get("pull_request")
    if isinstance(pull_request, int) and not isinstance(pull_request, bool) and pull_request > 0:
        submission.pull_request_url = f"{repository_url}/pull/{pull_request}"


def _gather_participants(models: Iterable[ChallengeModel]) -> list[ParticipantModel]:
    grouped: dict[str, list[SubmissionModel]] = {}
    for model in models:
        for submission in model.submissions:
            grouped.setdefault(submission.participant, []).append(submission)
    return [
        ParticipantModel(login, participant_path(login), sorted(items, key=_newest_first))
        for login, items in sorted(grouped.items())
    ]


def _newest_first(submission: SubmissionModel) -> tuple[Any, ...]:
    timestamp = parse_timestamp(submission.record["submitted_at"]).timestamp()
    return (-timestamp, submission.challenge.slug, submission.submission_id)


def _challenge_order(model: ChallengeModel) -> tuple[Any, ...]:
    """Open challenges first (closing soonest), then upcoming, then ended (latest first)."""
    schedule = model.challenge.spec.schedule
    rank = {"open": 0, "upcoming": 1, "ended": 2}[model.status.state]
    end = schedule.end.timestamp()
    return (rank, -end if model.ended else end, model.slug)


def _public_record(record: Mapping[str, Any], ended: bool) -> dict[str, Any]:
    """The record as published: private scores stay hidden until the challenge ends."""
    published = dict(record)
    if not ended:
        scores = record.get("scores") or {}
        published["scores"] = {split: values for split, values in scores.items() if split != "private"}
    return published


# --------------------------------------------------------------------------
# Rendering: the model to bytes per site path.


@dataclass
class Output:
    """The site as bytes per path, plus files copied as they are."""

    files: dict[str, bytes] = field(default_factory=dict)
    copies: dict[str, Path] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return sum(1 for path in self.files if path.endswith(".html"))


def template_environment(override_templates: Path | None = None) -> Any:
    """Jinja2 with autoescaping; an organizer's templates come before the shipped ones."""
    import jinja2

    shipped = jinja2.PackageLoader("site_builder", "templates")
    loaders: list[Any] = []
    if override_templates is not None and override_templates.is_dir():
        loaders.append(jinja2.FileSystemLoader(str(override_templates)))
    loaders += [shipped, jinja2.PrefixLoader({"builtin": shipped})]
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        timestamp=format_timestamp,
        seconds=format_seconds,
        megabytes=format_megabytes,
        filesize=format_bytes,
        move=format_move,
        sort_value=sort_value,
    )
    environment.globals.update(
        url=jinja2.pass_context(_url),
        format_date=format_date,
        challenge_path=challenge_path,
        submission_path=submission_path,
        participant_path=participant_path,
    )
    return environment


def _url(context: Any, target: str) -> str:
    """``url('static/style.css')`` in a template: the link from the page being rendered."""
    return relative_url(target, context["page_path"])


def render_site(site: Site) -> Output:
    """Every page, export and static file of the site as bytes."""
    environment = template_environment(site.override_templates)
    output = Output()
    common = {"site": site}

    def page(path: str, template: str, **context: Any) -> None:
        html = environment.get_template(template).render(page_path=path, **common, **context)
        output.files[path] = html.encode("utf-8")

    page("index.html", "index.html")
    for challenge in site.challenges:
        page(challenge.path, "challenge.html", challenge=challenge)
        for submission in challenge.submissions:
            page(submission.path, "submission.html", challenge=challenge, submission=submission)
        _challenge_exports(challenge, output)
    for participant in site.participants:
        page(participant.path, "participant.html", participant=participant)
    output.files["results.json"] = _json_bytes({"records": site.records})
    output.files[".nojekyll"] = b""
    output.files[MARKER_FILE] = MARKER_TEXT
    _static_files(site.override_static, output)
    return output


def _challenge_exports(challenge: ChallengeModel, output: Output) -> None:
    base = f"challenges/{challenge.slug}"
    output.files[f"{base}/leaderboard.json"] = _json_bytes(leaderboard_json(challenge))
    output.files[f"{base}/leaderboard.csv"] = leaderboard_csv(challenge).encode("utf-8")
    for data in challenge.data_files:
        output.copies[data.path] = data.source
    output.copies.update(challenge.assets)


def leaderboard_json(challenge: ChallengeModel) -> dict[str, Any]:
    data = rankings_to_json(challenge.rankings)
    return {
        "challenge": challenge.slug,
        "title": challenge.title,
        "status": challenge.status.state,
        "end": challenge.challenge.spec.schedule.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metric_details": [
            {"name": m.name, "title": m.title, "greater_is_better": m.greater_is_better, "precision": m.precision}
            for m in challenge.metrics
        ],
        **data,
    }


def leaderboard_csv(challenge: ChallengeModel) -> str:
    """Both boards in one table; text cells cannot start a spreadsheet formula."""
    metrics = [metric.name for metric in challenge.metrics]
    header = ["board", "rank", "move", "participant", "display_name", "team", "submission_id", *metrics,
              "submissions", "submitted_at", "last_submitted_at"]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for board in (challenge.rankings.public, challenge.rankings.private):
        for row in board.rows if board is not None else ():
            cells = [board.split, row.rank, "" if row.move is None else row.move, row.participant, row.display_name,
                     row.team, row.record["submission_id"], *(_csv_number(row.scores.get(m)) for m in metrics),
                     row.submissions, row.record["submitted_at"], row.last_submitted_at]  # fmt: skip
            writer.writerow([neutralize_cell(cell) if isinstance(cell, str) else cell for cell in cells])
    return buffer.getvalue()


def _csv_number(value: float | None) -> str | float:
    return "" if value is None else float(value)


def neutralize_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text, never evaluates (OWASP CSV injection)."""
    return f"'{text}" if text.startswith(CSV_DANGEROUS_PREFIXES) else text


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _static_files(override: Path, output: Output) -> None:
    shipped = resources.files("site_builder") / "static"
    for entry in sorted(shipped.iterdir(), key=lambda item: item.name):
        if entry.is_file() and not entry.name.startswith("."):
            output.files[f"static/{entry.name}"] = entry.read_bytes()
    if override.is_dir():
        for path in sorted(override.iterdir()):
            if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
                output.files[f"static/{path.name}"] = path.read_bytes()


# --------------------------------------------------------------------------
# Writing: a temporary sibling folder swapped into place.


def publish(output: Output, out: Path) -> tuple[int, int]:
    """Write the site into ``out`` as a whole; (files changed or added, files removed).

    Files whose bytes did not change keep their modification time, so a sync
    or a cache downstream sees only real changes.
    """
    out = Path(os.path.abspath(out))
    _check_output_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    try:
        os.chmod(staging, 0o755)
        for path, data in sorted(output.files.items()):
            _write(staging / path, data)
        for path, source in sorted(output.copies.items()):
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        changed, removed = _compare_and_keep_times(staging, out)
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return changed, removed


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _check_output_folder(out: Path) -> None:
    """Refuse to replace a folder that is not a site this tool built."""
    if out.exists() and not out.is_dir():
        raise RenderError("exists and is not a folder", path=out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER_FILE).is_file():
        raise RenderError(
            f"is not empty and holds no {MARKER_FILE} file from an earlier build; "
            "choose an empty or new folder for the site",
            path=out,
        )


def _remove_stale(out: Path) -> None:
    """Leftovers of a build killed midway."""
    for pattern in (f".{out.name}.build-*", f".{out.name}.old-*"):
        for stale in sorted(out.parent.glob(pattern)):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def _compare_and_keep_times(staging: Path, out: Path) -> tuple[int, int]:
    new = {path.relative_to(staging) for path in staging.rglob("*") if path.is_file()}
    old = {path.relative_to(out) for path in out.rglob("*") if path.is_file()} if out.is_dir() else set()
    changed = 0
    for relative in sorted(new):
        previous = out / relative
        if relative in old and _same_bytes(previous, staging / relative):
            stat = previous.stat()
            os.utime(staging / relative, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        else:
            changed += 1
    return changed, len(old - new)


def _same_bytes(first: Path, second: Path) -> bool:
    if first.stat().st_size != second.stat().st_size:
        return False
    with open(first, "rb") as one, open(second, "rb") as two:
        while True:
            block = one.read(1 << 20)
            if block != two.read(1 << 20):
                return False
            if not block:
                return True


def _swap(staging: Path, out: Path) -> None:
    if not out.exists():
        os.rename(staging, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------
# The stage's entry point.


def build_site(
    root: Path, results: Path, out: Path, *, now: datetime, repository_url: str | None = None
) -> BuildReport:
    """Build the whole site from ``root`` (challenges) and ``results`` (records) into ``out``."""
    root, results, out = Path(root), Path(results), Path(out)
    _check_not_inside(out, root, results)
    site = gather_site(root, results, now=now, repository_url=repository_url)
    output = render_site(site)
    changed, removed = publish(output, out)
    return BuildReport(
        out=out,
        challenges=len(site.challenges),
        records=len(site.records),
        pages=output.pages,
        files=len(output.files) + len(output.copies),
        changed=changed,
        removed=removed,
        warnings=tuple(site.warnings),
    )


def _check_not_inside(out: Path, *folders: Path) -> None:
    """The site folder is replaced whole: it must not hold the inputs."""
    target = Path(os.path.abspath(out))
    for folder in folders:
        source = Path(os.path.abspath(folder))
        if source == target or target in source.parents:
            raise RenderError(f"the site folder would contain {source}; choose another --out", path=out)
