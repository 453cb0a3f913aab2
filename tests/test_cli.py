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
