"""A small repository for site tests: three challenges and a handful of records.

``alpha`` has ended (so its private board and ``move`` column show) and holds
hostile display names, team names, READMEs and file names, a failed and a late
submission. ``beta`` is open: its private scores must appear nowhere. ``gamma``
is upcoming and empty. Everything is fixed, so a build is byte-for-byte
repeatable and can be compared with the golden tree in ``tests/golden/site``.

The end of the module reads built pages back: a small element tree over
``html.parser`` and a link checker.
"""

from __future__ import annotations

import contextlib
import html.parser
import posixpath
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from site_builder.record import build_record, sha256_bytes, write_record

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
REPOSITORY_URL = "https://github.com/example/challenges"
# A private score of the open challenge: it must not be published before the end.
SECRET_PRIVATE_SCORE = 98.7654321
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_TEAM = "<img src=x onerror=alert(1)>"
HOSTILE_FILE = "<img src=x onerror=alert(3)>.py"
# A 1x1 transparent PNG, so a README image is copied into the site.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@dataclass(frozen=True)
class SiteFixture:
    root: Path
    results: Path
    now: datetime = NOW
    repository_url: str = REPOSITORY_URL


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


ALPHA_SPEC = """\
    title: Customer churn
    summary: Predict which customers leave within a quarter.
    kind: code
    id_column: id
    target: churn
    prediction: proba
    positive_class: leave
    metrics: [roc_auc, accuracy]
    tags: [tabular, binary]
    data:
      train: data/train.csv
      test: data/test.csv
      solution: private/solution.csv.age
    schedule:
      start: 2026-10-01T00:00:00Z
      end: 2026-11-15T00:00:00Z
    """

ALPHA_README = """\
    # Customer churn

    Predict whether a customer will **leave**. The training data is in
    [train.csv](data/train.csv); see the plot below.

    ![Churn by plan](figures/plot.png)

    | plan  | customers |
    |-------|----------:|
    | basic | 6         |
    | pro   | 4         |

    ```python
    from sklearn.linear_model import LogisticRegression
    ```

    <script>alert("readme")</script>
    <img src=x onerror=alert(1)>
    <a href="javascript:alert(1)" onclick="alert(2)">click me</a>
    [also click](javascript:alert(3))
    ![tracker](https://evil.example/pixel.png)
    [the answers](private/solution.csv.age) and [outside](../../etc/passwd)
    <iframe src="https://evil.example"></iframe>
    <style>body { display: none }</style>
    """

BETA_SPEC = """\
    title: House prices
    summary: Estimate the sale price of a house.
    kind: predictions
    id_column: house
    target: price
    metrics: [rmse, r2]
    tags: [regression]
    data:
      train: data/train.csv
      test: data/test.csv
      solution: private/solution.csv.age
    schedule:
      start: 2026-11-01T00:00:00Z
      end: 2027-01-31T00:00:00Z
    """

GAMMA_SPEC = """\
    title: Iris species
    summary: Name the species of an iris from its measurements.
    kind: predictions
    id_column: id
    target: species
    metrics: [accuracy]
    data:
      train: data/train.csv
      test: data/test.csv
      solution: private/solution.csv.age
    schedule:
      start: 2027-01-01T00:00:00Z
      end: 2027-02-01T00:00:00Z
    """


def _challenge(root: Path, slug: str, spec: str, train: str, test: str, readme: str | None) -> None:
    directory = root / "challenges" / slug
    _write(directory / "challenge.yaml", spec)
    _write(directory / "data" / "train.csv", train)
    _write(directory / "data" / "test.csv", test)
    (directory / "private").mkdir(parents=True, exist_ok=True)
    (directory / "private" / "solution.csv.age").write_bytes(b"age-encryption.org/v1\nnot a real file\n")
    if readme is not None:
        _write(directory / "README.md", readme)


def write_challenges(root: Path) -> None:
    _challenge(
        root,
        "alpha",
        ALPHA_SPEC,
        "id,tenure,plan,churn\n" + "".join(f"c{i},{i * 3},{'pro' if i % 3 else 'basic'},{'leave' if i % 4 == 0 else 'stay'}\n" for i in range(10)),
        "id,tenure,plan\n" + "".join(f"t{i},{i * 2},{'basic' if i % 2 else 'pro'}\n" for i in range(6)),
        ALPHA_README,
    )
    figures = root / "challenges" / "alpha" / "figures"
    figures.mkdir()
    (figures / "plot.png").write_bytes(PIXEL_PNG)
    _challenge(
        root,
        "beta",
        BETA_SPEC,
        "house,rooms,area,price\n" + "".join(f"h{i},{2 + i % 4},{50 + 7 * i},{100000 + 1234 * i}\n" for i in range(12)),
        "house,rooms,area\n" + "".join(f"q{i},{1 + i % 5},{40 + 9 * i}\n" for i in range(5)),
        "# House prices\n\nPredict `price` in euros.\n",
    )
    _challenge(
        root,
        "gamma",
        GAMMA_SPEC,
        "id,sepal,petal,species\n" + "".join(f"i{i},{4 + i / 10:.1f},{1 + i / 5:.1f},{('setosa', 'versicolor', 'virginica')[i % 3]}\n" for i in range(9)),
        "id,sepal,petal\ni100,5.1,1.4\ni101,6.2,4.5\n",
        None,
    )


