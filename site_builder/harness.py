"""The child side of the sandbox: fit a participant's estimator and predict.

``run.py`` starts this file *by path* inside the sandbox, with a clean
environment and a private working directory::

    python -s -P -B harness.py harness-config.json

It must not import ``site_builder`` (the package is not on the child's path
and its modules have no business running next to participant code), so it
only uses the standard library, numpy and pandas, and everything it needs
comes from the small JSON file written by the parent.

The harness, not participant code, writes the predictions: the estimator
only returns arrays, which are shaped into ``<output>/<name>.csv`` with the
id column first. A small ``harness.json`` reports fit and predict times and,
on failure, the error class, a plain message and the traceback. The parent
treats both files as hostile data anyway (participant code runs in this same
process and could overwrite them), so nothing here is trusted for security;
this file exists to produce good results and good error messages.

This is the ramp-workflow ``Estimator`` contract: ``estimator.py`` defines
``get_estimator()`` returning a scikit-learn estimator; X is a DataFrame of
every column but the id and the target, y the target column.

The file has a second, security-critical role, run before any participant
code: ``harness.py --sandbox sandbox.json`` is the first process of the
sandbox's namespaces. It builds the private filesystem view, drops every
privilege, starts the harness as above, supervises it as PID 1 and copies
its outputs back (see "The sandbox's first step" below and docs/security.md).
It lives here so that the child side of the sandbox stays one file that
needs nothing but the standard library.
"""

from __future__ import annotations

import sys

# The script's own folder is the site_builder package: keep it off the path so
# neither the harness nor participant code can import the tool's modules.
_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path[:] = [entry for entry in sys.path if entry not in ("", ".", _HERE)]

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from typing import Any  # noqa: E402

REPORT_NAME = "harness.json"


class InvalidOutput(Exception):
    """The estimator returned something that cannot become a predictions file."""


