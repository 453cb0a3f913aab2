"""Read built pages back as a browser's parser would: elements, attributes, visible text."""

from __future__ import annotations

import html.parser
from dataclasses import dataclass, field
from pathlib import Path

# Tags a hostile text could use to run or load something; the site's templates use none of them.
ACTIVE_TAGS = {"iframe", "frame", "frameset", "object", "embed", "form", "input", "base", "link", "style", "applet", "portal"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcdoc", "xlink:href", "data", "poster", "background"}
SITE_SCRIPT = "static/sort.js"
CSP = "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'none'"


@dataclass
class Page:
    path: Path
    elements: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    scripts: list[tuple[dict[str, str], str]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    @property
    def visible_text(self) -> str:
        return "".join(self.text)

    def problems(self) -> list[str]:
        """Everything on this page that could run or load something a participant wrote."""
        found = []
        for attributes, body in self.scripts:
            if body.strip() or not attributes.get("src", "").endswith(SITE_SCRIPT):
                found.append(f"script {attributes} {body[:80]!r}")
        for tag, attributes in self.elements:
            if tag in ACTIVE_TAGS and not (tag == "link" and attributes.get("rel") in ("stylesheet", "icon")):
                found.append(f"<{tag}> {attributes}")
            if tag == "meta" and attributes.get("http-equiv", "").lower() not in ("", "content-security-policy"):
                found.append(f"<meta http-equiv={attributes['http-equiv']}>")
            for name, value in attributes.items():
                if name.startswith("on"):
                    found.append(f"<{tag} {name}={value[:60]!r}>")
                squeezed = "".join(value.split()).lower()
                if name in URL_ATTRIBUTES and squeezed.startswith(("javascript:", "vbscript:", "data:text/html")):
                    found.append(f"<{tag} {name}={value[:60]!r}>")
                if name in ("href", "src") and squeezed.startswith(("http:", "https:", "//")) and tag != "a":
                    found.append(f"<{tag} {name}={value[:60]!r}> loads from another host")
        policies = [attributes.get("content") for tag, attributes in self.elements
                    if tag == "meta" and attributes.get("http-equiv", "").lower() == "content-security-policy"]  # fmt: skip
        if policies != [CSP]:
            found.append(f"content security policy is {policies}")
        return found


class _Reader(html.parser.HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self._script: dict[str, str] | None = None
        self._script_body: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name.lower(): value or "" for name, value in attrs}
        self.page.elements.append((tag, attributes))
        if tag == "script":
            self._script, self._script_body = attributes, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.page.scripts.append((self._script, "".join(self._script_body)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_body.append(data)
        else:
            self.page.text.append(data)


def read_page(path: Path) -> Page:
    page = Page(path)
    reader = _Reader(page)
    reader.feed(path.read_text(encoding="utf-8"))
    reader.close()
    return page


def all_pages(site: Path) -> list[Page]:
    return [read_page(path) for path in sorted(site.rglob("*.html"))]
