"""``site-builder demo``: a self-contained workspace, evaluated, built and served.

The demo replays participants' successive versions at their dates, exactly as
the pipeline would have recorded them over the past weeks, so the boards, the
history chart, the failed list and (for the ended challenge) the private board
all have something to show.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from pathlib import Path

from site_builder.errors import SiteBuilderError


def _replace_folder(source: Path, target: Path) -> None:
    """The participant's folder now holds exactly this version."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)


def replay(workspace, *, progress: bool = True, workers: int | None = None) -> list:  # type: ignore[no-untyped-def]
    """Evaluate each step of the workspace at its own date; return the outcomes in step order.

    Every step is evaluated from its own copy of the version folder, so steps
    run side by side on all cores (each record is its own file and carries its
    own date, so the order of evaluation changes nothing). Afterwards each
    participant's folder in ``submissions/`` holds their latest version.
    """
    import os
    import tempfile
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    from site_builder.evaluate import evaluate_submission, load_solution
    from site_builder.spec import load_challenge
    from site_builder.submission import load_submission

    identity = workspace.key_file.read_text(encoding="utf-8")
    slugs = sorted({step.challenge for step in workspace.steps})
    challenges = {slug: load_challenge(workspace.root / "challenges" / slug) for slug in slugs}
    solutions = {slug: load_solution(challenges[slug], identity) for slug in slugs}
    results = workspace.root / "results"
    lock = threading.Lock()

    with tempfile.TemporaryDirectory(prefix="site-builder-demo-") as scratch, tqdm(
        total=len(workspace.steps), desc="scoring the demo", unit="submission", disable=not progress, file=sys.stderr
    ) as bar:

        def evaluate_step(index: int):  # type: ignore[no-untyped-def]
            step = workspace.steps[index]
            challenge = challenges[step.challenge]
            folder = Path(scratch) / str(index) / step.participant
            shutil.copytree(step.version, folder)
            outcome = evaluate_submission(
                challenge,
                load_submission(folder, challenge),
                results=results,
                solution=lambda: solutions[challenge.slug],
                submitted_at=step.submitted_at,
                scored_at=step.submitted_at,
            )
            with lock:
                bar.update(1)
            return outcome

        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            outcomes = list(pool.map(evaluate_step, range(len(workspace.steps))))

    latest = {(step.challenge, step.participant): step for step in workspace.steps}
    for (slug, login), step in sorted(latest.items()):
        _replace_folder(step.version, workspace.root / "submissions" / slug / login)
    return outcomes


def run_demo(directory: Path, *, serve_site: bool, port: int, now: datetime) -> int:
    """Create (or reuse) the demo workspace in ``directory``, then build and serve."""
    from site_builder.evaluate import summary_table
    from site_builder.cli import print_build_report
    from site_builder.examples import DEMO_KEY_FILE, write_demo_workspace
    from site_builder.render import build_site

    directory = Path(directory)
    if (directory / DEMO_KEY_FILE).exists():
        print(f"{directory} already holds a demo; rebuilding its site (delete the folder for a fresh one)", file=sys.stderr)
    else:
        if directory.exists() and any(directory.iterdir()):
            raise SiteBuilderError("exists and is not empty; choose a new folder for the demo", path=directory)
        print(f"creating the demo workspace in {directory}", file=sys.stderr)
        workspace = write_demo_workspace(directory, now=now)
        print(summary_table(replay(workspace)))
    site = directory / "_site"
    report = build_site(directory, directory / "results", site, now=now)
    print_build_report(report)
    print(f"site: {site.resolve() / 'index.html'}")
    if serve_site:
        from site_builder.serve import serve

        serve(site, port=port)
    return 0
