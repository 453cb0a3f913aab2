"""The results store on GitHub: an orphan branch holding one file per submission.

The branch (default ``leaderboard-data``) has the layout of a local
``results/`` folder, so ``rank`` and ``build`` read a checkout of it as is.
Writers only ever add new files, so two scoring runs that race never conflict
on content: a push rejected because the branch moved is retried by fetching
the new tip and committing the same files on top of it again, after a random
pause (see ``_pause``). A push the server refused for good fails at once.

Git runs as a subprocess with argument lists (never a shell). The token goes
in through ``GIT_CONFIG_*`` environment variables for the one command that
needs it, so it is never written to ``.git/config`` where a later step could
read it.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from site_builder.errors import SiteBuilderError

DATA_BRANCH = "leaderboard-data"
# A rejected push is retried on the fresh tip. Writers that lose a race together
# must not retry together: with a fixed pause (0.2 * 2**n s, 8 attempts) fifty
# simultaneous writers retried in lockstep, collided again and again, and about
# twenty of them gave up (the job failed, the record never landed). So each
# pause is "full jitter", uniform(0, min(cap, base * 2**n)), which spreads the
# retries out, and the budget is generous: 30 attempts within a few minutes
# (the record job's own timeout is 15 minutes). Beyond that the push fails
# loudly, never silently.
PUSH_ATTEMPTS = 30
PUSH_BUDGET_SECONDS = 240.0
# Only a lost race earns that budget. A push the server refused for good (a
# protected branch, a hook, no permission) fails at once with the server's
# reason; one that failed before the server answered about the branch (the
# network, a 5xx) is tried this many times in all.
UNANSWERED_PUSH_ATTEMPTS = 3
PAUSE_BASE_SECONDS = 0.2
PAUSE_CAP_SECONDS = 5.0
# Seeded from the OS, so forked writers do not share one sequence of pauses.
_JITTER = random.SystemRandom()
COMMITTER = ("site-builder", "site-builder@users.noreply.github.com")


class DataStoreError(SiteBuilderError):
    """The data branch could not be read or written."""


def remote_url(environ: Mapping[str, str] = os.environ) -> str:
    """Where the data branch lives: an override (tests, mirrors) or this repository."""
    override = environ.get("SITE_BUILDER_DATA_REMOTE")
    if override:
        return override
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository = environ.get("GITHUB_REPOSITORY")
    if not repository:
        raise DataStoreError("GITHUB_REPOSITORY is not set; cannot locate the data branch")
    return f"{server}/{repository}.git"


def _auth_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Git settings for one command: the token as an HTTP header, no prompts."""
    extra = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    token = environ.get("GITHUB_TOKEN")
    if token and not environ.get("SITE_BUILDER_DATA_REMOTE"):
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        extra.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraheader",
            GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}",
        )
    return extra


def _git(directory: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **_auth_environment(os.environ)}
    result = subprocess.run(["git", *args], cwd=directory, env=environment, capture_output=True, text=True)
    if check and result.returncode != 0:
        # stderr of git never holds the token (it is a header, not in the URL).
        raise DataStoreError(f"git {args[0]} failed: {result.stderr.strip()[-500:]}")
    return result


