"""The CLI is thin and starts fast: --help imports no heavy library."""

from __future__ import annotations

import subprocess
import sys


def test_help_lists_every_verb_and_imports_nothing_heavy() -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['site-builder', '--help']\n"
        "try:\n"
        "    runpy.run_module('site_builder', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'numpy', 'jinja2', 'pygments', 'github', 'pyrage') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    for verb in ("schema", "private", "run", "score", "evaluate", "rank", "check", "build", "serve", "demo"):
        assert verb in output
    assert "HEAVY []" in output


def test_console_script_and_module_agree() -> None:
    module = subprocess.run([sys.executable, "-m", "site_builder", "--version"], capture_output=True, text=True)
    assert module.returncode == 0 and "site-builder" in module.stdout


def test_a_build_run_as_a_program_reports_and_ends_at_once_with_its_output_flushed(tmp_path) -> None:  # noqa: ANN001
    """``build`` ends the process without the slow teardown; what it printed must still arrive, whole."""
    from tests.site_fixture import make_site_fixture

    fixture = make_site_fixture(tmp_path / "base")
    command = [sys.executable, "-m", "site_builder", "build", "--root", str(fixture.root), "--results", str(fixture.results),
               "--out", str(tmp_path / "site"), "--now", "2026-12-01T12:00:00Z"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("BuildReport(") and done.stdout.endswith(")\n") and "warnings=" in done.stdout
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "results.json").is_file()

    refused = subprocess.run([*command[:-4], "--out", str(fixture.results), "--now", "2026-12-01T12:00:00Z"],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert refused.returncode == 1 and "choose another --out" in refused.stderr
