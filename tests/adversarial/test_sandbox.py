"""Hostile code in the sandbox, through ``site-builder evaluate``: blocked, classified, bounded, gone.

Every code case of ``hostile.py`` ran in the session's one ``evaluate``. A
case passes when its record holds the intended outcome, its run ended within
the time limit plus a few seconds, and none of its processes is left.
What the code saw from inside comes from the ``REPORT`` in its recorded error.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from site_builder.run import _python_paths
from tests.adversarial import hostile
from tests.adversarial.conftest import Workspace

pytestmark = pytest.mark.slow

ENVIRONMENT_ALLOW_LIST = {
    "PATH", "HOME", "LANG", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
}  # fmt: skip


def record_of(workspace: Workspace, login: str) -> dict[str, Any]:
    record = workspace.record(login)
    assert record is not None, f"{login} was not recorded:\n{workspace.logs['evaluate'][-3000:]}"
    return record


def report_of(workspace: Workspace, login: str) -> dict[str, Any]:
    """What the code observed, from the message of the exception it raised."""
    message = (record_of(workspace, login).get("error") or {}).get("message", "")
    found = re.search(r"REPORT (\{.*\})", message)
    assert found, f"{login}: no report in {message!r}"
    return json.loads(found.group(1))


def needs(workspace: Workspace, login: str, label: str) -> None:
    """Skip a check the recorded isolation cannot give on this machine (the record says what was applied)."""
    applied = record_of(workspace, login)["run"].get("isolation", [])
    if label not in applied:
        pytest.skip(f"this machine's sandbox has no {label} (applied: {', '.join(applied)})")


@pytest.mark.parametrize("case", hostile.CODE_CASES, ids=lambda case: case.login)
def test_each_case_ends_as_intended_in_time_and_leaves_no_process(workspace: Workspace, case: hostile.Case) -> None:
    record = record_of(workspace, case.login)
    assert workspace.outcomes.get(case.login) == case.outcome, case.what
    assert record["status"] == case.outcome
    assert ((record.get("error") or {}).get("class")) == case.error_class, record.get("error")
    assert record["run"]["wall_seconds"] <= hostile.TIME_LIMIT + hostile.SLACK_SECONDS
    assert workspace.leftovers[case.login] == [], f"{case.login} left processes behind"


def test_no_process_of_any_run_outlives_the_evaluation(workspace: Workspace) -> None:
    """Case-independent: evaluate ran as our child with us as subreaper, so any orphan would have come back here."""
    assert workspace.orphans == []
    assert {login: pids for login, pids in workspace.leftovers.items() if pids} == {}


def test_one_hostile_submission_cannot_stop_the_others(workspace: Workspace) -> None:
    """Every folder got an outcome, in one evaluate that itself stayed within its bounds."""
    expected = {case.login for case in hostile.ALL_CASES} | (set(hostile.INVALID_FOLDERS) - {"..hidden"})
    assert set(workspace.outcomes) == expected
    runs = sum(1 for case in hostile.CODE_CASES)
    assert workspace.seconds["evaluate"] < runs * (hostile.TIME_LIMIT + hostile.SLACK_SECONDS)


def test_the_environment_is_the_allow_list_and_holds_no_secret(workspace: Workspace) -> None:
    report = report_of(workspace, "env-dump")
    assert set(report["keys"]) <= ENVIRONMENT_ALLOW_LIST
    for value in report["values"]:
        assert workspace.token not in value and "AGE-SECRET-KEY" not in value
    assert "GITHUB_TOKEN" not in report["own"] and "AGE-SECRET" not in report["own"]
    assert report["first"].startswith("BLOCKED") or "GITHUB_TOKEN" not in report["first"]


def skeleton(path: str) -> set[str]:
    """What a folder of the view may list: only the next step on the way to the Python install."""
    names: set[str] = set()
    for python in _python_paths():
        if python.startswith(path.rstrip("/") + "/"):
            names.add(python[len(path.rstrip("/")) + 1 :].split("/")[0])
    return names


def seen_is_blocked(path: str, seen: str) -> bool:
    if seen.startswith("BLOCKED"):
        return True
    listed = seen.removeprefix("LISTED ")
    return seen.startswith("LISTED ") and bool(skeleton(path)) and set(listed.split(",")) <= skeleton(path)


@pytest.mark.parametrize(
    "login",
    ["read-ssh", "read-keyfile", "read-dotdot", "read-solution"],
)
def test_secrets_on_disk_are_not_even_visible(workspace: Workspace, login: str) -> None:
    needs(workspace, login, "private-filesystem")
    paths = report_of(workspace, login)["paths"]
    # A folder on the way to the Python install (/root/.pyenv here) shows that one step, nothing else.
    assert {path: seen for path, seen in paths.items() if not seen_is_blocked(path, seen)} == {}


def test_the_home_folder_shows_no_key(workspace: Workspace) -> None:
    needs(workspace, "read-ssh", "private-filesystem")
    paths = report_of(workspace, "read-ssh")["paths"]
    assert seen_is_blocked("/root", paths["/root"]) and seen_is_blocked("/home", paths["/home"])
    assert all(seen.startswith("BLOCKED") for path, seen in paths.items() if ".ssh" in path)


def test_nothing_outside_the_run_can_be_written(workspace: Workspace) -> None:
    needs(workspace, "write-host", "private-filesystem")
    paths = report_of(workspace, "write-host")["paths"]
    assert {path: seen for path, seen in paths.items() if not seen.startswith("BLOCKED")} == {}
    for path, content in workspace.host_files.items():
        with open(path, "rb") as handle:
            assert handle.read() == content, f"{path} changed"
    assert not (workspace.repo / "planted.txt").exists() and not (workspace.results / "planted.json").exists()


def test_no_network_not_even_this_machine(workspace: Workspace) -> None:
    needs(workspace, "network", "network-namespace")
    report = report_of(workspace, "network")
    assert report["interfaces"] == ["lo"]
    assert {name: seen for name, seen in report["outcomes"].items() if not seen.startswith("BLOCKED")} == {}
    assert workspace.listeners.received == []


def test_daemons_die_with_the_run(workspace: Workspace) -> None:
    needs(workspace, "daemon", "pid-namespace")
    assert record_of(workspace, "daemon")["status"] == "scored"
    assert workspace.leftovers["daemon"] == []


def test_a_fork_storm_is_bounded(workspace: Workspace) -> None:
    needs(workspace, "fork-storm", "process-limit")
    report = report_of(workspace, "fork-storm")
    assert report["error"] == "BlockingIOError", "the storm ended on the process limit, not the clock"
    assert report["forked"] <= 512
    assert workspace.leftovers["fork-storm"] == []


def test_an_endless_loop_is_stopped_at_the_time_limit(workspace: Workspace) -> None:
    record = record_of(workspace, "endless-loop")
    assert record["error"]["class"] == "timeout"
    assert hostile.TIME_LIMIT <= record["run"]["wall_seconds"] <= hostile.TIME_LIMIT + hostile.SLACK_SECONDS


def test_a_10_gb_allocation_is_a_memory_error(workspace: Workspace) -> None:
    record = record_of(workspace, "alloc-10g")
    assert record["error"]["class"] == "memory"
    assert f"{hostile.MEMORY_LIMIT_MB} MiB memory limit" in record["error"]["message"]


def test_a_10_gb_file_stops_at_the_file_size_limit_and_the_scratch_space(workspace: Workspace) -> None:
    needs(workspace, "file-10g", "private-filesystem")
    written = report_of(workspace, "file-10g")["written"]
    efbig, enospc = "STOPPED OSError 27", "STOPPED OSError 28"
    for path in ("big.bin", "/tmp/big.bin", "/dev/shm/big.bin"):
        size, how = written[path]
        assert size <= hostile.FILE_SIZE_LIMIT and how in (efbig, enospc), (path, written[path])
    size, how = written["many-files"]
    assert how == enospc and size <= hostile.MEMORY_LIMIT_MB * 2**20  # the scratch tmpfs is half the memory limit


def test_a_flood_of_output_is_cut_and_never_recorded(workspace: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    record = record_of(workspace, "output-flood")
    assert record["status"] == "scored"
    assert "flood flood" not in json.dumps(record)
    assert len(workspace.logs["evaluate"]) < 64 * 1024
    # The run verb, which writes run.json for the artifact: the output kept is capped.
    out = tmp_path / "run"
    case = hostile.CASES["output-flood"]
    completed = workspace.cli("run-flood", "run", "challenges/vault", str(workspace.case_folder(case)), "-o", str(out))
    assert completed.returncode == 0, workspace.logs["run-flood"][-2000:]
    run_json = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert len(run_json["output"].encode()) < 17 * 1024 and "bytes truncated]" in run_json["output"]
    assert (out / "run.json").stat().st_size < 64 * 1024


def test_forged_reports_and_planted_links_are_invalid_output(workspace: Workspace) -> None:
    record = record_of(workspace, "forge-report")
    assert record["error"]["class"] == "invalid-output"
    assert "/etc/passwd" not in json.dumps(record) and "root:x:0:0" not in json.dumps(record)


def test_the_supervisor_cannot_be_killed(workspace: Workspace) -> None:
    needs(workspace, "kill-supervisor", "pid-namespace")
    outcomes = report_of(workspace, "kill-supervisor")["outcomes"]
    assert outcomes.get("1", "").startswith("BLOCKED")
    # Nothing outside the run is visible to kill: only the supervisor is listed.
    assert set(outcomes) == {"1"}


def test_no_privilege_can_be_regained(workspace: Workspace) -> None:
    needs(workspace, "escalate", "private-filesystem")
    report = report_of(workspace, "escalate")
    assert report["capabilities"] == "0000000000000000" and report["bounding"] == "0000000000000000"
    assert report["no_new_privs"] == "1"
    outcomes = report["outcomes"]
    if report["uid"] == 0:  # mapped root in a user namespace: already uid 0 there, with nothing to gain
        outcomes.pop("setuid-0")
    assert {step: seen for step, seen in outcomes.items() if not (seen.startswith("BLOCKED") or seen.startswith("FAILED"))} == {}
    assert report["dev"] == ["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "urandom", "zero"]
    # The root holds the system, the Python install's first folder and scratch space; nothing else.
    system = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "sys", "dev", "tmp"}
    python = {path.split("/")[1] for path in _python_paths()}
    assert set(report["root"]) <= system | python
