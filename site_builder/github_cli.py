"""``site-builder gh …``: the pipeline's steps, one verb each, called by the workflows.

The verbs read the runner's variables (GITHUB_EVENT_PATH, GITHUB_API_URL,
GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_OUTPUT, RUNNER_TEMP) and never take
event data on the command line, so no value from a pull request is ever part
of a shell command.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from site_builder.errors import SiteBuilderError

_OUTPUT_VALUE = re.compile(r"^[A-Za-z0-9._:-]{0,80}$")


def write_outputs(**values: str) -> None:
    """Step outputs for later jobs' ``if:``; only plain tokens, so nothing can smuggle a line."""
    path = os.environ.get("GITHUB_OUTPUT")
    lines = []
    for key, value in values.items():
        if not _OUTPUT_VALUE.match(value):
            raise SiteBuilderError(f"refusing to write output {key}={value!r}")
        lines.append(f"{key}={value}\n")
        print(f"output {key}={value}")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.writelines(lines)


def _temp(name: str) -> str:
    return str(Path(os.environ.get("RUNNER_TEMP") or "/tmp") / name)


def _run_url() -> str:
    server, repo, run = (os.environ.get(key, "") for key in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else ""


# ---------------------------------------------------------------- verbs


def cmd_run(args: argparse.Namespace) -> int:
    from site_builder.github import read_event, run_untrusted

    print(run_untrusted(read_event(), Path(args.root), Path(args.out)))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from site_builder.github import client, now_utc, read_event, repository, resolve

    gh = client()
    resolution = resolve(gh, repository(gh), read_event(), Path(args.root), Path(args.out), now_utc())
    print(f"resolution: {resolution.verdict}")
    for reason in resolution.reasons:
        print(f"  {reason}")
    outputs = {"verdict": resolution.verdict}
    if resolution.pull_request is not None:
        outputs.update(pr=str(resolution.pull_request), head_sha=resolution.head_sha)
    write_outputs(**outputs)
    return 0


def cmd_fetch_data(args: argparse.Namespace) -> int:
    from site_builder.datastore import fetch

    exists = fetch(Path(args.into), args.branch)
    print(f"data branch {args.branch}: {'fetched' if exists else 'does not exist yet (empty)'}")
    return 0


def offline_prefix() -> list[str] | None:
    """A command prefix that runs a child without network, if this machine allows one."""
    for prefix in (["unshare", "--net", "--map-root-user"], ["unshare", "--net"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
                return prefix
        except OSError:
            return None
    return None


def network_is_cut() -> bool:
    """Only the loopback interface is visible: the process is in an empty network namespace."""
    try:
        return [name for _, name in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False


def cmd_score(args: argparse.Namespace) -> int:
    """Score with the network cut: the child re-runs this verb under ``unshare --net``.

    Scoring runs no participant code, but this step holds the private key:
    where ``SITE_BUILDER_REQUIRE_ISOLATION`` names ``network-namespace``, a
    machine that cannot cut the network fails the step instead.
    """
    if not args.no_isolation and os.environ.get("SITE_BUILDER_OFFLINE") != "1":
        prefix = offline_prefix()
        if prefix is not None:
            argv = ["gh", "score", "--resolved", args.resolved, "--data", args.data, "--out", args.out, "--root", args.root]
            child = subprocess.run([*prefix, sys.executable, "-m", "site_builder", *argv], env={**os.environ, "SITE_BUILDER_OFFLINE": "1"})
            return child.returncode
        print("network: NOT cut (unshare is not available on this machine)")
        cut = False
    elif os.environ.get("SITE_BUILDER_OFFLINE") == "1":
        cut = network_is_cut()
        print(f"network: {'cut (unshare --net)' if cut else 'NOT cut'}")
    else:
        cut = False
    if not cut:
        _check_network_cut_not_required()
    return _score_here(args)


def _check_network_cut_not_required() -> None:
    """Fail closed when the pipeline demands a network namespace (see run.REQUIRE_ISOLATION_VARIABLE)."""
    from site_builder.run import REQUIRE_ISOLATION_VARIABLE, required_isolation

    if "network-namespace" in required_isolation():
        raise SiteBuilderError(
            f"the network could not be cut for scoring and {REQUIRE_ISOLATION_VARIABLE} demands a network namespace, "
            "so nothing was scored. On Ubuntu 24.04 allow user namespaces "
            "(sysctl kernel.apparmor_restrict_unprivileged_userns=0) or run as root"
        )


def _score_here(args: argparse.Namespace) -> int:
    from site_builder.github import now_utc, score
    from site_builder.metrics import get_metric
    from site_builder.private import read_identity_text

    outcome = score(Path(args.resolved), Path(args.data), Path(args.root), Path(args.out), read_identity_text, now_utc())
    record = outcome.get("record") or {}
    line = f"outcome: {outcome['status']} {outcome['submission_id']}"
    public = (record.get("scores") or {}).get("public") or {}
    if public:
        # Public scores only: the log of this run is public, private scores are not.
        line += " public " + ", ".join(f"{name} {get_metric(name).format(value)}" for name, value in sorted(public.items()))
    print(line)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from site_builder.github import record

    added = record(Path(args.scored))
    for name in added:
        print(f"added {name}")
    write_outputs(added="true" if added else "false")
    return 0


def cmd_comment(args: argparse.Namespace) -> int:
    from site_builder.github import (
        STATUS_STATES,
        Resolution,
        client,
        comment_view,
        load_outcome,
        now_utc,
        render_comment,
        repository,
        set_status,
        status_description,
        upsert_comment,
    )

    number, head_sha = os.environ.get("PR_NUMBER", ""), os.environ.get("HEAD_SHA", "")
    if not number.isdigit() or not re.fullmatch(r"[0-9a-f]{40}", head_sha):
        raise SiteBuilderError("PR_NUMBER and HEAD_SHA must come from the resolve job's outputs")
    resolved = Path(args.resolved)
    resolution = Resolution.load(resolved) if (resolved / "resolution.json").is_file() else None
    view = comment_view(
        resolution,
        load_outcome(Path(args.scored)) if args.scored else None,
        Path(args.data),
        Path(args.root),
        now_utc(),
        score_result=os.environ.get("SCORE_RESULT", ""),
        record_result=os.environ.get("RECORD_RESULT", ""),
    )
    view.run_url = _run_url()
    gh = client()
    repo = repository(gh)
    print(f"comment {upsert_comment(repo.get_pull(int(number)), render_comment(view))} ({view.status})")
    set_status(repo, head_sha, STATUS_STATES[view.status], status_description(view), view.run_url)
    return 0


def cmd_reveal(args: argparse.Namespace) -> int:
    """Copies of the records with the private scores of ended challenges unsealed; never prints a score."""
    from site_builder.github import now_utc
    from site_builder.private import read_identity_text
    from site_builder.record import parse_timestamp, utc_timestamp
    from site_builder.seal import reveal

    try:
        now = parse_timestamp(args.now) if args.now else now_utc()
    except ValueError:
        raise SiteBuilderError(f"{args.now!r} is not an ISO 8601 time such as 2026-12-01T12:00:00Z", key="--now") from None

    def identity() -> str:
        try:
            return read_identity_text()
        except SiteBuilderError as error:
            raise SiteBuilderError(
                f"{error.message}. A challenge has ended and its private scores are sealed: the reveal job needs "
                "the scoring environment's SITE_BUILDER_AGE_KEY (a workflow that calls pages.yml must pass secrets: inherit)"
            ) from None

    report = reveal(Path(args.data), Path(args.root), Path(args.out), now, identity)
    print(f"reveal at {report.now}")
    for line in report.lines():
        print(f"  {line}")
    write_outputs(now=utc_timestamp(now))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from site_builder.github import client, doctor

    environ = dict(os.environ)
    if args.repo:
        environ["GITHUB_REPOSITORY"] = args.repo
    if args.api_url:
        environ["GITHUB_API_URL"] = args.api_url
    gh = client(environ)
    checks = doctor(gh, gh.get_repo(environ.get("GITHUB_REPOSITORY", "")), environment=args.environment, branch=args.branch)
    marks = {True: "ok     ", False: "MISSING", None: "unknown"}
    for check in checks:
        print(f"{marks[check.ok]}  {check.name:<14} {check.detail}")
    missing = [check for check in checks if check.ok is False]
    print(f"\n{len(missing)} problem(s) to fix" if missing else "\nthe setup looks complete")
    return 1 if missing else 0


# ---------------------------------------------------------------- parser


def add_verbs(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    gh = verbs.add_parser("gh", help="the GitHub pipeline's steps (run inside GitHub Actions)")
    actions = gh.add_subparsers(dest="gh_verb", metavar="STEP", required=True)

    def step(name: str, func, help_text: str) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        parser = actions.add_parser(name, help=help_text)
        parser.add_argument("--root", default=".", help="checkout of the default branch (default: .)")
        parser.set_defaults(func=func)
        return parser

    run = step("run", cmd_run, "pull request side: check the folder and run the code in the sandbox")
    run.add_argument("--out", default=_temp("submission-output"), help="artifact folder (default: $RUNNER_TEMP/submission-output)")

    resolve = step("resolve", cmd_resolve, "trusted: find and check the pull request of a workflow_run, fetch its submission")
    resolve.add_argument("--out", default=_temp("resolved"))

    fetch = step("fetch-data", cmd_fetch_data, "copy the data branch's records into a folder")
    fetch.add_argument("--into", required=True)
    fetch.add_argument("--branch", default="leaderboard-data")

    score = step("score", cmd_score, "trusted, with the key: quota, then score without network")
    score.add_argument("--resolved", default=_temp("resolved"))
    score.add_argument("--data", default=_temp("data"))
    score.add_argument("--out", default=_temp("scored"))
    score.add_argument("--no-isolation", action="store_true", help="do not try unshare --net")

    record = step("record", cmd_record, "trusted: push the record to the data branch, retrying on conflict")
    record.add_argument("--scored", default=_temp("scored"))

    comment = step("comment", cmd_comment, "trusted: post or update the sticky comment and the commit status")
    comment.add_argument("--resolved", default=_temp("resolved"))
    comment.add_argument("--scored", default=None)
    comment.add_argument("--data", default=_temp("data"))

    reveal = step("reveal", cmd_reveal, "trusted, with the key: copy the records, unsealing the private scores of ended challenges")
    reveal.add_argument("--data", default=_temp("data"), help="the records as fetched from the data branch")
    reveal.add_argument("--out", default=_temp("revealed"), help="an empty or new folder for the copies")
    reveal.add_argument("--now", default=None, help="the current time, ISO 8601 UTC (default: SITE_BUILDER_NOW, else the clock)")

    doctor = step("doctor", cmd_doctor, "check the repository's setup through the API")
    doctor.add_argument("--repo", default=None, help="owner/name (default: GITHUB_REPOSITORY)")
    doctor.add_argument("--api-url", default=None, help="API root (default: GITHUB_API_URL or api.github.com)")
    doctor.add_argument("--environment", default="scoring")
    doctor.add_argument("--branch", default="leaderboard-data")
