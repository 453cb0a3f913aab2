"""Rebuild the golden site from the fixture: ``python -m tests.regenerate_golden``.

Run it after an intended change to the pages, then review the diff of
``tests/golden/site`` like any other change.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from site_builder.render import build_site
from tests.site_fixture import make_site_fixture

GOLDEN = Path(__file__).resolve().parent / "golden" / "site"


def build_fixture_site(base: Path) -> Path:
    """Build the fixture repository under ``base`` into ``base/site``."""
    fixture = make_site_fixture(base)
    out = base / "site"
    build_site(fixture.root, fixture.results, out, now=fixture.now, repository_url=fixture.repository_url)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        built = build_fixture_site(Path(temporary))
        if GOLDEN.exists():
            shutil.rmtree(GOLDEN)
        shutil.copytree(built, GOLDEN)
    count = sum(1 for path in GOLDEN.rglob("*") if path.is_file())
    print(f"wrote {count} files to {GOLDEN}")


if __name__ == "__main__":
    main()
