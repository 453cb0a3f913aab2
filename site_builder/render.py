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

Rebuilds are incremental and exact. Highlighted code is cached by the hash of
its text (:mod:`site_builder.cache`); every page gets a key, the digest of
everything its template can reach, and a page whose key and published file
are unchanged since the last build is kept rather than rendered. So that one
new submission does not change the key of every page, submission pages see
the site and their challenge through narrow views (:class:`SiteHeader`,
:class:`ChallengeHeader`); a template that reaches past a view still works,
and its page is then keyed by the whole object it reached. Pages that must be
rendered are spread over the cores. Whether the cache is cold, warm or
damaged, the bytes of the site are the same.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import gc
import hashlib
import io
import json
import math
import os
import posixpath
import re
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urlsplit

from markupsafe import Markup, escape

from site_builder.cache import (
    ContentCache,
    Fingerprints,
    default_cache_folder,
    digest_bytes,
    digest_text,
    write_whole,
)
from site_builder.errors import RenderError, SiteBuilderError
from site_builder.fileindex import FolderIndex, InputIndexes, file_digest, identity_of
from site_builder.lexing import accelerate_lexer
from site_builder.metrics import Metric, get_metric
from site_builder.publish import MARKER_FILE, MARKER_TEXT, BuildManifest, Output, PageState, publish, restore_site
from site_builder.rank import BoardRow, Rankings, rank_challenge, rankings_to_json
from site_builder.record import (
    FILES_DIRECTORY,
    check_login,
    check_submission_id,
    safe_relative_name,
)
from site_builder.record import parse_timestamp as _parse_timestamp
from site_builder.spec import Challenge, find_challenges, train_labels