ESTIMATOR_V1 = """\
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler


    def get_estimator():
        return make_pipeline(StandardScaler(), LogisticRegression())
    """

ESTIMATOR_V2 = """\
    from sklearn.ensemble import HistGradientBoostingClassifier


    def get_estimator():
        # Trees cope with the categorical plan column better.
        return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05)
    """

HOSTILE_README = """\
    # My <script>alert("title")</script> approach

    <img src=x onerror=alert(2)>
    [click](javascript:alert(1)) and [see the code](estimator.py)
    <a href="https://evil.example" onmouseover="alert(4)">a link</a>
    ![remote](https://evil.example/x.png)
    <svg onload=alert(5)><circle r=4 /></svg>
    """


def _files(**contents: str) -> dict[str, bytes]:
    return {name: textwrap.dedent(text).encode("utf-8") for name, text in contents.items()}


def _record(
    results: Path,
    challenge: str,
    participant: str,
    submission_id: str,
    submitted: str,
    *,
    public: dict[str, float] | None = None,
    private: dict[str, float] | None = None,
    files: dict[str, bytes] | None = None,
    error: dict[str, str] | None = None,
    display: dict[str, str] | None = None,
    run: dict[str, Any] | None = None,
    commit: str | None = None,
    pull_request: int | None = None,
) -> None:
    files = files or {}
    record = build_record(
        challenge=challenge,
        participant=participant,
        submission_id=submission_id,
        status="failed" if error else "scored",
        scores=None if error else {"public": public or {}, "private": private or {}},
        run=run if run is not None else {"fit_seconds": 0.42, "predict_seconds": 0.031, "peak_memory_mb": 181.5},
        error=error,
        submitted_at=_at(submitted),
        scored_at=_at(submitted),
        hashes={"code": sha256_bytes(b"".join(files[name] for name in sorted(files)))},
        files=[{"name": name, "size": len(data), "sha256": sha256_bytes(data)} for name, data in sorted(files.items())],
        commit=commit,
        pull_request=pull_request,
        display=display,
    )
    record["tool_version"] = "fixture"  # so a version bump does not change the golden site
    write_record(results, record, files)


def write_alpha_records(results: Path) -> None:
    _record(results, "alpha", "alice", "a1", "2026-10-05T09:30:00",
            public={"roc_auc": 0.812345, "accuracy": 0.75}, private={"roc_auc": 0.79, "accuracy": 0.74},
            files=_files(**{"estimator.py": ESTIMATOR_V1, "submission.yaml": "name: Alice A.\n"}),
            display={"name": "Alice A."})  # fmt: skip
    _record(results, "alpha", "alice", "a2", "2026-10-20T14:00:00",
            public={"roc_auc": 0.867891, "accuracy": 0.8}, private={"roc_auc": 0.84123, "accuracy": 0.78},
            files=_files(**{"estimator.py": ESTIMATOR_V2, "submission.yaml": "name: Alice A.\n",
                            "README.md": "# Gradient boosting\n\nSwitched to trees. See [the code](estimator.py).\n"}),
            display={"name": "Alice A.", "description": "Gradient boosting on tenure and plan."},
            run={"fit_seconds": 3.25, "predict_seconds": 0.12, "peak_memory_mb": 243.0, "isolation": "unshare"},
            commit="0123456789abcdef0123456789abcdef01234567", pull_request=12)  # fmt: skip
    _record(results, "alpha", "bob", "b1", "2026-10-10T08:00:00",
            public={"roc_auc": 0.84, "accuracy": 0.77}, private={"roc_auc": 0.88, "accuracy": 0.81},
            files=_files(**{"estimator.py": ESTIMATOR_V1, "README.md": HOSTILE_README, HOSTILE_FILE: "x = 1\n"}),
            display={"name": HOSTILE_NAME, "team": HOSTILE_TEAM, "description": '<a href="javascript:alert(6)">hi</a>'})  # fmt: skip
    _record(results, "alpha", "carol", "c1", "2026-10-12T17:45:00",
            files=_files(**{"estimator.py": "def get_estimator():\n    raise ValueError('<script>boom</script>')\n"}),
            error={"class": "exception", "message": "ValueError: <script>boom</script>",
                   "traceback": "Traceback (most recent call last):\n  File \"estimator.py\", line 2, in get_estimator\n"
                                "ValueError: <script>boom</script>\n"},
            display={"name": '=HYPERLINK("http://evil.example","x")'}, run={})  # fmt: skip
    _record(results, "alpha", "erin", "e1", "2026-10-25T11:15:00",
            public={"roc_auc": 0.801, "accuracy": 0.76}, private={"roc_auc": 0.81, "accuracy": 0.79},
            files=_files(**{"estimator.py": ESTIMATOR_V1}),
            display={"name": "-2+3", "team": "@SUM(A1)"})  # fmt: skip
    _record(results, "alpha", "dave", "d1", "2026-11-20T10:00:00",
            public={"roc_auc": 0.99, "accuracy": 0.95}, private={"roc_auc": 0.98, "accuracy": 0.94},
            files=_files(**{"estimator.py": ESTIMATOR_V2}))  # fmt: skip


