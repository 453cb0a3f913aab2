"""A whole hackathon without GitHub: a bare origin, a fake API and the workflow runner."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.github.actions_runner import RunResult, Runner
from site_builder.record import parse_timestamp
from tests.github.challenge_fixture import ChallengeFiles, score_canaries, write_challenge
from tests.github.fake_github import FakeGitHub

FIXTURES = Path(__file__).parent / "fixtures"
NOW = "2026-11-22T10:00:00Z"
CREATED_AT = "2026-11-22T09:58:00Z"
DATA_BRANCH = "leaderboard-data"
Symlink = tuple[str, str]  # ("symlink", target)


def git(cwd: Path, *args: str) -> str:
    environment = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=cwd, env=environment, capture_output=True, text=True, check=True).stdout.strip()


def fill(template: Any, values: Mapping[str, Any]) -> Any:
    """Put values into a fixture: a string that is exactly a placeholder takes the value's type."""
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, values) for value in template]
    if isinstance(template, str):
        if template in values:
            return values[template]
        for key, value in values.items():
            template = template.replace(key, str(value))
    return template


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


@dataclass
class Pull:
    number: int
    author: str
    head_owner: str
    head_ref: str
    head_sha: str
    base_sha: str
    commits: list[str] = field(default_factory=list)

    @property
    def head_repo(self) -> str:
        return f"{self.head_owner}/hack"


