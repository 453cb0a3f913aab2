"""The GitHub pipeline: pull request → trusted scoring → record → sticky comment.

Trust model (DESIGN.md, "Trust"): the ``pull_request`` run is hostile and so is
everything it produced. The trusted side runs main's code on ``workflow_run``,
finds the pull request through the API (the event of a fork run carries no
pull request), takes the participant from the pull request's author, reads the
submission from git at the head commit and the artifact as data, and only then
scores in the environment that holds the key. While the challenge is open,
the private scores leave that stage sealed to the challenge's public key
(:mod:`site_builder.seal`); the pages workflow unseals them after the end.

Pure checks come first in this module (changed files, trees, artifact zips,
quota, the comment's text); the PyGithub calls sit at the edges, and the
stages at the end glue them together for ``site-builder gh``.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from site_builder.errors import SiteBuilderError, SubmissionError
from site_builder.record import LOGIN_PATTERN, check_login, hash_files, parse_timestamp, utc_timestamp

if TYPE_CHECKING:
    from github.PullRequest import PullRequest
    from github.Repository import Repository

    from site_builder.spec import Challenge

MARKER = "<!-- site-builder:score -->"
STATUS_CONTEXT = "site-builder / score"
ARTIFACT_NAME = "submission"
SUBMISSION_WORKFLOW = ".github/workflows/submission.yml"
ARTIFACT_MEMBERS = ("predictions.csv", "run.json")
MAX_CHANGED_FILES = 50
MAX_FILE_BYTES = 1024 * 1024  # any submission file but predictions.csv
MAX_RUN_JSON_BYTES = 256 * 1024
TRACEBACK_LINES = 25
ALLOWED_STATUSES = ("added", "modified", "changed")
ERROR_CLASSES = ("timeout", "memory", "exception", "invalid-output", "file-size", "killed")
_SHA = re.compile(r"^[0-9a-f]{40}$")


class PipelineError(SiteBuilderError):
    """The pipeline cannot go on (a setup problem, not the participant's)."""


class Rejection(SiteBuilderError):
    """A pull request that must not be scored; the message goes into the comment."""


# ---------------------------------------------------------------- time


def now_utc(environ: Mapping[str, str] = os.environ) -> datetime:
    """The injected clock: SITE_BUILDER_NOW for repeatable runs, else the real time."""
    text = environ.get("SITE_BUILDER_NOW")
    if not text:
        return datetime.now(timezone.utc)
    return parse_timestamp(text)


# ---------------------------------------------------------------- the event


@dataclass(frozen=True)
class RunEvent:
    """What the ``workflow_run`` event says about the untrusted run."""

    run_id: int
    event: str
    path: str
    conclusion: str
    head_sha: str
    head_branch: str
    head_repository: str
    head_owner: str
    created_at: str
    html_url: str


def parse_run_event(payload: Mapping[str, Any]) -> RunEvent:
    """Read the fields we use; every string stays data, never a command."""
    run = payload.get("workflow_run")
    if not isinstance(run, Mapping):
        raise PipelineError("the event has no workflow_run; run this verb from the scoring workflow")
    head_repository = run.get("head_repository") or {}
    head_sha = str(run.get("head_sha") or "")
    if not _SHA.match(head_sha):
        raise PipelineError("the workflow_run event has no valid head_sha")
    return RunEvent(
        run_id=int(run.get("id") or 0),
        event=str(run.get("event") or ""),
        path=str(run.get("path") or ""),
        conclusion=str(run.get("conclusion") or ""),
        head_sha=head_sha,
        head_branch=str(run.get("head_branch") or ""),
        head_repository=str(head_repository.get("full_name") or ""),
        head_owner=str((head_repository.get("owner") or {}).get("login") or ""),
        created_at=str(run.get("created_at") or ""),
        html_url=str(run.get("html_url") or ""),
    )


def read_event(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        raise PipelineError("GITHUB_EVENT_PATH is not set; this verb runs inside GitHub Actions")
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PipelineError(f"cannot read the event payload ({error})", path=path) from None


# ---------------------------------------------------------------- pure checks


@dataclass(frozen=True)
class ChangedFile:
    filename: str
    status: str
    previous_filename: str | None = None


@dataclass(frozen=True)
class TreeEntry:
    path: str  # relative to the submission folder
    mode: str
    type: str
    size: int | None
    sha: str


def shown(text: str, limit: int = 120) -> str:
    """Hostile text (a file name, a branch) made inert for markdown: one code span."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text).replace("`", "'")
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return f"`{cleaned}`"


def submission_folder(challenge: str, participant: str) -> str:
    return f"submissions/{challenge}/{participant}/"


def check_changed_files(files: Sequence[ChangedFile], author: str) -> str:
    """The challenge slug of a pull request whose every change is the author's own folder.

    Raises :class:`Rejection` listing every file out of bounds.
    """
    from site_builder.spec import SLUG_PATTERN

    if not files:
        raise Rejection("the pull request changes no file")
    if len(files) > MAX_CHANGED_FILES:
        raise Rejection(f"the pull request changes {len(files)} files; at most {MAX_CHANGED_FILES} are allowed")
    problems: list[str] = []
    challenges: set[str] = set()
    for changed in files:
        parts = PurePosixPath(changed.filename).parts
        inside = (
            len(parts) >= 4
            and parts[0] == "submissions"
            and SLUG_PATTERN.match(parts[1]) is not None
            and parts[2] == author
            and not any(part in ("..", ".") for part in parts)
        )
        if not inside:
            problems.append(f"{shown(changed.filename)} is outside `submissions/<challenge>/{author}/`")
            continue
        if changed.status not in ALLOWED_STATUSES:
            problems.append(f"{shown(changed.filename)} is {changed.status}; only added or modified files are accepted")
            continue
        challenges.add(parts[1])
    if len(challenges) > 1:
        problems.append(f"the pull request touches several challenges ({', '.join(sorted(challenges))}); open one per challenge")
    if problems:
        raise Rejection("; ".join(problems))
    return challenges.pop()


def check_tree(entries: Sequence[TreeEntry], required: str, predictions_cap: int) -> None:
    """The submission folder at the head commit: regular files only, sizes capped."""
    problems: list[str] = []
    blobs = [entry for entry in entries if entry.type != "tree"]
    if len(blobs) > MAX_CHANGED_FILES:
        problems.append(f"the folder holds {len(blobs)} files; at most {MAX_CHANGED_FILES}")
    for entry in blobs:
        if entry.mode == "120000":
            problems.append(f"{shown(entry.path)} is a symbolic link; submit regular files only")
        elif entry.type != "blob" or entry.mode not in ("100644", "100755"):
            problems.append(f"{shown(entry.path)} is not a regular file (git mode {entry.mode})")
        else:
            cap = predictions_cap if entry.path == "predictions.csv" else MAX_FILE_BYTES
            if entry.size is None or entry.size > cap:
                problems.append(f"{shown(entry.path)} is larger than {cap // 1024} KiB")
    if not any(entry.path == required and entry.type == "blob" for entry in blobs):
        problems.append(f"the folder has no `{required}`")
    if problems:
        raise Rejection("; ".join(problems))


# What zipfile and zlib raise on a corrupt or lying archive: a bad header or CRC
# (BadZipFile), broken deflate data (zlib.error), a truncated stream (EOFError),
# an unsupported feature (NotImplementedError), a bad name or field (ValueError,
# UnicodeDecodeError), an impossible offset (OSError, OverflowError, struct.error)
# or an encryption surprise (RuntimeError). All of them are the participant's
# broken artifact, so they become a Rejection, never a crash of the trusted job.
_CORRUPT_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    EOFError,
    ValueError,
    OSError,
    RuntimeError,
    struct.error,
    OverflowError,
)
# Only these methods inflate under a cap: zipfile hands deflate a max_length, but it
# decompresses a whole bzip2 or LZMA chunk at once (a 2 KB bzip2 member is gigabytes).
# actions/upload-artifact writes deflate, or stored at compression-level 0.
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_UPLOAD_AGAIN = "upload it again with actions/upload-artifact"


def _zip_fault(error: BaseException) -> str:
    """The kind of damage, never the hostile text inside the exception's message."""
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def read_artifact_zip(data: bytes, predictions_cap: int) -> dict[str, bytes]:
    """The members of the untrusted artifact, checked as hostile data; never extracted.

    Only ``predictions.csv`` and ``run.json`` at the top level, each once, no
    links, no encryption, stored or deflated, sizes capped by what is actually
    read (a zip bomb's declared sizes lie): at most cap + 1 bytes are ever
    inflated. A corrupt archive or member is a :class:`Rejection`, whatever
    zipfile or zlib raise.
    """
    caps = {"predictions.csv": predictions_cap, "run.json": MAX_RUN_JSON_BYTES}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _CORRUPT_ZIP_ERRORS as error:
        raise Rejection(f"the artifact is not a zip archive ({_zip_fault(error)}): {_UPLOAD_AGAIN}") from None
    members: dict[str, bytes] = {}
    with archive:
        for info in archive.infolist():
            name = info.filename
            if name not in caps:
                raise Rejection(f"the artifact holds {shown(name)}; only predictions.csv and run.json are accepted")
            if name in members:
                raise Rejection(f"the artifact holds {shown(name)} twice")
            if info.flag_bits & 0x1:
                raise Rejection(f"the artifact member {shown(name)} is encrypted")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise Rejection(f"the artifact member {shown(name)} is a symbolic link")
            if info.compress_type not in _ZIP_METHODS:
                raise Rejection(
                    f"the artifact member {shown(name)} uses compression method {info.compress_type}; "
                    f"only stored or deflate are accepted: {_UPLOAD_AGAIN}"
                )
            if info.file_size > caps[name]:
                raise Rejection(f"the artifact member {shown(name)} is larger than {caps[name] // 1024} KiB")
            try:
                with archive.open(info) as handle:
                    content = handle.read(caps[name] + 1)
            except _CORRUPT_ZIP_ERRORS as error:
                raise Rejection(
                    f"the artifact member {shown(name)} is corrupt ({_zip_fault(error)}): {_UPLOAD_AGAIN}"
                ) from None
            if len(content) > caps[name]:
                raise Rejection(f"the artifact member {shown(name)} is larger than {caps[name] // 1024} KiB")
            members[name] = content
    if "run.json" not in members:
        raise Rejection("the artifact has no run.json")
    return members


def parse_run_json(data: bytes) -> dict[str, Any]:
    """run.json from the sandbox: hostile, so only known fields of known types survive."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Rejection("run.json in the artifact is not valid JSON") from None
    if not isinstance(raw, dict):
        raise Rejection("run.json in the artifact is not a JSON object")
    status = raw.get("status")
    if status not in ("ok", "failed"):
        raise Rejection("run.json in the artifact has no status ok or failed")
    run: dict[str, Any] = {"status": status}
    for key in ("fit_seconds", "predict_seconds", "peak_memory_mb", "wall_seconds"):
        value = raw.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e9:
            run[key] = float(value)
    isolation = raw.get("isolation")
    if isinstance(isolation, list):
        run["isolation"] = [str(item)[:40] for item in isolation[:10]]
    if status == "failed":
        run["error"] = sanitize_error(raw.get("error"))
    return run


def sanitize_error(error: Any) -> dict[str, str]:
    """An error from the sandbox: a known class, a short message, the traceback's tail."""
    error = error if isinstance(error, Mapping) else {}
    error_class = str(error.get("class") or "exception")
    if error_class not in ERROR_CLASSES:
        error_class = "exception"
    message = str(error.get("message") or "")[:500]
    lines = str(error.get("traceback") or "").splitlines()[-TRACEBACK_LINES:]
    return {"class": error_class, "message": message, "traceback": "\n".join(line[:300] for line in lines)}


@dataclass(frozen=True)
class Quota:
    limit: int
    used: int
    next_slot: datetime | None  # when the oldest charge in the window expires

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


def quota_state(records: Iterable[Mapping[str, Any]], participant: str, now: datetime, per_day: int) -> Quota:
    """Scored submissions of one participant in the rolling 24 hours before ``now``.

    Only scored records count: a failed run or a rejected pull request is free.
    """
    window_start = now - timedelta(hours=24)
    charged = sorted(
        moment
        for record in records
        if record.get("participant") == participant and record.get("status") == "scored"
        for moment in [parse_timestamp(str(record.get("scored_at") or record["submitted_at"]))]
        if window_start < moment <= now
    )
    next_slot = charged[0] + timedelta(hours=24) if charged else None
    return Quota(limit=per_day, used=len(charged), next_slot=next_slot)


# ---------------------------------------------------------------- the comment


@dataclass(frozen=True)
class Standing:
    """Where a scored submission puts its author on the public board."""

    rank: int | None
    board_size: int
    previous_best: float | None
    leader: str | None
    leader_score: float | None


@dataclass
class CommentView:
    """Everything the sticky comment says; built from trusted data only."""

    status: str  # scored | unchanged | failed | rejected | quota | error
    challenge: str = ""
    title: str = ""
    participant: str = ""
    submission_id: str = ""
    head_sha: str = ""
    reasons: list[str] = field(default_factory=list)
    public_scores: dict[str, float | None] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    standing: Standing | None = None
    quota: Quota | None = None
    error: dict[str, str] | None = None
    end: datetime | None = None
    run_url: str = ""
    note: str = ""


def _fence(text: str) -> str:
    """A code block whose fence no backtick run inside can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _delta(metric_name: str, value: float, other: float) -> str:
    from site_builder.metrics import get_metric

    metric = get_metric(metric_name)
    difference = value - other
    if difference == 0:
        return "equal"
    better = metric.is_better(value, other)
    return f"{difference:+.{metric.precision}f} ({'better' if better else 'worse'})"


def render_comment(view: CommentView) -> str:
    """The sticky comment's markdown: the marker first, so it can be found again."""
    heading = {
        "scored": "✅ Scored",
        "unchanged": "✅ Already scored",
        "failed": "❌ The submission failed",
        "rejected": "🚫 Not scored",
        "quota": "⏳ Daily quota reached: not scored",
        "error": "⚠️ Scoring failed on our side",
    }[view.status]
    lines = [MARKER, f"### {heading}"]
    about = [f"challenge **{view.title or view.challenge}**" if view.challenge else "", f"participant @{view.participant}" if view.participant else ""]
    if view.submission_id:
        about.append(f"submission `{view.submission_id}`")
    if view.head_sha:
        about.append(f"commit `{view.head_sha[:7]}`")
    if any(about):
        lines.append(" · ".join(part for part in about if part))
    lines.append("")
    if view.status == "rejected":
        lines.append("This pull request was not scored:")
        lines.extend(f"- {reason}" for reason in view.reasons)
        lines.append("")
        lines.append("Nothing was recorded and no quota was used. Push a fix to this pull request to try again.")
    elif view.status in ("scored", "unchanged"):
        lines.extend(_score_lines(view))
    elif view.status == "failed":
        lines.extend(_failure_lines(view))
    elif view.status == "quota":
        lines.append("Nothing was recorded and no quota was used.")
    elif view.status == "error":
        lines.append("The organizers can see what went wrong in the workflow log; nothing about your submission is at fault.")
    lines.extend(_quota_lines(view))
    if view.note:
        lines.extend(["", view.note])
    if view.run_url:
        lines.extend(["", f"[Workflow run]({view.run_url})"])
    return "\n".join(lines).rstrip() + "\n"


def _score_lines(view: CommentView) -> list[str]:
    from site_builder.metrics import get_metric

    lines = ["| metric | public score |", "| --- | --- |"]
    for name in view.metrics:
        metric = get_metric(name)
        lines.append(f"| {metric.title} {metric.arrow} | {metric.format(view.public_scores.get(name))} |")
    lines.append("")
    standing, primary = view.standing, view.metrics[0]
    value = view.public_scores.get(primary)
    if standing is not None and standing.rank is not None:
        lines.append(f"**Rank now: {standing.rank} of {standing.board_size}** on the public board (your best submission counts).")
        if standing.previous_best is None or value is None:
            lines.append("- Your first scored submission to this challenge.")
        else:
            lines.append(f"- Against your previous best: {_delta(primary, value, standing.previous_best)}.")
        if standing.leader == view.participant:
            lines.append("- You lead the public board.")
        elif standing.leader_score is not None and value is not None:
            # No @-mention: the leader would be pinged by every other participant's comment.
            lines.append(f"- Against the leader, **{standing.leader}**: {_delta(primary, value, standing.leader_score)}.")
    if view.end is not None:
        lines.append("")
        lines.append(f"Private scores stay hidden until the challenge ends ({utc_timestamp(view.end)}).")
    return lines


def _failure_lines(view: CommentView) -> list[str]:
    error = view.error or {"class": "exception", "message": "", "traceback": ""}
    lines = [f"Error class: **{error['class']}**."]
    if error.get("message"):
        lines.append(_fence(error["message"]))
    if error.get("traceback"):
        lines.extend(["", "<details><summary>Traceback (last lines)</summary>", "", _fence(error["traceback"]), "", "</details>"])
    lines.extend(["", "A failed run is recorded on the site but uses no quota."])
    return lines


def _quota_lines(view: CommentView) -> list[str]:
    quota = view.quota
    if quota is None:
        return []
    text = f"Quota: **{quota.left} of {quota.limit}** scored submissions left in the rolling 24 hours"
    if quota.next_slot is not None:
        text += f"; the next slot frees at {utc_timestamp(quota.next_slot)}"
    return ["", text + "."]


def standing_of(records: Sequence[Mapping[str, Any]], challenge: Challenge, record: Mapping[str, Any], now: datetime) -> Standing:
    """Rank now, the author's best before this submission, and the leader."""
    from site_builder.metrics import get_metric
    from site_builder.rank import best_per_participant, rank_challenge

    spec = challenge.spec
    rankings = rank_challenge(records, spec.metrics, spec.schedule.end, now, spec.schedule.start)
    rows = rankings.public.rows
    rank = next((row.rank for row in rows if row.participant == record["participant"]), None)
    earlier = [r for r in records if r["participant"] == record["participant"] and r["submission_id"] != record["submission_id"]]
    primary = get_metric(spec.metrics[0])
    previous = best_per_participant(earlier, primary).get(record["participant"])
    return Standing(
        rank=rank,
        board_size=len(rows),
        previous_best=(previous or {}).get("scores", {}).get("public", {}).get(primary.name) if previous else None,
        leader=rows[0].participant if rows else None,
        leader_score=rows[0].scores.get(primary.name) if rows else None,
    )


# ---------------------------------------------------------------- PyGithub at the edges


def client(environ: Mapping[str, str] = os.environ) -> Any:
    """A PyGithub client for GITHUB_API_URL with GITHUB_TOKEN; lazy, so no needless GETs."""
    from github import Auth, Github

    token = environ.get("GITHUB_TOKEN")
    if not token:
        raise PipelineError("GITHUB_TOKEN is not set; pass it to the step through env:")
    pause = environ.get("SITE_BUILDER_API_PAUSE")
    throttle: dict[str, float] = {}
    if pause is not None:
        throttle = {"seconds_between_requests": float(pause), "seconds_between_writes": float(pause)}
    return Github(base_url=environ.get("GITHUB_API_URL", "https://api.github.com"), auth=Auth.Token(token), lazy=True, **throttle)


def repository(gh: Any, environ: Mapping[str, str] = os.environ) -> Repository:
    name = environ.get("GITHUB_REPOSITORY")
    if not name or name.count("/") != 1:
        raise PipelineError("GITHUB_REPOSITORY is not set to owner/name")
    return gh.get_repo(name)


def find_pull_request(repo: Repository, run: RunEvent) -> PullRequest | None:
    """The open pull request whose head is the run's repository and branch.

    A fork's ``workflow_run`` lists no pull request, so search by head; the
    branch name is only a query parameter here, never a command.
    """
    if not run.head_owner or not run.head_branch:
        return None
    for pull in repo.get_pulls(state="open", head=f"{run.head_owner}:{run.head_branch}"):
        head = pull.head
        if head.ref == run.head_branch and head.repo is not None and head.repo.full_name == run.head_repository:
            return pull
    return None


def changed_files(pull: PullRequest) -> list[ChangedFile]:
    files = []
    for index, item in enumerate(pull.get_files()):
        if index >= MAX_CHANGED_FILES + 1:
            break
        files.append(ChangedFile(item.filename, item.status, item.previous_filename))
    return files


def folder_tree(repo: Repository, commit_sha: str, folder: str) -> list[TreeEntry]:
    """The entries under ``folder`` at ``commit_sha``, walking down one tree at a time."""
    tree_sha = commit_sha
    for part in PurePosixPath(folder).parts:
        entries = {element.path: element for element in repo.get_git_tree(tree_sha).tree}
        element = entries.get(part)
        if element is None or element.type != "tree":
            return []
        tree_sha = element.sha
    tree = repo.get_git_tree(tree_sha, recursive=True)
    if tree.raw_data.get("truncated"):
        raise Rejection("the submission folder is too large to list")
    return [TreeEntry(e.path, e.mode, e.type, e.size, e.sha) for e in tree.tree]


def read_blob(repo: Repository, sha: str, cap: int) -> bytes:
    import base64

    blob = repo.get_git_blob(sha)
    if blob.size is None or blob.size > cap or blob.encoding != "base64":
        raise Rejection("a submission file is too large or unreadable")
    return base64.b64decode(blob.content)


def download_artifact(gh: Any, repo: Repository, run_id: int, cap: int) -> bytes:
    """The zip of the run's ``submission`` artifact, read into memory up to ``cap`` bytes."""
    artifacts = [a for a in repo.get_workflow_run(run_id).get_artifacts() if a.name == ARTIFACT_NAME]
    if not artifacts:
        raise Rejection(f"the submission run left no `{ARTIFACT_NAME}` artifact; see its log")
    artifact = artifacts[0]
    if artifact.expired:
        raise Rejection("the submission artifact has expired; push a new commit to run it again")
    if artifact.size_in_bytes > cap:
        raise Rejection(f"the submission artifact is larger than {cap // 1024} KiB")
    _, _, chunks = gh.requester.getStream(artifact.archive_download_url, chunk_size=65536)
    data = bytearray()
    for chunk in chunks:
        data.extend(chunk)
        if len(data) > cap:
            raise Rejection(f"the submission artifact is larger than {cap // 1024} KiB")
    return bytes(data)


def upsert_comment(pull: Any, body: str) -> str:
    """Update our one comment (found by its marker and a bot author) or create it."""
    for comment in pull.get_issue_comments():
        user = comment.user
        if (comment.body or "").startswith(MARKER) and user is not None and user.type == "Bot":
            comment.edit(body)
            return "updated"
    pull.create_issue_comment(body)
    return "created"


def set_status(repo: Repository, sha: str, state: str, description: str, target_url: str) -> None:
    from github import GithubObject

    repo.get_commit(sha).create_status(
        state=state,
        target_url=target_url or GithubObject.NotSet,
        description=description[:139],
        context=STATUS_CONTEXT,
    )


# ---------------------------------------------------------------- stage 1: resolve


@dataclass
class Resolution:
    """What the trusted side established about a run; saved as resolution.json."""

    verdict: str  # ok | rejected | skip
    reasons: list[str] = field(default_factory=list)
    pull_request: int | None = None
    head_sha: str = ""
    participant: str = ""
    challenge: str = ""
    kind: str = ""
    submission_id: str = ""
    submitted_at: str = ""
    display: dict[str, str] = field(default_factory=dict)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "resolution.json").write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Resolution:
        data = json.loads((Path(directory) / "resolution.json").read_text(encoding="utf-8"))
        return cls(**data)


def resolve(gh: Any, repo: Repository, payload: Mapping[str, Any], root: Path, out: Path, now: datetime) -> Resolution:
    """Find the pull request, check it and fetch its submission into ``out``."""
    run = parse_run_event(payload)
    if run.event != "pull_request" or run.path.split("@")[0] != SUBMISSION_WORKFLOW:
        resolution = Resolution("skip", [f"not a pull_request run of {SUBMISSION_WORKFLOW}"])
    elif run.conclusion in ("cancelled", "skipped", "action_required", "stale"):
        # A newer push superseded the run, or it awaits approval: its own run will come.
        resolution = Resolution("skip", [f"the submission run ended as {run.conclusion}"])
    else:
        pull = find_pull_request(repo, run)
        if pull is None:
            resolution = Resolution("skip", ["no open pull request has this run's head repository and branch"])
        else:
            resolution = Resolution("rejected", pull_request=pull.number, head_sha=run.head_sha)
            try:
                _resolve_pull(gh, repo, pull, run, root, out, resolution, now)
                resolution.verdict = "ok"
            except Rejection as rejection:
                resolution.reasons = [rejection.message]
    resolution.save(out)
    return resolution


def _resolve_pull(gh: Any, repo: Repository, pull: PullRequest, run: RunEvent, root: Path, out: Path, resolution: Resolution, now: datetime) -> None:
    from site_builder.spec import load_challenge
    from site_builder.submission import REQUIRED_FILE, parse_meta

    if pull.head.sha != run.head_sha:
        raise Rejection(
            f"this run is for commit `{run.head_sha[:7]}` but the pull request's head is now `{pull.head.sha[:7]}`; "
            "the run of the newest commit will be scored"
        )
    author = pull.user.login
    if not LOGIN_PATTERN.match(author):
        raise Rejection("the pull request's author has a login this tool cannot use")
    resolution.participant = check_login(author)
    slug = check_changed_files(changed_files(pull), author)
    resolution.challenge = slug
    if not (root / "challenges" / slug / "challenge.yaml").is_file():
        raise Rejection(f"there is no challenge {shown(slug)} on the default branch")
    challenge = load_challenge(root / "challenges" / slug)
    resolution.kind = kind = challenge.spec.kind
    predictions_cap = challenge.spec.limits.predictions_mb * 1024 * 1024
    folder = submission_folder(slug, author)
    entries = folder_tree(repo, run.head_sha, folder)
    check_tree(entries, REQUIRED_FILE[kind], predictions_cap)
    files = {entry.path: read_blob(repo, entry.sha, predictions_cap) for entry in entries if entry.type == "blob"}
    try:
        resolution.display = parse_meta(files, Path(folder)).display()
    except SubmissionError as error:
        raise Rejection(error.message) from None
    if kind == "code":
        if run.conclusion != "success":
            raise Rejection(f"the submission workflow ended with {shown(run.conclusion or 'no conclusion')}; see its log")
        members = read_artifact_zip(download_artifact(gh, repo, run.run_id, predictions_cap + MAX_FILE_BYTES), predictions_cap)
        parse_run_json(members["run.json"])  # refuse a malformed run.json now, with a clear reason
        _write_tree(out / "output", members)
    _write_tree(out / "files", files)
    resolution.submission_id = hash_files(files).removeprefix("sha256:")[:16]
    created = run.created_at
    resolution.submitted_at = utc_timestamp(parse_timestamp(created)) if created else utc_timestamp(now)


def _write_tree(directory: Path, files: Mapping[str, bytes]) -> None:
    from site_builder.record import safe_relative_name

    for name, content in files.items():
        target = directory / safe_relative_name(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _read_tree(directory: Path) -> dict[str, bytes]:
    from site_builder.datastore import read_tree

    return read_tree(directory) if directory.is_dir() else {}


# ---------------------------------------------------------------- stage 2: score


def score(resolved: Path, data: Path, root: Path, out: Path, identity: Callable[[], str], now: datetime) -> dict[str, Any]:
    """Quota, then score (or record the failure) into ``out/results``; the outcome.

    While the challenge is open the record's private scores are sealed (see
    :mod:`site_builder.seal`) before anything is written under ``out``: the
    outcome, the record file and so the ``scored`` artifact, the data branch
    and the comment only ever see ``sealed_private``.
    """
    from site_builder.errors import PredictionsError
    from site_builder.evaluate import load_solution, record_failure, score_and_record
    from site_builder.record import find_record, load_records, write_record
    from site_builder.seal import seal_if_open
    from site_builder.spec import load_challenge

    resolution = Resolution.load(resolved)
    if resolution.verdict != "ok":
        raise PipelineError(f"the resolution is {resolution.verdict!r}; nothing to score")
    challenge = load_challenge(root / "challenges" / resolution.challenge)
    participant, submission_id = resolution.participant, resolution.submission_id
    records = load_records(data, challenge.slug)
    quota = quota_state(records, participant, now, challenge.spec.limits.per_day)
    outcome: dict[str, Any] = {"submission_id": submission_id, "record": None, "quota": None}
    existing = find_record(data, challenge.slug, participant, submission_id)
    if existing is not None:
        return _finish(out, {**outcome, "status": "unchanged", "record": existing}, quota)
    if quota.left == 0:
        return _finish(out, {**outcome, "status": "quota"}, quota)
    files = _read_tree(resolved / "files")
    common: dict[str, Any] = dict(
        participant=participant,
        submission_id=submission_id,
        results=out / "results",
        submitted_at=parse_timestamp(resolution.submitted_at),
        scored_at=now,
        files=files,
        commit=resolution.head_sha,
        pull_request=resolution.pull_request,
        display=resolution.display,
    )
    run: dict[str, Any] | None = None
    predictions: bytes | None = files.get("predictions.csv")
    if resolution.kind == "code":
        output = _read_tree(resolved / "output")
        run = parse_run_json(output["run.json"])
        predictions = output.get("predictions.csv")
        if run["status"] != "ok" or predictions is None:
            error = run.get("error") or {"class": "invalid-output", "message": "the run wrote no predictions.csv", "traceback": ""}
            record, _, _ = record_failure(challenge, error=error, run=run, **common)
            return _finish(out, {**outcome, "status": "failed", "record": record}, quota)
    identity_text = identity()
    solution = load_solution(challenge, identity_text)
    # Scored into a private scratch folder: the record leaves it only sealed.
    with tempfile.TemporaryDirectory(prefix="site-builder-unsealed-", dir=os.environ.get("RUNNER_TEMP") or None) as scratch:
        try:
            record, _, _ = score_and_record(challenge, predictions or b"", solution=solution, run=run, **{**common, "results": Path(scratch)})
        except PredictionsError as problem:
            error = {"class": "invalid-output", "message": str(problem)[:500], "traceback": ""}
            record, _, _ = record_failure(challenge, error=error, run=run, **common)
            return _finish(out, {**outcome, "status": "failed", "record": record}, quota)
    record = seal_if_open(record, challenge.directory, challenge.spec.schedule.end, now, identity_text)
    write_record(common["results"], record, files)
    charged = Quota(quota.limit, quota.used + 1, quota.next_slot or now + timedelta(hours=24))
    return _finish(out, {**outcome, "status": "scored", "record": record}, charged)


def _finish(out: Path, outcome: dict[str, Any], quota: Quota) -> dict[str, Any]:
    outcome["quota"] = {
        "limit": quota.limit,
        "used": quota.used,
        "next_slot": utc_timestamp(quota.next_slot) if quota.next_slot else None,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "outcome.json").write_text(json.dumps(outcome, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return outcome


def load_outcome(directory: Path | None) -> dict[str, Any] | None:
    if directory is None or not (Path(directory) / "outcome.json").is_file():
        return None
    return json.loads((Path(directory) / "outcome.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- stage 3: record


def record(scored: Path, *, remote: str | None = None) -> list[str]:
    """Push the outcome's record files to the data branch; the names added."""
    from site_builder.datastore import add_files

    outcome = load_outcome(scored)
    files = _read_tree(Path(scored) / "results")
    if outcome is None or not files:
        return []
    entry = outcome["record"]
    message = f"record {entry['challenge']}/{entry['participant']} {entry['submission_id']} ({entry['status']})"
    return add_files(files, message, remote=remote)


# ---------------------------------------------------------------- stage 4: comment


def comment_view(
    resolution: Resolution | None,
    outcome: Mapping[str, Any] | None,
    data: Path,
    root: Path,
    now: datetime,
    *,
    score_result: str,
    record_result: str,
) -> CommentView:
    """What to say, from the resolution, the score outcome and the records now on the branch."""
    from site_builder.record import load_records
    from site_builder.spec import load_challenge

    if resolution is None:
        return CommentView("error")
    view = CommentView(
        "error",
        challenge=resolution.challenge,
        participant=resolution.participant,
        submission_id=resolution.submission_id,
        head_sha=resolution.head_sha,
    )
    if resolution.verdict == "rejected":
        view.status, view.reasons = "rejected", list(resolution.reasons)
        return view
    if outcome is None or score_result != "success":
        return view
    challenge = load_challenge(root / "challenges" / resolution.challenge)
    view.title, view.metrics, view.end = challenge.spec.title, list(challenge.spec.metrics), challenge.spec.schedule.end
    quota = outcome.get("quota") or {}
    view.quota = Quota(int(quota.get("limit", 0)), int(quota.get("used", 0)), parse_timestamp(quota["next_slot"]) if quota.get("next_slot") else None)
    view.status = outcome["status"]
    entry = outcome.get("record")
    if view.status == "failed" and entry:
        view.error = sanitize_error(entry.get("error"))
    if view.status in ("scored", "unchanged") and entry:
        records = [r for r in load_records(data, challenge.slug) if r["submission_id"] != entry["submission_id"] or r["participant"] != entry["participant"]]
        view.public_scores = dict(entry.get("scores", {}).get("public", {}))
        view.standing = standing_of([*records, entry], challenge, entry, now)
    if view.status in ("scored", "failed") and record_result != "success":
        view.note = "⚠️ The result could not be saved to the leaderboard yet; an organizer can re-run the failed jobs."
    return view


STATUS_STATES = {"scored": "success", "unchanged": "success", "failed": "failure", "rejected": "failure", "quota": "failure", "error": "error"}


def status_description(view: CommentView) -> str:
    if view.status in ("scored", "unchanged") and view.metrics:
        from site_builder.metrics import get_metric

        primary = get_metric(view.metrics[0])
        rank = f", rank {view.standing.rank}" if view.standing and view.standing.rank else ""
        return f"public {primary.name} {primary.format(view.public_scores.get(primary.name))}{rank}"
    if view.status == "failed" and view.error:
        return f"the submission failed: {view.error['class']}"
    if view.status == "quota" and view.quota and view.quota.next_slot:
        return f"daily quota reached; next slot {utc_timestamp(view.quota.next_slot)}"
    return {"rejected": "not scored: see the pull request comment", "error": "scoring failed on our side"}.get(view.status, view.status)


# ---------------------------------------------------------------- the untrusted side


def changed_submission_folders(root: Path, base_sha: str, author: str) -> list[Path]:
    """Submission folders the pull request changed (by git), else the author's folders.

    Only a hint for the sandbox run: the trusted side checks the files again
    through the API before anything is scored.
    """
    import subprocess

    folders: set[Path] = set()
    if _SHA.match(base_sha):
        diff = subprocess.run(
            ["git", "diff", "--name-only", "-z", f"{base_sha}...HEAD"], cwd=root, capture_output=True, text=True
        )
        if diff.returncode == 0:
            for name in filter(None, diff.stdout.split("\0")):
                parts = PurePosixPath(name).parts
                if len(parts) >= 4 and parts[0] == "submissions":
                    folders.add(root / parts[0] / parts[1] / parts[2])
            return sorted(folders)
    if LOGIN_PATTERN.match(author):
        folders.update(path for path in (root / "submissions").glob(f"*/{author}") if path.is_dir())
    return sorted(folders)


def run_untrusted(payload: Mapping[str, Any], root: Path, out: Path) -> str:
    """The pull request side: check the folder, run code in the sandbox, write the artifact.

    Returns a line for the log. A participant's failing code is not an error
    here: run.json says so and the trusted side records the failure.
    """
    from site_builder.spec import load_challenge
    from site_builder.submission import load_submission

    pull = payload.get("pull_request") or {}
    author = str((pull.get("user") or {}).get("login") or "")
    base_sha = str((pull.get("base") or {}).get("sha") or "")
    folders = changed_submission_folders(root, base_sha, author)
    if len(folders) != 1:
        raise SubmissionError(
            f"a pull request must change exactly one folder submissions/<challenge>/{author or '<login>'}/; it changes {len(folders)}"
        )
    folder = folders[0]
    challenge = load_challenge(root / "challenges" / folder.parent.name)
    submission = load_submission(folder, challenge)
    out.mkdir(parents=True, exist_ok=True)
    if challenge.spec.kind == "code":
        from site_builder.run import run_submission

        result = run_submission(challenge, folder, out)
        error = result.error or {}
        return f"run: {result.status}" + (f" ({error.get('class')}: {error.get('message')})" if error else "")
    from site_builder.predictions import read_predictions
    from site_builder.score import test_ids

    read_predictions(submission.files["predictions.csv"], challenge, test_ids(challenge))
    (out / "run.json").write_text(json.dumps({"status": "ok", "kind": "predictions"}) + "\n", encoding="utf-8")
    return "predictions.csv has the expected form; the trusted side reads it from git"


# ---------------------------------------------------------------- doctor


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: could not be checked with this token
    detail: str


def doctor(gh: Any, repo: Repository, *, environment: str = "scoring", branch: str = "leaderboard-data") -> list[Check]:
    """What the API can see of the organizer's setup, and what is missing."""
    return [
        _check_pages(gh, repo),
        *_check_environment(gh, repo, environment),
        _check_repository_secret(gh, repo),
        _check_branch(repo, branch),
        _check_workflows(repo),
        _check_fork_approval(gh, repo),
    ]


def _api_json(gh: Any, path: str) -> tuple[int, Any]:
    from github import GithubException

    try:
        _, data = gh.requester.requestJsonAndCheck("GET", path)
        return 200, data
    except GithubException as error:
        return error.status, None


def _check_pages(gh: Any, repo: Repository) -> Check:
    status, data = _api_json(gh, f"/repos/{repo.full_name}/pages")
    if status == 404:
        return Check("pages", False, "GitHub Pages is off: Settings → Pages → Source: GitHub Actions")
    if status != 200:
        return Check("pages", None, f"cannot read the Pages settings (HTTP {status})")
    if data.get("build_type") != "workflow":
        return Check("pages", False, f"Pages builds from {data.get('build_type')!r}; set Settings → Pages → Source: GitHub Actions")
    return Check("pages", True, f"Pages deploys from GitHub Actions at {data.get('html_url', '')}")


def _check_environment(gh: Any, repo: Repository, name: str) -> list[Check]:
    from github import GithubException

    try:
        environment = repo.get_environment(name)
        policy = environment.deployment_branch_policy
    except GithubException as error:
        if error.status == 404:
            return [Check("environment", False, f"no environment {name!r}: Settings → Environments → New environment")]
        return [Check("environment", None, f"cannot read environment {name!r} (HTTP {error.status})")]
    checks = []
    if policy is None:
        checks.append(Check("environment", False, f"environment {name!r} deploys from any branch; restrict it to main"))
    elif policy.custom_branch_policies:
        status, data = _api_json(gh, f"/repos/{repo.full_name}/environments/{name}/deployment-branch-policies")
        names = sorted(p.get("name") for p in (data or {}).get("branch_policies", []))
        good = status == 200 and names == [repo.default_branch]
        checks.append(Check("environment", good if status == 200 else None, f"environment {name!r} deploys from {names or 'unknown branches'}; it should be [{repo.default_branch!r}] only"))
    else:
        checks.append(Check("environment", True, f"environment {name!r} deploys from protected branches only"))
    status, _ = _api_json(gh, f"/repos/{repo.full_name}/environments/{name}/secrets/SITE_BUILDER_AGE_KEY")
    if status == 200:
        checks.append(Check("secret", True, f"SITE_BUILDER_AGE_KEY is set in {name!r}"))
    elif status == 404:
        checks.append(Check("secret", False, f"SITE_BUILDER_AGE_KEY is missing from {name!r}: add it under Settings → Environments → {name}"))
    else:
        checks.append(Check("secret", None, f"cannot list the secrets of {name!r} (HTTP {status}; needs an admin token)"))
    return checks


def _check_repository_secret(gh: Any, repo: Repository) -> Check:
    """The key belongs to the environment only: a repository secret reaches every workflow."""
    status, _ = _api_json(gh, f"/repos/{repo.full_name}/actions/secrets/SITE_BUILDER_AGE_KEY")
    if status == 200:
        return Check("secret-scope", False, "SITE_BUILDER_AGE_KEY is also a repository secret; delete it there and keep it in the environment only")
    if status == 404:
        return Check("secret-scope", True, "SITE_BUILDER_AGE_KEY is not a repository-wide secret")
    return Check("secret-scope", None, f"cannot list repository secrets (HTTP {status}; needs an admin token)")


def _check_branch(repo: Repository, branch: str) -> Check:
    from github import GithubException

    try:
        repo.get_branch(branch).name
    except GithubException as error:
        if error.status == 404:
            return Check("data-branch", True, f"{branch!r} does not exist yet; the first scoring run creates it")
        return Check("data-branch", None, f"cannot read branch {branch!r} (HTTP {error.status})")
    return Check("data-branch", True, f"{branch!r} exists")


def _check_workflows(repo: Repository) -> Check:
    from github import GithubException

    wanted = {f".github/workflows/{name}.yml" for name in ("submission", "scoring", "pages")}
    try:
        present = {workflow.path: workflow.state for workflow in repo.get_workflows()}
    except GithubException as error:
        return Check("workflows", None, f"cannot list workflows (HTTP {error.status})")
    missing = sorted(wanted - set(present))
    inactive = sorted(path for path in wanted & set(present) if present[path] != "active")
    if missing or inactive:
        return Check("workflows", False, "; ".join([*(f"{path} is missing" for path in missing), *(f"{path} is disabled" for path in inactive)]))
    return Check("workflows", True, "submission, scoring and pages workflows are active")


def _check_fork_approval(gh: Any, repo: Repository) -> Check:
    status, data = _api_json(gh, f"/repos/{repo.full_name}/actions/permissions/fork-pr-contributor-approval")
    if status != 200:
        return Check("fork-approval", None, f"cannot read the fork approval setting (HTTP {status}); check Settings → Actions → General")
    policy = (data or {}).get("approval_policy", "")
    good = policy in ("first_time_contributors", "all_external_contributors")
    advice = "" if good else "; choose 'Require approval for first-time contributors' or stricter"
    return Check("fork-approval", good, f"fork pull request runs need approval: {policy or 'unknown'}{advice}")
