"""One hostile workspace, evaluated and built once per session through the real CLI.

The workspace is a repository as an organizer has it: two challenges with an
age-encrypted solution, the key file inside the repository and another next
to it, a home folder with an SSH key, and every case of ``hostile.py`` as a
participant folder. ``site-builder evaluate`` then ``site-builder build`` run
as subprocesses with canary secrets in their environment (the age identity,
``GITHUB_TOKEN``), exactly as the pipeline runs them. Tests read what they
left: records, pages, logs, processes.
"""

from __future__ import annotations

import os
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from site_builder.private import encrypt_bytes, generate_identity
from site_builder.record import load_records
from tests.adversarial import hostile

NOW = "2026-11-20T12:00:00Z"
REPOSITORY = Path(__file__).resolve().parents[2]
EVALUATE_TIMEOUT = 900


def spec_yaml(title: str, kind: str) -> str:
    return textwrap.dedent(
        f"""\
        title: {title}
        summary: Adversarial test challenge.
        kind: {kind}
        id_column: id
        target: y
        metrics: [rmse, mae]
        data:
          train: data/train.csv
          test: data/test.csv
          solution: private/solution.csv.age
        schedule:
          start: 2026-11-01T00:00:00Z
          end: 2026-12-31T00:00:00Z
        limits:
          per_day: 1000
          time_seconds: {hostile.TIME_LIMIT}
          memory_mb: {hostile.MEMORY_LIMIT_MB}
          output_kb: 16
          predictions_mb: {hostile.PREDICTIONS_LIMIT_MB}
        """
    )


def write_challenge(repo: Path, slug: str, kind: str, recipient: str) -> list[str]:
    """A small regression challenge; returns the solution's target values as written (the label canaries)."""
    rng = np.random.default_rng(len(slug))
    directory = repo / "challenges" / slug
    (directory / "data").mkdir(parents=True)
    (directory / "private").mkdir()
    frame = pd.DataFrame({"id": [f"r{index:03d}" for index in range(120)], "x1": rng.normal(size=120), "x2": rng.normal(size=120)})
    # Distinctive values, the hidden ones unlike any public one: showing up anywhere is a leak, not a coincidence.
    frame["y"] = [float(f"{300 + int(rng.integers(0, 600))}.{2718281 if index < 80 else 1414213}{index % 10}") for index in range(120)]
    frame.loc[80, "y"] = 31337.0000042
    frame.iloc[:80].to_csv(directory / "data" / "train.csv", index=False)
    frame.iloc[80:].drop(columns=["y"]).to_csv(directory / "data" / "test.csv", index=False)
    solution = frame.iloc[80:][["id", "y"]].assign(split=["public", "private"] * 20)
    plaintext = solution.to_csv(index=False)
    (directory / "private" / "solution.csv.age").write_bytes(encrypt_bytes(plaintext.encode(), recipient))
    (directory / "recipient.txt").write_text(recipient + "\n", encoding="utf-8")
    (directory / "challenge.yaml").write_text(spec_yaml(f"The {slug} challenge", kind), encoding="utf-8")
    (directory / "README.md").write_text(f"# {slug}\n\nPredict y.\n", encoding="utf-8")
    return [line.split(",")[1] for line in plaintext.splitlines()[1:]]


class Listeners:
    """Sockets on this machine a submission tries to reach; anything received is recorded."""

    def __init__(self, base: Path) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.abstract_name = f"site-builder-adversarial-{secrets.token_hex(6)}"
        self.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract.bind("\0" + self.abstract_name)
        self.abstract.listen()
        self.unix_path = str(base / "listener.sock")
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(self.unix_path)
        self.unix.listen()
        self.received: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        listening = {self.tcp: "tcp", self.abstract: "abstract", self.unix: "unix"}
        while not self._stop.is_set():
            ready, _, _ = select.select([*listening, self.udp], [], [], 0.2)
            for sock in ready:
                if sock is self.udp:
                    self.received.append(f"udp {sock.recv(4096)!r}")
                else:
                    connection, _ = sock.accept()
                    self.received.append(f"{listening[sock]} connection")
                    connection.close()

    def constants(self) -> dict[str, Any]:
        return {
            "tcp_port": self.tcp.getsockname()[1],
            "udp_port": self.udp.getsockname()[1],
            "abstract_socket": self.abstract_name,
            "unix_socket": self.unix_path,
        }

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in (self.tcp, self.udp, self.abstract, self.unix):
            sock.close()


