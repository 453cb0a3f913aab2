"""Run every benchmark of issue 6 and print each target beside its measured value.

    python benchmarks/run.py                 # sites of 500 and 2,000 submissions: about 6 minutes on 2 cores
    python benchmarks/run.py --large         # and 10,000 submissions: 9 minutes in all (17 on a busy machine)
    python benchmarks/run.py --sizes 500 --skip-tools --json out.json

Site builds run the CLI (``python -m site_builder build``) as a process, as
Hugo and MkDocs run, so start-up counts for everyone. Each timing is the
fastest of a few runs: the machine may be shared, and the fastest run is the
one least disturbed. Every build's output is compared byte for byte with a
reference build.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import scoring, ssg, synthetic  # noqa: E402

CHALLENGES = 4
INCREMENT_CHALLENGE = "challenge-01"  # open, so the new submission is ranked
REPEATS = 3
BIG_DATA_ROWS = 1_000_000  # rows of training data, and of test inputs, in the big-data site


@dataclass
class Target:
    """One line of the verdict: what was measured, against what bound."""

    name: str
    measured: float
    bound: float
    unit: str
    higher_is_better: bool = False
    note: str = ""

    @property
    def met(self) -> bool:
        return self.measured >= self.bound if self.higher_is_better else self.measured <= self.bound

    @property
    def margin(self) -> str:
        """How far inside (or outside) the bound, as a factor."""
        if not self.measured or not self.bound:
            return "-"
        ratio = self.measured / self.bound if self.higher_is_better else self.bound / self.measured
        return f"{ratio:.2f}x {'inside' if ratio >= 1 else 'outside'}"


@dataclass
class Report:
    machine: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def fastest(action: Callable[[], Any], repeats: int = REPEATS, setup: Callable[[], Any] | None = None) -> float:
    """The best of ``repeats`` timings of ``action``; ``setup`` runs before each, untimed."""
    best = float("inf")
    for _ in range(repeats):
        if setup is not None:
            setup()
        best = min(best, timed(action))
    return best


def run(command: Sequence[str], **options: Any) -> None:
    completed = subprocess.run(list(command), capture_output=True, text=True, **options)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")


def tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# --------------------------------------------------------------------------
# The machine.


def machine() -> dict[str, Any]:
    import numpy
    import pandas
    import pygments
    import sklearn

    cpu = ""
    if Path("/proc/cpuinfo").is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "")
    memory = ""
    if Path("/proc/meminfo").is_file():
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 2**20:.0f} GiB"
    return {
        "cpu": cpu or platform.processor(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory": memory,
        "system": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
        "pygments": pygments.__version__,
        "hugo": _version(["hugo", "version"]),
        "mkdocs": _version([sys.executable, "-m", "mkdocs", "--version"]),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _version(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "not installed"


# --------------------------------------------------------------------------
# Site builds: cold, warm, incremental.


def build_command(repository: synthetic.SyntheticRepository, out: Path) -> list[str]:
    now = repository.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [sys.executable, "-m", "site_builder", "build", "--root", str(repository.root), "--out", str(out),
            "--now", now, "--repository-url", repository.repository_url]  # fmt: skip


def site_benchmark(base: Path, submissions: int, report: Report) -> dict[str, float]:
    """Cold, warm and incremental builds of a synthetic site of ``submissions`` submissions."""
    log(f"site of {submissions} submissions: generating")
    repository = synthetic.make_repository(base / f"site-{submissions}", CHALLENGES, submissions // CHALLENGES)
    out = base / f"site-{submissions}-out"
    cache = repository.root / ".cache"
    command = build_command(repository, out)
    figures: dict[str, float] = {}

    def from_nothing() -> None:
        # Removing the last build's site and cache is not part of a build: it is not timed.
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)

    log(f"site of {submissions}: cold builds")
    figures["cold_s"] = fastest(lambda: run(command), 1 if submissions > 2000 else REPEATS, setup=from_nothing)
    reference = tree(out)
    figures["pages"] = sum(1 for name in reference if name.endswith(".html"))
    log(f"site of {submissions}: warm builds")
    figures["warm_s"] = fastest(lambda: run(command))
    _check_same(tree(out), reference, f"warm build of {submissions}", report)
    log(f"site of {submissions}: incremental builds")
    # Best of three at every size, as the warm builds: one run on a shared 2-core machine varies by a third.
    figures["incremental_s"] = _incremental(repository, out, command, report, repeats=REPEATS)
    figures["ci_fresh_output_warm_cache_s"] = _fresh_output(repository, base, command, out, report)
    return figures


def big_data_benchmark(base: Path, rows: int) -> dict[str, float]:
    """A challenge whose training and test data hold ``rows`` rows each, its classes left to
    be read from the training data: builds cold and with nothing changed.

    No target: the figure shows what a large dataset costs a build (the row
    counts and the labels are kept by the files' digests).
    """
    log(f"site with {rows:,}-row data files: generating")
    repository = synthetic.make_repository(base / "site-big-data", 1, 20, rows=rows, declare_classes=False)
    out = base / "site-big-data-out"
    command = build_command(repository, out)
    train = repository.root / "challenges" / repository.challenges[0] / "data" / "train.csv"
    log(f"site with {rows:,}-row data files: builds")
    shutil.rmtree(repository.root / ".cache", ignore_errors=True)
    figures: dict[str, float] = {"rows": rows, "train_mb": train.stat().st_size / 1e6}
    figures["cold_s"] = timed(lambda: run(command))
    figures["warm_s"] = fastest(lambda: run(command))
    return figures


def _incremental(repository: synthetic.SyntheticRepository, out: Path, command: list[str], report: Report, repeats: int) -> float:
    """One new submission, built; then removed and built again, so each repeat starts from the same site."""
    times = []
    for repeat in range(repeats):
        added = synthetic.add_submission(repository, INCREMENT_CHALLENGE, seed=1000 + repeat)
        times.append(timed(lambda: run(command)))
        if repeat == 0:
            _check_against_fresh_output(repository, out, report)
        _remove_submission(repository, added)
        run(command)
    return min(times)


def _remove_submission(repository: synthetic.SyntheticRepository, page: str) -> None:
    """Undo add_submission: its record and its snapshot."""
    _, slug, _, participant, name = page.split("/")
    submission_id = name.removesuffix(".html")
    (repository.results / slug / f"{participant}--{submission_id}.json").unlink()
    shutil.rmtree(repository.results / slug / "files" / participant / submission_id)


def _check_against_fresh_output(repository: synthetic.SyntheticRepository, out: Path, report: Report) -> None:
    """The incremental site equals one rendered in full (every page rendered again, into an empty folder)."""
    with tempfile.TemporaryDirectory(dir=out.parent) as folder:
        fresh = Path(folder) / "site"
        run(build_command(repository, fresh))
        _check_same(tree(out), tree(fresh), "incremental build", report)


def _fresh_output(repository: synthetic.SyntheticRepository, base: Path, command: list[str], out: Path, report: Report) -> float:
    """A warm cache and an empty output folder, as on a CI runner that restores only the cache."""
    fresh = base / "fresh-output"
    shutil.rmtree(fresh, ignore_errors=True)
    seconds = timed(lambda: run(build_command(repository, fresh)))
    _check_same(tree(fresh), tree(out), "build into an empty folder with a warm cache", report)
    shutil.rmtree(fresh)
    return seconds


def _check_same(found: dict[str, bytes], expected: dict[str, bytes], what: str, report: Report) -> None:
    different = sorted(name for name in set(found) | set(expected) if found.get(name) != expected.get(name))
    if different:
        report.notes.append(f"NOT IDENTICAL: {what}: {len(different)} files differ, e.g. {different[:3]}")
        log(f"NOT IDENTICAL: {what}: {different[:5]}")


# --------------------------------------------------------------------------
# Hugo and MkDocs on the same 500 code pages.


# What to time, and what to do untimed before it (or None).
Timing = tuple[Callable[[], Any], Callable[[], Any] | None]


def tools_benchmark(base: Path, repository: synthetic.SyntheticRepository, out: Path) -> dict[str, float | None]:
    """Hugo, MkDocs and site-builder on the same 500 code pages, in turns.

    The runs alternate (ours, Hugo, MkDocs, ours, ...) so that a change in the
    machine's load falls on all three alike; each keeps its fastest run.
    """
    sources = sorted(repository.root.glob("results/*/files/*/*/estimator.py"))[:500]
    pages = [("-".join(path.parts[-5:-1]).replace("-files", ""), path.read_text(encoding="utf-8")) for path in sources]
    hugo_project, mkdocs_project = base / "hugo", base / "mkdocs"
    ssg.write_hugo_project(hugo_project, pages)
    ssg.write_mkdocs_project(mkdocs_project, pages)
    hugo_out, mkdocs_out = base / "hugo-out", base / "mkdocs-out"
    ours = build_command(repository, out)
    cache = repository.root / ".cache"
    # Cold: each tool's last output (and our cache) is removed before the timed build, untimed.
    cold: dict[str, Timing] = {
        "site_builder": (lambda: run(ours), lambda: (shutil.rmtree(out, ignore_errors=True), shutil.rmtree(cache, ignore_errors=True)))
    }
    warm: dict[str, Timing] = {"site_builder": (lambda: run(ours), None)}
    hugo = ssg.hugo_command(hugo_project, hugo_out)
    if hugo is not None:
        cold["hugo"] = (lambda: ssg.run_quietly(hugo), lambda: shutil.rmtree(hugo_out, ignore_errors=True))
        warm["hugo"] = (lambda: ssg.run_quietly(hugo), None)
    mkdocs = ssg.mkdocs_command(mkdocs_project, mkdocs_out)
    if mkdocs is not None:
        dirty = ssg.mkdocs_command(mkdocs_project, mkdocs_out, dirty=True)
        cold["mkdocs"] = (lambda: ssg.run_quietly(mkdocs), lambda: shutil.rmtree(mkdocs_out, ignore_errors=True))
        warm["mkdocs"] = (lambda: ssg.run_quietly(dirty), None)
    log(f"{', '.join(cold)} in turns on {len(pages)} code pages: cold")
    figures: dict[str, float | None] = {"pages": len(pages), **_in_turns(cold, 2, "cold_s")}
    log("in turns: again with nothing changed")
    figures.update(_in_turns(warm, REPEATS, "warm_s"))
    return figures


def _in_turns(actions: dict[str, Timing], repeats: int, suffix: str) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, (action, setup) in actions.items():
            best[name] = min(best.get(name, float("inf")), fastest(action, 1, setup=setup))
    return {f"{name}_{suffix}": seconds for name, seconds in best.items()}


# --------------------------------------------------------------------------
# Scoring, memory, rescoring.


def scoring_benchmark(base: Path, rows: int, report: Report) -> dict[str, float]:
    log(f"scoring {rows} rows: generating")
    folder = base / f"scoring-{rows}"
    case = scoring.make_case(folder, rows)
    predictions = scoring.write_predictions(case, folder / "predictions.csv", seed=1)
    floor_scores = scoring.floor_scores(predictions, case.solution_csv)
    ours = scoring.site_builder_scores(case, predictions)
    _check_scores(ours, floor_scores, rows, report)
    log(f"scoring {rows} rows: timing")
    figures = {
        "floor_s": fastest(lambda: scoring.floor_scores(predictions, case.solution_csv)),
        "site_builder_s": fastest(lambda: scoring.site_builder_scores(case, predictions)),
        "csv_mb": (predictions.stat().st_size + case.solution_csv.stat().st_size) / 2**20,
        "predictions_mb": predictions.stat().st_size / 2**20,
    }
    log(f"scoring {rows} rows: memory")
    for mode in ("floor", "site_builder"):
        figures[f"{mode}_peak_mb"] = _peak_memory(mode, case, predictions)
    return figures


def _check_scores(found: dict[str, Any], expected: dict[str, Any], rows: int, report: Report) -> None:
    for split, values in expected.items():
        for metric, value in values.items():
            if abs(found[split][metric] - value) > 1e-9 * max(1.0, abs(value)):
                report.notes.append(f"SCORES DIFFER at {rows} rows: {split} {metric} {found[split][metric]} vs {value}")


def _peak_memory(mode: str, case: scoring.ScoringCase, predictions: Path) -> float:
    """Peak memory of one scoring, in a fresh process (see scoring.peak_growth_mb)."""
    environment = {**os.environ, "SITE_BUILDER_AGE_KEY": case.identity, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    command = [sys.executable, "-m", "benchmarks.scoring", "floor" if mode == "floor" else "ours",
               str(case.directory), str(case.solution_csv), str(predictions)]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, env=environment, check=True).stdout
    return float(output.strip().splitlines()[-1])


def rescoring_benchmark(base: Path, rows: int, files: int) -> dict[str, float]:
    log(f"rescoring {files} submissions of {rows} rows")
    folder = base / f"rescoring-{rows}"
    case = scoring.make_case(folder, rows, seed=5)
    paths = [scoring.write_predictions(case, folder / f"predictions-{index}.csv", seed=100 + index) for index in range(files)]
    scoring.rescore_all(case, paths[:2])  # imports and first-use set-up, as in a long pipeline step
    seconds = fastest(lambda: scoring.rescore_all(case, paths), 2)
    return {"submissions": files, "seconds": seconds, "per_second": files / seconds}


# --------------------------------------------------------------------------
# CLI start-up.


def startup_benchmark(base: Path) -> dict[str, float]:
    log("CLI start-up")
    python = [sys.executable, "-m", "site_builder"]
    key = base / "startup.key"
    figures = {
        "help_s": _startup(python + ["--help"]),
        "version_s": _startup(python + ["--version"]),
        "build_help_s": _startup(python + ["build", "--help"]),
        "keygen_s": _startup(python + ["private", "keygen", "-o", str(key)], before=lambda: key.unlink(missing_ok=True)),
        "python_alone_s": _startup([sys.executable, "-c", "pass"]),
    }
    script = shutil.which("site-builder")
    if script:
        figures["console_script_help_s"] = _startup([script, "--help"])
    return figures


def _startup(command: list[str], before: Callable[[], Any] = lambda: None, repeats: int = 9) -> float:
    """The median of several starts: start-up is short and noisy, one slow start says little."""
    times = []
    for _ in range(repeats):
        before()
        times.append(timed(lambda: run(command)))
    return sorted(times)[len(times) // 2]


# --------------------------------------------------------------------------
# The verdict.


def targets(report: Report, sizes: Sequence[int]) -> list[Target]:
    figures = report.figures
    tools, found = figures.get("tools", {}), []
    if tools.get("hugo_cold_s"):
        found.append(Target("cold build of 500 code pages <= Hugo cold / 2", tools["site_builder_cold_s"], tools["hugo_cold_s"] / 2, "s",
                            note=f"Hugo {tools['hugo_cold_s']:.2f} s, in turns"))  # fmt: skip
    if tools.get("mkdocs_cold_s"):
        found.append(Target("cold build of 500 code pages <= MkDocs cold / 4", tools["site_builder_cold_s"], tools["mkdocs_cold_s"] / 4, "s",
                            note=f"MkDocs {tools['mkdocs_cold_s']:.2f} s, in turns"))  # fmt: skip
    if tools.get("mkdocs_warm_s"):
        found.append(Target("warm rebuild (nothing changed) <= 2 x MkDocs --dirty", tools["site_builder_warm_s"], 2 * tools["mkdocs_warm_s"], "s",
                            note=f"MkDocs --dirty {tools['mkdocs_warm_s']:.2f} s, in turns; output identical to cold"))  # fmt: skip
    largest = max(sizes)
    site_large = figures.get(f"site_{largest}", {})
    if site_large:
        name = "one new submission on a 10,000-submission site < 2 s" if largest >= 10_000 else f"one new submission on a {largest:,}-submission site < 2 s (10,000: --large)"
        found.append(Target(name, site_large["incremental_s"], 2.0, "s"))
    for rows in (100_000, 1_000_000):
        case = figures.get(f"scoring_{rows}")
        if case:
            found.append(Target(f"scoring {rows:,} rows <= 1.5 x floor", case["site_builder_s"], 1.5 * case["floor_s"], "s",
                                note=f"floor {case['floor_s']:.3f} s"))  # fmt: skip
            found.append(Target(f"peak memory scoring {rows:,} rows < 3 x CSV size", case["site_builder_peak_mb"], 3 * case["csv_mb"], "MB",
                                note=f"CSVs read {case['csv_mb']:.1f} MB; floor {case['floor_peak_mb']:.1f} MB"))  # fmt: skip
    rescoring = figures.get("rescoring")
    if rescoring:
        found.append(Target("rescoring 100k-row predictions >= 20 submissions/s", rescoring["per_second"], 20.0, "/s", higher_is_better=True))
    startup = figures.get("startup")
    if startup:
        found.append(Target("site-builder --help < 0.3 s", startup["help_s"], 0.3, "s",
                            note=f"python alone {startup['python_alone_s']:.3f} s"))  # fmt: skip
    return found


def print_report(report: Report, command: str) -> None:
    machine_ = report.machine
    print(f"\nMachine: {machine_.get('cpu')}, {machine_.get('cores')} cores, {machine_.get('memory')}; "
          f"Python {machine_.get('python')}; load average at start {machine_.get('load_average_at_start')}")  # fmt: skip
    print(f"Hugo: {machine_.get('hugo')}; MkDocs: {machine_.get('mkdocs')}\n")
    for name, figures in report.figures.items():
        shown = ", ".join(f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}" for key, value in figures.items())
        print(f"  {name}: {shown}")
    print()
    width = max((len(target.name) for target in report.targets), default=10)
    print(f"  {'target':<{width}}  {'measured':>10}  {'bound':>10}  verdict  margin          reference")
    for target in report.targets:
        verdict = "MET" if target.met else "NOT MET"
        print(f"  {target.name:<{width}}  {target.measured:>8.3f}{target.unit:<2}  {target.bound:>8.3f}{target.unit:<2}  "
              f"{verdict:<7}  {target.margin:<14}  {target.note}")  # fmt: skip
    for note in report.notes:
        print(f"  note: {note}")
    print(f"\nReproduce: {command}")


def _compile_package() -> None:
    """Byte-compile site_builder and its templates as a used install has them, so no timed start compiles them.

    A checkout run from source (or an environment with PYTHONDONTWRITEBYTECODE
    set) would otherwise compile the modules and templates again at every start of the CLI.
    """
    import compileall

    import site_builder
    from site_builder.render import compile_shipped_templates

    compileall.compile_dir(Path(site_builder.__file__).parent, quiet=1)
    compile_shipped_templates()


def main(arguments: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="add the 10,000-submission site (about 3 minutes more)")
    parser.add_argument("--sizes", default=None, help="site sizes, comma-separated (default 500,2000; with --large 500,2000,10000)")
    parser.add_argument("--skip-tools", action="store_true", help="do not run Hugo and MkDocs")
    parser.add_argument("--rescore-files", type=int, default=30, help="predictions files rescored (default 30)")
    parser.add_argument("--workdir", default=None, help="keep the generated data here (default: a temporary folder)")
    parser.add_argument("--json", default=None, help="also write the figures and the verdict as JSON")
    options = parser.parse_args(arguments)
    sizes = [int(size) for size in options.sizes.split(",")] if options.sizes else [500, 2000] + ([10_000] if options.large else [])
    base = Path(options.workdir) if options.workdir else Path(tempfile.mkdtemp(prefix="site-builder-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _compile_package()
    report = Report(machine=machine())
    try:
        for size in sizes:
            report.figures[f"site_{size}"] = site_benchmark(base, size, report)
        if not options.skip_tools and 500 in sizes:
            repository = synthetic.SyntheticRepository(base / "site-500", base / "site-500" / "results", "", (), 500)
            report.figures["tools"] = tools_benchmark(base / "tools", repository, base / "site-500-out")
        report.figures["big_data"] = big_data_benchmark(base, BIG_DATA_ROWS)
        for rows in (100_000, 1_000_000):
            report.figures[f"scoring_{rows}"] = scoring_benchmark(base, rows, report)
        report.figures["rescoring"] = rescoring_benchmark(base, 100_000, options.rescore_files)
        report.figures["startup"] = startup_benchmark(base)
    finally:
        if not options.workdir:
            shutil.rmtree(base, ignore_errors=True)
    report.machine["load_average_at_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    report.machine["total_minutes"] = round((time.perf_counter() - started) / 60, 1)
    report.targets = targets(report, sizes)
    command = "python benchmarks/run.py" + (" " + " ".join(arguments if arguments is not None else sys.argv[1:])).rstrip()
    print_report(report, command)
    print(f"Total: {report.machine['total_minutes']} minutes")
    if options.json:
        document = {"machine": report.machine, "figures": report.figures, "notes": report.notes,
                    "targets": [{**asdict(target), "met": target.met, "margin": target.margin} for target in report.targets]}  # fmt: skip
        Path(options.json).write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if all(target.met for target in report.targets) and not report.notes else 1


if __name__ == "__main__":
    sys.exit(main())
