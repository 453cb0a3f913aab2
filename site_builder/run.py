"""Stage 2, run: execute a participant's code in a sandbox and collect predictions.

The participant's ``estimator.py`` is hostile. It runs in a child process
(``harness.py``) that gets:

- a private working directory holding only copies of the public data and of
  the submission's files, removed afterwards;
- a minimal environment: no token, no age identity, nothing from the parent
  but a short allow-list;
- resource limits (address space, CPU, file size, processes, open files, no
  core dumps) set with ``setrlimit`` before ``exec``;
- where the OS allows it, new network, PID and mount namespaces
  (``unshare``): no network at all, and every process the submission starts
  dies with it;
- in those namespaces, a private filesystem view built by ``harness.py
  --sandbox`` before any participant code runs: a new root holding only the
  system and the Python install (read-only), a minimal ``/dev`` and a
  size-capped scratch work directory; the home folders, the repository, the
  host's ``/tmp`` and ``/run``, keys and results are simply not there. The run
  then has no capability left and, when the tool runs as root, the uid of
  ``nobody`` (so ``RLIMIT_NPROC`` holds and root-only files stay closed);
- a wall-clock limit enforced by the parent, which kills the whole process
  group.

``isolation`` in ``run.json`` lists what was actually applied; the probe that
chooses the strategy checks it on this machine (see docs/security.md).

Everything the child leaves behind (``predictions.csv``, ``harness.json``,
its console output) is read as hostile data: sizes are capped and the
predictions are parsed strictly by :mod:`site_builder.predictions`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from site_builder.errors import PredictionsError, SiteBuilderError, SubmissionError
from site_builder.predictions import Predictions, read_predictions
from site_builder.spec import Challenge
from site_builder.submission import MAX_TOTAL_BYTES

ESTIMATOR_FILENAME = "estimator.py"
PREDICTIONS_FILENAME = "predictions.csv"
RUN_FILENAME = "run.json"
HARNESS_PATH = Path(__file__).with_name("harness.py")

ErrorClass = Literal["timeout", "memory", "exception", "invalid-output"]

# Variables copied from the parent when set: some CPUs here need OpenBLAS told
# its core type, or numpy crashes on import.
_PASSTHROUGH_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SAFE_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
# Grace periods: the CPU limit only backs up the wall clock (multi-threaded
# code burns CPU faster than wall time, so it may trigger first; that is a
# timeout too).
_CPU_SOFT_GRACE_SECONDS = 2  # SIGXCPU, reported as a timeout
_CPU_HARD_GRACE_SECONDS = 5  # SIGKILL if SIGXCPU was ignored
_MAX_PROCESSES = 256
# pid_max of the run's PID namespace (kernel 6.14+; 301 is the kernel's floor):
# bounds a fork storm even where RLIMIT_NPROC does not apply (mapped root).
_PID_MAX = 512
_UNPRIVILEGED_ID = 65534  # nobody: the run's uid and gid when the tool runs as root
_SCRATCH_MIN_MB, _SCRATCH_MAX_MB, _SHM_MAX_MB = 64, 1024, 256
_MAX_OPEN_FILES = 1024
_MIN_FILE_SIZE_BYTES = 64 * 2**20
_REPORT_MAX_BYTES = 2**20
_MESSAGE_MAX_CHARS = 2000
_POLL_SECONDS = 0.02
REQUIRE_ISOLATION_VARIABLE = "SITE_BUILDER_REQUIRE_ISOLATION"
# Written by ``harness.py --sandbox`` (not imported: importing it edits sys.path).
SANDBOX_STATUS = "sandbox-status.json"
_SETUP_MESSAGE = "site-builder sandbox: setup failed:"


@dataclass
class RunResult:
    """The outcome of one sandboxed run; ``run.json`` holds :meth:`to_json`."""

    status: Literal["ok", "failed"]
    error: dict[str, str] | None
    fit_seconds: float | None
    predict_seconds: float | None
    peak_memory_mb: float | None
    wall_seconds: float
    isolation: list[str]
    output: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SandboxLimits:
    """The limits one run gets; defaults come from ``challenge.yaml``."""

    time_seconds: int
    memory_mb: int
    output_kb: int
    predictions_mb: int

    @classmethod
    def for_challenge(
        cls, challenge: Challenge, *, time_seconds: int | None = None, memory_mb: int | None = None
    ) -> "SandboxLimits":
        limits = challenge.spec.limits
        return cls(
            time_seconds=time_seconds if time_seconds is not None else limits.time_seconds,
            memory_mb=memory_mb if memory_mb is not None else limits.memory_mb,
            output_kb=limits.output_kb,
            predictions_mb=limits.predictions_mb,
        )


@dataclass(frozen=True)
class PredictTask:
    """One public CSV of inputs to predict; ``name`` names its copy and its output."""

    name: str
    source: Path


@dataclass
class SandboxOutcome:
    """A :class:`RunResult` plus the validated predictions of each task."""

    result: RunResult
    predictions: dict[str, Predictions] = field(default_factory=dict)
    predict_seconds_by_input: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------


def run_submission(
    challenge: Challenge,
    submission_dir: Path,
    out_dir: Path,
    *,
    time_seconds: int | None = None,
    memory_mb: int | None = None,
) -> RunResult:
    """Run a submission and write ``out_dir/run.json`` (and ``predictions.csv`` on success).

    For a ``code`` challenge the estimator is fitted on the public train data
    and predicts the public test inputs inside the sandbox. For a
    ``predictions`` challenge nothing runs: the uploaded ``predictions.csv``
    is checked and copied, so later stages see the same layout either way.

    Raises :class:`SubmissionError` only when the folder itself is broken;
    whatever the participant's code does ends up in the returned result.
    """
    submission_dir = Path(submission_dir)
    out_dir = Path(out_dir)
    check_structure(challenge, submission_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    destination = out_dir / PREDICTIONS_FILENAME
    destination.unlink(missing_ok=True)  # a stale file must never pass for this run's output
    if challenge.spec.kind == "predictions":
        result = _accept_predictions_file(challenge, submission_dir, destination)
    else:
        limits = SandboxLimits.for_challenge(challenge, time_seconds=time_seconds, memory_mb=memory_mb)
        outcome = sandbox_run(
            challenge,
            submission_dir,
            train=challenge.train_path,
            tasks=[PredictTask("test", challenge.test_path)],
            limits=limits,
            keep={"test": destination},
        )
        result = outcome.result
    (out_dir / RUN_FILENAME).write_text(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return result


def check_structure(challenge: Challenge, submission_dir: Path) -> None:
    """Refuse a folder that cannot be run: missing, symlinks, no estimator.py / predictions.csv."""
    submission_dir = Path(submission_dir)
    if submission_dir.is_symlink() or not submission_dir.is_dir():
        raise SubmissionError("is not a folder; a submission is a folder of files", path=submission_dir)
    total = 0
    for path in _walk(submission_dir):
        status = path.lstat()
        if stat.S_ISLNK(status.st_mode):
            raise SubmissionError(
                "is a symbolic link; submissions may only hold regular files, replace it with the file itself",
                path=path,
            )
        if stat.S_ISREG(status.st_mode):
            if status.st_nlink > 1:
                # A second name of a file elsewhere (a key, a solution) would be copied into the sandbox.
                raise SubmissionError(f"is a hard link ({status.st_nlink} names for one file); submit a plain copy", path=path)
            total += status.st_size
            if total > MAX_TOTAL_BYTES:
                raise SubmissionError(
                    f"is larger than {MAX_TOTAL_BYTES // 2**20} MiB; keep data and models out of the submission",
                    path=submission_dir,
                )
    if challenge.spec.kind == "code":
        required = ESTIMATOR_FILENAME
        fix = "add estimator.py defining get_estimator(), which returns a scikit-learn estimator"
    else:
        required = PREDICTIONS_FILENAME
        fix = f"add predictions.csv with the columns {','.join(challenge.prediction_columns())}"
    if not (submission_dir / required).is_file():
        raise SubmissionError(
            f"has no {required}; this is a {challenge.spec.kind} challenge: {fix}", path=submission_dir
        )


# --------------------------------------------------------------------------
# The sandbox, shared with ``check``
# --------------------------------------------------------------------------


def sandbox_run(
    challenge: Challenge,
    submission_dir: Path,
    *,
    train: Path,
    tasks: Sequence[PredictTask],
    limits: SandboxLimits,
    keep: Mapping[str, Path] | None = None,
) -> SandboxOutcome:
    """Fit on ``train`` and predict each task in the sandbox; validate every output.

    ``keep`` maps task names to paths where the validated predictions file is
    copied before the working directory is removed.
    """
    check_structure(challenge, submission_dir)
    strategy = isolation_strategy()
    _check_required_isolation(strategy)
    with _working_directory(submission_dir, train, tasks) as work:
        # With the filesystem view the run sees its folder at /tmp/<name>.
        inside = _inside_path(work) if strategy.setup else work
        config = _harness_config(challenge, inside, tasks)
        (work / "harness-config.json").write_text(json.dumps(config), encoding="utf-8")
        if strategy.setup:
            run_command = _python_command(inside / HARNESS_PATH.name, inside / "harness-config.json")
            outputs = {f"{task.name}.csv": limits.predictions_mb * 2**20 for task in tasks}
            outputs["harness.json"] = _REPORT_MAX_BYTES
            argv = [*strategy.prefix, *_setup_command(strategy, work, limits, run_command, outputs)]
        else:
            argv = [*strategy.prefix, *_python_command(HARNESS_PATH, work / "harness-config.json")]
        child = _run_child(argv, work, limits, strategy, home=inside)
        report = _read_report(work / "output" / "harness.json", limits)
        outcome = _build_outcome(challenge, child, report, limits, strategy, work, tasks)
        if outcome.result.status == "ok":
            for name, destination in (keep or {}).items():
                shutil.copyfile(work / "output" / f"{name}.csv", destination)
    return outcome


def _python_command(harness: Path, config_path: Path) -> list[str]:
    """The harness's command line.

    ``-s -P`` are ``-I`` minus ``-E``: no user site-packages, no script folder
    on ``sys.path``. The environment is built from scratch here, so honouring
    it is safe and lets PYTHONHASHSEED=0 make runs reproducible. ``-B``: no
    ``__pycache__`` written next to the submission.
    """
    return [sys.executable, "-s", "-P", "-B", str(harness), str(config_path)]


def _inside_path(work: Path) -> Path:
    """Where the run sees its working directory inside the filesystem view."""
    return Path("/tmp") / work.name


def _python_paths() -> list[str]:
    """Folders the interpreter needs, as written and resolved (a venv links to its base)."""
    paths: list[str] = []
    for folder in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                   str(Path(sys.executable).parent)):  # fmt: skip
        for path in (os.path.abspath(folder), os.path.realpath(folder)):
            if path not in paths and path != "/":
                paths.append(path)
    return paths


def _setup_command(
    strategy: "IsolationStrategy", work: Path, limits: SandboxLimits, command: list[str], outputs: Mapping[str, int]
) -> list[str]:
    """Write ``sandbox.json`` for ``harness.py --sandbox`` and return its command line.

    The file sits in the real working directory, which the run never sees.
    """
    (work / ".root").mkdir(exist_ok=True)
    scratch = min(max(limits.memory_mb // 2, _SCRATCH_MIN_MB), _SCRATCH_MAX_MB)
    config = {
        "work": str(work),
        "inside": str(_inside_path(work)),
        "keep": _python_paths(),
        "scratch_mb": scratch,
        "shm_mb": min(max(limits.memory_mb // 4, 16), _SHM_MAX_MB),
        "drop_to": strategy.drop_to,
        "pid_max": _PID_MAX if strategy.pid_limit else None,
        "read_only_method": strategy.read_only_method,
        "command": command,
        "outputs": dict(outputs),
    }
    (work / "sandbox.json").write_text(json.dumps(config), encoding="utf-8")
    # -I -S: the setup needs the standard library only, nothing from site-packages.
    return [sys.executable, "-I", "-S", "-B", str(HARNESS_PATH), "--sandbox", str(work / "sandbox.json")]


def _harness_config(challenge: Challenge, work: Path, tasks: Sequence[PredictTask]) -> dict[str, Any]:
    """Everything the harness needs, as absolute paths inside the working directory."""
    spec = challenge.spec
    return {
        "estimator": str(work / "submission" / ESTIMATOR_FILENAME),
        "train": str(work / "data" / "train.csv"),
        "predict": [
            {
                "name": task.name,
                "input": str(work / "data" / f"{task.name}.csv"),
                "output": str(work / "output" / f"{task.name}.csv"),
            }
            for task in tasks
        ],
        "report": str(work / "output" / "harness.json"),
        "id_column": spec.id_column,
        "target": spec.target,
        "prediction_kind": spec.prediction_kind,
        "classes": list(challenge.classes),
    }


# --------------------------------------------------------------------------
# The working directory
# --------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    """Every entry under ``root`` without following symlinks."""
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            yield Path(directory) / name


@contextlib.contextmanager
def _working_directory(submission_dir: Path, train: Path, tasks: Sequence[PredictTask]) -> Iterator[Path]:
    """A fresh private directory with copies of the public data and the submission.

    Copies, not links: whatever the child writes cannot reach the originals,
    and nothing else (no private data, no repository) is in reach by path.
    """
    work = Path(tempfile.mkdtemp(prefix="site-builder-run-"))
    try:
        (work / "data").mkdir()
        (work / "output").mkdir()
        shutil.copyfile(train, work / "data" / "train.csv")
        for task in tasks:
            copy = work / "data" / f"{task.name}.csv"
            if not copy.exists():  # a task named "train" predicts the train copy itself
                shutil.copyfile(task.source, copy)
        _copy_submission(submission_dir, work / "submission")
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_submission(source: Path, destination: Path) -> None:
    """Copy regular files and folders only; refuse symlinks, skip devices, FIFOs, sockets."""
    destination.mkdir()
    for path in _walk(source):
        mode = path.lstat().st_mode
        target = destination / path.relative_to(source)
        if stat.S_ISLNK(mode):
            raise SubmissionError("is a symbolic link; submissions may only hold regular files", path=path)
        if stat.S_ISDIR(mode):
            target.mkdir(exist_ok=True)
        elif stat.S_ISREG(mode):
            shutil.copyfile(path, target)


def _child_environment(home: Path) -> dict[str, str]:
    """The complete environment of the child: an allow-list, nothing inherited by default."""
    python_dir = str(Path(sys.executable).parent)
    path_entries = [python_dir, *(entry for entry in _SAFE_PATH if entry != python_dir)]
    environment = {
        "PATH": os.pathsep.join(path_entries),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    for name in _PASSTHROUGH_VARIABLES:
        if name in os.environ:
            environment[name] = os.environ[name]
    return environment


# --------------------------------------------------------------------------
# Isolation: namespaces where available, probed once per process
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class IsolationStrategy:
    """A command prefix and the isolation it provides (recorded in ``run.json``).

    ``setup``: the run goes through ``harness.py --sandbox``, which builds the
    private filesystem view; ``drop_to``: the uid and gid the run takes (only
    when the tool runs as root, outside any user namespace); ``pid_limit``:
    the PID namespace gets a small ``pid_max``.
    """

    name: str
    prefix: tuple[str, ...]
    isolation: tuple[str, ...]
    setup: bool = False
    drop_to: int | None = None
    pid_limit: bool = False
    read_only_method: str = "auto"

    def child_uid(self) -> int:
        """The uid the kernel counts the run's processes under (RLIMIT_NPROC)."""
        return self.drop_to if self.drop_to is not None else os.getuid()