def write_beta_records(results: Path) -> None:
    _record(results, "beta", "alice", "ab1", "2026-11-03T10:00:00",
            public={"rmse": 12345.6789, "r2": 0.50123}, private={"rmse": SECRET_PRIVATE_SCORE, "r2": 0.4},
            files=_files(**{"predictions.csv": "house,price\nq0,101000\nq1,99000\nq2,150000\nq3,120500\nq4,98000\n"}))  # fmt: skip
    _record(results, "beta", "bob", "bb1", "2026-11-05T16:20:00",
            public={"rmse": 15000.0, "r2": -0.12345}, private={"rmse": 15500.0, "r2": -0.2},
            files=_files(**{"predictions.csv": "house,price\nq0,100000\nq1,100000\nq2,100000\nq3,100000\nq4,100000\n"}),
            display={"name": "Bob", "team": "=cmd|' /C calc'!A0"})  # fmt: skip
    _record(results, "beta", "alice", "ab2", "2026-11-21T09:05:00",
            public={"rmse": 11000.5, "r2": 0.6}, private={"rmse": 11500.25, "r2": 0.55},
            files=_files(**{"predictions.csv": "house,price\nq0,102000\nq1,98000\nq2,151000\nq3,121500\nq4,97000\n"}))  # fmt: skip


def make_site_fixture(base: Path) -> SiteFixture:
    """Create the repository under ``base/repo`` and return where things are."""
    root = base / "repo"
    results = root / "results"
    write_challenges(root)
    write_alpha_records(results)
    write_beta_records(results)
    return SiteFixture(root=root, results=results)


# --------------------------------------------------------------------------
# Reading built pages back.

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text for child in self.children)

    def iter(self) -> list[Element]:
        found = [self]
        for child in self.children:
            if isinstance(child, Element):
                found.extend(child.iter())
        return found

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            element
            for element in self.iter()
            if element.tag == tag and all(element.attrs.get(key.rstrip("_").replace("_", "-")) == value for key, value in attrs.items())
        ]

    def find_id(self, identifier: str) -> Element | None:
        return next((element for element in self.iter() if element.attrs.get("id") == identifier), None)


class _TreeBuilder(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def load_page(path: Path) -> Element:
    return parse_html(path.read_text(encoding="utf-8"))


def site_tree(site: Path) -> dict[str, bytes]:
    """Every file of a built site by its path inside it: two builds compare byte for byte."""
    return {path.relative_to(site).as_posix(): path.read_bytes() for path in sorted(site.rglob("*")) if path.is_file()}


def html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def links(document: Element) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) for every href and src in the page."""
    return [
        (element.tag, name, value)
        for element in document.iter()
        for name, value in element.attrs.items()
        if name in ("href", "src", "xlink:href")
    ]


def broken_links(site: Path) -> list[str]:
    """Every internal link that does not lead to a file (and id) inside ``site``."""
    problems = []
    ids: dict[Path, set[str]] = {}

    def ids_of(page: Path) -> set[str]:
        if page not in ids:
            document = load_page(page)
            ids[page] = {e.attrs["id"] for e in document.iter() if "id" in e.attrs} | {
                e.attrs["name"] for e in document.iter() if e.tag == "a" and "name" in e.attrs
            }
        return ids[page]

    root = site.resolve()
    for page in html_pages(site):
        for tag, attribute, value in links(load_page(page)):
            parts = urlsplit(value)
            if parts.scheme or parts.netloc:
                continue  # external: checked elsewhere (no asset may come from another host)
            target = page if not parts.path else (page.parent / unquote(parts.path))
            resolved = Path(posixpath.normpath(str(target.resolve())))
            where = f"{page.relative_to(site)}: <{tag} {attribute}={value!r}>"
            if root not in resolved.parents and resolved != root:
                problems.append(f"{where} leaves the site")
            elif not resolved.is_file():
                problems.append(f"{where} leads to no file")
            elif parts.fragment and resolved.suffix == ".html" and unquote(parts.fragment) not in ids_of(resolved):
                problems.append(f"{where} names no id on that page")
    return problems


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    """The site in ``directory`` served on 127.0.0.1 from a thread; yields its base URL."""
    from site_builder.serve import make_server

    server = make_server(directory, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
