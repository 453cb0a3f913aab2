"""The hostile site in Chromium: no dialog, no script from participant text, nothing from another host.

Every page of the session's site is opened twice: as served (with its
Content-Security-Policy) and with the policy stripped from each response,
so the escaping is shown to hold on its own, not only behind the CSP.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.adversarial.conftest import Workspace
from tests.site_fixture import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("SITE_BUILDER_REQUIRE_BROWSER"),
        reason=f"{CHROMIUM} is not installed (apt-get install chromium)",
    ),
]

# Runs before any page script: counts policy violations and anything a payload would set.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""
# Live DOM after load: inline scripts, event-handler attributes, javascript: URLs.
INSPECT = """
() => {
  const found = [];
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      const value = attribute.value.replace(/\\s+/g, "").toLowerCase();
      if (attribute.name.startsWith("on")) found.push(element.tagName + " " + attribute.name);
      if (["href", "src", "action", "formaction", "srcdoc"].includes(attribute.name) && /^(javascript|vbscript|data:text\\/html)/.test(value))
        found.push(element.tagName + " " + attribute.name + "=" + value.slice(0, 40));
    }
  }
  for (const script of document.scripts) {
    if (!script.src.endsWith("/static/sort.js") || script.textContent.trim()) found.push("script " + script.outerHTML.slice(0, 80));
  }
  for (const frame of document.querySelectorAll("iframe, object, embed, form, base")) found.push(frame.tagName);
  return {found, pwned: window.__pwned || 0, violations: window.__violations};
}
"""
_CSP_META = re.compile(rb'<meta http-equiv="Content-Security-Policy"[^>]*>')


@pytest.fixture(scope="module")
def site_url(workspace: Workspace) -> Iterator[str]:
    with serving(workspace.site) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def visit_every_page(browser: object, site_url: str, pages: list[str], *, strip_policy: bool) -> dict[str, object]:
    """Open each page, hover and open what can be opened; return what went wrong, by page."""
    context = browser.new_context()  # type: ignore[attr-defined]
    context.add_init_script(WATCH)
    dialogs: list[str] = []
    outside: list[str] = []

    def route(route: object, request: object) -> None:
        url = request.url  # type: ignore[attr-defined]
        if urlsplit(url).hostname != "127.0.0.1" and not url.startswith("data:"):
            outside.append(url)
            route.abort()  # type: ignore[attr-defined]
            return
        if not strip_policy or not url.endswith(".html"):
            route.continue_()  # type: ignore[attr-defined]
            return
        response = route.fetch()  # type: ignore[attr-defined]
        route.fulfill(response=response, body=_CSP_META.sub(b"", response.body()))  # type: ignore[attr-defined]

    context.route("**/*", route)
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    problems: dict[str, object] = {}
    try:
        for path in pages:
            page.goto(site_url + path)
            page.wait_for_load_state("load")
            # Open every <details> (fires toggle events) and sweep the pointer across the page.
            page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
            page.mouse.move(300, 300)
            page.mouse.move(600, 500)
            seen = page.evaluate(INSPECT)
            if seen["found"] or seen["pwned"] or (seen["violations"] and not strip_policy):
                problems[path] = seen
    finally:
        context.close()
    if dialogs:
        problems["dialogs"] = dialogs
    if outside:
        problems["requests to other hosts"] = outside
    return problems


def site_pages(workspace: Workspace) -> list[str]:
    return sorted(path.relative_to(workspace.site).as_posix() for path in workspace.site.rglob("*.html"))


def test_no_hostile_text_runs_in_the_browser(workspace: Workspace, site_url: str, browser: object) -> None:
    pages = site_pages(workspace)
    assert len(pages) > 20
    assert visit_every_page(browser, site_url, pages, strip_policy=False) == {}


def test_escaping_holds_without_the_content_security_policy(workspace: Workspace, site_url: str, browser: object) -> None:
    pages = [page for page in site_pages(workspace) if "xss" in page or "rtl" in page or page.endswith("index.html")]
    assert len(pages) >= 6
    assert visit_every_page(browser, site_url, pages, strip_policy=True) == {}


def test_right_to_left_and_emoji_names_render_as_text(workspace: Workspace, site_url: str, browser: object) -> None:
    from tests.adversarial import hostile

    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.goto(site_url + "participants/rtl-emoji.html")
        assert page.locator("main h1").inner_text().strip() == hostile.RTL_NAME
        assert hostile.RTL_NAME in page.locator("body").inner_text()
    finally:
        context.close()


def test_the_check_itself_catches_an_injection(tmp_path: Path, browser: object) -> None:
    """A page with a real injection is reported: the checks above can fail."""
    (tmp_path / "broken.html").write_text(
        "<!doctype html><title>t</title><p>x<img src=x onerror=\"window.__pwned=1;alert('caught')\"></p>",
        encoding="utf-8",
    )
    with serving(tmp_path) as url:
        problems = visit_every_page(browser, url, ["broken.html"], strip_policy=True)
    assert problems["dialogs"] == ["caught"]
    assert problems["broken.html"]["pwned"] == 1  # type: ignore[index]
