"""The run stage: real sandboxed runs of small estimators, good and hostile."""

from __future__ import annotations

import json
import os
import random
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest_run_helpers import (
    GOOD_ESTIMATOR,
    ID,
    REGRESSION_ESTIMATOR,
    TARGET,
    estimator_with,
    load_estimator,
    make_challenge,
    make_submission,
)
from site_builder import run as run_module
from site_builder.errors import SubmissionError
from site_builder.run import RunResult, isolation_strategy, run_submission
from site_builder.spec import Challenge


def _reference_fit(challenge: Challenge, code: str):
    """Fit the same estimator in this process, the way the harness should."""
    train = pd.read_csv(challenge.train_path, dtype={ID: str})
    test = pd.read_csv(challenge.test_path, dtype={ID: str})
    estimator = load_estimator(code)
    estimator.fit(train.drop(columns=[ID, TARGET]), train[TARGET])
    return estimator, test.drop(columns=[ID]), test[ID].tolist()


def _read_run_json(out: Path) -> dict:
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


def _has(isolation: str) -> bool:
    return isolation in isolation_strategy().isolation


# --------------------------------------------------------------------------
# Good submissions: the harness reproduces an in-process fit exactly
# --------------------------------------------------------------------------


def test_ramp_style_pipeline_matches_in_process_fit(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path)
    submission = make_submission(tmp_path, GOOD_ESTIMATOR)
    out = tmp_path / "out"

    result = run_submission(challenge, submission, out)

    assert result.status == "ok", result.error
    assert result.error is None
    assert result.fit_seconds is not None and result.fit_seconds >= 0
    assert result.predict_seconds is not None and result.predict_seconds >= 0
    assert result.peak_memory_mb is not None and result.peak_memory_mb > 10
    assert "clean-environment" in result.isolation and "rlimits" in result.isolation
    predictions = pd.read_csv(out / "predictions.csv", dtype={ID: str})
    assert list(predictions.columns) == challenge.prediction_columns() == [ID, TARGET]
    estimator, inputs, ids = _reference_fit(challenge, GOOD_ESTIMATOR)
    positive = list(estimator.classes_).index(challenge.classes[-1])
    assert predictions[ID].tolist() == ids
    np.testing.assert_allclose(predictions[TARGET], estimator.predict_proba(inputs)[:, positive], rtol=0, atol=1e-9)
    assert _read_run_json(out) == result.to_json()


def test_multiclass_probabilities_get_one_column_per_class(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path, metrics=("log_loss", "accuracy"), classes=("a", "b", "c"))
    submission = make_submission(tmp_path, GOOD_ESTIMATOR)
    out = tmp_path / "out"

    result = run_submission(challenge, submission, out)

    assert result.status == "ok", result.error
    predictions = pd.read_csv(out / "predictions.csv", dtype={ID: str})
    assert list(predictions.columns) == [ID, "a", "b", "c"]
    estimator, inputs, _ = _reference_fit(challenge, GOOD_ESTIMATOR)
    expected = pd.DataFrame(estimator.predict_proba(inputs), columns=[str(c) for c in estimator.classes_])
    np.testing.assert_allclose(predictions[["a", "b", "c"]], expected[["a", "b", "c"]], rtol=0, atol=1e-9)


def test_regression_values_round_trip_exactly(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path, metrics=("rmse",), classes=())
    submission = make_submission(tmp_path, REGRESSION_ESTIMATOR)
    out = tmp_path / "out"

    result = run_submission(challenge, submission, out)

    assert result.status == "ok", result.error
    predictions = pd.read_csv(out / "predictions.csv", dtype={ID: str})
    estimator, inputs, _ = _reference_fit(challenge, REGRESSION_ESTIMATOR)
    np.testing.assert_array_equal(predictions[TARGET].to_numpy(), estimator.predict(inputs))


# --------------------------------------------------------------------------
# Failures of participant code: classified, never raised
# --------------------------------------------------------------------------


def test_get_estimator_raising_is_an_exception_with_its_traceback(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path)
    submission = make_submission(tmp_path, "def get_estimator():\n    raise ValueError('no model today 7431')\n")
    out = tmp_path / "out"

    result = run_submission(challenge, submission, out)

    assert result.status == "failed"
    assert result.error is not None and result.error["class"] == "exception"
    assert "no model today 7431" in result.error["message"]
    assert result.error["traceback"].startswith("Traceback")
    assert "ValueError: no model today 7431" in result.error["traceback"]
    assert not (out / "predictions.csv").exists()
    assert _read_run_json(out)["error"]["class"] == "exception"


def test_sleeping_past_the_time_limit_is_a_timeout(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path)
    submission = make_submission(tmp_path, estimator_with("import time\ntime.sleep(60)"))

    started = time.monotonic()
    result = run_submission(challenge, submission, tmp_path / "out", time_seconds=3)
    elapsed = time.monotonic() - started

    assert elapsed < 10
    assert result.status == "failed"
    assert result.error is not None and result.error["class"] == "timeout"
    assert "3 s time limit" in result.error["message"]