SITE_TITLE = "Data challenges"
OVERRIDE_FOLDER = "site"
# Past these, a file is shown truncated: a page must stay readable in a browser.
MAX_SHOWN_BYTES = 512 * 1024
MAX_SHOWN_LINES = 2000
MAX_DIFF_LINES = 2000
# difflib's time grows faster than the square of the lines when many lines repeat, just
# under its 1% "popular" cut (0.4 s for 2,000 such lines, 10 s for 8,000): a changed file is
# compared up to this many lines, and a submission's changed files up to the second figure.
MAX_COMPARED_LINES = 2000
MAX_COMPARED_LINES_PER_SUBMISSION = 6000
# A participant's README is rendered up to this size: Markdown costs up to about
# 30 µs a byte on hostile input, and every cold build renders every README.
MAX_README_BYTES = 32 * 1024
# Pygments lexers whose patterns run in time linear in any text, for participants' files and
# Markdown code blocks. Some others take time quadratic in hostile input (Makefile, YAML, INI,
# Markdown, R, IPython: seconds to minutes for 32 KB), and every GitHub build highlights every
# file again: a file in another language is shown as plain text. benchmarks/lexers.py measures
# how each lexer's time grows on pathological text.
LINEAR_LEXERS = frozenset({"PythonLexer", "JsonLexer", "TOMLLexer", "BashLexer", "SqlLexer", "DockerLexer", "DiffLexer", "TextLexer"})
# Highlighting costs up to about 20 µs a character on hostile input, even with those: past this
# many characters per submission, its files are shown as plain text.
MAX_HIGHLIGHTED_CHARS = 128 * 1024
UNHIGHLIGHTED_NOTE = "shown without highlighting: this submission's files are longer than 128 KB in all"
README_CUT_NOTE = (
    '\n<p class="note">This README is longer than 32 KB: only its beginning is shown here. '
    "The whole file is in the list of files below.</p>\n"
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
CSV_DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --------------------------------------------------------------------------
# Site paths: one function per kind of page, all relative to the site root.


def challenge_path(slug: str) -> str:
    return f"challenges/{slug}/index.html"


def submission_path(slug: str, participant: str, submission_id: str) -> str:
    return f"challenges/{slug}/submissions/{participant}/{submission_id}.html"


def participant_path(login: str) -> str:
    return f"participants/{login}.html"


# What urllib.parse.quote leaves as it is: most links, which then skip it.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~/-]*")


def relative_url(target: str, page: str) -> str:
    """The link from ``page`` to ``target`` (both site paths), percent-encoded."""
    start = posixpath.dirname(page) or "."
    path = _relative_path(target, start)
    return path if _UNQUOTED.fullmatch(path) else quote(path)


def _relative_path(target: str, start: str) -> str:
    """``posixpath.relpath(target, start)`` for site paths, without its two calls to getcwd().

    Pages hold thousands of links; relpath makes both paths absolute first,
    which for two relative paths only adds the same prefix to each.
    """
    target_parts = _path_parts(target)
    start_parts = _path_parts(start)
    if ".." in target_parts or ".." in start_parts:
        return posixpath.relpath(target, start)
    common = 0
    for mine, theirs in zip(start_parts, target_parts):
        if mine != theirs:
            break
        common += 1
    parts = [".."] * (len(start_parts) - common) + target_parts[common:]
    return "/".join(parts) if parts else "."


def _path_parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


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
    digest: str = ""  # of the file's bytes, which the page keys stand on instead of reading them again


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


# Fields with this metadata hold back-references or services, never something a
# page shows by itself: page keys skip them (see site_builder.cache.Fingerprints).
NOT_CONTENT = {"content": False}
# The record is parsed from its file: where the file's digest is known, page keys use it instead.
BY_RECORD_DIGEST = {"digest": "record_digest"}

# The full objects the page being rendered reached past its narrow views.
_page_reach: set[str] | None = None


class _NarrowView:
    """A view holding a few attributes of a larger object ``full``.

    Reading any other attribute serves it from ``full`` and records that the
    page being rendered depends on all of ``full``, so the page's key then
    covers it: an organizer's template may read anything, at the price of
    being rebuilt whenever that object changes.
    """

    full: Any
    reach_name: str

    def __getattr__(self, name: str) -> Any:
        full = self.__dict__.get("full")
        if name.startswith("__") or full is None:
            raise AttributeError(name)
        if _page_reach is not None:
            _page_reach.add(self.reach_name)
        return getattr(full, name)


@dataclass
class SiteHeader(_NarrowView):
    """What pages other than the index show of the site."""

    title: str
    repository_url: str | None
    full: Site | None = field(default=None, repr=False, compare=False, metadata=NOT_CONTENT)
    reach_name = "site"


@dataclass
class ChallengeHeader(_NarrowView):
    """What a submission page shows of its challenge.

    The status text is left out on purpose: it changes with the clock
    ("3 days left"), and a submission page does not show it.
    """

    challenge: Challenge
    slug: str
    title: str
    path: str
    metrics: tuple[Metric, ...]
    ended: bool
    full: ChallengeModel | None = field(default=None, repr=False, compare=False, metadata=NOT_CONTENT)

    @property
    def reach_name(self) -> str:  # type: ignore[override]
        return f"challenge:{self.slug}"


class _RecordFacts:
    """What a page reads from a submission's record, shared by the model and its narrow view."""

    record: Mapping[str, Any]
    challenge: ChallengeHeader

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
class SubmissionModel(_RecordFacts):
    """One record and what its page shows.

    The snapshot's files are read, and highlighted, diffed and their README
    rendered, on first use: a page that is kept from the last build never
    needs them.
    """

    record: Mapping[str, Any] = field(metadata=BY_RECORD_DIGEST)
    challenge: ChallengeHeader
    path: str
    late: bool = False
    public_rank: int | None = None
    snapshot: Snapshot = field(default_factory=lambda: Snapshot(""))
    record_digest: str = ""  # of the record's file, when it was read from one
    previous: PreviousSubmission | None = None
    commit_url: str | None = None
    tree_url: str | None = None
    pull_request_url: str | None = None

    @property
    def contents(self) -> dict[str, bytes | None]:
        return self.snapshot.contents

    @functools.cached_property
    def files(self) -> list[SourceFile]:
        return source_files(self.contents)

    @functools.cached_property
    def readme(self) -> str | None:
        return _submission_readme(self.contents, self.files)

    @functools.cached_property
    def diffs(self) -> list[FileDiff]:
        """Changes since the participant's previous scored submission."""
        if self.previous is None:
            return []
        return diff_files(self.previous.contents, self.contents, (self.previous.submission_id, self.submission_id))

    @functools.cached_property
    def as_previous(self) -> PreviousSubmission:
        return PreviousSubmission(self.record, self.challenge, self.path, self.snapshot, self.record_digest, full=self)


@dataclass
class PreviousSubmission(_RecordFacts, _NarrowView):
    """What the next submission's page shows of this one: the link, the date, the score, the diff.

    Its rank and its own predecessor are left out, so a change of rank does
    not change the key of the pages that follow it.
    """

    record: Mapping[str, Any] = field(metadata=BY_RECORD_DIGEST)
    challenge: ChallengeHeader
    path: str
    snapshot: Snapshot
    record_digest: str = ""
    full: SubmissionModel | None = field(default=None, repr=False, compare=False, metadata=NOT_CONTENT)

    @property
    def reach_name(self) -> str:  # type: ignore[override]
        return f"submission:{self.path}"

    @property
    def contents(self) -> dict[str, bytes | None]:
        return self.snapshot.contents


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
    # The chart's time axis ends at the last submission or at this moment, whichever is later:
    # the build's clock rounded up to a step (chart_clock), but never past the end of the challenge.
    chart_until: datetime | None = None

    @functools.cached_property
    def chart(self) -> Chart | None:
        """The progress chart, made when a page shows it: every field it is made from is content.

        Kept pages never need it, and at 10,000 submissions making the four
        charts was a tenth of a build that renders four pages.
        """
        return build_chart(self, self.chart_until) if self.chart_until is not None else None

    @functools.cached_property
    def header(self) -> ChallengeHeader:
        return ChallengeHeader(self.challenge, self.slug, self.title, self.path, tuple(self.metrics), self.ended, full=self)

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
class ParticipantStanding(_NarrowView):
    """What a participant's page shows of one challenge they entered.

    Not the whole board: a page that held it would change with every new
    submission to the challenge. This way a newcomer changes only the pages
    of the participants whose rank it moves.
    """

    slug: str
    title: str
    path: str
    status: Status
    metrics: tuple[Metric, ...]
    private_rank: int | None
    full: ChallengeModel | None = field(default=None, repr=False, compare=False, metadata=NOT_CONTENT)

    @property
    def reach_name(self) -> str:  # type: ignore[override]
        return f"challenge:{self.slug}"


@dataclass
class ParticipantModel:
    login: str
    path: str
    submissions: list[SubmissionModel]
    standings: tuple[ParticipantStanding, ...] = ()

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

    def by_challenge(self) -> list[tuple[ParticipantStanding, list[SubmissionModel]]]:
        groups: dict[str, list[SubmissionModel]] = {}
        for submission in self.submissions:
            groups.setdefault(submission.challenge.slug, []).append(submission)
        standings = {standing.slug: standing for standing in self.standings}
        return [(standings[slug], items) for slug, items in sorted(groups.items())]


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
    # Per record, what names its published text: the digest of its file and whether
    # the challenge has ended ("" if unknown, and the record itself is digested).
    record_keys: list[str] = field(default_factory=list)

    @functools.cached_property
    def header(self) -> SiteHeader:
        return SiteHeader(self.title, self.repository_url, full=self)

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
    rendered: int = 0  # pages rendered; the others were kept from the previous build

    def summary(self) -> str:
        """One line for the person who ran the build: what is there and what this build did."""
        kept = self.pages - self.rendered
        return (
            f"built {self.out}: {self.pages:,} pages ({self.rendered:,} rendered, {kept:,} kept from the last build), "
            f"{self.changed:,} files written, {self.removed:,} removed; "
            f"{self.challenges:,} challenge{'' if self.challenges == 1 else 's'}, {self.records:,} record{'' if self.records == 1 else 's'}"
            + (f"; {len(self.warnings):,} warning{'' if len(self.warnings) == 1 else 's'}" if self.warnings else "")
        )


# --------------------------------------------------------------------------
# Formatting, shared by the model and the templates.


@functools.lru_cache(maxsize=65536)
def parse_timestamp(text: str) -> datetime:
    """:func:`site_builder.record.parse_timestamp`, remembered: a large site reads each time many times."""
    return _parse_timestamp(text)


def format_timestamp(value: str | datetime | None) -> str:
    """``2026-11-22 10:00 UTC``: minutes are enough for a reader."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        return _format_timestamp_text(value)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@functools.lru_cache(maxsize=65536)
def _format_timestamp_text(text: str) -> str:
    """A record's timestamp as shown; a large site shows each on several pages and in its chart."""
    return parse_timestamp(text).strftime("%Y-%m-%d %H:%M UTC")


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
    import nh3

    parser = _markdown_parser(raw_html=True)
    env: dict[str, Any] = {}
    tokens = parser.parse(text, env)
    html = parser.renderer.render(tokens, parser.options, env)
    if _raw_tags(tokens) * html.count("<") > _SANITIZER_WORK:
        # The sanitizer's HTML parser takes time in tags times nesting depth, and raw HTML can nest
        # without bound (40 000 <div> took 20 s): so much raw HTML is shown as text instead.
        html = _markdown_parser(raw_html=False).render(text)

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


_SANITIZER_WORK = 50_000_000  # raw HTML tags times all tags: a bound on the sanitizer's time (about a second)


@functools.lru_cache(maxsize=2)
def _markdown_parser(raw_html: bool) -> Any:
    """CommonMark with tables, footnotes, heading ids and highlighted code, in linear time.

    markdown-it-py's work grows linearly with any input (python-markdown took
    quadratic time on unclosed brackets, and READMEs come from participants);
    its nesting stops at 20 levels. Raw HTML passes to the sanitizer, as it
    always did, unless ``raw_html`` is false: then it shows as text.
    """
    from markdown_it import MarkdownIt
    from mdit_py_plugins.footnote import footnote_plugin

    parser = MarkdownIt("commonmark", {"html": raw_html}).enable("table")
    parser.block.ruler.at("html_block", _html_block_of_block_tags, {"alt": ["paragraph", "reference", "blockquote"]})
    parser.use(footnote_plugin, inline=False)
    parser.core.ruler.push("heading_ids", _heading_ids)
    parser.add_render_rule("fence", _render_code_block)
    parser.add_render_rule("code_block", _render_code_block)
    return parser


def _raw_tags(tokens: Sequence[Any]) -> int:
    """About how many tags the raw HTML blocks and inline tags hold."""
    count = 0
    for token in tokens:
        if token.type == "html_block":
            count += token.content.count("<")
        for child in token.children or ():
            if child.type == "html_inline":
                count += 1
    return count


def _html_block_of_block_tags(state: Any, start_line: int, end_line: int, silent: bool) -> bool:
    """CommonMark's raw HTML blocks less its last kind, a line holding any lone tag.

    As in python-markdown, a line such as ``<img src=...>`` stays inline in
    its paragraph, so the Markdown on the lines after it is still rendered;
    block tags (``<div>``, ``<details>``, ``<table>``...), ``<script>`` and
    comments still open a raw HTML block.
    """
    from markdown_it.rules_block.html_block import HTML_SEQUENCES, html_block

    start = state.bMarks[start_line] + state.tShift[start_line]
    line = state.src[start : state.eMarks[start_line]]
    if not line.startswith("<") or not any(opening.search(line) for opening, _, _ in HTML_SEQUENCES[:-1]):
        return False
    return bool(html_block(state, start_line, end_line, silent))


_SLUG_DROPPED = re.compile(r"[^\w\s-]")
_SLUG_SEPARATORS = re.compile(r"[-\s]+")


def _heading_ids(state: Any) -> None:
    """Give each heading the id python-markdown's toc gave it (``my-title``, then ``my-title_1``), so links to sections work."""
    import unicodedata

    taken: set[str] = set()
    suffixes: dict[str, int] = {}  # the next suffix to try per slug: linear however many headings repeat
    tokens = state.tokens
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or index + 1 >= len(tokens):
            continue
        words = "".join(child.content for child in tokens[index + 1].children or () if child.type in ("text", "code_inline"))
        slug = unicodedata.normalize("NFKD", words).encode("ascii", "ignore").decode("ascii")
        slug = _SLUG_SEPARATORS.sub("-", _SLUG_DROPPED.sub("", slug).strip().lower())
        unique = slug
        if not slug or slug in taken:
            number = suffixes.get(slug, 1)
            while f"{slug}_{number}" in taken:
                number += 1
            suffixes[slug] = number + 1
            unique = f"{slug}_{number}"
        taken.add(unique)
        token.attrSet("id", unique)


def _render_code_block(renderer: Any, tokens: Sequence[Any], index: int, options: Any, env: Any) -> str:
    """A fenced or indented code block, highlighted by Pygments as codehilite did (no guessing: unnamed is plain text)."""
    from markdown_it.common.utils import unescapeAll
    from pygments import highlight

    token = tokens[index]
    info = unescapeAll(token.info).strip() if token.info else ""
    language = info.split(maxsplit=1)[0] if info else ""
    return highlight(token.content, _code_lexer(language), _formatter(cssclass="highlight", wrapcode=True)) + "\n"


@functools.lru_cache(maxsize=64)
def _code_lexer(language: str) -> Any:
    """The lexer a code block's language names, among Pygments' built-in ones; plain text if none or not linear.

    As ``get_lexer_by_name`` finds it, without its last resort: asking every
    lexer plugin, which imports each installed package that declares one
    (IPython: a third of a second, for a block marked ``csv``).
    """
    from pygments.lexers import TextLexer, find_lexer_class
    from pygments.lexers._mapping import LEXERS

    alias = language.lower()
    name = next((name for _module, name, aliases, _patterns, _mimetypes in LEXERS.values() if alias in aliases), None)
    lexer_class = find_lexer_class(name) if language and name else None
    return lexer_class() if lexer_class is not None and _is_linear(lexer_class) else TextLexer()


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


# The cache of the build in progress and the salt of its keys (a digest of the
# code and library versions that shape the HTML); None outside a build.
_build_cache: tuple[ContentCache, str] | None = None


@contextlib.contextmanager
def _caching(cache: ContentCache | None, salt: str) -> Iterator[None]:
    """Route the highlighting of one build through ``cache``; forked workers inherit it."""
    global _build_cache
    saved = _build_cache
    _build_cache = (cache, salt) if cache is not None else None
    try:
        yield
    finally:
        _build_cache = saved


def _cached_text(namespace: str, compute: Callable[[], str], *inputs: str) -> str:
    """``compute()``, or its earlier result for the same inputs from the build cache."""
    if _build_cache is None:
        return compute()
    cache, salt = _build_cache
    return cache.memoize_text(namespace, digest_text(salt, namespace, *inputs), compute)


# Joined patterns (see accelerate_lexer) lex about four times faster, but building
# them costs most of a second per process: worth it from about this many pages.
ACCELERATED_LEXING_MIN_PAGES = 32
# Whether this build highlights with joined patterns; the tokens are the same either way.
_accelerated_lexing = True


@contextlib.contextmanager
def _lexing_for(pages: int) -> Iterator[None]:
    """Joined patterns for a build that highlights many pages, Pygments' own loop for a few."""
    global _accelerated_lexing
    saved = _accelerated_lexing
    _accelerated_lexing = pages >= ACCELERATED_LEXING_MIN_PAGES
    try:
        yield
    finally:
        _accelerated_lexing = saved


def _lexer_for(name: str) -> Any:
    return _lexer_for_file(name, _accelerated_lexing)


@functools.lru_cache(maxsize=256)
def _lexer_for_file(name: str, accelerated: bool) -> Any:
    """The lexer for a file name; finding it scans every lexer's patterns, so it is remembered."""
    from pygments.lexers import TextLexer

    lexer_class = _lexer_class_for(PurePosixPath(name).name) if name else None
    if lexer_class is None or not _is_linear(lexer_class):
        lexer_class = TextLexer
    lexer = lexer_class(stripnl=False, ensurenl=True)
    return accelerate_lexer(lexer) if accelerated else lexer


def _is_linear(lexer_class: type) -> bool:
    """One of Pygments' own :data:`LINEAR_LEXERS` (a plugin's class of the same name is not)."""
    return lexer_class.__name__ in LINEAR_LEXERS and lexer_class.__module__.startswith("pygments.lexers.")


def _lexer_class_for(filename: str) -> Any:
    """Pygments' choice among its built-in lexer classes for a file name; None if none claims it.

    Lexer plugins are never asked: only built-in lexers can be linear ones,
    and asking imports every installed package that declares one (IPython
    takes a second). The choice is Pygments' own: highest priority, half a
    point more for a pattern without ``*``, then the name.
    """
    import fnmatch

    from pygments.lexers import find_lexer_class
    from pygments.lexers._mapping import LEXERS

    matches = [
        (find_lexer_class(lexer_name), pattern)
        for _module, lexer_name, _aliases, patterns, _mimetypes in LEXERS.values()
        for pattern in patterns
        if fnmatch.fnmatchcase(filename, pattern)
    ]
    if not matches:
        return None

    def rating(match: tuple[Any, str]) -> tuple[float, str]:
        lexer_class, pattern = match
        return lexer_class.priority + (0.5 if "*" not in pattern else 0), lexer_class.__name__

    return sorted(matches, key=rating)[-1][0]


@functools.lru_cache(maxsize=64)
def _formatter(**options: Any) -> Any:
    """An HTML formatter; building one renders its style sheet, so they are reused."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(**options)


def highlight_file(name: str, text: str, anchor: str) -> str:
    """Highlighted HTML with linked line numbers; ``anchor-N`` is line N's id."""
    from pygments import highlight

    formatter = _formatter(linenos="table", anchorlinenos=True, lineanchors=anchor, wrapcode=True)
    return highlight(text, _lexer_for(name), formatter)


def highlight_diff(text: str) -> str:
    from pygments import highlight

    return highlight(text, _diff_lexer(_accelerated_lexing), _formatter(cssclass="highlight diff", wrapcode=True))


@functools.lru_cache(maxsize=2)
def _diff_lexer(accelerated: bool) -> Any:
    from pygments.lexers import DiffLexer

    lexer = DiffLexer(stripnl=False, ensurenl=True)
    return accelerate_lexer(lexer) if accelerated else lexer


def _truncate_lines(text: str, limit: int) -> tuple[str, int]:
    """The first ``limit`` lines and how many more there were."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= limit:
        return text, 0
    return "".join(lines[:limit]), len(lines) - limit


def read_snapshot(directory: Path, record: Mapping[str, Any]) -> dict[str, bytes | None]:
    """The snapshot's files by name; ``None`` for a listed file that cannot be read safely."""
    return {name: _read_snapshot_file(directory, name) for name in _snapshot_names(directory, record)}


@dataclass
class Snapshot:
    """A submission's stored files: named and digested up front, read only when a page shows them."""

    directory: str = field(metadata=NOT_CONTENT)  # where they are; the digest stands for what they hold
    names: tuple[str, ...] = ()
    digest: str = ""

    @functools.cached_property
    def contents(self) -> dict[str, bytes | None]:
        """The files by name; ``None`` for one that cannot be read safely."""
        return {name: _read_snapshot_file(Path(self.directory), name) for name in self.names}


def snapshot_of(directory: str, record: Mapping[str, Any], index: FolderIndex | None = None, prefix: str = "") -> Snapshot:
    """The snapshot in ``directory`` of the files ``record`` lists, digested.

    With an ``index`` (of the folder above, ``prefix`` being ``directory``
    relative to it), a file already digested and unchanged since is not read.
    """
    names = _snapshot_names(directory, record)
    parts = [(name, _snapshot_file_digest(directory, name, index, f"{prefix}/{name}")) for name in names]
    # repr of (name, digest) pairs is unambiguous, and cheaper than digest_text over thousands of snapshots.
    return Snapshot(directory, tuple(names), hashlib.sha256(repr(parts).encode("utf-8")).hexdigest())


def _snapshot_file_digest(directory: str, name: str, index: FolderIndex | None, key: str) -> str:
    """The digest of a snapshot file's bytes, or ``-`` for a file :func:`_read_snapshot_file` refuses."""
    identity = None
    if index is not None and "/" not in name and name not in ("", ".", ".."):  # nested names: always read
        try:
            found = os.lstat(f"{directory}/{name}")  # a plain name (checked above); join costs more over thousands
        except (OSError, ValueError):
            return "-"
        if not stat.S_ISREG(found.st_mode):
            return "-"
        identity = identity_of(found)
        known = index.lookup(key, identity)
        if known is not None:
            return str(known[0])
    data = _read_snapshot_file(Path(directory), name)
    digest = "-" if data is None else file_digest(data)
    if index is not None and identity is not None and data is not None:
        index.remember(key, identity, digest, None)
    return digest


def _snapshot_names(folder: str | Path, record: Mapping[str, Any]) -> list[str]:
    """The files the record lists, or for a record that lists none, every regular file of the snapshot."""
    names = sorted([str(entry.get("name", "")) for entry in record.get("files") or () if isinstance(entry, Mapping)])
    if names:
        return names
    directory = Path(folder)
    if directory.is_dir():
        names = sorted(
            path.relative_to(directory).as_posix()
            for path in directory.rglob("*")
            if path.is_file() and not path.is_symlink()
        )
    return names


def _read_snapshot_file(directory: Path, name: str) -> bytes | None:
    """The file's bytes; None if it is missing, not a regular file, or reached through a symlink."""
    try:
        # A plain file name, by far the most common, needs no parsing.
        parts = (name,) if name not in ("", ".", "..") and "/" not in name else safe_relative_name(name).parts
    except SiteBuilderError:
        return None
    base = os.fspath(directory)
    try:
        for depth in range(1, len(parts)):  # every folder on the way must be a real folder
            if not stat.S_ISDIR(os.lstat(os.path.join(base, *parts[:depth])).st_mode):
                return None
        path = os.path.join(base, *parts)
        if not _NO_FOLLOW and stat.S_ISLNK(os.lstat(path).st_mode):
            return None
        # No symlink at the end, and no waiting on a FIFO: it is refused by the check below.
        descriptor = os.open(path, os.O_RDONLY | _NO_FOLLOW | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        return None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read()


_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


def source_files(contents: Mapping[str, bytes | None]) -> list[SourceFile]:
    """The files in name order, highlighted while the submission's :data:`MAX_HIGHLIGHTED_CHARS` last."""
    files = []
    budget = MAX_HIGHLIGHTED_CHARS
    for index, (name, data) in enumerate(sorted(contents.items()), start=1):
        file, used = _source_file(name, data, f"file-{index}", budget)
        files.append(file)
        budget -= used
    return files


def _source_file(name: str, data: bytes | None, anchor: str, budget: int = MAX_HIGHLIGHTED_CHARS) -> tuple[SourceFile, int]:
    """The file as shown, and how many characters of the highlighting budget it used."""
    is_data = name.lower().endswith((".csv", ".tsv", ".json", ".txt")) and not name.lower().endswith("requirements.txt")
    if data is None:
        return SourceFile(name, anchor, 0, None, "not in the stored snapshot", is_data), 0
    text = _decode_text(data[:MAX_SHOWN_BYTES], truncated=len(data) > MAX_SHOWN_BYTES)
    if text is None:
        return SourceFile(name, anchor, len(data), None, "binary or not UTF-8 text, not shown", is_data), 0
    shown, hidden = _truncate_lines(text, MAX_SHOWN_LINES)
    notes = []
    if hidden or len(data) > MAX_SHOWN_BYTES:
        notes.append("only the beginning is shown")
    highlighted = len(shown) <= budget
    if not highlighted:
        notes.append(UNHIGHLIGHTED_NOTE)
    lexed_as = name if highlighted else ""  # no name: the plain-text lexer, line numbers and anchors still there
    html = _cached_text("code", lambda: highlight_file(lexed_as, shown, anchor), lexed_as, anchor, shown)
    return SourceFile(name, anchor, len(data), html, "; ".join(notes), is_data), len(shown) if highlighted else 0


def diff_files(
    previous: Mapping[str, bytes | None], current: Mapping[str, bytes | None], labels: tuple[str, str]
) -> list[FileDiff]:
    """A unified diff per file that changed, was added or was removed, within the comparison budget."""
    diffs = []
    budget = MAX_COMPARED_LINES_PER_SUBMISSION
    for name in sorted(set(previous) | set(current)):
        old, new = previous.get(name), current.get(name)
        if name in previous and name in current and old == new:
            continue
        change = "added" if name not in previous else "removed" if name not in current else "changed"
        diff, compared = _file_diff(name, change, old, new, labels, budget)
        diffs.append(diff)
        budget -= compared
    return diffs


def _file_diff(
    name: str, change: str, old: bytes | None, new: bytes | None, labels: tuple[str, str], budget: int = MAX_COMPARED_LINES_PER_SUBMISSION
) -> tuple[FileDiff, int]:
    """The file's diff, and how many lines of the submission's comparison budget it used."""
    if max(len(old or b""), len(new or b"")) > MAX_SHOWN_BYTES:
        return FileDiff(name, change, None, "too large to compare here"), 0
    old_text = "" if old is None else _decode_text(old)
    new_text = "" if new is None else _decode_text(new)
    if old_text is None or new_text is None:
        return FileDiff(name, change, None, "binary file, not compared"), 0
    compared = 0
    if old_text and new_text:  # an added or removed file is listed whole, at no cost to compare
        compared = max(len(old_text.splitlines()), len(new_text.splitlines()))
        if compared > MAX_COMPARED_LINES:
            return FileDiff(name, change, None, f"too long to compare here (more than {MAX_COMPARED_LINES:,} lines)"), 0
        if compared > budget:
            note = f"not compared: this submission's changed files pass {MAX_COMPARED_LINES_PER_SUBMISSION:,} lines in all"
            return FileDiff(name, change, None, note), 0

    def compute() -> str:
        return json.dumps(_text_diff(name, old_text, new_text, labels))

    html, note = json.loads(_cached_text("diff", compute, name, *labels, old_text, new_text))
    return FileDiff(name, change, html, note), compared


def _text_diff(name: str, old_text: str, new_text: str, labels: tuple[str, str]) -> tuple[str | None, str]:
    """The highlighted unified diff (or None when empty) and a note when it was cut."""
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
    return (highlight_diff("\n".join(lines) + "\n") if lines else None), note


# --------------------------------------------------------------------------
# The chart: best public score over time, every submission a dot.


_CHART_WIDTH, _CHART_HEIGHT = 880, 270
_CHART_MARGIN = (64, 14, 20, 30)  # left, top, right, bottom
_TIME_STEPS = tuple(hours * 3600 for hours in (1, 3, 6, 12, 24, 48, 168, 336, 720, 1440, 2880, 8760))


# Steps the chart's clock is rounded up to (seconds): whole minutes, hours and days of UTC.
_CHART_CLOCK_STEPS = (60, 300, 900, 3600, 6 * 3600, 86400)
# The step is at most this fraction of the time the axis spans: under 2 px of the plot.
_CHART_CLOCK_FRACTION = 1 / 400


def chart_clock(now: datetime, since: datetime | None) -> datetime:
    """Where an open challenge's time axis ends: ``now`` rounded up to a step.

    The axis ends at the build's clock, which moves between builds; left
    exact, every build would render every open challenge page again (at
    2,500 submissions, a quarter of a second each) for dots that move by
    less than a pixel. The step is the largest of whole minutes, hours or
    days that stays within :data:`_CHART_CLOCK_FRACTION` of the time since
    ``since`` (the axis's start), one minute at least: the axis ends at most
    that much after ``now``, and builds within one step give the same end
    (but for the few times in a challenge when the step itself grows).
    """
    if since is not None and now <= since:
        return since  # not started: no dot can be drawn before the start, and the page stays as it is
    span = (now - since).total_seconds() if since is not None else 0.0
    step = max([_CHART_CLOCK_STEPS[0]] + [step for step in _CHART_CLOCK_STEPS if step <= span * _CHART_CLOCK_FRACTION])
    moment = now.timestamp()
    rounded = math.ceil(moment / step) * step
    return now if rounded == moment else datetime.fromtimestamp(rounded, timezone.utc)


def build_chart(challenge: ChallengeModel, now: datetime) -> Chart | None:
    metric = challenge.metrics[0]
    # (submitted at, participant, id, score, submission) of each ranked score, oldest first.
    ranked = []
    for s in challenge.submissions:
        if not s.late and s.scored:
            score = s.primary_score
            if score is not None:
                ranked.append((s.record["submitted_at"], s.participant, s.submission_id, float(score), s))
    if not ranked:
        return None
    ranked.sort(key=_first_three)
    times = [parse_timestamp(item[0]).timestamp() for item in ranked]
    scores = [item[3] for item in ranked]
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
    for (submitted_at, _, _, value, submission), moment in zip(ranked, times):
        improved = best is None or metric.is_better(value, best)
        x, y = x_of(moment), y_of(value)
        if improved:
            path += f"M{x},{y}" if best is None else f"H{x}V{y}"
            best = value
        when = format_timestamp(submitted_at)
        # Unicode isolate marks, as <bdi> on the pages: a right-to-left name cannot reorder the score after it.
        label = f"\u2068{submission.display_name}\u2069: {metric.format(value)} ({when})"
        points.append(ChartPoint(x, y, label, submission.path, improved))
    path += f"H{x_of(t1)}"
    x_ticks = tuple(Tick(x_of(moment), label) for moment, label in _time_ticks(t0, t1))
    y_tick_marks = tuple(Tick(y_of(value), label) for value, label in y_ticks)
    return Chart(_CHART_WIDTH, _CHART_HEIGHT, left, top, _CHART_WIDTH - right, _CHART_HEIGHT - bottom,
                 tuple(points), path, x_ticks, y_tick_marks, metric)  # fmt: skip


def _first_three(item: tuple[Any, ...]) -> tuple[Any, ...]:
    return item[:3]


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


def gather_site(
    root: Path, results: Path, *, now: datetime, repository_url: str | None = None, inputs: InputIndexes | None = None
) -> Site:
    """Read the challenges, the records and their snapshots into a :class:`Site`.

    With ``inputs``, records and snapshot files unchanged since the last
    build are not read again (:mod:`site_builder.fileindex`).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (UTC)")
    root, results = Path(root), Path(results)
    repository_url = _check_repository_url(repository_url)
    problems: list[str] = []
    challenges = find_challenges(root)
    digests: dict[int, str] = {}
    slugs = {challenge.slug for challenge in challenges}
    records = _valid_records(results, slugs, problems, inputs or InputIndexes(None, ""), digests)
    models = [
        _gather_challenge(challenge, records.get(challenge.slug, []), digests, results, now, repository_url, inputs)
        for challenge in challenges
    ]
    shown = [(submission, model.ended) for model in models for submission in reversed(model.submissions)]
    return Site(
        title=SITE_TITLE,
        now=now,
        repository_url=repository_url,
        challenges=sorted(models, key=_challenge_order),
        participants=_gather_participants(models),
        records=[_public_record(submission.record, ended) for submission, ended in shown],
        record_keys=[f"{submission.record_digest} {ended}" if submission.record_digest else "" for submission, ended in shown],
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


def _valid_records(
    results: Path, slugs: set[str], problems: list[str], inputs: InputIndexes, digests: dict[int, str]
) -> dict[str, list[dict[str, Any]]]:
    """Records by challenge; one that could not be shown safely is reported and left out.

    ``digests`` receives the digest of each record's file, by the record's ``id``.
    """
    from site_builder.record import record_files, record_folders, record_sort_key, unreadable_record

    loaded: list[dict[str, Any]] = []
    for folder in record_folders(results):
        index = inputs.folder(os.fspath(folder))
        for path in record_files(folder):
            try:
                digest, (record, problem) = index.read(os.path.basename(path), functools.partial(_parse_record, path))
            except OSError as error:
                problems.append(unreadable_record(path, error))
                continue
            if problem is not None:
                problems.append(problem)
            else:
                loaded.append(record)
                digests[id(record)] = digest
    loaded.sort(key=record_sort_key)
    grouped: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[str, str, str]] = set()
    for record in loaded:
        problem = _record_problem(record, slugs, seen)
        if problem:
            problems.append(problem)
            continue
        grouped.setdefault(record["challenge"], []).append(record)
    return grouped


def _parse_record(path: str, data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """A record and, if it cannot be shown whatever the site holds, why: what the input index keeps."""
    from site_builder.record import parse_record

    record, problem = parse_record(data, path)
    if record is not None and problem is None:
        problem = _content_problem(record)
    return record if problem is None else None, problem


def _where(record: Mapping[str, Any]) -> str:
    return f"record {record.get('challenge')!r}/{record.get('participant')!r}/{record.get('submission_id')!r}"


def _record_problem(record: Mapping[str, Any], slugs: set[str], seen: set[tuple[str, str, str]]) -> str | None:
    """What keeps a well-formed record off this site: an unknown challenge, or a second record of a submission."""
    if record["challenge"] not in slugs:
        return f"{_where(record)}: skipped, no such challenge"
    key = (record["challenge"], record["participant"], record["submission_id"])
    if key in seen:
        return f"{_where(record)}: skipped, a second record of the same submission"
    seen.add(key)
    return None


def _content_problem(record: Mapping[str, Any]) -> str | None:
    """What makes a record unfit to show on any site: a bad login, id or date, or a bad shape."""
    try:
        check_login(str(record["participant"]))
        check_submission_id(str(record["submission_id"]))
        parse_timestamp(str(record["submitted_at"]))
    except (SiteBuilderError, ValueError) as error:
        return f"{_where(record)}: skipped, {error}"
    shape = _shape_problem(record)
    return f"{_where(record)}: skipped, {shape}" if shape else None


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
    challenge: Challenge,
    records: list[dict[str, Any]],
    digests: Mapping[int, str],
    results: Path,
    now: datetime,
    repository_url: str | None,
    inputs: InputIndexes | None,
) -> ChallengeModel:
    spec = challenge.spec
    rankings = rank_challenge(records, spec.metrics, spec.schedule.end, now, spec.schedule.start)
    data_files = _data_files(challenge, inputs)
    _know_train_labels(challenge, data_files[0].digest, inputs)
    assets: dict[str, Path] = {}
    readme = ""
    if challenge.readme_path.is_file():
        text = challenge.readme_path.read_text(encoding="utf-8", errors="replace")
        readme = _challenge_readme(text, challenge, data_files, assets, inputs)
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
            SubmissionModel(
                record,
                model.header,
                model.submission_for(record),
                late=key in late,
                public_rank=ranks.get(key),
                record_digest=digests.get(id(record), ""),
            )
        )
    _attach_snapshots(model, results, repository_url, inputs)
    model.chart_until = min(chart_clock(now, _chart_start(spec.schedule.start, records)), spec.schedule.end)
    return model


def _chart_start(start: datetime | None, records: Sequence[Mapping[str, Any]]) -> datetime | None:
    """Where the chart's time axis can begin: the challenge's start, else its first submission."""
    if start is not None:
        return start
    times = [parse_timestamp(str(record["submitted_at"])) for record in records]
    return min(times) if times else None


def _challenge_readme(
    text: str, challenge: Challenge, data_files: Sequence[DataFile], assets: dict[str, Path], inputs: InputIndexes | None
) -> str:
    """A challenge README as HTML (the images it shows added to ``assets``), from the cache
    when its text is unchanged and every link it makes is still resolved the same way.

    Rendering imports markdown-it and Pygments' lexers for its code blocks: a
    fifth of a second on every build of a small site. The HTML depends only
    on the text and on what the URL mapper answered for each relative link
    (a data file, an image that exists, nothing); those answers are kept with
    it and asked again, so a removed or added image renders the README again.
    """
    if inputs is None or inputs.cache is None:
        return render_markdown(text, _challenge_url_mapper(challenge, data_files, assets))
    cache = inputs.cache
    key = digest_text(inputs.salt, "challenge readme, format 1", challenge.slug, text)
    cached = cache.get_text("challenge-readme", key)
    if cached is not None:
        shown: dict[str, Path] = {}
        map_again = _challenge_url_mapper(challenge, data_files, shown)
        try:
            document = json.loads(cached)
            html, links = document["html"], document["links"]
            if isinstance(html, str) and all(map_again(tag, relative) == answer for tag, relative, answer in links):
                assets.update(shown)
                return html
        except (ValueError, TypeError, KeyError):
            pass  # unreadable: rendered again, and the entry replaced
    map_url = _challenge_url_mapper(challenge, data_files, assets)
    answered: list[tuple[str, str, str | None]] = []

    def recording(tag: str, relative: str) -> str | None:
        answer = map_url(tag, relative)
        answered.append((tag, relative, answer))
        return answer

    html = render_markdown(text, recording)
    cache.put_text("challenge-readme", key, json.dumps({"html": html, "links": answered}))
    return html


def _record_order(record: Mapping[str, Any]) -> tuple[str, str, str]:
    return (record["submitted_at"], record["participant"], record["submission_id"])


def _data_files(challenge: Challenge, inputs: InputIndexes | None = None) -> list[DataFile]:
    train, test = challenge.train_path, challenge.test_path
    test_name = test.name if test.name != train.name else f"test-{test.name}"
    return [
        _data_file("Training data (with the target)", train, f"challenges/{challenge.slug}/data/{train.name}", inputs),
        _data_file("Test inputs (predict these)", test, f"challenges/{challenge.slug}/data/{test_name}", inputs),
    ]


def _data_file(label: str, source: Path, path: str, inputs: InputIndexes | None = None) -> DataFile:
    """A data file as the challenge page lists it. Its header and row count come from the
    input index while the file is unchanged: a million-row file took seconds to count."""
    def shape(data: bytes) -> tuple[tuple[str, ...], int | None]:
        return csv_shape(data) if source.suffix.lower() == ".csv" else ((), None)

    if inputs is not None:
        digest, (columns, rows) = inputs.folder(os.fspath(source.parent)).read(source.name, shape)
    else:
        data = source.read_bytes()
        digest, (columns, rows) = file_digest(data), shape(data)
    return DataFile(label, PurePosixPath(path).name, path, source, source.stat().st_size, rows, tuple(columns), digest)


def _know_train_labels(challenge: Challenge, digest: str, inputs: InputIndexes | None) -> None:
    """Give a classification challenge without declared classes the labels of its training
    data, kept in the cache by the file's digest: reading them takes pandas and a whole read.

    Keyed like the rest of the build's cache by the rendering code's salt (which
    covers ``spec.train_labels``), and by the pandas version that parsed them.
    """
    spec = challenge.spec
    if not spec.is_classification or spec.classes or inputs is None or inputs.cache is None:
        return
    cache = inputs.cache
    key = digest_text(inputs.salt, "train labels, format 1", _library_version("pandas"), digest, spec.target)
    text = cache.get_text("labels", key)
    if text is None:
        try:
            labels = train_labels(challenge.train_path, spec.target)
            with open(challenge.train_path, "rb") as handle:
                unchanged = hashlib.file_digest(handle, "sha256").hexdigest() == digest  # since the index read it
        except (SiteBuilderError, OSError):
            return  # challenge.classes reads them, and says what is wrong, if a page asks
        text = json.dumps(labels)
        if unchanged:
            cache.put_text("labels", key, text)
    challenge.train_labels = json.loads(text)


def _library_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def csv_shape(data: bytes) -> tuple[tuple[str, ...], int | None]:
    """The header of CSV bytes and the number of rows after it, as ``csv.reader`` reads the
    text decoded as UTF-8 with bad bytes replaced; ``((), None)`` if the reader refuses it (a NUL)."""
    if b'"' not in data and b"\r" not in data and b"\0" not in data:
        # No quotes and one kind of line end: every line is a row (a blank one too), so
        # counting line ends gives the reader's count without making a row at a time.
        end = data.find(b"\n")
        first = data[: end if end >= 0 else len(data)]
        columns = tuple(first.decode("utf-8", errors="replace").split(",")) if first else ()
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        return columns, max(lines - 1, 0)
    # Decoded as it is read, as the file itself was: no copy of the whole text at once.
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace", newline=""))
    try:
        columns = tuple(next(reader, []))
        return columns, sum(1 for _ in reader)
    except csv.Error:
        return (), None


def _attach_snapshots(model: ChallengeModel, results: Path, repository_url: str | None, inputs: InputIndexes | None) -> None:
    """Snapshots, links and the previous scored submission of the same participant."""
    previous: dict[str, PreviousSubmission] = {}
    # As snapshot_directory(), without checking again the login and id that
    # _content_problem has checked: over thousands of records it adds up.
    snapshots = os.path.join(results, model.slug, FILES_DIRECTORY)
    index = inputs.folder(snapshots) if inputs is not None else None
    for submission in reversed(model.submissions):  # oldest first
        participant = submission.participant
        where = f"{participant}/{submission.submission_id}"
        submission.snapshot = snapshot_of(f"{snapshots}/{where}", submission.record, index, where)
        _attach_links(submission, repository_url)
        submission.previous = previous.get(participant)
        if submission.scored:
            previous[participant] = submission.as_previous


def _submission_readme(contents: Mapping[str, bytes | None], files: Sequence[SourceFile]) -> str | None:
    """A submission's README as HTML: its first :data:`MAX_README_BYTES`, cut at a line end."""
    for name in ("README.md", "readme.md", "Readme.md"):
        data = contents.get(name)
        if data:
            shown = data
            if len(data) > MAX_README_BYTES:
                cut = data.rfind(b"\n", 0, MAX_README_BYTES)
                shown = data[: cut if cut > 0 else MAX_README_BYTES]
            text = shown.decode("utf-8", errors="replace")
            anchors = sorted((source.name, source.anchor) for source in files)

            def render() -> str:
                return render_markdown(text, _submission_url_mapper(files), link_rel="noopener noreferrer nofollow ugc")

            html = _cached_text("readme", render, text, json.dumps(anchors))
            if shown is not data:
                html += README_CUT_NOTE
            return html
    return None


_COMMIT = re.compile(r"[0-9a-f]{7,}")


def _attach_links(submission: SubmissionModel, repository_url: str | None) -> None:
    if repository_url is None:
        return
    commit = submission.record.get("commit")
    if isinstance(commit, str) and _COMMIT.fullmatch(commit):
        submission.commit_url = f"{repository_url}/commit/{commit}"
        folder = f"submissions/{submission.challenge.slug}/{submission.participant}"
        submission.tree_url = f"{repository_url}/tree/{commit}/{folder}"
    pull_request = submission.record.get("pull_request")
    if isinstance(pull_request, int) and not isinstance(pull_request, bool) and pull_request > 0:
        submission.pull_request_url = f"{repository_url}/pull/{pull_request}"


def _gather_participants(models: Sequence[ChallengeModel]) -> list[ParticipantModel]:
    grouped: dict[str, list[SubmissionModel]] = {}
    for model in models:
        for submission in model.submissions:
            grouped.setdefault(submission.participant, []).append(submission)
    by_slug = {model.slug: model for model in models}
    private_ranks = {
        model.slug: {row.participant: row.rank for row in model.rankings.private.rows}
        for model in models
        if model.rankings.private is not None
    }

    def standing(slug: str, login: str) -> ParticipantStanding:
        model = by_slug[slug]
        private_rank = private_ranks.get(slug, {}).get(login)
        return ParticipantStanding(slug, model.title, model.path, model.status, tuple(model.metrics), private_rank, full=model)

    return [
        ParticipantModel(
            login,
            participant_path(login),
            sorted(items, key=_newest_first),
            tuple(standing(slug, login) for slug in sorted({item.challenge.slug for item in items})),
        )
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
        bytecode_cache=shipped_template_code(),
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
        participant_link=_pass_page(participant_link),
        score_cell_html=score_cell_html,
        submission_state_html=submission_state_html,
        submission_rows=_pass_page(submission_rows),
        public_board_rows=_pass_page(public_board_rows),
        private_board_rows=_pass_page(private_board_rows),
        chart_dots=_pass_page(chart_dots),
    )
    return environment


def shipped_template_code() -> Any:
    """A Jinja bytecode cache for this package's own templates, kept beside them like ``.pyc`` files.

    Compiling the six shipped templates takes a fifth of a second, a large
    part of a build that renders only the pages one new submission changes.
    The compiled code lives in the package (``templates/__pycache__``), never
    in the build cache, which stays data only (see docs/security.md): only
    whoever can change the package's code can change it. As Python does, it
    is read whenever present, written unless ``PYTHONDONTWRITEBYTECODE`` is
    set or the folder is read-only, and checked on load: Jinja compares the
    stored header (its version, Python's) and the template source's checksum,
    and compiles anew on any mismatch. An organizer's templates are compiled
    every time.
    """
    import jinja2

    folder = Path(__file__).resolve().parent / "templates"
    code_folder = folder / "__pycache__"

    class ShippedTemplateCode(jinja2.BytecodeCache):
        def get_bucket(self, environment: Any, name: str, filename: str | None, source: str) -> Any:
            # As BytecodeCache.get_bucket, knowing first whether the template is one of ours.
            bucket = jinja2.bccache.Bucket(environment, self.get_cache_key(name, filename), self.get_source_checksum(source))
            bucket.shipped = filename is not None and Path(filename).resolve().parent == folder
            self.load_bytecode(bucket)
            return bucket

        def _path(self, bucket: Any) -> Path:
            return code_folder / f"{bucket.key}.jinja"

        def load_bytecode(self, bucket: Any) -> None:
            if not bucket.shipped:
                return
            try:
                data = self._path(bucket).read_bytes()
            except OSError:
                return
            bucket.bytecode_from_string(data)

        def dump_bytecode(self, bucket: Any) -> None:
            if not bucket.shipped or sys.dont_write_bytecode:
                return
            write_template_code(self._path(bucket), bucket.bytecode_to_string())

    return ShippedTemplateCode()


def write_template_code(path: Path, data: bytes) -> None:
    """Write compiled template code whole (a reader sees all of it or none), or not at all."""
    try:
        write_whole(path, data)
    except OSError:
        pass  # a read-only install: compiled again next time


def compile_shipped_templates() -> None:
    """Compile and store every shipped template now, even under ``PYTHONDONTWRITEBYTECODE`` (as ``compileall``)."""
    environment = template_environment(None)
    code = environment.bytecode_cache
    for name in environment.loader.list_templates():
        if name.startswith(("builtin/", "__pycache__/")):
            continue
        source, filename, _ = environment.loader.get_source(environment, name)
        bucket = code.get_bucket(environment, name, filename, source)
        if bucket.shipped:
            bucket.code = environment.compile(source, name, filename)
            write_template_code(code._path(bucket), bucket.bytecode_to_string())


def _url(context: Any, target: str) -> str:
    """``url('static/style.css')`` in a template: the link from the page being rendered."""
    return relative_url(target, context["page_path"])


# The pieces every row of a board or a submissions table repeats, in Python:
# a challenge page of 2,500 submissions made 10,000 macro calls, two thirds
# of its rendering. The macros of macros.html call these, so the markup is
# written once, here; values are escaped as autoescaping escapes them.


_HTML_SPECIAL = re.compile("[&<>\"']")


def _html_text(value: object) -> str:
    """``value`` as text escaped exactly as autoescaping escapes it; most text has nothing to escape."""
    text = value if type(value) is str else str(value)
    return str(escape(text)) if _HTML_SPECIAL.search(text) else text


def participant_link(page: str, name: str, login: str, team: str) -> Markup:
    """A participant's name linking to their page, their login if it differs, and their team.

    Their text sits in ``<bdi>``: a right-to-left override inside cannot reorder what follows it.
    """
    html = f'<a class="who" href="{_html_text(relative_url(participant_path(login), page))}"><bdi>{_html_text(name)}</bdi></a>'
    if name != login:
        html += f' <span class="login">@{_html_text(login)}</span>'
    if team:
        html += f'<span class="team">Team <bdi>{_html_text(team)}</bdi></span>'
    return Markup(html)


def score_cell_html(metric: Metric, value: float | None, primary: bool) -> Markup:
    """A score's table cell: shown at the metric's precision, sorted by its exact value."""
    kind = "num score primary" if primary else "num score"
    return Markup(
        f'<td class="{kind}" data-metric="{_html_text(metric.name)}" data-sort="{_html_text(sort_value(value))}">{_html_text(metric.format(value))}</td>'
    )


def submission_state_html(submission: _RecordFacts) -> Markup:
    """Late, scored, or failed with the class of its error."""
    if getattr(submission, "late", False):
        return Markup('<span class="badge late">Late</span>')
    if submission.scored:
        return Markup('<span class="badge ok">Scored</span>')
    error = _html_text(submission.error.get("class") or "error")
    return Markup(f'<span class="badge failed">Failed</span> <code class="error-class">{error}</code>')


def submission_rows(page: str, submissions: Sequence[SubmissionModel], challenge: ChallengeModel, show_participant: bool) -> Markup:
    """The rows of a submissions table (see the ``submissions_table`` macro), one per submission."""
    metric = challenge.metrics[0]
    rows = []
    for submission in submissions:
        submitted = _html_text(submission.record["submitted_at"])
        rank = submission.public_rank or ""
        who = ""
        if show_participant:
            who = f'<td class="participant">{participant_link(page, submission.display_name, submission.participant, submission.team)}</td>\n'
        rows.append(
            f'<tr>\n<td class="when" data-sort="{submitted}"><time datetime="{submitted}">{_html_text(format_timestamp(submission.record["submitted_at"]))}</time></td>\n'
            f"{who}<td>{submission_state_html(submission)}</td>\n"
            f"{score_cell_html(metric, submission.primary_score, True)}\n"
            f'<td class="num" data-sort="{rank}">{rank}</td>\n'
            f'<td><a href="{_html_text(relative_url(submission.path, page))}">View</a></td>\n</tr>\n'
        )
    return Markup("".join(rows))


def _rank_and_participant(page: str, row: BoardRow, between: str = "") -> str:
    """The start of a board row: its rank, ``between`` (cells of one board), the participant."""
    return (
        f'<tr>\n<td class="num rank" data-sort="{row.rank}">{row.rank}</td>\n{between}'
        f'<td class="participant">{participant_link(page, row.display_name, row.participant, row.team)}</td>\n'
    )


def _score_cells(challenge: ChallengeModel, row: BoardRow) -> str:
    return "".join(f"{score_cell_html(metric, row.scores[metric.name], index == 0)}\n" for index, metric in enumerate(challenge.metrics))


def _number_cell(value: Any, shown: object) -> str:
    """A numeric cell: sorted by ``value``, showing ``shown``."""
    return f'<td class="num" data-sort="{_html_text(sort_value(value))}">{_html_text(shown)}</td>\n'


def _view_and_end(page: str, challenge: ChallengeModel, row: BoardRow) -> str:
    """The end of a board row: the link to the submission that counts."""
    target = submission_path(challenge.slug, row.participant, row.record["submission_id"])
    return f'<td><a href="{_html_text(relative_url(target, page))}">View</a></td>\n</tr>\n'


def public_board_rows(page: str, challenge: ChallengeModel) -> Markup:
    """The rows of the public board (see the ``public_board`` macro): rank, participant, scores, runs, last entry."""
    rows = []
    for row in challenge.rankings.public.rows:
        run = row.record.get("run") or {}
        last = _html_text(row.last_submitted_at)
        rows.append(
            _rank_and_participant(page, row)
            + _score_cells(challenge, row)
            + _number_cell(row.submissions, row.submissions)
            + _number_cell(run.get("fit_seconds"), format_seconds(run.get("fit_seconds")))
            + _number_cell(run.get("predict_seconds"), format_seconds(run.get("predict_seconds")))
            + _number_cell(run.get("peak_memory_mb"), format_megabytes(run.get("peak_memory_mb")))
            + f'<td class="when" data-sort="{last}"><time datetime="{last}">{_html_text(format_timestamp(row.last_submitted_at))}</time></td>\n'
            + _view_and_end(page, challenge, row)
        )
    return Markup("".join(rows))


def private_board_rows(page: str, challenge: ChallengeModel) -> Markup:
    """The rows of the final board (see the ``private_board`` macro): rank, move, participant, scores, public rank."""
    rows = []
    for row in challenge.rankings.private.rows if challenge.rankings.private is not None else ():
        move = row.move or 0
        kind, title = ("up", "moved up") if move > 0 else ("down", "moved down") if move < 0 else ("same", "no change")
        moved = f'<td class="num move {kind}" data-sort="{row.move}" title="{title}">{_html_text(format_move(row.move))}</td>\n'
        rows.append(
            _rank_and_participant(page, row, moved)
            + _score_cells(challenge, row)
            + _number_cell(row.rank + move, row.rank + move)
            + _number_cell(row.submissions, row.submissions)
            + _view_and_end(page, challenge, row)
        )
    return Markup("".join(rows))


def chart_dots(page: str, chart: Chart) -> Markup:
    """The chart's dots (see the ``chart`` macro), each linking to its submission, its label as a tooltip."""
    dots = []
    for point in chart.points:
        kind = "dot improved" if point.improved else "dot"
        dots.append(
            f'<a href="{_html_text(relative_url(point.href, page))}"><circle class="{kind}" cx="{point.x}" cy="{point.y}" r="5">'
            f"<title>{_html_text(point.label)}</title></circle></a>\n"
        )
    return Markup("".join(dots))


def _pass_page(function: Callable[..., Markup]) -> Any:
    """``function`` as a template global that receives the path of the page being rendered first."""
    import jinja2

    return jinja2.pass_context(lambda context, *arguments: function(context["page_path"], *arguments))


class Page(NamedTuple):
    """One page to render: where it goes, its template and what the template sees.

    A named tuple: a site has one per submission, made on every build.
    """

    path: str
    template: str
    context: dict[str, Any]


def site_pages(site: Site) -> list[Page]:
    """Every page; all but the index see the site and the challenge of a submission through narrow views."""
    pages = [Page("index.html", "index.html", {"site": site})]
    header = site.header
    for challenge in site.challenges:
        pages.append(Page(challenge.path, "challenge.html", {"site": header, "challenge": challenge}))
        for submission in challenge.submissions:
            context = {"site": header, "challenge": challenge.header, "submission": submission}
            pages.append(Page(submission.path, "submission.html", context))
    for participant in site.participants:
        pages.append(Page(participant.path, "participant.html", {"site": header, "participant": participant}))
    return pages


def render_site(
    site: Site,
    *,
    cache: ContentCache | None = None,
    previous: BuildManifest | None = None,
    salt: str = "",
    workers: int = 1,
) -> Output:
    """Every page, export and static file of the site as bytes.

    With the ``previous`` build's manifest, a page whose key is unchanged and
    whose published file is intact is kept instead of rendered. ``cache``
    holds highlighted code and other pieces by the hash of their inputs.
    """
    with _caching(cache, salt):
        return _render_site(site, cache, previous, salt, workers)


def _render_site(site: Site, cache: ContentCache | None, previous: BuildManifest | None, salt: str, workers: int) -> Output:
    environment = template_environment(site.override_templates)
    keys = PageKeys(site, salt)
    output = Output()
    pending: list[tuple[Page, str]] = []
    for page in site_pages(site):
        key = keys.key(page)
        unchanged = previous.unchanged(page.path, key, keys) if previous is not None else None
        if unchanged is not None:
            output.states[page.path], output.kept[page.path] = unchanged
        else:
            pending.append((page, key))
    with _lexing_for(len(pending)):
        rendered = _render_pages(environment, [page for page, _ in pending], workers)
        for (page, key), (data, reach) in zip(pending, rendered):
            output.files[page.path] = data
            output.states[page.path] = PageState(key, reach, keys.full_key(key, reach))
    for challenge in site.challenges:
        # The model's digest, already made for its page's key, stands for all the exports are made of.
        _challenge_exports(challenge, output, keys.fingerprints.digest(challenge))
    output.files["results.json"] = _records_json(site.records, site.record_keys)
    output.files[".nojekyll"] = b""
    output.files[MARKER_FILE] = MARKER_TEXT
    _static_files(site.override_static, output)
    return output


class PageKeys:
    """Page keys of one build: the digest of a page's template, path and context.

    The salt covers what else shapes a page (this package's code and
    templates, the organizer's templates, the library versions). The index
    shows the whole site and is rendered every time: its key is empty.
    """

    def __init__(self, site: Site, salt: str) -> None:
        self.site = site
        self.salt = salt
        self.fingerprints = Fingerprints(
            entities=(SubmissionModel, ChallengeModel, ChallengeHeader, ParticipantModel, SiteHeader, Site),
            custom={Challenge: lambda challenge, digests=_data_digests(site): _challenge_identity(challenge, digests)},
            flat={SubmissionModel: _submission_facts},
        )

    def key(self, page: Page) -> str:
        if page.path == "index.html":
            return ""
        context = (f"{name}={self.fingerprints.digest(value)}" for name, value in sorted(page.context.items()))
        return digest_text(self.salt, page.template, page.path, *context)

    def full_key(self, key: str, reach: Sequence[str]) -> str:
        """The key once the full objects the page reached are added to it."""
        if not key or not reach:
            return key
        return digest_text(key, *(f"{name}={self.reach_digest(name)}" for name in reach))

    def reach_digest(self, name: str) -> str:
        """The digest of the full object a narrow view stands for: ``site``, ``challenge:<slug>``, ``submission:<path>``."""
        kind, _, identifier = name.partition(":")
        found: Any = None
        if kind == "site":
            found = self.site
        elif kind == "challenge":
            found = next((model for model in self.site.challenges if model.slug == identifier), None)
        elif kind == "submission":
            found = next((item for item in self.site.submissions if item.path == identifier), None)
        return self.fingerprints.digest(found) if found is not None else "missing"


def _data_digests(site: Site) -> dict[str, str]:
    return {os.fspath(data.source): data.digest for model in site.challenges for data in model.data_files if data.digest}


def _submission_facts(submission: SubmissionModel, fingerprints: Fingerprints) -> tuple[Any, ...]:
    """All of a submission model a page can see, as one flat tuple of plain values.

    What the generic description of the dataclass gives, written out: a site
    has one per submission, and pickling them, with a call back for each
    nested object, made keying the pages a fifth of a build. Every content
    field of :class:`SubmissionModel`, :class:`PreviousSubmission` and
    :class:`Snapshot` is here; a test changes each one and checks the key moves.
    """
    digest = fingerprints.digest
    previous = submission.previous
    before: tuple[Any, ...] | None = None
    if previous is not None:
        before = (
            previous.record_digest or "record " + digest(previous.record),
            digest(previous.challenge),
            previous.path,
            previous.snapshot.names,
            previous.snapshot.digest,
        )
    return (
        submission.record_digest or "record " + digest(submission.record),
        digest(submission.challenge),
        submission.path,
        submission.late,
        submission.public_rank,
        submission.snapshot.names,
        submission.snapshot.digest,
        before,
        submission.commit_url,
        submission.tree_url,
        submission.pull_request_url,
    )


def _challenge_identity(challenge: Challenge, data_digests: Mapping[str, str]) -> tuple[Any, ...]:
    """All a page can learn from a loaded challenge: its folder, its spec and, when
    the classes are not declared, the training data they are read from.

    ``data_digests`` holds the digests of the data files the build has read, by path.
    """
    spec = challenge.spec
    train = ""
    if spec.is_classification and spec.classes is None and challenge.train_path.is_file():
        train = data_digests.get(os.fspath(challenge.train_path)) or file_digest(challenge.train_path.read_bytes())
    return (str(challenge.directory), challenge.slug, spec.model_dump_json(), train)


def _render_page(environment: Any, page: Page) -> tuple[bytes, tuple[str, ...]]:
    """The page's bytes and the full objects its template reached past the narrow views."""
    global _page_reach
    _page_reach = set()
    try:
        html = environment.get_template(page.template).render(page_path=page.path, **page.context)
        return html.encode("utf-8"), tuple(sorted(_page_reach))
    finally:
        _page_reach = None


# Below this many pages to render, starting worker processes costs more than it saves.
PARALLEL_MIN_PAGES = 48
# The pages of the parallel render in progress, inherited by the forked workers.
_parallel_job: tuple[Any, Sequence[Page]] | None = None


def _render_pages(environment: Any, pages: Sequence[Page], workers: int) -> Iterator[tuple[bytes, tuple[str, ...]]]:
    """Render ``pages`` in order, spread over ``workers`` forked processes when worth it.

    Workers inherit the model and the compiled templates, receive page
    numbers and return bytes; files are written by the parent alone. (Page
    keys stay in the parent: spreading them too cost more in start-up and
    duplicated digests than it saved, even at 10,000 pages.)
    """
    global _parallel_job
    if workers < 2 or len(pages) < PARALLEL_MIN_PAGES or not _can_fork():
        for page in pages:
            yield _render_page(environment, page)
        return
    import multiprocessing

    _prepare_workers(environment, pages)
    _parallel_job = (environment, pages)
    # Frozen objects are never scanned by the workers' garbage collector, which
    # would otherwise walk (and so copy) the whole inherited model.
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            chunk = max(1, min(16, len(pages) // (workers * 8)))
            yield from pool.imap(_render_page_number, range(len(pages)), chunksize=chunk)
    finally:
        gc.unfreeze()
        _parallel_job = None


def _render_page_number(index: int) -> tuple[bytes, tuple[str, ...]]:
    assert _parallel_job is not None, "only called in a forked worker"
    environment, pages = _parallel_job
    return _render_page(environment, pages[index])


def _prepare_workers(environment: Any, pages: Sequence[Page]) -> None:
    """Compile the templates and set up the highlighting once, for the workers to inherit.

    The first submission's files go through the highlighter: a cache hit
    costs nothing, a miss sets up the lexers' patterns that every worker
    would otherwise build on its own.
    """
    for template in sorted({page.template for page in pages}):
        environment.get_template(template)
    first = next((page for page in pages if page.template == "submission.html"), None)
    if first is not None:
        _ = first.context["submission"].files


def _can_fork() -> bool:
    """Fork is cheap and safe enough on Linux; elsewhere the build stays in one process."""
    import multiprocessing

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# The modules whose code shapes a page: the model and its formatting, metrics,
# ranking, records, specs. Others (running, scoring, GitHub) do not, and an
# edit to them should not empty the cache.
_RENDERING_MODULES = ("__init__", "cache", "errors", "fileindex", "lexing", "metrics", "publish", "rank", "record", "render", "spec")


def environment_salt(override_templates: Path | None = None) -> str:
    """A digest of what shapes the HTML besides the model: code, templates, library versions."""
    parts = [code_salt().encode("utf-8")]
    if override_templates is not None and override_templates.is_dir():
        for path in sorted(path for path in override_templates.glob("**/*") if path.is_file()):
            parts += [path.relative_to(override_templates).as_posix().encode("utf-8"), path.read_bytes()]
    return digest_bytes(*parts)


@functools.lru_cache(maxsize=1)
def code_salt() -> str:
    """A digest of this package's rendering code, templates and static files, and the library versions."""
    import jinja2
    import pygments

    package = Path(__file__).resolve().parent
    folders = [(package, f"{module}.py") for module in _RENDERING_MODULES]
    folders += [(package / "templates", "*"), (package / "static", "*")]
    versions = [sys.version, jinja2.__version__, pygments.__version__]
    parts = [part.encode("utf-8") for part in versions]
    # Markdown and the sanitizer are imported only when a README is rendered, which a build
    # with nothing new may not do: the file that holds each one's version stands for it.
    parts += [_module_file(name) for name in ("markdown_it", "mdit_py_plugins", "nh3")]
    for index, (folder, pattern) in enumerate(folders):
        for path in sorted(path for path in folder.glob(pattern) if path.is_file()):
            parts += [f"{index}/{path.relative_to(folder).as_posix()}".encode("utf-8"), path.read_bytes()]
    return digest_bytes(*parts)


def _module_file(name: str) -> bytes:
    """What stands for an installed library's version, found without importing it: the file
    its top-level module is loaded from (a package's ``__init__.py`` usually holds the
    version) and the compiled extensions beside it (nh3's ``__init__.py`` only imports one)."""
    import importlib.util

    found = importlib.util.find_spec(name)
    if found is None or not found.origin or not os.path.isfile(found.origin):
        return f"{name}: not found".encode("utf-8")
    origin = Path(found.origin)
    files = [origin]
    if origin.name == "__init__.py":
        files += sorted(path for path in origin.parent.iterdir() if path.suffix in (".so", ".pyd") and path.is_file())
    return digest_bytes(name.encode("utf-8"), *(part for path in files for part in (path.name.encode("utf-8"), path.read_bytes()))).encode("ascii")


def _challenge_exports(challenge: ChallengeModel, output: Output, model_digest: str) -> None:
    """The challenge's ``leaderboard.json`` and ``.csv``, its data files and README images.

    The two exports are kept in the build cache under ``model_digest``, the
    digest of the whole challenge model. At
    10,000 submissions, making them was a twentieth of a build that renders
    four pages, and the indenting JSON encoder is pure Python.
    """
    base = f"challenges/{challenge.slug}"

    def make() -> str:
        return json.dumps([_json_bytes(leaderboard_json(challenge)).decode("utf-8"), leaderboard_csv(challenge)])

    board_json, board_csv = json.loads(_cached_text("exports", make, model_digest))
    output.files[f"{base}/leaderboard.json"] = board_json.encode("utf-8")
    output.files[f"{base}/leaderboard.csv"] = board_csv.encode("utf-8")
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
    # RFC 4180 line ends: with "\r\n" as terminator the writer quotes any cell holding a CR or an LF,
    # so a CR in a stored name cannot end the row in a spreadsheet (and start a formula on the next).
    writer = csv.writer(buffer, lineterminator="\r\n")
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


# results.json is cut into blocks, each cached whole under the keys of its
# records. A block ends after a record whose key starts with "0" (one in 16,
# by content, so a record added or changed moves one block's bounds, not all
# that follow) or at RECORD_BLOCK_MAX records.
RECORD_BLOCK_MAX = 64


def _records_json(records: Sequence[Mapping[str, Any]], keys: Sequence[str] = ()) -> bytes:
    """``_json_bytes({"records": records})``, built from blocks of records' texts reused from the build cache.

    The indented encoder is pure Python, slow at thousands of records; a
    record's text nested two levels down is its own text with every line
    indented by four spaces (JSON strings hold no raw newline). A record
    without a key (its file's digest is unknown) is encoded every time, with
    the rest of its block.
    """
    if not records:
        return _json_bytes({"records": []})
    keys = keys or [""] * len(records)
    blocks = []
    for start, end in _record_blocks(keys):
        block = records[start:end]

        def encode(block: Sequence[Mapping[str, Any]] = block) -> str:
            return ",\n    ".join(_record_text(record) for record in block)

        block_keys = keys[start:end]
        blocks.append(_cached_text("results.json", encode, *block_keys) if all(block_keys) else encode())
    return ('{\n  "records": [\n    ' + ",\n    ".join(blocks) + "\n  ]\n}\n").encode("utf-8")


def _record_blocks(keys: Sequence[str]) -> list[tuple[int, int]]:
    """The bounds of the blocks of results.json, as (start, end) indexes: see :data:`RECORD_BLOCK_MAX`."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for index, key in enumerate(keys):
        if key.startswith("0") or index + 1 - start >= RECORD_BLOCK_MAX:
            bounds.append((start, index + 1))
            start = index + 1
    if start < len(keys):
        bounds.append((start, len(keys)))
    return bounds


def _record_text(record: Mapping[str, Any]) -> str:
    """A record's text as it appears in results.json, nested two levels down."""
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False).replace("\n", "\n    ")


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
# The stage's entry point.


def build_site(
    root: Path,
    results: Path,
    out: Path,
    *,
    now: datetime,
    repository_url: str | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    workers: int | None = None,
) -> BuildReport:
    """Build the whole site from ``root`` (challenges) and ``results`` (records) into ``out``.

    The cache (default ``<root>/.cache/site-builder``) only saves time: a
    build without it, or with a stale or damaged one, writes the same bytes.
    ``workers`` processes render the pages (default: the available cores).
    A second build into the same folder waits for the first to end.
    """
    root, results, out = Path(root), Path(results), Path(out)
    cache_folder = Path(cache_dir) if cache_dir is not None else default_cache_folder(root)
    _check_not_inside(out, root, results, *([cache_folder] if use_cache else []))
    with _building_into(Path(os.path.abspath(out))):
        return _build_site(root, results, out, now, repository_url, cache_folder if use_cache else None, workers)


def _build_site(
    root: Path, results: Path, out: Path, now: datetime, repository_url: str | None, cache_folder: Path | None, workers: int | None
) -> BuildReport:
    restore_site(Path(os.path.abspath(out)))  # before the last build's pages are looked for there
    cache = ContentCache(cache_folder) if cache_folder is not None else None
    inputs = InputIndexes(cache, code_salt())
    try:
        with _long_lived_objects():
            site = gather_site(root, results, now=now, repository_url=repository_url, inputs=inputs)
            salt = environment_salt(site.override_templates)
            previous = BuildManifest.load(cache, out) if cache is not None else None
        output = render_site(site, cache=cache, previous=previous, salt=salt, workers=workers or default_workers())
        published = publish(output, out)
        inputs.save()
        if cache is not None:
            pages = {path: (state, published.stats[path]) for path, state in output.states.items()}
            BuildManifest(Path(os.path.abspath(out)), pages).save(cache)
    finally:
        gc.unfreeze()
    return BuildReport(
        out=out,
        challenges=len(site.challenges),
        records=len(site.records),
        pages=output.pages,
        files=len(output.files) + len(output.copies) + len(output.kept),
        changed=published.changed,
        removed=published.removed,
        warnings=tuple(site.warnings),
        rendered=output.rendered,
    )


@contextlib.contextmanager
def _building_into(out: Path) -> Iterator[None]:
    """One build at a time beside ``out``: a lock on the folder that holds it.

    A build clears the staging folders a killed build left beside the site,
    so two builds at once would delete each other's. The lock is on the
    parent folder itself (no lock file left lying in a repository); two
    sites in the same folder therefore build one after the other. The
    system releases it when its holder ends, even killed.
    """
    try:
        import fcntl
    except ImportError:  # not on POSIX: builds are not serialized
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"site-builder: another build is writing beside {out}; waiting for it to end", file=sys.stderr, flush=True)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


@contextlib.contextmanager
def _long_lived_objects() -> Iterator[None]:
    """Make the site model with the cyclic garbage collector paused, then hide it from the collector.

    The model is millions of objects that all live until the build ends.
    Left alone, the collector walks them again and again while they are
    made, and then at every collection while pages are keyed and rendered:
    a third of a warm build of 10,000 submissions. The caller unfreezes.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _check_not_inside(out: Path, *folders: Path) -> None:
    """The site folder is replaced whole: it must not hold the inputs."""
    target = Path(os.path.abspath(out))
    for folder in folders:
        source = Path(os.path.abspath(folder))
        if source == target or target in source.parents:
            raise RenderError(f"the site folder would contain {source}; choose another --out", path=out)
