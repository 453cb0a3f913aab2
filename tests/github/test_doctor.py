"""`site-builder gh doctor` reads the setup through the API and names what is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from site_builder.cli import main
from tests.github.conftest import git
from tests.github.fake_github import FakeGitHub


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGitHub]:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(origin))
    server = FakeGitHub(origin)
    server.start()
    yield server
    server.stop()


def doctor(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.setenv("GITHUB_TOKEN", fake.token)
    monkeypatch.setenv("SITE_BUILDER_API_PAUSE", "0")
    code = main(["gh", "doctor", "--repo", fake.full_name, "--api-url", fake.url])
    return code, capsys.readouterr().out


def complete(fake: FakeGitHub) -> None:
    fake.pages = {"build_type": "workflow", "html_url": "https://org.github.io/hack/"}
    fake.environments["scoring"] = {"deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}, "branches": ["main"], "secrets": ["SITE_BUILDER_AGE_KEY"]}
    fake.workflows = [{"id": i, "name": name, "path": f".github/workflows/{name}.yml", "state": "active"} for i, name in enumerate(("submission", "scoring", "pages"))]


def test_a_complete_setup_passes(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    complete(fake)
    code, out = doctor(fake, monkeypatch, capsys)
    assert code == 0, out
    assert "the setup looks complete" in out
    assert "'leaderboard-data' does not exist yet; the first scoring run creates it" in out


def test_each_missing_piece_is_named(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake.pages = {"build_type": "legacy"}
    fake.workflows = [{"id": 1, "name": "submission", "path": ".github/workflows/submission.yml", "state": "disabled_manually"}]
    fake.fork_approval = "first_time_contributors_new_to_github"
    code, out = doctor(fake, monkeypatch, capsys)
    assert code == 1
    assert "Source: GitHub Actions" in out
    assert "no environment 'scoring'" in out
    assert ".github/workflows/scoring.yml is missing" in out and "submission.yml is disabled" in out
    assert "Require approval for first-time contributors" in out


def test_a_scoring_environment_open_to_every_branch_is_flagged(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    complete(fake)
    fake.environments["scoring"] = {"deployment_branch_policy": None, "secrets": []}
    code, out = doctor(fake, monkeypatch, capsys)
    assert code == 1
    assert "deploys from any branch; restrict it to main" in out
    assert "SITE_BUILDER_AGE_KEY is missing from 'scoring'" in out