def test_allocating_past_the_memory_limit_is_a_memory_error(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path)
    submission = make_submission(tmp_path, estimator_with("import numpy as np\nblob = np.ones(8 * 2**30 // 8)"))

    result = run_submission(challenge, submission, tmp_path / "out", memory_mb=512)

    assert result.status == "failed"
    assert result.error is not None and result.error["class"] == "memory", result.error
    assert "512 MiB memory limit" in result.error["message"]


def test_peak_memory_covers_the_harness_process(tmp_path: Path) -> None:
    """The figure comes from the kernel (wait4), through the unshare wrapper."""
    challenge = make_challenge(tmp_path)
    submission = make_submission(tmp_path, estimator_with("blob = b'x' * (300 * 2**20)"))

    result = run_submission(challenge, submission, tmp_path / "out")

    assert result.status == "ok", result.error
    assert result.peak_memory_mb is not None and 300 < result.peak_memory_mb < 1000


@pytest.mark.parametrize(
    ("method", "problem"),
    [
        ("    def predict_proba(self, X):\n        return self.model_.predict_proba(X)[:-3]\n", "wrong length"),
        ("    def predict_proba(self, X):\n        return self.model_.predict_proba(X) * float('nan')\n", "NaN"),
    ],
    ids=["wrong-length", "nan"],
)
def test_unusable_predictions_are_invalid_output(tmp_path: Path, method: str, problem: str) -> None:
    """Wrong shape is caught by the harness; NaN only by the parent's strict parser."""
    challenge = make_challenge(tmp_path)
    code = estimator_with("pass").replace(
        "    def predict_proba(self, X):\n        return self.model_.predict_proba(X)\n", method
    )
    assert method in code
    out = tmp_path / "out"

    result = run_submission(challenge, make_submission(tmp_path, code), out)

    assert result.status == "failed"
    assert result.error is not None and result.error["class"] == "invalid-output", (problem, result.error)
    assert not (out / "predictions.csv").exists()


# --------------------------------------------------------------------------
# Isolation: one hostile run, several observations
# --------------------------------------------------------------------------

CANARY = "canary-7f3a9c-do-not-leak"
HOSTILE_FIT = """
import json, os, resource, socket, sys, time
print("HASH-RANDOMIZATION", sys.flags.hash_randomization)
print("ENV " + json.dumps(dict(os.environ)))
with open("env-dump.json", "w") as handle:
    json.dump(dict(os.environ), handle)
print("ENV-FILE " + open("env-dump.json").read())
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("CONNECTED")
except OSError as error:
    print("CONNECT-FAILED", error)
try:
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    print("RLIMIT-RAISED")
except (ValueError, OSError) as error:
    print("RLIMIT-KEPT", error)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "{marker}"])
    os._exit(0)
time.sleep(0.5)
print("DAEMON-STARTED")
"""


def _processes_with(marker: str) -> list[int]:
    """Pids on this machine whose command line mentions ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory):
    """Run one estimator that dumps its environment, dials out, lifts rlimits and leaves a daemon."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    marker = f"1000.{random.randrange(10**8, 10**9)}"
    code = estimator_with(HOSTILE_FIT.format(port=listener.getsockname()[1], marker=marker))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_TOKEN", CANARY)
        patch.setenv("SITE_BUILDER_AGE_KEY", "AGE-SECRET-KEY-1" + CANARY)
        result = run_submission(make_challenge(tmp_path), make_submission(tmp_path, code), tmp_path / "out")
    try:
        accepted = listener.accept()[0]
        accepted.close()
        connected = True
    except OSError:
        connected = False
    finally:
        listener.close()
    yield result, marker, connected
    for pid in _processes_with(marker):  # never leave a stray sleep behind, even if a test fails
        os.kill(pid, 9)


def _dumped_environment(result: RunResult) -> dict[str, str]:
    line = next(line for line in result.output.splitlines() if line.startswith("ENV-FILE "))
    return json.loads(line.removeprefix("ENV-FILE "))


def test_child_environment_holds_no_secrets(hostile_run) -> None:
    result, _, _ = hostile_run
    assert result.status == "ok", (result.error, result.output)
    assert CANARY not in result.output
    environment = _dumped_environment(result)
    assert "GITHUB_TOKEN" not in environment and "SITE_BUILDER_AGE_KEY" not in environment
    assert environment["PYTHONHASHSEED"] == "0" and environment["LANG"] == "C.UTF-8"
    assert "HASH-RANDOMIZATION 0" in result.output, "PYTHONHASHSEED=0 is honoured: runs are reproducible"
    assert Path(environment["HOME"]).name.startswith("site-builder-run-")
    assert not Path(environment["HOME"]).exists(), "the private working directory is removed afterwards"