def processes_with(marker: str) -> list[int]:
    """Pids whose command line mentions ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _set_subreaper(on: bool) -> None:
    """Orphans of our subprocesses come back to this process instead of init, so they can be counted."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, int(on), 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def children() -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            found.update(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def reap(pids: set[int]) -> None:
    kill_all(sorted(pids))
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


@dataclass
class Workspace:
    base: Path
    repo: Path
    home: Path
    key_next_to_repo: Path
    key_in_repo: Path
    identity: str
    token: str
    ssh_key: str
    labels: list[str]
    listeners: Listeners
    constants: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    leftovers: dict[str, list[int]] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    host_files: dict[str, bytes] = field(default_factory=dict)
    orphans: list[int] = field(default_factory=list)

    @property
    def results(self) -> Path:
        return self.repo / "results"

    @property
    def site(self) -> Path:
        return self.base / "site"

    def canaries(self) -> dict[str, str]:
        """Secrets that must appear in no output, log, record or page."""
        found = {
            "age identity": self.identity,
            "age identity body": self.identity.removeprefix("AGE-SECRET-KEY-1")[:24],
            "GITHUB_TOKEN": self.token,
            "ssh key": self.ssh_key,
        }
        found.update({f"label {value}": value for value in self.labels})
        return found

    def environment(self) -> dict[str, str]:
        """The CLI's environment: what a scoring job has, secrets included."""
        keep = ("PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TMPDIR", "SYSTEMROOT")
        environment = {name: os.environ[name] for name in keep if name in os.environ}
        environment.update(
            HOME=str(self.home),
            SITE_BUILDER_AGE_KEY=self.identity,
            GITHUB_TOKEN=self.token,
            PYTHONPATH=str(REPOSITORY),
            PYTHONDONTWRITEBYTECODE="1",
        )
        return environment

    def cli(self, name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``site-builder ARGS`` as a subprocess; its output is kept under ``logs[name]``."""
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "site_builder", *args],
            cwd=self.repo,
            env=self.environment(),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
        self.seconds[name] = time.monotonic() - started
        self.logs[name] = completed.stdout + completed.stderr
        return completed

    def records(self) -> dict[str, dict[str, Any]]:
        return {record["participant"]: record for record in load_records(self.results)}

    def record(self, login: str) -> dict[str, Any] | None:
        return self.records().get(login)

    def case_folder(self, case: hostile.Case) -> Path:
        return self.repo / "submissions" / case.challenge / case.login


def make_workspace(base: Path) -> Workspace:
    repo = base / "repo"
    home = base / "home"
    (home / ".ssh").mkdir(parents=True)
    identity, recipient = generate_identity()
    ssh_key = f"ssh-canary-{secrets.token_hex(12)}"
    (home / ".ssh" / "id_ed25519").write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{ssh_key}\n", encoding="utf-8")
    labels = write_challenge(repo, hostile.CODE_CHALLENGE, "code", recipient)
    labels += write_challenge(repo, hostile.PREDICTIONS_CHALLENGE, "predictions", recipient)
    key_next_to_repo, key_in_repo = base / "private.key", repo / "private.key"
    for key in (key_next_to_repo, key_in_repo):
        key.write_text(f"# created: by the adversarial suite\n{identity}\n", encoding="utf-8")
    (repo / "results").mkdir()
    (repo / ".git").mkdir()  # stands in for the checkout's git folder
    (repo / ".git" / "config").write_text("[credential]\n\thelper = store\n", encoding="utf-8")
    workspace = Workspace(
        base=base,
        repo=repo,
        home=home,
        key_next_to_repo=key_next_to_repo,
        key_in_repo=key_in_repo,
        identity=identity,
        token=f"ghp_canary{secrets.token_hex(16)}",
        ssh_key=ssh_key,
        labels=labels,
        listeners=Listeners(base),
    )
    for case in hostile.ALL_CASES:
        write_case(workspace, case)
    for name in hostile.INVALID_FOLDERS:
        folder = repo / "submissions" / hostile.PREDICTIONS_CHALLENGE / name
        folder.mkdir(parents=True)
        (folder / "predictions.csv").write_text(predictions_csv(repo), encoding="utf-8")
    for path in (key_next_to_repo, repo / "challenges" / "vault" / "challenge.yaml", home / ".ssh" / "id_ed25519"):
        workspace.host_files[str(path)] = path.read_bytes()
    return workspace


def predictions_csv(repo: Path) -> str:
    ids = pd.read_csv(repo / "challenges" / hostile.PREDICTIONS_CHALLENGE / "data" / "test.csv", dtype=str)["id"]
    return "id,y\n" + "".join(f"{identifier},500.0\n" for identifier in ids)


def case_constants(workspace: Workspace, case: hostile.Case) -> dict[str, Any]:
    repo = workspace.repo
    return {
        "marker": f"sbadv-{case.login}-{secrets.token_hex(4)}",
        "home": str(workspace.home),
        "repo": str(repo),
        "workspace": str(workspace.base),
        "key_next_to_repo": str(workspace.key_next_to_repo),
        "key_in_repo": str(workspace.key_in_repo),
        "solution": str(repo / "challenges" / "vault" / "private" / "solution.csv.age"),
        "solution_dir": str(repo / "challenges" / "vault" / "private"),
        "results": str(repo / "results"),
        "predictions_csv": predictions_csv(repo),
        **workspace.listeners.constants(),
    }


def write_case(workspace: Workspace, case: hostile.Case) -> None:
    """The case's folder. Extra files may ask for a symlink, a hard link, raw bytes or a sparse file."""
    folder = workspace.case_folder(case)
    folder.mkdir(parents=True)
    constants = case_constants(workspace, case)
    workspace.constants[case.login] = constants
    if case.challenge == hostile.CODE_CHALLENGE:
        (folder / "estimator.py").write_text(hostile.estimator_source(case.body, constants), encoding="utf-8")
    else:
        (folder / "predictions.csv").write_text(constants["predictions_csv"], encoding="utf-8")
    if case.meta:
        (folder / "submission.yaml").write_text(yaml.safe_dump(case.meta, allow_unicode=True), encoding="utf-8")
    if case.readme is not None:
        (folder / "README.md").write_text(case.readme, encoding="utf-8")
    for name, content in (case.files(constants) if case.files else {}).items():
        if name.startswith("bytes:"):
            with open(os.fsencode(folder) + b"/" + name.removeprefix("bytes:").encode("latin-1"), "wb") as handle:
                handle.write(content)
        elif content.startswith(b"symlink:"):
            (folder / name).symlink_to(content.removeprefix(b"symlink:").decode())
        elif content.startswith(b"hardlink:"):
            os.link(content.removeprefix(b"hardlink:").decode(), folder / name)
        elif content.startswith(b"sparse:"):
            with open(folder / name, "wb") as handle:
                handle.truncate(int(content.removeprefix(b"sparse:")))
        else:
            (folder / name).write_bytes(content)


_SUMMARY_STATUS = re.compile(r"\s(scored|failed|unchanged|invalid)(\s|$)")


def parse_outcomes(summary: str, logins: list[str]) -> dict[str, str]:
    """Each login's status from evaluate's summary table."""
    outcomes: dict[str, str] = {}
    for line in summary.splitlines():
        for login in logins:
            parts = line.split(None, 1)
            if len(parts) == 2 and parts[1].startswith(login + " "):
                match = _SUMMARY_STATUS.search(parts[1][len(login):])
                if match:
                    outcomes[login] = match.group(1)
    return outcomes


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The hostile workspace after ``evaluate`` and ``build``; processes left behind are noted, then killed."""
    workspace = make_workspace(tmp_path_factory.mktemp("adversarial"))
    try:
        before = children()
        _set_subreaper(True)
        try:
            evaluated = workspace.cli("evaluate", "evaluate", "--now", NOW, "--no-progress", timeout=EVALUATE_TIMEOUT)
            time.sleep(0.5)  # an escaped daemon would be reparented to us by now
            orphans = children() - before
        finally:
            _set_subreaper(False)
        workspace.orphans = sorted(orphans)
        reap(orphans)
        for login, constants in workspace.constants.items():
            workspace.leftovers[login] = processes_with(constants["marker"])
            kill_all(workspace.leftovers[login])
        logins = [case.login for case in hostile.ALL_CASES] + list(hostile.INVALID_FOLDERS)
        workspace.outcomes = parse_outcomes(evaluated.stdout, logins)
        workspace.cli("build", "build", "--out", str(workspace.site), "--now", NOW)
        yield workspace
    finally:
        workspace.listeners.close()
        for constants in workspace.constants.values():
            kill_all(processes_with(constants["marker"]))