_BASE_ISOLATION = ("clean-environment", "private-workdir", "rlimits", "process-group")


@functools.cache
def _candidate_strategies() -> list[IsolationStrategy]:
    """Strongest first. Each is probed before use; the first that works is taken.

    At most ten labels each: the pipeline keeps ten.
    """
    unshare = shutil.which("unshare")
    candidates = []
    if unshare:
        common = ("--net", "--pid", "--mount-proc", "--fork", "--kill-child", "--")
        user = (unshare, "--user", "--map-root-user", *common)
        plain = (unshare, *common)
        is_root = os.geteuid() == 0
        pid_limit = _pid_max_is_per_namespace(user)
        namespaces = ("network-namespace", "pid-namespace")
        if is_root:
            # Root needs no user namespace to build the view, and the run then
            # becomes nobody: RLIMIT_NPROC applies and root-only files stay shut.
            candidates.append(
                IsolationStrategy(
                    "namespaces",
                    plain,
                    (*_BASE_ISOLATION, *namespaces, "private-filesystem", "unprivileged-uid", "process-limit"),
                    setup=True,
                    drop_to=_UNPRIVILEGED_ID,
                    pid_limit=pid_limit,
                )
            )
        # Mapped root is exempt from RLIMIT_NPROC when the real uid is root:
        # then only pid_max bounds the processes.
        process_limit = ("process-limit",) if (not is_root or pid_limit) else ()
        candidates.append(
            IsolationStrategy(
                "user-namespace",
                user,
                (*_BASE_ISOLATION, "user-namespace", *namespaces, "private-filesystem", "no-capabilities", *process_limit),
                setup=True,
                pid_limit=pid_limit,
            )
        )
        # Fallbacks where the view cannot be built (no mount permission in the
        # namespace): network and PID walls only.
        candidates.append(
            IsolationStrategy("user-namespace-basic", user, (*_BASE_ISOLATION, "user-namespace", *namespaces))
        )
        # Root on a kernel without user namespaces: same walls, but the child
        # keeps root's capabilities, so it could lift its own rlimits.
        candidates.append(IsolationStrategy("namespaces-basic", plain, (*_BASE_ISOLATION, *namespaces)))
    candidates.append(IsolationStrategy("none", (), _BASE_ISOLATION))
    return candidates