@dataclass
class Hackathon:
    """The organizer's repository as GitHub would hold it, plus the machinery to run it."""

    tmp: Path
    fake: FakeGitHub
    runner: Runner
    origin: Path
    clone: Path
    challenges: dict[str, ChallengeFiles]
    runs: list[RunResult] = field(default_factory=list)
    next_run_id: int = 9000

    @property
    def main_sha(self) -> str:
        return git(self.origin, "rev-parse", "refs/heads/main")

    # ------------------------------------------------------------ pull requests

    def open_pull(self, number: int, author: str, files: Mapping[str, bytes | Symlink], *, head_ref: str | None = None, head_owner: str | None = None) -> Pull:
        pull = Pull(number, author, head_owner or author, head_ref or f"{author}-submission-{number}", "", self.main_sha)
        pull.head_sha = self._commit(self.main_sha, files, f"pull {number}")
        git(self.origin, "update-ref", f"refs/pull/{number}/head", pull.head_sha)
        pull.commits.append(pull.head_sha)
        self.fake.add_pull(number, author, pull.head_repo, pull.head_ref, pull.head_sha, pull.base_sha)
        return pull

    def push_to_pull(self, pull: Pull, files: Mapping[str, bytes | Symlink]) -> str:
        pull.head_sha = self._commit(pull.head_sha, files, f"pull {pull.number} again")
        git(self.origin, "update-ref", f"refs/pull/{pull.number}/head", pull.head_sha)
        pull.commits.append(pull.head_sha)
        self.fake.pulls[pull.number]["head"]["sha"] = pull.head_sha
        return pull.head_sha

    def _commit(self, parent: str, files: Mapping[str, bytes | Symlink], message: str) -> str:
        git(self.clone, "fetch", "--quiet", str(self.origin), parent)
        git(self.clone, "checkout", "--quiet", "--detach", parent)
        for name, content in files.items():
            path = self.clone / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, tuple):
                path.symlink_to(content[1])
            else:
                path.write_bytes(content)
            git(self.clone, "add", "--", name)
        git(self.clone, "commit", "--quiet", "-m", message)
        sha = git(self.clone, "rev-parse", "HEAD")
        git(self.clone, "push", "--quiet", str(self.origin), f"{sha}:refs/heads/scratch-{sha[:12]}")
        return sha

    # ------------------------------------------------------------ events and runs

    def pull_request_event(self, pull: Pull) -> dict[str, Any]:
        template = json.loads((FIXTURES / "pull_request.json").read_text(encoding="utf-8"))
        return fill(template, {"__NUMBER__": pull.number, "__AUTHOR__": pull.author, "__HEAD_REF__": pull.head_ref, "__HEAD_SHA__": pull.head_sha, "__HEAD_OWNER__": pull.head_owner, "__HEAD_REPO__": pull.head_repo, "__BASE_SHA__": pull.base_sha})

    def workflow_run_event(self, pull: Pull, run_id: int, *, head_sha: str | None = None, conclusion: str = "success", actor: str | None = None) -> dict[str, Any]:
        template = json.loads((FIXTURES / "workflow_run.json").read_text(encoding="utf-8"))
        return fill(template, {"__RUN_ID__": run_id, "__CONCLUSION__": conclusion, "__HEAD_REF__": pull.head_ref, "__HEAD_SHA__": head_sha or pull.head_sha, "__CREATED_AT__": CREATED_AT, "__ACTOR__": actor or pull.author, "__HEAD_OWNER__": pull.head_owner, "__HEAD_REPO__": pull.head_repo})

    def submit(self, pull: Pull) -> tuple[RunResult, int]:
        """The untrusted run: the pull request workflow at the head commit; its artifact goes to the fake API."""
        result = self.runner.run("submission.yml", "pull_request", self.pull_request_event(pull), sha=pull.head_sha)
        self.runs.append(result)
        self.next_run_id += 1
        if "submission" in result.artifacts:
            self.fake.add_artifact(self.next_run_id, "submission", zip_folder(result.artifacts["submission"]))
        return result, self.next_run_id

    def score(self, pull: Pull, run_id: int, **event: Any) -> RunResult:
        """The trusted run: scoring.yml on main for the submission run ``run_id``."""
        result = self.runner.run("scoring.yml", "workflow_run", self.workflow_run_event(pull, run_id, **event), sha=self.main_sha)
        self.runs.append(result)
        return result

    def submit_and_score(self, pull: Pull) -> RunResult:
        submission, run_id = self.submit(pull)
        assert submission.result("run") == "success", submission.log
        return self.score(pull, run_id)

    def new_run_id(self) -> int:
        self.next_run_id += 1
        return self.next_run_id

    # ------------------------------------------------------------ what users see

    def comments(self, number: int) -> list[str]:
        return [comment["body"] for comment in self.fake.issue_comments(number)]

    def data_files(self) -> dict[str, str]:
        if not self.fake.branch_exists(DATA_BRANCH):
            return {}
        names = git(self.origin, "ls-tree", "-r", "--name-only", DATA_BRANCH).splitlines()
        return {name: git(self.origin, "show", f"{DATA_BRANCH}:{name}") for name in names}

    def records(self) -> dict[str, dict[str, Any]]:
        return {name: json.loads(text) for name, text in self.data_files().items() if name.count("/") == 1 and name.endswith(".json")}

    def unsealed_records(self) -> dict[str, dict[str, Any]]:
        """The records with their private scores opened with the key (what only the organizers can see)."""
        from site_builder.seal import unseal_record

        return {name: unseal_record(record, self.challenges[record["challenge"]].identity) for name, record in self.records().items()}

    def private_score_canaries(self) -> set[str]:
        """Every private score on the data branch, written as a page, a log or a JSON file could write it."""
        canaries: set[str] = set()
        for record in self.unsealed_records().values():
            for value in (record["scores"].get("private") or {}).values():
                if value is not None:
                    canaries |= score_canaries(float(value))
        return canaries

    def assert_no_private_score_leaked(self, canaries: set[str] | None = None) -> None:
        """No private score anywhere public: data branch, artifacts, logs, comments, statuses, pages."""
        canaries = self.private_score_canaries() if canaries is None else canaries
        assert canaries, "no private score to look for"
        text = self.everything_public()
        leaked = sorted(canary for canary in canaries if canary in text)
        assert not leaked, f"private scores leaked: {leaked}"

    def everything_public(self) -> str:
        """Every log line, comment, status, artifact and page: where a secret must never be."""
        parts = [run.log for run in self.runs]
        parts += [comment["body"] for comment in self.fake.comments]
        parts += [json.dumps(status) for status in self.fake.statuses]
        for run in self.runs:
            for folder in run.artifacts.values():
                parts += [path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*") if path.is_file()]
        if self.runner.published and self.runner.published.exists():
            parts += [path.read_bytes().decode("utf-8", "replace") for path in self.runner.published.rglob("*") if path.is_file()]
        parts += list(self.data_files().values())
        return "\n".join(parts)

    def assert_no_secret_leaked(self) -> None:
        text = self.everything_public()
        assert self.fake.token not in text
        for challenge in self.challenges.values():
            assert challenge.identity.strip() not in text
            assert challenge.identity.split("-")[-1][:20] not in text
            for label in challenge.labels.values():
                assert label not in text, f"label {label} leaked"
            for line in challenge.solution_lines:
                assert line not in text
        # A record scored before its challenge's end holds its private scores sealed only.
        for name, record in self.records().items():
            end = parse_timestamp(self.challenges[record["challenge"]].end)
            if parse_timestamp(record["scored_at"]) < end:
                assert "private" not in record["scores"], f"{name} holds private scores in clear"
                assert record["status"] != "scored" or "sealed_private" in record, name


def make_hackathon(tmp: Path, challenges: Mapping[str, Mapping[str, Any]]) -> Iterator[Hackathon]:
    origin = tmp / "origin.git"
    git(tmp, "init", "--quiet", "--bare", "-b", "main", str(origin))
    clone = tmp / "organizer"
    git(tmp, "init", "--quiet", "-b", "main", str(clone))
    written = {slug: write_challenge(clone, slug, **options) for slug, options in challenges.items()}
    (clone / "README.md").write_text("# A hackathon\n", encoding="utf-8")
    git(clone, "add", ".")
    git(clone, "commit", "--quiet", "-m", "the hackathon")
    git(clone, "push", "--quiet", str(origin), "main")
    fake = FakeGitHub(origin)
    fake.start()
    identity = next(iter(written.values())).identity
    # One key opens every test challenge's solution? No: each has its own; the
    # scoring secret is the first challenge's, and tests with several
    # challenges re-encrypt them to one key (see below).
    for files in written.values():
        _reencrypt(clone / "challenges" / files.slug, files, identity)
    git(clone, "commit", "--quiet", "-am", "one key for all challenges")
    git(clone, "push", "--quiet", str(origin), "main")
    written = {slug: dataclasses.replace(files, identity=identity, recipient=_recipient_of(identity)) for slug, files in written.items()}
    runner = Runner(origin=origin, work=tmp / "runner", api_url=fake.url, token=fake.token, secrets={"SITE_BUILDER_AGE_KEY": identity}, extra_env={"SITE_BUILDER_NOW": NOW}, published=tmp / "published")
    try:
        yield Hackathon(tmp, fake, runner, origin, clone, written)
    finally:
        fake.stop()


def _reencrypt(directory: Path, files: ChallengeFiles, identity: str) -> None:
    from site_builder.private import decrypt_file, encrypt_bytes

    plaintext = decrypt_file(directory / "private" / "solution.csv.age", files.identity)
    recipient = _recipient_of(identity)
    (directory / "private" / "solution.csv.age").write_bytes(encrypt_bytes(plaintext, recipient))
    (directory / "recipient.txt").write_text(recipient + "\n", encoding="utf-8")


def _recipient_of(identity: str) -> str:
    from pyrage import x25519

    return str(x25519.Identity.from_str(identity.strip()).to_public())


@pytest.fixture
def hackathon(tmp_path: Path) -> Iterator[Hackathon]:
    yield from make_hackathon(tmp_path, {"houses": {}})


@pytest.fixture
def code_hackathon(tmp_path: Path) -> Iterator[Hackathon]:
    """A ``code`` challenge: the pull request run fits estimator.py in the sandbox."""
    yield from make_hackathon(tmp_path, {"houses": {"kind": "code"}})
