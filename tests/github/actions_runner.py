"""Run the real workflow files' steps locally, the way a GitHub runner would.

Jobs run in ``needs`` order, each with a fresh workspace and RUNNER_TEMP (so a
job sees another's files only through artifacts, as on GitHub). ``run:``
steps go to bash with the env the step declares, ``${{ }}`` expressions are
evaluated against a context built from the event, and the few actions the
workflows use are simulated: checkout clones the bare origin, the artifact
actions copy folders, deploy-pages publishes into a folder. The step that
installs the package is skipped: the package under test is put on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SKIPPED_STEP_IDS = {"install", "allow-userns"}  # pip install . / a sysctl on the runner


def load_workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as True
        data["on"] = data.pop(True)
    return data


# ---------------------------------------------------------------- expressions


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*))")


class Expression:
    """A tiny evaluator for the subset of GitHub expressions the workflows use."""

    def __init__(self, text: str, context: Mapping[str, Any], status: Mapping[str, bool]) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise ValueError(f"cannot parse expression {text!r} at {position}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0
        self.context = context
        self.status = status

    def evaluate(self) -> Any:
        value = self._or()
        if self.index != len(self.tokens):
            raise ValueError(f"trailing tokens in expression: {self.tokens[self.index:]}")
        return value

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == ("op", "||"):
            self._take()
            right = self._and()
            left = left or right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek() == ("op", "&&"):
            self._take()
            right = self._compare()
            left = left and right
        return left

    def _compare(self) -> Any:
        left = self._unary()
        while self._peek() in (("op", "=="), ("op", "!=")):
            _, op = self._take()
            right = self._unary()
            equal = _loose(left) == _loose(right)
            left = equal if op == "==" else not equal
        return left

    def _unary(self) -> Any:
        if self._peek() == ("op", "!"):
            self._take()
            return not self._unary()
        return self._primary()

    def _primary(self) -> Any:
        kind, value = self._take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value)
        if (kind, value) == ("op", "("):
            inner = self._or()
            self._take()
            return inner
        if self._peek() == ("op", "("):
            self._take()
            self._take()  # ')' — the status functions take no argument
            return self.status[value]
        if value in ("true", "false"):
            return value == "true"
        current: Any = self.context
        for part in value.split("."):
            current = current.get(part) if isinstance(current, Mapping) else None
        return current


def _loose(value: Any) -> Any:
    return "" if value is None else value.lower() if isinstance(value, str) else value


def substitute(text: Any, context: Mapping[str, Any], status: Mapping[str, bool] | None = None) -> Any:
    """Replace every ``${{ expr }}`` in a string by its value."""
    if not isinstance(text, str):
        return text
    status = status or {"success": True, "failure": False, "always": True, "cancelled": False}

    def one(match: re.Match[str]) -> str:
        value = Expression(match.group(1), context, status).evaluate()
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def condition(text: Any, context: Mapping[str, Any], status: Mapping[str, bool]) -> bool:
    """An ``if:``; without a status function it means ``success() && …``."""
    if text is None:
        return status["success"]
    text = str(text).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    if not re.search(r"\b(always|success|failure|cancelled)\(", text):
        text = f"success() && ({text})"
    return bool(Expression(text, context, status).evaluate())


# ---------------------------------------------------------------- results


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    log: str = ""
    seconds: float = 0.0


@dataclass
class JobResult:
    name: str
    result: str  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)


@dataclass
class RunResult:
    workflow: str
    jobs: dict[str, JobResult] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return "\n".join(f"[{job.name}/{step.name}] {step.outcome} ({step.seconds:.1f} s)\n{step.log}" for job in self.jobs.values() for step in job.steps)

    def result(self, job: str) -> str:
        return self.jobs[job].result


# ---------------------------------------------------------------- the runner


@dataclass
class Runner:
    """One simulated GitHub: an origin repository, the fake API, secrets and a clock.

    ``secrets`` are the ``scoring`` environment's secrets, as in the setup
    guide: a job sees them only if it names that environment, the run's ref
    is one the environment deploys from (``environments``), and, in a called
    workflow, only if the caller passed ``secrets: inherit`` (GitHub has been
    seen to hand called jobs empty environment secrets otherwise,
    actions/runner#4453; the model takes the stricter reading). A job naming
    an environment its ref may not deploy to fails before any step runs.
    """

    origin: Path
    work: Path
    api_url: str
    token: str
    repository: str = "org/hack"
    secrets: dict[str, str] = field(default_factory=dict)
    environments: dict[str, set[str]] = field(default_factory=lambda: {"scoring": {"refs/heads/main"}, "github-pages": {"refs/heads/main"}})
    extra_env: dict[str, str] = field(default_factory=dict)
    published: Path | None = None
    run_counter: int = 0

    def __post_init__(self) -> None:
        self.bin = self.work / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        shim = self.bin / "site-builder"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m site_builder "$@"\n', encoding="utf-8")
        shim.chmod(0o755)

    def base_env(self) -> dict[str, str]:
        """A runner's environment, built from scratch: nothing of the test process leaks in."""
        return {
            "PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.work / "home"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": self.repository,
            "SITE_BUILDER_DATA_REMOTE": str(self.origin),
            "SITE_BUILDER_API_PAUSE": "0",
            **self.extra_env,
        }

    def run(self, workflow: str, event_name: str, event: dict[str, Any], *, sha: str, store: dict[str, Path] | None = None, ref: str = "refs/heads/main") -> RunResult:
        self.run_counter += 1
        run_id = 5000 + self.run_counter
        run_dir = self.work / f"run-{run_id}-{Path(workflow).stem}"
        run_dir.mkdir(parents=True)
        event_path = run_dir / "event.json"
        event_path.write_text(json.dumps(event), encoding="utf-8")
        github = {
            "event": event,
            "event_name": event_name,
            "sha": sha,
            "ref": ref,
            "repository": self.repository,
            "run_id": str(run_id),
            "token": self.token,
            "server_url": "https://github.com",
            "api_url": self.api_url,
        }
        result = RunResult(workflow)
        result.artifacts = store if store is not None else {}
        self._run_workflow(load_workflow(workflow), github, event_path, run_dir, result, prefix="", inherits=True)
        return result

    def _run_workflow(self, data: dict[str, Any], github: dict[str, Any], event_path: Path, run_dir: Path, result: RunResult, prefix: str, inherits: bool) -> None:
        jobs: dict[str, Any] = data["jobs"]
        done: set[str] = set()
        while len(done) < len(jobs):
            ready = [name for name, job in jobs.items() if name not in done and all(need in done for need in _needs(job))]
            if not ready:
                raise RuntimeError("a cycle in needs")
            for name in ready:
                job = jobs[name]
                needs = {need: {"result": result.jobs[prefix + need].result, "outputs": result.jobs[prefix + need].outputs} for need in _needs(job)}
                environment = _environment(job)
                allowed = environment is None or github["ref"] in self.environments.get(environment, {github["ref"]})
                secrets = dict(self.secrets) if environment == "scoring" and allowed and inherits else {}
                context = {"github": github, "needs": needs, "secrets": secrets, "inputs": {}, "vars": {}}
                all_ok = all(n["result"] == "success" for n in needs.values())
                status = {"success": all_ok, "failure": any(n["result"] == "failure" for n in needs.values()), "always": True, "cancelled": False}
                if not condition(job.get("if"), context, status):
                    result.jobs[prefix + name] = JobResult(prefix + name, "skipped")
                elif "uses" in job:
                    called = load_workflow(Path(job["uses"].split("#")[0].strip()).name)
                    before = set(result.jobs)
                    self._run_workflow(called, github, event_path, run_dir, result, prefix=f"{name}/", inherits=job.get("secrets") == "inherit")
                    inner = [result.jobs[key].result for key in set(result.jobs) - before]
                    result.jobs[prefix + name] = JobResult(prefix + name, "failure" if "failure" in inner else "success")
                elif not allowed:
                    refusal = StepResult("environment", "failure", f"{github['ref']} is not allowed to deploy to environment {environment!r} due to environment protection rules")
                    result.jobs[prefix + name] = JobResult(prefix + name, "failure", steps=[refusal])
                else:
                    result.jobs[prefix + name] = self._run_job(prefix + name, job, context, github, event_path, run_dir, result)
                done.add(name)

    def _run_job(self, name: str, job: dict[str, Any], context: dict[str, Any], github: dict[str, Any], event_path: Path, run_dir: Path, result: RunResult) -> JobResult:
        job_dir = run_dir / name.replace("/", "-")
        workspace, temp = job_dir / "workspace", job_dir / "temp"
        workspace.mkdir(parents=True)
        temp.mkdir()
        (self.work / "home").mkdir(exist_ok=True)
        context = {**context, "runner": {"temp": str(temp)}, "steps": {}}
        outcome = JobResult(name, "success")
        failed = False
        for index, step in enumerate(job.get("steps", [])):
            label = step.get("name") or step.get("id") or step.get("uses", "run")
            status = {"success": not failed, "failure": failed, "always": True, "cancelled": False}
            if step.get("id") in SKIPPED_STEP_IDS or not condition(step.get("if"), context, status):
                outcome.steps.append(StepResult(label, "skipped"))
                continue
            output_file = job_dir / f"output-{index}"
            output_file.touch()
            env = {
                **self.base_env(),
                "GITHUB_EVENT_PATH": str(event_path),
                "GITHUB_EVENT_NAME": github["event_name"],
                "GITHUB_SHA": github["sha"],
                "GITHUB_RUN_ID": github["run_id"],
                "GITHUB_WORKSPACE": str(workspace),
                "GITHUB_OUTPUT": str(output_file),
                "RUNNER_TEMP": str(temp),
            }
            for scope in (job.get("env") or {}, step.get("env") or {}):
                env.update({key: substitute(value, context) for key, value in scope.items()})
            started = time.monotonic()
            if "uses" in step:
                ok, log, outputs = self._action(step, context, workspace, result, github)
            else:
                ok, log = self._shell(step["run"], env, workspace / (step.get("working-directory") or ""))
                outputs = _read_outputs(output_file)
            outcome.steps.append(StepResult(label, "success" if ok else "failure", log, time.monotonic() - started))
            if step.get("id"):
                context["steps"][step["id"]] = {"outputs": outputs, "outcome": "success" if ok else "failure"}
            failed = failed or not ok
        outcome.result = "failure" if failed else "success"
        outcome.outputs = {key: substitute(value, context) for key, value in (job.get("outputs") or {}).items()}
        return outcome

    def _shell(self, script: str, env: dict[str, str], cwd: Path) -> tuple[bool, str]:
        if "${{" in script:
            raise AssertionError(f"an expression inside run: {script!r}")
        process = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
        return process.returncode == 0, process.stdout + process.stderr

    def _action(self, step: dict[str, Any], context: dict[str, Any], workspace: Path, result: RunResult, github: dict[str, Any]) -> tuple[bool, str, dict[str, str]]:
        action = step["uses"].split("@")[0]
        options = {key: substitute(value, context) for key, value in (step.get("with") or {}).items()}
        if action == "actions/checkout":
            assert options.get("persist-credentials") == "false" or options.get("persist-credentials") is False
            target = workspace / options.get("path", "")
            subprocess.run(["git", "clone", "--quiet", str(self.origin), str(target)], check=True, capture_output=True)
            subprocess.run(["git", "checkout", "--quiet", options.get("ref") or github["sha"]], cwd=target, check=True, capture_output=True)
            return True, f"checked out {options.get('ref') or github['sha']}", {}
        if action == "actions/setup-python":
            return True, "python from the test interpreter", {}
        if action in ("actions/upload-artifact", "actions/upload-pages-artifact"):
            name = options.get("name", "github-pages")
            source = Path(options["path"]) if Path(options["path"]).is_absolute() else workspace / options["path"]
            if not source.is_dir() or not any(source.iterdir()):
                return False, f"no files at {source}", {}
            stored = self.work / "artifacts" / f"{github['run_id']}-{name}"
            shutil.copytree(source, stored)
            result.artifacts[name] = stored
            return True, f"uploaded {name}", {}
        if action == "actions/download-artifact":
            name = options["name"]
            if name not in result.artifacts:
                return False, f"no artifact {name}", {}
            target = Path(options["path"]) if Path(options["path"]).is_absolute() else workspace / options["path"]
            shutil.copytree(result.artifacts[name], target, dirs_exist_ok=True)
            return True, f"downloaded {name}", {}
        if action == "actions/deploy-pages":
            assert self.published is not None
            # pages.yml's deploy job sits in the "pages-deploy" concurrency group: GitHub runs
            # one at a time, so concurrent runs here deploy one at a time too.
            with _DEPLOYING:
                if self.published.exists():
                    shutil.rmtree(self.published)
                shutil.copytree(result.artifacts["github-pages"], self.published)
            return True, "deployed", {"page_url": "https://org.github.io/hack/"}
        raise AssertionError(f"the runner does not simulate {action}")


_DEPLOYING = threading.Lock()


def _environment(job: Mapping[str, Any]) -> str | None:
    environment = job.get("environment")
    if isinstance(environment, Mapping):
        environment = environment.get("name")
    return str(environment) if environment else None


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _read_outputs(path: Path) -> dict[str, str]:
    outputs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
    return outputs