def _pid_max_is_per_namespace(user_prefix: tuple[str, ...]) -> bool:
    """Can a PID namespace get its own pid_max (Linux 6.14+)?

    Asked from inside a user namespace, where a kernel that keeps one global
    pid_max refuses the write; asking as real root could change the host's.
    """
    try:
        completed = subprocess.run(
            [*user_prefix, "/bin/sh", "-c", f"echo {_PID_MAX} > /proc/sys/kernel/pid_max"],
            env={"PATH": os.pathsep.join(_SAFE_PATH)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return completed.returncode == 0


# Run inside the view by the probe: the isolation a strategy claims must hold.
_PROBE_CHECKS = r"""
import os, sys
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, "capabilities left"
assert status["NoNewPrivs"].strip() == "1", "no_new_privs not set"
try:
    open("/probe-write", "w")
except OSError:
    pass
else:
    sys.exit("the root is writable")
open("probe-write", "w").write("ok")
expected_uid, hidden, pid_max = int(sys.argv[1]), sys.argv[2:-1], sys.argv[-1]
assert expected_uid < 0 or os.getuid() == expected_uid, "uid not dropped"
assert not any(os.path.exists(path) for path in hidden), "a private folder is visible"
assert pid_max == "-" or open("/proc/sys/kernel/pid_max").read().strip() == pid_max, "pid_max not set"
"""


def _hidden_paths_to_probe(work: Path) -> list[str]:
    """Folders the view must hide: the real working directory, this package, the home folder."""
    paths = [str(work / "sandbox.json"), str(HARNESS_PATH)]
    home = os.path.expanduser("~")
    if home not in _python_paths() and not any(path.startswith(home + "/") for path in _python_paths()):
        paths.append(home)
    return paths


def _probe(strategy: IsolationStrategy) -> bool:
    """Does a run under this strategy start, with the isolation it claims?"""
    if not strategy.prefix:
        return True
    limits = SandboxLimits(time_seconds=20, memory_mb=1024, output_kb=4, predictions_mb=1)
    if not strategy.setup:
        try:
            completed = subprocess.run(
                [*strategy.prefix, "true"],
                env={"PATH": os.pathsep.join(_SAFE_PATH)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_rlimit_setter(limits, strategy.child_uid()),
                start_new_session=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return completed.returncode == 0
    work = Path(tempfile.mkdtemp(prefix="site-builder-probe-"))
    try:
        for folder in ("data", "output", "submission"):
            (work / folder).mkdir()
        (work / "harness-config.json").write_text("{}", encoding="utf-8")
        uid = strategy.drop_to if strategy.drop_to is not None else -1
        pid_max = str(_PID_MAX) if strategy.pid_limit else "-"
        command = [sys.executable, "-I", "-S", "-c", _PROBE_CHECKS, str(uid), *_hidden_paths_to_probe(work), pid_max]
        argv = [*strategy.prefix, *_setup_command(strategy, work, limits, command, {})]
        child = _run_child(argv, work, limits, strategy, home=_inside_path(work))
        return child.returncode == 0 and not child.setup_error and not child.timed_out
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(work, ignore_errors=True)


def required_isolation() -> list[str]:
    """The isolation labels ``SITE_BUILDER_REQUIRE_ISOLATION`` demands (comma-separated)."""
    return [label.strip() for label in os.environ.get(REQUIRE_ISOLATION_VARIABLE, "").split(",") if label.strip()]


def _check_required_isolation(strategy: IsolationStrategy) -> None:
    """Fail closed: refuse to run anything when the machine gives less than the pipeline demands.

    ``SITE_BUILDER_REQUIRE_ISOLATION`` lists labels (comma-separated), e.g.
    ``private-filesystem,network-namespace``; a CI runner whose kernel
    refuses namespaces then fails the job instead of running code unguarded.
    """
    missing = [label for label in required_isolation() if label not in strategy.isolation]
    if missing:
        raise SiteBuilderError(
            f"the sandbox on this machine lacks {', '.join(missing)} (it offers {', '.join(strategy.isolation)}); "
            f"{REQUIRE_ISOLATION_VARIABLE} demands it, so nothing was run. On Ubuntu 24.04 allow user namespaces "
            "(sysctl kernel.apparmor_restrict_unprivileged_userns=0) or run as root"
        )


@functools.cache
def isolation_strategy() -> IsolationStrategy:
    """The strongest isolation that works on this machine; probed once per process."""
    for strategy in _candidate_strategies():
        if _probe(strategy):
            return strategy
    raise AssertionError("the no-namespace strategy always works")  # pragma: no cover


# --------------------------------------------------------------------------
# Running the child
# --------------------------------------------------------------------------


def _tasks_of_user(uid: int) -> int:
    """Processes and threads this user runs now, which RLIMIT_NPROC counts too."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as handle:
                total += next((int(line.split()[1]) for line in handle if line.startswith("Threads:")), 1)
        except (OSError, ValueError):
            continue
    return total


def _process_limit(uid: int) -> int:
    """RLIMIT_NPROC for a child running as ``uid``: room for ``_MAX_PROCESSES`` tasks of its own.

    The limit counts every task of that user (for a non-root user, also
    across the user namespace boundary), so a fixed 256 would break the
    sandbox on a busy desktop; the allowance is added to what already runs.
    Counted afresh for every run: other sandboxes of the same uid come and go.
    """
    return _MAX_PROCESSES if uid == 0 else _MAX_PROCESSES + _tasks_of_user(uid)


def _rlimit_setter(limits: SandboxLimits, uid: int) -> Callable[[], None]:
    """A ``preexec_fn`` that sets every limit (never above the current hard limit)."""
    memory = limits.memory_mb * 2**20
    file_size = max(2 * limits.predictions_mb * 2**20, _MIN_FILE_SIZE_BYTES)
    cpu_soft = limits.time_seconds + _CPU_SOFT_GRACE_SECONDS
    cpu_hard = limits.time_seconds + _CPU_HARD_GRACE_SECONDS
    processes = _process_limit(uid)
    wanted = {
        resource.RLIMIT_AS: (memory, memory),
        resource.RLIMIT_CPU: (cpu_soft, cpu_hard),
        resource.RLIMIT_FSIZE: (file_size, file_size),
        resource.RLIMIT_CORE: (0, 0),
        # Bounds a fork storm. Not enforced when the child's real uid is root
        # outside every namespace (the kernel exempts it, mapped root included).
        resource.RLIMIT_NPROC: (processes, processes),
        resource.RLIMIT_NOFILE: (_MAX_OPEN_FILES, _MAX_OPEN_FILES),
    }

    def apply() -> None:
        for kind, (soft, hard) in wanted.items():
            _, current_hard = resource.getrlimit(kind)
            if current_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, current_hard), min(hard, current_hard)
            resource.setrlimit(kind, (soft, hard))

    return apply


class _HeadBuffer:
    """Keeps the first ``limit`` bytes and counts the rest, which are discarded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.kept = 0
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = self.limit - self.kept
        if room > 0:
            self.chunks.append(chunk[:room])
            self.kept += min(room, len(chunk))
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        text = b"".join(self.chunks).decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[... {self.dropped} bytes truncated]\n"
        return text


def _drain(fd: int, buffer: _HeadBuffer, stop: threading.Event) -> None:
    """Read the child's output until EOF, or until told to stop once it is quiet.

    A daemon that escaped the process group (only possible without a PID
    namespace) may hold the pipe open forever, hence the stop signal and the
    one-second cap on draining after it.
    """
    deadline: float | None = None
    try:
        while True:
            if stop.is_set() and deadline is None:
                deadline = time.monotonic() + 1.0
            if deadline is not None and time.monotonic() > deadline:
                return
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                if stop.is_set():
                    return
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return
            buffer.feed(chunk)
    except (OSError, ValueError):  # the parent closed the pipe after giving up on it
        return


@dataclass
class _ChildExit:
    """What the parent observed about the child, all from the kernel, nothing self-reported."""

    returncode: int
    timed_out: bool
    wall_seconds: float
    peak_memory_mb: float | None
    output: str
    setup_error: str | None = None


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _exited(pid: int) -> bool:
    """Has ``pid`` exited? Leaves it unreaped, so its pid and group stay reserved."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _stop_wrapped_child(pid: int) -> None:
    """On timeout, kill the wrapper's children first and let ``unshare`` reap them.

    Killing the whole group at once would kill ``unshare`` before it reaps the
    harness, and ``wait4`` would then report only the wrapper's own tiny peak
    memory. Best effort: the group is killed right after anyway.
    """
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return
    for child in children:
        with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
            os.kill(int(child), signal.SIGKILL)
    give_up = time.monotonic() + 1.0
    while not _exited(pid) and time.monotonic() < give_up:
        time.sleep(_POLL_SECONDS)


def _run_child(argv: list[str], work: Path, limits: SandboxLimits, strategy: IsolationStrategy, *, home: Path) -> _ChildExit:
    """Start the child, drain its output, enforce the wall clock, reap it with rusage.

    The child is waited for without being reaped (``WNOWAIT``) so that its
    process group cannot be recycled before ``killpg`` sweeps up whatever it
    left running; ``wait4`` then reaps it and reports its peak RSS, which
    covers the harness because ``unshare`` (and the setup step) reap it in turn.
    """
    wrapped = bool(strategy.prefix)
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=work,
        env=_child_environment(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_rlimit_setter(limits, strategy.child_uid()),
        start_new_session=True,
        close_fds=True,
    )
    assert process.stdout is not None
    buffer = _HeadBuffer(limits.output_kb * 1024)
    stop = threading.Event()
    reader = threading.Thread(target=_drain, args=(process.stdout.fileno(), buffer, stop), daemon=True)
    reader.start()
    deadline = started + limits.time_seconds
    timed_out = False
    try:
        while not _exited(process.pid):
            if time.monotonic() >= deadline:
                timed_out = True
                if wrapped:
                    _stop_wrapped_child(process.pid)
                break
            time.sleep(_POLL_SECONDS)
    finally:
        _kill_group(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        stop.set()
        reader.join(timeout=2.0)
        process.stdout.close()
    # ru_maxrss is in KiB on Linux.
    peak = usage.ru_maxrss / 1024 if usage.ru_maxrss else None
    child = _ChildExit(process.returncode, timed_out, wall, peak, buffer.text())
    return _with_sandbox_status(child, work) if strategy.setup and not timed_out else child


def _with_sandbox_status(child: _ChildExit, work: Path) -> _ChildExit:
    """How the run ended, as the setup step saw it: ``unshare`` only reports the setup itself.

    ``sandbox-status.json`` is written by the setup after every process of
    the run is dead, into a folder the run never sees: it can be trusted.
    """
    path = work / "output" / SANDBOX_STATUS
    try:
        status = json.loads(path.read_text(encoding="utf-8")) if _is_regular_file(path) else None
    except (OSError, ValueError):
        status = None
    if not isinstance(status, dict) or child.returncode != 0:
        line = next((line for line in child.output.splitlines() if line.startswith(_SETUP_MESSAGE)), "")
        reason = line.removeprefix(_SETUP_MESSAGE).strip() or f"the setup step ended with code {child.returncode}"
        return dataclasses.replace(child, setup_error=reason)
    if isinstance(status.get("setup_error"), str):
        return dataclasses.replace(child, setup_error=status["setup_error"][:_MESSAGE_MAX_CHARS])
    if isinstance(status.get("signal"), int):
        return dataclasses.replace(child, returncode=-status["signal"])
    if isinstance(status.get("exit"), int):
        return dataclasses.replace(child, returncode=status["exit"])
    return dataclasses.replace(child, setup_error="the setup step reported no outcome")


# --------------------------------------------------------------------------
# Reading what the child left, and classifying the outcome
# --------------------------------------------------------------------------


def _is_regular_file(path: Path) -> bool:
    """A regular file, checked without following a symlink."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _read_report(path: Path, limits: SandboxLimits) -> dict[str, Any] | None:
    """``harness.json``, if present, small and well-formed; ``None`` otherwise."""
    try:
        if not _is_regular_file(path) or path.lstat().st_size > _REPORT_MAX_BYTES:
            return None
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e9:
        return float(value)
    return None


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else ""
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} characters truncated]"


def _traceback_from(text: str, limit: int) -> str:
    """The traceback from its ``Traceback`` line on, as the contract says."""
    index = text.find("Traceback")
    return _text(text[index:] if index >= 0 else text, limit)


def _error(error_class: ErrorClass, message: str, traceback: str = "") -> dict[str, str]:
    return {"class": error_class, "message": message, "traceback": traceback}


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _classify(child: _ChildExit, report: dict[str, Any] | None, limits: SandboxLimits) -> dict[str, str] | None:
    """The error of a run, or ``None`` if the harness says it finished.

    Kernel facts (timeout, fatal signals) win over the self-reported
    ``harness.json``, which participant code could have overwritten.
    """
    memory_message = f"the run exceeded the {limits.memory_mb} MiB memory limit"
    if child.timed_out:
        return _error("timeout", f"the run exceeded the {limits.time_seconds} s time limit and was stopped")
    if child.setup_error:
        return _error("exception", f"the sandbox could not run the submission: {child.setup_error}")
    if child.returncode == -signal.SIGXCPU:
        return _error("timeout", f"the run used more than {limits.time_seconds} s of CPU time and was stopped")
    reported = report.get("error") if report else None
    if isinstance(reported, dict):
        limit = limits.output_kb * 1024
        trace = _traceback_from(_text(reported.get("traceback"), limit * 2), limit)
        message = _text(reported.get("message"), _MESSAGE_MAX_CHARS)
        if reported.get("class") == "memory":
            return _error("memory", f"{memory_message}: {message}" if message else memory_message, trace)
        if reported.get("class") == "invalid-output":
            return _error("invalid-output", message or "the estimator's output cannot be made into predictions", trace)
        return _error("exception", message or "the submission raised an exception", trace)
    if child.returncode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT):
        # Native code that cannot allocate under RLIMIT_AS tends to crash
        # rather than raise; the kernel's OOM killer sends SIGKILL.
        return _error(
            "memory",
            f"{memory_message}: the process was killed by {_signal_name(child.returncode)}, "
            "which is what a failed allocation looks like in native code",
        )
    if child.returncode < 0:
        return _error("exception", f"the process was killed by {_signal_name(child.returncode)}")
    if child.returncode != 0 or not report or report.get("status") != "ok":
        return _error(
            "exception",
            f"the process ended (exit code {child.returncode}) before the harness could write its report; "
            "did the code call os._exit() or end its own process?",
            _traceback_from(child.output, limits.output_kb * 1024) if "Traceback" in child.output else "",
        )
    return None


def _read_ids(path: Path, id_column: str) -> list[str]:
    import pandas as pd

    return pd.read_csv(path, usecols=[id_column], dtype=str, keep_default_na=False)[id_column].tolist()


def _validate_outputs(
    challenge: Challenge, work: Path, tasks: Sequence[PredictTask]
) -> tuple[dict[str, Predictions], dict[str, str] | None]:
    """Parse every predictions file strictly against the ids of its inputs."""
    parsed: dict[str, Predictions] = {}
    for task in tasks:
        path = work / "output" / f"{task.name}.csv"
        if os.path.lexists(path) and not _is_regular_file(path):
            # A FIFO would block the parser forever; a symlink could point anywhere.
            return parsed, _error("invalid-output", f"the predictions for {task.name}.csv are not a regular file")
        try:
            # Expected ids come from the original, not the copy the child could rewrite.
            expected = _read_ids(task.source, challenge.spec.id_column)
            parsed[task.name] = read_predictions(path, challenge, expected, name=f"predictions for {task.name}.csv")
        except PredictionsError as error:
            return parsed, _error("invalid-output", str(error))
    return parsed, None


def _build_outcome(
    challenge: Challenge,
    child: _ChildExit,
    report: dict[str, Any] | None,
    limits: SandboxLimits,
    strategy: IsolationStrategy,
    work: Path,
    tasks: Sequence[PredictTask],
) -> SandboxOutcome:
    error = _classify(child, report, limits)
    predictions: dict[str, Predictions] = {}
    if error is None:
        predictions, error = _validate_outputs(challenge, work, tasks)
    report = report or {}
    by_input = report.get("predict_seconds_by_input")
    seconds_by_input = {
        str(name): seconds
        for name, raw in (by_input.items() if isinstance(by_input, dict) else ())
        if (seconds := _seconds(raw)) is not None
    }
    result = RunResult(
        status="failed" if error else "ok",
        error=error,
        fit_seconds=_seconds(report.get("fit_seconds")),
        predict_seconds=_seconds(report.get("predict_seconds")),
        peak_memory_mb=round(child.peak_memory_mb, 1) if child.peak_memory_mb is not None else None,
        wall_seconds=round(child.wall_seconds, 3),
        isolation=list(strategy.isolation),
        output=child.output,
    )
    return SandboxOutcome(result, predictions if error is None else {}, seconds_by_input)


def _accept_predictions_file(challenge: Challenge, submission_dir: Path, destination: Path) -> RunResult:
    """A ``predictions`` challenge runs nothing: check the uploaded file and pass it on."""
    started = time.monotonic()
    source = submission_dir / PREDICTIONS_FILENAME
    error = None
    try:
        read_predictions(source, challenge, _read_ids(challenge.test_path, challenge.spec.id_column))
    except PredictionsError as problem:
        error = _error("invalid-output", str(problem))
    else:
        shutil.copyfile(source, destination)
    return RunResult(
        status="failed" if error else "ok",
        error=error,
        fit_seconds=None,
        predict_seconds=None,
        peak_memory_mb=None,
        wall_seconds=round(time.monotonic() - started, 3),
        isolation=[],
        output="",
    )
