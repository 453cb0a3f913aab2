"""The sandbox's machinery, measured on this machine: what each strategy applies, and its fallbacks.

``test_sandbox.py`` shows the chosen strategy holding against hostile code
end to end; here each strategy this machine supports is run directly, the
older-kernel fallback for the read-only remount is exercised, a fork storm
is measured under mapped root (where RLIMIT_NPROC does not apply), and the
pipeline's fail-closed switch is checked.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from pathlib import Path

import pytest

from site_builder import run as run_module
from site_builder.errors import SiteBuilderError
from site_builder.run import isolation_strategy, run_submission
from tests.conftest_run_helpers import estimator_with, make_challenge, make_submission

pytestmark = pytest.mark.slow

VIEW_REPORT = """
import json, os
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
try:
    open("/written", "w")
    root_writable = True
except OSError:
    root_writable = False
raise RuntimeError("REPORT " + json.dumps({
    "root": sorted(os.listdir("/")), "uid": os.getuid(), "capabilities": status["CapEff"].strip(),
    "root_writable": root_writable, "cwd_writable": os.access(".", os.W_OK), "home": os.environ["HOME"],
    "repository_visible": os.path.isdir(REPOSITORY) and os.listdir(REPOSITORY) or [],
}))
"""


def strategy_named(name: str) -> run_module.IsolationStrategy:
    strategy = next((candidate for candidate in run_module._candidate_strategies() if candidate.name == name), None)
    if strategy is None or not run_module._probe(strategy):
        pytest.skip(f"isolation strategy {name!r} is not available here")
    return strategy


def view_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strategy: run_module.IsolationStrategy) -> dict:  # type: ignore[type-arg]
    monkeypatch.setattr(run_module, "isolation_strategy", lambda: strategy)
    repository = str(Path(__file__).resolve().parents[2])
    code = estimator_with(f"REPOSITORY = {repository!r}\n" + VIEW_REPORT)
    result = run_submission(make_challenge(tmp_path), make_submission(tmp_path, code), tmp_path / "out")
    found = re.search(r"REPORT (\{.*\})", (result.error or {}).get("message", ""))
    assert found, (result.error, result.output)
    return {**json.loads(found.group(1)), "isolation": result.isolation}


def repository_shown(report: dict) -> list[str]:  # type: ignore[type-arg]
    """What the run saw of this repository: at most the skeleton of a virtual environment kept inside it."""
    repository = Path(__file__).resolve().parents[2]
    python = {Path(path).relative_to(repository).parts[0] for path in run_module._python_paths() if Path(path).is_relative_to(repository)}
    return sorted(set(report["repository_visible"]) - python)


@pytest.mark.parametrize("name", ["namespaces", "user-namespace"])
def test_each_strategy_with_a_view_hides_the_host_and_keeps_no_privilege(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    strategy = strategy_named(name)
    report = view_report(tmp_path, monkeypatch, strategy)
    assert report["isolation"] == list(strategy.isolation) and "private-filesystem" in report["isolation"]
    assert report["capabilities"] == "0000000000000000"
    assert not report["root_writable"] and report["cwd_writable"]
    assert repository_shown(report) == []
    assert report["uid"] == (strategy.drop_to if strategy.drop_to is not None else 0)
    assert set(report["root"]) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "sys",
                                   "dev", "tmp", *(path.split("/")[1] for path in run_module._python_paths())}  # fmt: skip


def test_the_remount_fallback_for_kernels_before_5_12_gives_the_same_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without mount_setattr the view is made read-only one mount at a time, keeping each mount's locked flags."""
    strategy = dataclasses.replace(isolation_strategy(), read_only_method="remount")
    if not strategy.setup:
        pytest.skip("no filesystem view on this machine")
    assert run_module._probe(strategy)
    report = view_report(tmp_path, monkeypatch, strategy)
    assert not report["root_writable"] and report["cwd_writable"] and repository_shown(report) == []


def test_a_fork_storm_under_mapped_root_is_bounded_by_the_pid_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mapped root (real uid 0) is exempt from RLIMIT_NPROC: the PID namespace's own pid_max holds the storm."""
    strategy = strategy_named("user-namespace")
    if not strategy.pid_limit:
        pytest.skip("this kernel has no per-namespace pid_max (Linux 6.14+)")
    monkeypatch.setattr(run_module, "isolation_strategy", lambda: strategy)
    storm = """
import os, json
forked = 0
try:
    while forked < 5000:
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "300"])
        forked += 1
except OSError as error:
    raise RuntimeError("REPORT " + json.dumps({"forked": forked, "error": type(error).__name__}))
"""
    result = run_submission(make_challenge(tmp_path, time_seconds=30), make_submission(tmp_path, estimator_with(storm)), tmp_path / "out")
    report = json.loads(re.search(r"REPORT (\{.*\})", result.error["message"]).group(1))  # type: ignore[index, union-attr]
    assert report["error"] == "BlockingIOError"
    assert report["forked"] < run_module._PID_MAX
    assert result.wall_seconds < 30


def test_a_pipeline_can_demand_isolation_and_nothing_runs_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    challenge = make_challenge(tmp_path)
    submission = make_submission(tmp_path, estimator_with("open('/tmp/ran', 'w')"))
    none = next(candidate for candidate in run_module._candidate_strategies() if candidate.name == "none")
    monkeypatch.setattr(run_module, "isolation_strategy", lambda: none)
    monkeypatch.setenv(run_module.REQUIRE_ISOLATION_VARIABLE, "private-filesystem, network-namespace")
    with pytest.raises(SiteBuilderError, match="lacks private-filesystem, network-namespace"):
        run_submission(challenge, submission, tmp_path / "out")
    assert not (tmp_path / "out" / "run.json").exists()
    monkeypatch.setattr(run_module, "isolation_strategy", isolation_strategy)
    if "private-filesystem" in isolation_strategy().isolation:
        assert run_submission(challenge, submission, tmp_path / "out").status == "ok"


def test_the_setup_step_fails_loudly_and_blames_the_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A view that cannot be built is reported as the sandbox's failure, and nothing of the submission ran."""
    if not isolation_strategy().setup:
        pytest.skip("no filesystem view on this machine")
    if os.path.realpath(sys.executable).startswith(("/usr/", "/bin/")):
        pytest.skip("a system Python stays visible through /usr")
    monkeypatch.setattr(run_module, "_python_paths", lambda: ["/nonexistent-python"])  # python then cannot start
    marker = tmp_path / "ran"
    result = run_submission(make_challenge(tmp_path), make_submission(tmp_path, estimator_with(f"open({str(marker)!r}, 'w')")), tmp_path / "out")
    assert result.status == "failed" and result.error is not None
    assert result.error["class"] == "exception"
    assert result.error["message"].startswith("the sandbox could not run the submission")
    assert not marker.exists()
