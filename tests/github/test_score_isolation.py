"""``gh score`` holds the private key: where the pipeline demands a network namespace, it fails closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from site_builder import github_cli
from site_builder.cli import main


@pytest.mark.parametrize("flags", [[], ["--no-isolation"]])
def test_scoring_refuses_to_start_when_the_network_cannot_be_cut_and_isolation_is_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    monkeypatch.setattr(github_cli, "offline_prefix", lambda: None)
    monkeypatch.delenv("SITE_BUILDER_OFFLINE", raising=False)
    monkeypatch.setenv("SITE_BUILDER_REQUIRE_ISOLATION", "private-filesystem,network-namespace")
    scored: list[object] = []
    monkeypatch.setattr(github_cli, "_score_here", lambda args: scored.append(args) or 0)
    out = tmp_path / "scored"

    code = main(["gh", "score", "--resolved", str(tmp_path / "resolved"), "--data", str(tmp_path / "data"), "--out", str(out), *flags])

    captured = capsys.readouterr()
    assert code == 1 and scored == [] and not out.exists()
    assert "network could not be cut" in captured.err and "SITE_BUILDER_REQUIRE_ISOLATION" in captured.err


def test_scoring_goes_on_without_the_cut_when_nothing_demands_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(github_cli, "offline_prefix", lambda: None)
    monkeypatch.delenv("SITE_BUILDER_OFFLINE", raising=False)
    monkeypatch.delenv("SITE_BUILDER_REQUIRE_ISOLATION", raising=False)
    monkeypatch.setattr(github_cli, "_score_here", lambda args: 0)

    assert main(["gh", "score", "--resolved", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    assert "network: NOT cut" in capsys.readouterr().out
