"""The workflow files keep the trust rules of DESIGN.md, checked on the YAML itself."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.github.actions_runner import SKIPPED_STEP_IDS, WORKFLOWS, load_workflow

NAMES = sorted(path.name for path in WORKFLOWS.glob("*.yml"))
PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name in NAMES:
        for job_name, job in load_workflow(name)["jobs"].items():
            yield name, job_name, job


def steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, job_name, job in jobs():
        for step in job.get("steps", []):
            yield name, job_name, step


def test_the_four_workflows_exist() -> None:
    assert NAMES == ["ci.yml", "pages.yml", "scoring.yml", "submission.yml"]


def test_every_action_is_pinned_to_a_full_commit_sha_with_a_version_comment() -> None:
    for name in NAMES:
        for line in (WORKFLOWS / name).read_text(encoding="utf-8").splitlines():
            match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if not match or match.group(1).startswith("./"):
                continue
            assert PIN.match(match.group(1)), f"{name}: {line.strip()} is not pinned to a commit"
            assert re.match(r"\s+# v\d+\.\d+\.\d+\b", match.group(2)), f"{name}: {line.strip()} has no # vX.Y.Z comment"


def test_top_level_permissions_are_empty_and_every_job_grants_its_own() -> None:
    for name in NAMES:
        assert load_workflow(name)["permissions"] == {}, name
    for name, job_name, job in jobs():
        assert isinstance(job.get("permissions"), dict), f"{name}:{job_name} has no permissions of its own"
        assert "write-all" not in str(job["permissions"])


def test_write_permissions_are_where_they_are_needed_only() -> None:
    writes = {(name, job_name, scope) for name, job_name, job in jobs() for scope, level in job["permissions"].items() if level == "write"}
    assert writes == {
        ("scoring.yml", "record", "contents"),
        ("scoring.yml", "comment", "pull-requests"),
        ("scoring.yml", "comment", "statuses"),
        ("scoring.yml", "deploy", "pages"),
        ("scoring.yml", "deploy", "id-token"),
        ("pages.yml", "deploy", "pages"),
        ("pages.yml", "deploy", "id-token"),
    }


def test_triggers() -> None:
    for name in NAMES:
        text = (WORKFLOWS / name).read_text(encoding="utf-8")
        assert "pull_request_target" not in text, name
    submission = load_workflow("submission.yml")["on"]
    assert submission == {"pull_request": {"paths": ["submissions/**"]}}
    scoring = load_workflow("scoring.yml")["on"]
    assert scoring == {"workflow_run": {"workflows": ["submission"], "types": ["completed"]}}
    assert load_workflow("submission.yml")["name"] == "submission"
    pages = load_workflow("pages.yml")["on"]
    assert set(pages) == {"push", "workflow_dispatch", "workflow_call", "schedule"}
    assert pages["push"] == {"branches": ["main"]}


def test_no_expression_inside_a_run_script() -> None:
    for name, job_name, step in steps():
        if "run" in step:
            assert "${{" not in step["run"], f"{name}:{job_name}: pass values through env:, not ${{{{ }}}} in run:"


def test_secrets_only_in_jobs_with_an_environment() -> None:
    for name, job_name, job in jobs():
        if job.get("uses") == "./.github/workflows/pages.yml" and job.get("secrets") == "inherit":
            # The one caller of this repository's own pages workflow: it names no secret itself.
            assert not any("secrets." in text for text in strings(job)), f"{name}:{job_name}"
            continue
        uses_secrets = any("secrets." in text or "secrets:" in text for text in strings(job))
        if uses_secrets:
            assert "environment" in job, f"{name}:{job_name} reads a secret without an environment"


def test_the_key_reaches_two_jobs_one_step_each_and_they_only_read() -> None:
    holders = {
        (name, job_name): [step for step in job.get("steps", []) if "SITE_BUILDER_AGE_KEY" in str(step.get("env", {}))]
        for name, job_name, job in jobs()
        if "SITE_BUILDER_AGE_KEY" in str(job)
    }
    assert set(holders) == {("scoring.yml", "score"), ("pages.yml", "reveal")}
    for (name, job_name), steps_ in holders.items():
        job = load_workflow(name)["jobs"][job_name]
        assert job["environment"] == "scoring", job_name
        assert job["permissions"] == {"contents": "read"}, job_name
        assert len(steps_) == 1, job_name
    assert "gh score" in holders[("scoring.yml", "score")][0]["run"]
    assert "gh reveal" in holders[("pages.yml", "reveal")][0]["run"]


def test_the_site_is_built_from_the_revealed_records_not_the_raw_branch() -> None:
    pages = load_workflow("pages.yml")["jobs"]
    reveal, build = pages["reveal"], pages["build"]
    uploads = [step for step in reveal["steps"] if step.get("uses", "").startswith("actions/upload-artifact")]
    assert [step["with"]["name"] for step in uploads] == ["revealed"]
    assert int(uploads[0]["with"]["retention-days"]) <= 1
    assert build["needs"] == "reveal" and "environment" not in build
    downloads = [step for step in build["steps"] if step.get("uses", "").startswith("actions/download-artifact")]
    assert [step["with"]["name"] for step in downloads] == ["revealed"]
    build_text = "\n".join(strings(build))
    assert "fetch-data" not in build_text and "github.token" not in build_text and "secrets." not in build_text
    assert build["permissions"] == {"contents": "read"}
    # the build uses the reveal's clock, so both agree on which challenges have ended
    (build_step,) = [step for step in build["steps"] if "site-builder build" in step.get("run", "")]
    assert build_step["env"]["REVEALED_AT"] == "${{ needs.reveal.outputs.now }}" and '--now "$REVEALED_AT"' in build_step["run"]
    assert pages["deploy"]["needs"] == "build"


def test_the_scoring_deploy_passes_the_environment_key_on_to_the_called_reveal() -> None:
    deploy = load_workflow("scoring.yml")["jobs"]["deploy"]
    assert deploy["secrets"] == "inherit"
    assert "contents" in deploy["permissions"] and deploy["permissions"]["contents"] == "read"


def test_the_untrusted_workflow_has_no_secret_no_write_no_cache() -> None:
    text = (WORKFLOWS / "submission.yml").read_text(encoding="utf-8")
    assert "secrets." not in text and "environment" not in text and "github.token" not in text
    (job,) = load_workflow("submission.yml")["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    for name, _, step in steps():
        uses = step.get("uses", "")
        assert not uses.startswith("actions/cache"), name
        if uses.startswith("actions/setup-python"):
            assert "cache" not in (step.get("with") or {}), name


# A step that runs a participant's code in the sandbox (the pull request's estimator.py).
RUNS_PARTICIPANT_CODE = re.compile(r"\bsite-builder\s+(?:gh\s+run|run|evaluate)\b")
USERNS_SYSCTL = "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"


def test_every_job_that_runs_participant_code_allows_user_namespaces_and_requires_isolation() -> None:
    """Ubuntu 24.04 runners refuse `unshare --user` until the AppArmor sysctl is off; without it the
    sandbox would quietly fall back to weaker isolation, so the step that runs the code also demands
    the isolation it needs (SITE_BUILDER_REQUIRE_ISOLATION) and fails loudly otherwise."""
    import site_builder.run as run_module

    known_labels = Path(run_module.__file__).read_text(encoding="utf-8")
    runners = []
    for name, job_name, job in jobs():
        steps_ = job.get("steps", [])
        for index, step in enumerate(steps_):
            if not RUNS_PARTICIPANT_CODE.search(step.get("run", "")):
                continue
            runners.append((name, job_name))
            where = f"{name}:{job_name}: {step.get('name')}"
            sysctl = [i for i, earlier in enumerate(steps_[:index]) if USERNS_SYSCTL in earlier.get("run", "")]
            assert sysctl, f"{where} runs participant code with no AppArmor sysctl step before it"
            assert "if" not in steps_[sysctl[-1]], f"{where}: the sysctl step must always run"
            env = step.get("env") or {}
            wanted = {label.strip() for label in str(env.get(run_module.REQUIRE_ISOLATION_VARIABLE, "")).split(",")}
            assert {"private-filesystem", "network-namespace"} <= wanted, f"{where} does not set {run_module.REQUIRE_ISOLATION_VARIABLE}"
            for label in wanted:
                assert f'"{label}"' in known_labels, f"{where}: {label!r} is not an isolation label of site_builder.run"
    assert ("submission.yml", "run") in runners


def test_the_step_that_holds_the_private_key_cuts_the_network_or_fails() -> None:
    """`gh score` decrypts with the key; it must never run with the network up."""
    import site_builder.run as run_module

    scoring = [(name, job_name, step) for name, job_name, step in steps() if re.search(r"\bsite-builder\s+gh\s+score\b", step.get("run", ""))]
    assert scoring
    for name, job_name, step in scoring:
        env = step.get("env") or {}
        wanted = {label.strip() for label in str(env.get(run_module.REQUIRE_ISOLATION_VARIABLE, "")).split(",")}
        assert "network-namespace" in wanted, f"{name}:{job_name}: {step.get('name')} may score with the network up"


def test_every_sysctl_step_is_the_one_the_fake_runner_skips() -> None:
    """The local runner executes run: steps; a sysctl on the test machine must never be one of them."""
    for name, job_name, step in steps():
        if "sysctl" in step.get("run", ""):
            assert step.get("id") == "allow-userns" and "allow-userns" in SKIPPED_STEP_IDS, f"{name}:{job_name}"
            assert step["run"] == f"{USERNS_SYSCTL} || true", f"{name}:{job_name}: a runner without the key must go on"

def test_every_checkout_leaves_no_credentials() -> None:
    for name, job_name, step in steps():
        if step.get("uses", "").startswith("actions/checkout"):
            assert step["with"]["persist-credentials"] is False, f"{name}:{job_name}"


def test_the_trusted_workflow_never_checks_out_the_pull_request() -> None:
    for name, job_name, step in steps():
        if name in ("scoring.yml", "pages.yml") and step.get("uses", "").startswith("actions/checkout"):
            assert "ref" not in (step.get("with") or {}), job_name
    # the event's data is read by the verbs from GITHUB_EVENT_PATH, never spliced into the workflow
    assert "github.event" not in (WORKFLOWS / "scoring.yml").read_text(encoding="utf-8")


def test_the_record_job_queues_and_never_cancels() -> None:
    record = load_workflow("scoring.yml")["jobs"]["record"]
    assert record["concurrency"] == {"group": "leaderboard-data", "cancel-in-progress": False, "queue": "max"}


def test_the_deploy_is_called_not_triggered() -> None:
    deploy = load_workflow("scoring.yml")["jobs"]["deploy"]
    assert deploy["uses"] == "./.github/workflows/pages.yml"
    pages = load_workflow("pages.yml")["jobs"]
    uses = [step.get("uses", "").split("@")[0] for job in pages.values() for step in job["steps"]]
    assert "actions/upload-pages-artifact" in uses and "actions/deploy-pages" in uses


def test_zizmor_reports_nothing() -> None:
    zizmor = shutil.which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed")
    result = subprocess.run([zizmor, "--offline", str(WORKFLOWS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout
    # every inline ignore gives a reason
    for name in NAMES:
        for line in (WORKFLOWS / name).read_text(encoding="utf-8").splitlines():
            if "zizmor: ignore" in line:
                assert re.search(r"zizmor: ignore\[[\w-]+\]\s+\S.{20,}", line), line
