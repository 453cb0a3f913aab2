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
    assert done.stdout.startswith(f"built {tmp_path / 'site'}: ") and done.stdout.endswith("records\n"), done.stdout
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "results.json").is_file()

    refused = subprocess.run([*command[:-4], "--out", str(fixture.results), "--now", "2026-12-01T12:00:00Z"],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert refused.returncode == 1 and "choose another --out" in refused.stderr


def test_a_build_without_cache_writes_none_and_the_same_site(tmp_path) -> None:  # noqa: ANN001
    """``--no-cache`` (the Pages workflow's: its runner throws the cache away) builds from scratch, writing no cache."""
    from site_builder.cli import main
    from tests.site_fixture import make_site_fixture, site_tree

    fixture = make_site_fixture(tmp_path / "base")
    common = ["--root", str(fixture.root), "--results", str(fixture.results), "--now", "2026-12-01T12:00:00Z"]
    assert main(["build", *common, "--out", str(tmp_path / "plain"), "--no-cache"]) == 0
    assert not (fixture.root / ".cache").exists()
    assert main(["build", *common, "--out", str(tmp_path / "cached")]) == 0
    assert (fixture.root / ".cache" / "site-builder").is_dir()
    assert site_tree(tmp_path / "plain") == site_tree(tmp_path / "cached")


def test_the_build_summary_says_what_was_built_and_what_was_left_out(tmp_path, capsys) -> None:  # noqa: ANN001
    from site_builder.cli import print_build_report
    from site_builder.render import BuildReport

    report = BuildReport(out=tmp_path / "site", challenges=2, records=1, pages=12, files=20, changed=3, removed=1,
                         warnings=("record 'x'/'a'/'1': skipped, no such challenge",), rendered=4)  # fmt: skip
    print_build_report(report)
    captured = capsys.readouterr()
    assert captured.out == (
        f"built {tmp_path / 'site'}: 12 pages (4 rendered, 8 kept from the last build), 3 files written, 1 removed; "
        "2 challenges, 1 record; 1 warning\n"
    )
    assert captured.err == "warning: record 'x'/'a'/'1': skipped, no such challenge\n"