def _init(directory: Path, remote: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _git(directory, "init", "--quiet")
    _git(directory, "remote", "add", "origin", remote)


def _remote_tip(directory: Path, branch: str) -> str | None:
    """The branch's tip commit on the remote, or None while it does not exist."""
    probe = _git(directory, "ls-remote", "--heads", "origin", f"refs/heads/{branch}")
    return probe.stdout.split()[0] if probe.stdout.strip() else None


def _fetch_tip(directory: Path, branch: str) -> str | None:
    """Fetch the branch; its tip commit, or None while it does not exist yet."""
    if _remote_tip(directory, branch) is None:
        return None
    _git(directory, "fetch", "--quiet", "--no-tags", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
    return _git(directory, "rev-parse", f"refs/remotes/origin/{branch}").stdout.strip()


def fetch(into: Path, branch: str = DATA_BRANCH, remote: str | None = None) -> bool:
    """Check out the data branch into ``into`` (an empty folder if it does not exist yet).

    True if the branch exists.
    """
    into = Path(into)
    if into.exists() and any(into.iterdir()):
        raise DataStoreError("must be an empty or new folder", path=into)
    with tempfile.TemporaryDirectory(prefix="site-builder-data-") as scratch:
        work = Path(scratch)
        _init(work, remote or remote_url())
        tip = _fetch_tip(work, branch)
        into.mkdir(parents=True, exist_ok=True)
        if tip is None:
            return False
        # A plain export of the tree: the reader gets files, not a repository.
        _git(work, "--work-tree", str(into.resolve()), "checkout", "--quiet", tip, "--", ".")
    return True


def _checked_name(name: str) -> str:
    """A store-relative path that cannot leave the store or touch .git."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..", ".git") for part in path.parts) or "\\" in name:
        raise DataStoreError(f"{name!r} is not a plain relative path")
    return path.as_posix()


def add_files(
    files: Mapping[str, bytes],
    message: str,
    *,
    branch: str = DATA_BRANCH,
    remote: str | None = None,
    attempts: int = PUSH_ATTEMPTS,
    budget_seconds: float = PUSH_BUDGET_SECONDS,
) -> list[str]:
    """Add new files to the data branch and push; return the names actually added.

    A name that already exists on the branch is left as it is (records are
    immutable: the first writer wins). On a rejected push the commit is rebuilt
    on the fresh tip (a fast-forward: no merge, a straight history) and pushed
    again after a random, growing pause, up to ``attempts`` pushes within
    ``budget_seconds``; then :class:`DataStoreError`.
    """
    names = {_checked_name(name): content for name, content in files.items()}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="site-builder-data-") as scratch:
        work = Path(scratch)
        _init(work, remote or remote_url())
        unanswered = 0
        for attempt in range(1, max(attempts, 1) + 1):
            tip, added = _commit_on_tip(work, branch, names, message)
            if not added:
                return []
            push = _git(work, "push", "--porcelain", "origin", f"HEAD:refs/heads/{branch}", check=False)
            if push.returncode == 0:
                return added
            outcome = _push_outcome(push.stdout)
            # Two pushes at once may also end in "[remote rejected] (cannot lock ref ...)": the
            # branch then moved, a lost race. Refused with the branch where it was: for good.
            if outcome.startswith("[remote rejected]") and _remote_tip(work, branch) == tip:
                said = " ".join(push.stderr.split())[-300:]  # the server's own words, on one line
                raise DataStoreError(
                    f"the server refused the push to {branch}: {outcome} {said}".rstrip()
                    + "; check that the workflow may write to this branch (branch protection, rulesets, contents: write)"
                )
            if not outcome:  # no answer about the branch: the network or the server
                unanswered += 1
                if unanswered >= UNANSWERED_PUSH_ATTEMPTS:
                    break
            pause = _pause(attempt)
            if attempt >= attempts or time.monotonic() - started + pause > budget_seconds:
                break
            time.sleep(pause)
        seconds = time.monotonic() - started
        raise DataStoreError(
            f"could not push to {branch} after {attempt} attempts in {seconds:.0f} s: {push.stderr.strip()[-300:]}"
        )


def _push_outcome(porcelain: str) -> str:
    """The summary ``git push --porcelain`` gave for the ref: ``[rejected] (fetch first)``,
    ``[remote rejected] (reason)``..., or "" when it got no answer about it.

    A lost race is ``[rejected]`` (the branch moved: fetch first, or not a fast-forward).
    """
    for line in porcelain.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[0] == "!":
            return fields[2].strip()
    return ""


def _pause(failures: int) -> float:
    """Seconds to wait after ``failures`` rejected pushes (1, 2, ...): full jitter.

    Uniform in [0, min(cap, base * 2**(failures - 1))]: the ceiling grows as in
    plain exponential backoff, but writers that collided pick different pauses
    and so stop colliding with each other.
    """
    return _JITTER.uniform(0.0, min(PAUSE_CAP_SECONDS, PAUSE_BASE_SECONDS * 2 ** (failures - 1)))


def _commit_on_tip(work: Path, branch: str, files: Mapping[str, bytes], message: str) -> tuple[str | None, list[str]]:
    """Fresh checkout of the tip plus the files not there yet, committed; the tip and their names."""
    tip = _fetch_tip(work, branch)
    for child in work.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    if tip is None:
        # An orphan start: an unborn branch and an empty index.
        _git(work, "symbolic-ref", "HEAD", "refs/heads/site-builder-orphan")
        _git(work, "update-ref", "-d", "refs/heads/site-builder-orphan", check=False)
        _git(work, "read-tree", "--empty")
    else:
        _git(work, "checkout", "--quiet", "--force", "-B", "site-builder-work", tip)
    added = []
    for name, content in sorted(files.items()):
        target = work / name
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        added.append(name)
    if not added:
        return tip, []
    _git(work, "add", "--", *added)
    name, email = COMMITTER
    _git(work, "-c", f"user.name={name}", "-c", f"user.email={email}", "commit", "--quiet", "--no-verify", "-m", message)
    return tip, added


def read_tree(directory: Path) -> dict[str, bytes]:
    """Every regular file under ``directory`` by relative POSIX name (for bundles)."""
    directory = Path(directory)
    files: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            raise DataStoreError("holds a symbolic link; refusing to store it", path=path)
        if path.is_file():
            files[path.relative_to(directory).as_posix()] = path.read_bytes()
    return files