def test_child_cannot_reach_a_listener_on_localhost(hostile_run) -> None:
    result, _, connected = hostile_run
    if not _has("network-namespace"):
        pytest.skip("no network namespace on this machine")
    assert "CONNECT-FAILED" in result.output and "CONNECTED\n" not in result.output
    assert not connected


def test_child_cannot_raise_its_hard_limits(hostile_run) -> None:
    result, _, _ = hostile_run
    # A child that is mapped root in a user namespace, or dropped to nobody,
    # lacks CAP_SYS_RESOURCE; only a child left as real root could raise them.
    if not (_has("user-namespace") or _has("unprivileged-uid")) and os.geteuid() == 0:
        pytest.skip("the child runs as real root, which may raise its own limits")
    assert "RLIMIT-KEPT" in result.output and "RLIMIT-RAISED" not in result.output


def test_daemons_started_by_the_submission_are_gone_after_the_run(hostile_run) -> None:
    result, marker, _ = hostile_run
    if not _has("pid-namespace"):
        pytest.skip("no PID namespace on this machine: a setsid daemon can outlive the run")
    assert "DAEMON-STARTED" in result.output
    assert _processes_with(marker) == []


@pytest.mark.slow
def test_a_flood_of_output_is_truncated_and_the_run_returns(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path, output_kb=16)
    code = estimator_with("import sys\nline = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(line)")

    result = run_submission(challenge, make_submission(tmp_path, code), tmp_path / "out")

    assert result.status == "ok", result.error
    assert len(result.output.encode()) < 17 * 1024
    assert result.output.startswith("x" * 1000)
    assert f"[... {2**30 - 16 * 1024} bytes truncated]" in result.output


@pytest.mark.parametrize("name", ["user-namespace", "namespaces", "none"])
def test_each_isolation_strategy_this_machine_supports_runs_a_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The fallbacks are exercised too, not only the strongest strategy."""
    strategy = next((candidate for candidate in run_module._candidate_strategies() if candidate.name == name), None)
    if strategy is None or not run_module._probe(strategy):
        pytest.skip(f"isolation strategy {name!r} is not available here")
    monkeypatch.setattr(run_module, "isolation_strategy", lambda: strategy)
    challenge = make_challenge(tmp_path)

    result = run_submission(challenge, make_submission(tmp_path, estimator_with("pass")), tmp_path / "out")

    assert result.status == "ok", (result.error, result.output)
    assert result.isolation == list(strategy.isolation)
    assert (tmp_path / "out" / "predictions.csv").is_file()


# --------------------------------------------------------------------------
# Folder structure: the only thing that raises
# --------------------------------------------------------------------------


def test_missing_estimator_raises_a_submission_error_naming_the_fix(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path)
    submission = tmp_path / "submissions" / "bob"
    submission.mkdir(parents=True)
    (submission / "model.py").write_text("x = 1\n")

    with pytest.raises(SubmissionError, match=r"estimator\.py.*get_estimator\(\)"):
        run_submission(challenge, submission, tmp_path / "out")


def test_symlinks_in_a_submission_are_refused(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path)
    submission = make_submission(tmp_path, GOOD_ESTIMATOR)
    (submission / "data.csv").symlink_to(challenge.solution_path)

    with pytest.raises(SubmissionError, match="symbolic link"):
        run_submission(challenge, submission, tmp_path / "out")


# --------------------------------------------------------------------------
# predictions challenges: nothing runs, the file is checked and passed on
# --------------------------------------------------------------------------


def _predictions_submission(tmp_path: Path, challenge: Challenge, text: str) -> Path:
    folder = tmp_path / "submissions" / "carol"
    folder.mkdir(parents=True)
    (folder / "predictions.csv").write_text(text, encoding="utf-8")
    return folder


def test_a_valid_predictions_file_is_passed_on(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path, kind="predictions")
    ids = pd.read_csv(challenge.test_path, dtype={ID: str})[ID]
    text = f"{ID},{TARGET}\n" + "".join(f"{identifier},0.25\n" for identifier in ids)
    out = tmp_path / "out"

    result = run_submission(challenge, _predictions_submission(tmp_path, challenge, text), out)

    assert result.status == "ok", result.error
    assert (out / "predictions.csv").read_text(encoding="utf-8") == text
    assert _read_run_json(out)["status"] == "ok"


def test_an_invalid_predictions_file_fails_as_invalid_output(tmp_path: Path) -> None:
    challenge = make_challenge(tmp_path, kind="predictions")
    out = tmp_path / "out"

    result = run_submission(challenge, _predictions_submission(tmp_path, challenge, "Id,prediction\nr0120,1\n"), out)

    assert result.status == "failed"
    assert result.error is not None and result.error["class"] == "invalid-output"
    assert "header" in result.error["message"]
    assert not (out / "predictions.csv").exists()
