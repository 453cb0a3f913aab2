"""The same code pages built by Hugo and by MkDocs: the bars to beat.

Each page holds one submission's ``estimator.py`` as a fenced Python block,
highlighted at build time with line numbers (Chroma in Hugo, Pygments through
``codehilite`` in MkDocs), the closest either tool comes to a submission page.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

HUGO_CONFIG = """\
baseURL = "http://example.org/"
title = "Code pages"
disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]
[markup.highlight]
  lineNos = true
  lineNumbersInTable = true
  anchorLineNos = true
  noClasses = false
"""

HUGO_SINGLE = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }}</title></head>
<body><main><h1>{{ .Title }}</h1>{{ .Content }}</main></body></html>
"""

HUGO_LIST = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }}</title></head>
<body><main><h1>{{ .Title }}</h1><ul>{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul></main></body></html>
"""

MKDOCS_CONFIG = """\
site_name: Code pages
use_directory_urls: false
markdown_extensions:
  - codehilite:
      linenums: true
"""


def page_markdown(title: str, code: str) -> str:
    fence = "```"
    return f"# {title}\n\n{fence}python\n{code}{fence}\n"


def write_hugo_project(folder: Path, pages: Sequence[tuple[str, str]]) -> None:
    """A minimal Hugo site: one content page per (name, code), plain layouts."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "layouts" / "_default").mkdir(parents=True)
    (folder / "content" / "submissions").mkdir(parents=True)
    (folder / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    (folder / "layouts" / "_default" / "single.html").write_text(HUGO_SINGLE, encoding="utf-8")
    (folder / "layouts" / "_default" / "list.html").write_text(HUGO_LIST, encoding="utf-8")
    (folder / "layouts" / "index.html").write_text(HUGO_LIST, encoding="utf-8")
    for name, code in pages:
        front = f'---\ntitle: "{name}"\n---\n\n'
        (folder / "content" / "submissions" / f"{name}.md").write_text(front + page_markdown(name, code).split("\n", 2)[2], encoding="utf-8")


def write_mkdocs_project(folder: Path, pages: Sequence[tuple[str, str]]) -> None:
    """A default MkDocs site (its own theme and navigation) with codehilite line numbers."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "docs" / "submissions").mkdir(parents=True)
    (folder / "mkdocs.yml").write_text(MKDOCS_CONFIG, encoding="utf-8")
    (folder / "docs" / "index.md").write_text("# Code pages\n", encoding="utf-8")
    for name, code in pages:
        (folder / "docs" / "submissions" / f"{name}.md").write_text(page_markdown(name, code), encoding="utf-8")


def hugo_command(project: Path, out: Path) -> list[str] | None:
    hugo = shutil.which("hugo")
    return None if hugo is None else [hugo, "--quiet", "--source", str(project), "--destination", str(out)]


def mkdocs_command(project: Path, out: Path, *, dirty: bool = False) -> list[str] | None:
    """``python -m mkdocs`` from this interpreter: MkDocs installed in the benchmark's environment."""
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        return None
    command = [sys.executable, "-m", "mkdocs", "build", "--quiet", "--config-file", str(project / "mkdocs.yml"), "--site-dir", str(out)]
    return command + (["--dirty"] if dirty else ["--clean"])


def run_quietly(command: Sequence[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{textwrap.shorten(completed.stderr, 2000)}")
