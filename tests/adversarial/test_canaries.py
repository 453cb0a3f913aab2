"""No canary anywhere: not the age identity, not GITHUB_TOKEN, not the SSH key, not a single label.

The CLI ran with the secrets in its environment and the hostile cases tried
every way out (environment, files, network, error messages). Whatever
reached the outside (console output of every verb, the results store, the
site, a pull-request comment) is searched byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.conftest import Workspace

pytestmark = pytest.mark.slow


def leaks(workspace: Workspace, blobs: dict[str, bytes]) -> list[str]:
    found = []
    for canary_name, canary in workspace.canaries().items():
        needle = canary.encode()
        found.extend(f"{canary_name} in {where}" for where, blob in blobs.items() if needle in blob)
    return found


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file() and not path.is_symlink()}


def test_the_canaries_are_real(workspace: Workspace) -> None:
    """The search would find them: they are in the places meant to hold them."""
    assert workspace.identity.encode() in workspace.key_next_to_repo.read_bytes()
    assert workspace.ssh_key.encode() in (workspace.home / ".ssh" / "id_ed25519").read_bytes()
    assert len(workspace.labels) == 80 and "31337.0000042" in workspace.labels
    assert workspace.environment()["GITHUB_TOKEN"] == workspace.token


def test_no_canary_in_any_console_output(workspace: Workspace) -> None:
    assert {"evaluate", "build"} <= set(workspace.logs)
    assert leaks(workspace, {f"{verb} output": log.encode() for verb, log in workspace.logs.items()}) == []


def test_no_canary_in_the_results_store(workspace: Workspace) -> None:
    blobs = files_under(workspace.results)
    assert any(name.endswith(".json") for name in blobs)
    assert leaks(workspace, blobs) == []


def test_no_canary_in_any_page_or_download_of_the_site(workspace: Workspace) -> None:
    blobs = files_under(workspace.site)
    assert len(blobs) > 20
    assert leaks(workspace, blobs) == []


def test_no_canary_in_a_pull_request_comment(workspace: Workspace) -> None:
    """The sticky comment the pipeline posts, rendered for every hostile record."""
    from site_builder.github import CommentView, render_comment, sanitize_error

    comments = {}
    for login, record in workspace.records().items():
        view = CommentView(
            status=record["status"],
            challenge=record["challenge"],
            participant=login,
            submission_id=record["submission_id"],
            public_scores=dict(record["scores"].get("public", {})),
            metrics=sorted(record["scores"].get("public", {})),
            error=sanitize_error(record["error"]) if record["error"] else None,
        )
        comments[login] = render_comment(view).encode()
    assert any(b"REPORT" in comment for comment in comments.values())
    assert leaks(workspace, comments) == []


def test_no_canary_left_in_temporary_folders(workspace: Workspace) -> None:
    """The sandbox's working folders are gone, and with them any copy of the data."""
    leftovers = [path for path in Path("/tmp").glob("site-builder-run-*") if path.stat().st_mtime > workspace.base.stat().st_mtime]
    blobs: dict[str, bytes] = {}
    for folder in leftovers:
        blobs.update(files_under(folder))
    assert leaks(workspace, blobs) == []