class HarnessFailure(Exception):
    """Carries an error class and a message for ``harness.json``."""

    def __init__(self, error_class: str, message: str, trace: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.trace = trace


def _participant_traceback(error: BaseException) -> str:
    """The traceback without the harness's own outer frames, so it starts at the participant's code.

    If every frame is the harness's (say, it rejected the output), keep them all.
    """
    here = os.path.abspath(__file__)
    frames = error.__traceback__
    while frames is not None and os.path.abspath(frames.tb_frame.f_code.co_filename) == here:
        frames = frames.tb_next
    return "".join(traceback.format_exception(type(error), error, frames or error.__traceback__))


def _fail(stage: str, error: BaseException) -> HarnessFailure:
    """Classify an exception raised while ``stage`` was running."""
    trace = _participant_traceback(error)
    if isinstance(error, MemoryError):  # numpy's _ArrayMemoryError is a subclass
        detail = f": {error}" if str(error) else ""
        return HarnessFailure("memory", f"{stage} could not allocate memory ({type(error).__name__}{detail})", trace)
    if isinstance(error, InvalidOutput):
        return HarnessFailure("invalid-output", str(error), trace)
    detail = str(error)
    if isinstance(error, SystemExit):
        detail = f"exit code {error.code!r}"
    message = f"{stage} raised {type(error).__name__}"
    return HarnessFailure("exception", f"{message}: {detail}" if detail else message, trace)


def _load_estimator_module(path: str) -> Any:
    """Import ``estimator.py`` under the module name ``estimator``.

    Its folder goes first on ``sys.path`` so a submission may split its code
    into sibling modules, as RAMP kits sometimes do.
    """
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("estimator", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["estimator"] = module
    spec.loader.exec_module(module)
    return module


def _read_ids(path: str, id_column: str) -> list[str]:
    """Ids exactly as written in the file, so they match the parent's check."""
    import pandas as pd

    return pd.read_csv(path, usecols=[id_column], dtype=str, keep_default_na=False)[id_column].tolist()


def _read_inputs(path: str, id_column: str, target: str) -> Any:
    """Feature columns of a CSV: everything but the id and (if present) the target."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={id_column: str})
    return frame.drop(columns=[column for column in (id_column, target) if column in frame.columns])


def _one_dimensional(values: Any, rows: int, what: str) -> Any:
    import numpy as np

    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InvalidOutput(f"{what} returned an array of shape {array.shape}; expected ({rows},)")
    if array.shape[0] != rows:
        raise InvalidOutput(f"{what} returned {array.shape[0]} predictions for {rows} input rows")
    return array


def _probability_columns(estimator: Any, proba: Any, rows: int, config: dict[str, Any]) -> dict[str, Any]:
    """Map ``predict_proba`` columns onto the challenge's ordered classes.

    ``estimator.classes_`` (as strings) names the columns; a class the
    estimator never saw (a small fold, say) gets probability 0.
    """
    import numpy as np

    classes: list[str] = config["classes"]
    matrix = np.asarray(proba, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise InvalidOutput(
            f"predict_proba returned an array of shape {matrix.shape}; expected ({rows}, {len(classes)})"
        )
    known = getattr(estimator, "classes_", None)
    if known is None:
        raise InvalidOutput(
            "the fitted estimator has no classes_ attribute, so its probability columns cannot be named"
        )
    names = [str(label) for label in np.asarray(known).ravel()]
    if len(names) != matrix.shape[1]:
        raise InvalidOutput(
            f"predict_proba returned {matrix.shape[1]} columns but the estimator has {len(names)} classes_"
        )
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise InvalidOutput(
            f"the estimator predicts classes {unknown} that are not among the challenge's classes {classes}"
        )
    position = {name: index for index, name in enumerate(names)}
    ordered = np.column_stack(
        [matrix[:, position[label]] if label in position else np.zeros(rows) for label in classes]
    )
    if len(classes) == 2:
        # Binary: one column named after the target, the positive (last) class.
        return {config["target"]: ordered[:, 1]}
    return {label: ordered[:, index] for index, label in enumerate(classes)}


def _prediction_columns(estimator: Any, inputs: Any, config: dict[str, Any]) -> dict[str, Any]:
    rows = len(inputs)
    kind = config["prediction_kind"]
    if kind == "proba":
        return _probability_columns(estimator, estimator.predict_proba(inputs), rows, config)
    values = _one_dimensional(estimator.predict(inputs), rows, "predict")
    if kind == "value":
        import numpy as np

        try:
            values = values.astype(float)
        except (TypeError, ValueError):
            raise InvalidOutput("predict returned values that are not numbers") from None
        return {config["target"]: np.asarray(values, dtype=float)}
    return {config["target"]: [str(value) for value in values.tolist()]}


def _write_predictions(path: str, ids: list[str], columns: dict[str, Any], id_column: str) -> None:
    """Id column first; default float formatting, which round-trips exactly."""
    import pandas as pd

    frame = pd.DataFrame({id_column: ids, **columns})
    frame.to_csv(path, index=False)


def _run(config: dict[str, Any], report: dict[str, Any]) -> None:
    """Fit once, then predict every requested input, timing both."""
    id_column, target = config["id_column"], config["target"]
    stage = "reading the train data"
    try:
        train = _read_inputs_with_target(config["train"], id_column, target)
        stage = "importing estimator.py"
        module = _load_estimator_module(config["estimator"])
        stage = "get_estimator()"
        if not hasattr(module, "get_estimator"):
            raise AttributeError("estimator.py defines no get_estimator() function")
        estimator = module.get_estimator()
        stage = "fit"
        X, y = train
        started = time.perf_counter()
        estimator.fit(X, y)
        report["fit_seconds"] = time.perf_counter() - started
        total = 0.0
        for task in config["predict"]:
            stage = f"reading {task['input']}"
            inputs = _read_inputs(task["input"], id_column, target)
            ids = _read_ids(task["input"], id_column)
            if list(inputs.columns) != list(X.columns) and set(inputs.columns) == set(X.columns):
                inputs = inputs[list(X.columns)]  # same features, train order
            stage = "predict_proba" if config["prediction_kind"] == "proba" else "predict"
            started = time.perf_counter()
            columns = _prediction_columns(estimator, inputs, config)
            seconds = time.perf_counter() - started
            total += seconds
            report["predict_seconds_by_input"][task["name"]] = seconds
            report["predict_seconds"] = total
            stage = "writing the predictions"
            _write_predictions(task["output"], ids, columns, id_column)
    except BaseException as error:  # participant code may raise anything, SystemExit included
        raise _fail(stage, error) from None


def _read_inputs_with_target(path: str, id_column: str, target: str) -> tuple[Any, Any]:
    import pandas as pd

    frame = pd.read_csv(path, dtype={id_column: str})
    if target not in frame.columns:
        raise KeyError(f"the train data has no target column {target!r}")
    X = frame.drop(columns=[column for column in (id_column, target) if column in frame.columns])
    return X, frame[target]


def _write_report(path: str, report: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle)


# --------------------------------------------------------------------------
# The sandbox's first step: a private filesystem view, then the run
# --------------------------------------------------------------------------
#
# ``run.py`` starts ``harness.py --sandbox sandbox.json`` as the first process
# of fresh mount, PID and network namespaces (``unshare``). That process is
# ours, not the participant's: it builds a new root holding only the system
# (read-only), the Python install (read-only) and a size-capped scratch work
# directory, pivots into it, and forks the real harness with every privilege
# dropped. As PID 1 of the namespace it then waits for the harness, kills
# whatever the submission left running, and copies the few allowed output
# files (size-capped, regular files only) to the parent's output folder, which
# the participant's processes never see. ``sandbox-status.json`` there tells
# the parent how the harness ended; it is written after every participant
# process is dead, so it can be trusted.

SANDBOX_FLAG = "--sandbox"
SANDBOX_STATUS = "sandbox-status.json"
SETUP_FAILED_EXIT = 125
_SYSTEM_DIRECTORIES = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")
_DEVICES = ("null", "zero", "full", "random", "urandom")
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
_MS_NOATIME, _MS_NODIRATIME, _MS_RELATIME = 0x400, 0x800, 0x200000
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID = 0x1, 0x2
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_MNT_DETACH = 2
_SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added in 5.12)
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217, "i686": 217, "armv7l": 218}
_PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_SECUREBITS = 4, 24, 28
_PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
# noroot + noroot_locked + no_setuid_fixup_locked + keep_caps_locked +
# no_cap_ambient_raise + its lock: uid 0 gains no capability from exec, ever.
_SECUREBITS_LOCKED_DOWN = 0x01 | 0x02 | 0x08 | 0x20 | 0x40 | 0x80


class SetupError(Exception):
    """The sandbox could not be built; nothing of the participant's has run."""


class _Kernel:
    """The few system calls the standard library lacks, through ctypes."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            number = self.ctypes.get_errno()
            raise SetupError(f"{what}: {os.strerror(number)}")

    @staticmethod
    def _bytes(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        c = self.ctypes
        result = self.libc.mount(
            self._bytes(source), self._bytes(target), self._bytes(fstype), c.c_ulong(flags), self._bytes(data)
        )
        self._check(result, f"mount {source or fstype} on {target}")

    def umount(self, target: str, flags: int) -> None:
        self._check(self.libc.umount2(self._bytes(target), self.ctypes.c_int(flags)), f"umount {target}")

    def set_mount_attributes(self, target: str, set_flags: int, clear_flags: int, recursive: bool) -> None:
        c = self.ctypes

        class MountAttr(c.Structure):
            _fields_ = [("attr_set", c.c_uint64), ("attr_clr", c.c_uint64), ("propagation", c.c_uint64), ("userns_fd", c.c_uint64)]

        attributes = MountAttr(set_flags, clear_flags, 0, 0)
        result = self.libc.syscall(
            c.c_long(_SYS_MOUNT_SETATTR),
            c.c_int(_AT_FDCWD),
            self._bytes(target),
            c.c_uint(_AT_RECURSIVE if recursive else 0),
            c.byref(attributes),
            c.c_size_t(c.sizeof(attributes)),
        )
        self._check(int(result), f"mount_setattr {target}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        import platform

        number = _SYS_PIVOT_ROOT.get(platform.machine())
        if number is None:
            raise SetupError(f"pivot_root: unknown system call number on {platform.machine()}")
        c = self.ctypes
        self._check(int(self.libc.syscall(c.c_long(number), self._bytes(new_root), self._bytes(put_old))), "pivot_root")

    def prctl(self, option: int, argument: int = 0, extra: int = 0) -> None:
        c = self.ctypes
        result = self.libc.prctl(c.c_int(option), c.c_ulong(argument), c.c_ulong(extra), c.c_ulong(0), c.c_ulong(0))
        self._check(result, f"prctl {option}")


def _bind(kernel: _Kernel, source: str, target: str) -> None:
    """Bind ``source`` (with everything mounted below it) at ``target``, creating the mount point."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "wb").close()
    kernel.mount(source, target, None, _MS_BIND | _MS_REC)


def _under(path: str, folders: list[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def _build_root(kernel: _Kernel, config: dict[str, Any], root: str) -> list[str]:
    """Fill the new root; return the mount points that stay writable."""
    kernel.mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    bound: list[str] = []
    for name in _SYSTEM_DIRECTORIES:
        host = "/" + name
        if os.path.islink(host):  # merged /usr: /bin -> usr/bin
            os.symlink(os.readlink(host), root + host)
        elif os.path.isdir(host):
            _bind(kernel, host, root + host)
            bound.append(host)
    for path in config["keep"]:  # the Python install, wherever it lives
        if os.path.exists(path) and not _under(path, bound):
            _bind(kernel, path, root + path)
            bound.append(path)
    _bind(kernel, "/proc", root + "/proc")  # the PID namespace's own /proc, mounted by unshare
    _bind(kernel, "/sys", root + "/sys")
    _minimal_dev(kernel, root, config["shm_mb"])
    scratch = f"size={config['scratch_mb']}m,nr_inodes=65536,mode=1777"
    os.makedirs(root + "/tmp")
    kernel.mount("tmpfs", root + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, scratch)
    _fill_work_directory(kernel, config, root + config["inside"])
    return [root + "/tmp", root + "/dev/shm", root + config["inside"] + "/output"]


def _minimal_dev(kernel: _Kernel, root: str, shm_mb: int) -> None:
    """A /dev with the harmless character devices only: no disk, no terminal, no host socket."""
    dev = root + "/dev"
    os.makedirs(dev)
    kernel.mount("tmpfs", dev, "tmpfs", _MS_NOSUID, "size=64k,nr_inodes=64,mode=0755")
    for name in _DEVICES:
        _bind(kernel, "/dev/" + name, f"{dev}/{name}")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.makedirs(dev + "/shm")
    kernel.mount("tmpfs", dev + "/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={shm_mb}m,nr_inodes=4096,mode=1777")


def _fill_work_directory(kernel: _Kernel, config: dict[str, Any], work: str) -> None:
    """The run's folder on the scratch tmpfs: data bound read-only, the rest copied."""
    real = config["work"]
    owner = config.get("drop_to")
    os.makedirs(work, mode=0o700)
    _bind(kernel, real + "/data", work + "/data")
    for name in ("harness-config.json",):
        _copy_file(real + "/" + name, work + "/" + name)
    _copy_file(os.path.abspath(__file__), work + "/harness.py")
    _copy_tree(real + "/submission", work + "/submission")
    # Its own small tmpfs: a submission that fills the scratch space cannot
    # stop the harness from writing its report and predictions.
    os.mkdir(work + "/output")
    room = sum(int(cap) for cap in config["outputs"].values()) + 2**20
    kernel.mount("tmpfs", work + "/output", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={room // 1024 + 64}k,nr_inodes=1024,mode=0755")
    if owner is not None:
        for directory, folders, files in os.walk(work):
            if directory == work + "/data":
                folders[:] = []
                continue
            os.chown(directory, owner, owner)
            for name in files:
                os.chown(os.path.join(directory, name), owner, owner, follow_symlinks=False)


def _copy_file(source: str, target: str) -> None:
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while True:
            block = reader.read(1 << 20)
            if not block:
                break
            writer.write(block)


def _copy_tree(source: str, target: str) -> None:
    """Regular files and folders only (the parent already refused symlinks)."""
    import stat

    os.makedirs(target)
    for directory, folders, files in os.walk(source):
        relative = os.path.relpath(directory, source)
        destination = target if relative == "." else os.path.join(target, relative)
        for name in folders:
            os.makedirs(os.path.join(destination, name), exist_ok=True)
        for name in files:
            path = os.path.join(directory, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                _copy_file(path, os.path.join(destination, name))


def _mount_points_under(root: str) -> list[str]:
    """Mount points at or below ``root`` from /proc/self/mountinfo, outermost first."""
    import re

    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            point = re.sub(r"\\([0-7]{3})", lambda match: chr(int(match[1], 8)), line.split()[4])
            if _under(point, [root]):
                points.append(point)
    return sorted(set(points), key=lambda point: point.count("/"))


def _make_read_only(kernel: _Kernel, root: str, writable: list[str], method: str) -> None:
    """Every mount of the new root read-only and nosuid, except the scratch ones."""
    if method == "auto":
        try:
            kernel.set_mount_attributes(root, _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, 0, recursive=True)
            for point in writable:
                kernel.set_mount_attributes(point, 0, _MOUNT_ATTR_RDONLY, recursive=False)
            return
        except SetupError:
            pass  # a kernel older than 5.12: remount one mount at a time
    preserved = {os.ST_NODEV: _MS_NODEV, os.ST_NOEXEC: _MS_NOEXEC, os.ST_NOATIME: _MS_NOATIME,
                 os.ST_NODIRATIME: _MS_NODIRATIME, os.ST_RELATIME: _MS_RELATIME}  # fmt: skip
    for point in _mount_points_under(root):
        flags = _MS_REMOUNT | _MS_BIND | _MS_NOSUID
        current = os.statvfs(point).f_flag
        flags |= sum(mount_flag for statvfs_flag, mount_flag in preserved.items() if current & statvfs_flag)
        if point not in writable:
            flags |= _MS_RDONLY
        kernel.mount(None, point, None, flags)


def _drop_privileges(kernel: _Kernel, drop_to: int | None) -> None:
    """In the forked child, before exec: no capability, no way back, maybe another uid."""
    last = int(open("/proc/sys/kernel/cap_last_cap", encoding="ascii").read())
    for capability in range(last + 1):
        kernel.prctl(_PR_CAPBSET_DROP, capability)
    kernel.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    kernel.prctl(_PR_SET_SECUREBITS, _SECUREBITS_LOCKED_DOWN)
    if drop_to is not None:
        os.setgroups([])
        os.setresgid(drop_to, drop_to, drop_to)
        os.setresuid(drop_to, drop_to, drop_to)
    kernel.prctl(_PR_SET_NO_NEW_PRIVS, 1)


def _supervise(child: int) -> dict[str, int]:
    """As PID 1: reap everything until the harness ends, then kill what is left."""
    import signal

    status: dict[str, int] = {}
    while not status:
        try:
            pid, code = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == child:
            status = {"signal": os.WTERMSIG(code)} if os.WIFSIGNALED(code) else {"exit": os.waitstatus_to_exitcode(code)}
    try:
        os.kill(-1, signal.SIGKILL)  # every process of the namespace but this one
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    return status or {"exit": SETUP_FAILED_EXIT}


def _copy_outputs(work_fd: int, out_fd: int, allowed: dict[str, int]) -> None:
    """The allowed output files, regular files only, each cut one byte past its cap."""
    import stat

    try:
        output_fd = os.open("output", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=work_fd)
    except OSError:
        return
    try:
        for name, cap in sorted(allowed.items()):
            try:
                source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=output_fd)
            except OSError:
                continue
            try:
                if not stat.S_ISREG(os.fstat(source).st_mode):
                    continue
                target = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=out_fd)
                try:
                    remaining = cap + 1
                    while remaining > 0:
                        block = os.read(source, min(remaining, 1 << 20))
                        if not block:
                            break
                        os.write(target, block)
                        remaining -= len(block)
                finally:
                    os.close(target)
            finally:
                os.close(source)
    finally:
        os.close(output_fd)


def _write_status(out_fd: int, status: dict[str, Any]) -> None:
    target = os.open(SANDBOX_STATUS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=out_fd)
    with os.fdopen(target, "w", encoding="utf-8") as handle:
        json.dump(status, handle)


def sandbox_main(config_path: str) -> int:
    """Build the view, run the command in it without privileges, report how it ended."""
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
        kernel = _Kernel()
        kernel.mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        if config.get("pid_max"):
            with open("/proc/sys/kernel/pid_max", "w", encoding="ascii") as handle:
                handle.write(str(config["pid_max"]))
        out_fd = os.open(config["work"] + "/output", os.O_RDONLY | os.O_DIRECTORY)
        root = config["work"] + "/.root"
        writable = _build_root(kernel, config, root)
        _make_read_only(kernel, root, writable, config.get("read_only_method", "auto"))
        os.chdir(root)
        kernel.pivot_root(".", ".")
        kernel.umount(".", _MNT_DETACH)  # the host's tree is gone from this namespace
        os.chdir("/")
        work_fd = os.open(config["inside"], os.O_RDONLY | os.O_DIRECTORY)
        kernel.prctl(_PR_SET_DUMPABLE, 0)  # no /proc/1/fd for the submission
    except (OSError, SetupError, ValueError, KeyError) as error:
        print(f"site-builder sandbox: setup failed: {error}", file=sys.stderr, flush=True)
        return SETUP_FAILED_EXIT
    # A close-on-exec pipe: empty at EOF if exec succeeded, else the reason.
    failure_read, failure_write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(failure_read)
            _drop_privileges(kernel, config.get("drop_to"))
            os.chdir(config["inside"])
            os.execv(config["command"][0], config["command"])
        except BaseException as error:  # noqa: BLE001 - the child must never return into the supervisor
            os.write(failure_write, str(error).encode("utf-8", "replace")[:2000])
        os._exit(SETUP_FAILED_EXIT)
    os.close(failure_write)
    with os.fdopen(failure_read, "rb") as pipe:
        failure = pipe.read().decode("utf-8", "replace")
    status: dict[str, Any] = _supervise(child)
    if failure:
        status = {"setup_error": f"cannot start the run: {failure}"}
    _copy_outputs(work_fd, out_fd, {str(name): int(cap) for name, cap in config["outputs"].items()})
    _write_status(out_fd, status)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == SANDBOX_FLAG:
        return sandbox_main(argv[2])
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    report: dict[str, Any] = {
        "status": "failed",
        "fit_seconds": None,
        "predict_seconds": None,
        "predict_seconds_by_input": {},
        "error": None,
    }
    report_path = os.path.abspath(config["report"])
    try:
        _run(config, report)
        report["status"] = "ok"
    except HarnessFailure as failure:
        report["error"] = {"class": failure.error_class, "message": failure.message, "traceback": failure.trace}
    # Flush participant prints before the report so the log reads in order.
    sys.stdout.flush()
    sys.stderr.flush()
    _write_report(report_path, report)
    return 0 if report["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
