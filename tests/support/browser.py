"""The browser test harness (the ``ui`` fixture, registered in tests/conftest.py): Debian's
Chromium (headless) through Playwright against the real web server. Every page is watched
for console errors, uncaught exceptions and failed requests; ``Ui.shots`` saves each screen
at 1440 px and 390 px, light and dark, into test-output/screenshots/ and checks that nothing
is wider than a 390 px phone. Screenshots are named after the test module (without
``test_``), or its ``SCREENSHOT_PREFIX`` when it sets one."""

from __future__ import annotations

import contextlib
import re

import pytest

from projects.demo import DEMO_PASSWORD, DEMO_USERNAME
from tests.support.processes import output_dir

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDE = {"width": 1440, "height": 900}
# The outermost elements sticking out to the right (to say what overflows).
WIDEST = """[...document.querySelectorAll('body *')]
  .filter((el) => el.getBoundingClientRect().right > 391
    && !(el.parentElement && el.parentElement.getBoundingClientRect().right > 391))
  .slice(0, 5).map((el) => el.tagName + '.' + el.className + '#' + el.id)"""
PHONE = {"width": 390, "height": 844}


class Ui:
    def __init__(self, page, prefix: str):
        self.page = page
        self.prefix = prefix
        self.base = ""
        self.console_errors: list[str] = []
        self.failed_requests: list[str] = []
        self.allowed_statuses: set[int] = set()
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _on_console(self, message) -> None:
        allowed = any(f"status of {status} " in message.text for status in self.allowed_statuses)
        if message.type == "error" and not allowed:
            self.console_errors.append(f"{message.text} @ {self.page.url}")

    def _on_request_failed(self, request) -> None:
        failure = request.failure or ""
        # A download or a navigation that replaced an in-flight poll is not a failure.
        if "ERR_ABORTED" in failure:
            return
        self.failed_requests.append(f"{request.method} {request.url}: {failure}")

    def _on_response(self, response) -> None:
        if response.status >= 400 and response.status not in self.allowed_statuses:
            self.failed_requests.append(f"{response.status} {response.url}")

    # --- helpers -------------------------------------------------------------------------

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def login(self, base: str) -> None:
        self.base = base
        self.goto("/accounts/login/")
        self.page.fill("#id_username", DEMO_USERNAME)
        self.page.fill("#id_password", DEMO_PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(re.compile(r".*/projects/.*|.*/$"))

    def settle(self) -> None:
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_function("!document.querySelector('.htmx-request')")

    def shots(self, name: str) -> None:
        """Four screenshots of the current screen; at 390 px nothing may be wider."""
        folder = output_dir() / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        page = self.page
        try:
            for size_name, size in (("1440", WIDE), ("390", PHONE)):
                page.set_viewport_size(size)
                for scheme in ("light", "dark"):
                    page.emulate_media(color_scheme=scheme)
                    page.wait_for_timeout(50)
                    path = folder / f"{self.prefix}_{name}_{size_name}_{scheme}.png"
                    page.screenshot(path=str(path), full_page=True)
                if size is PHONE:
                    width = page.evaluate("document.documentElement.scrollWidth")
                    assert width <= PHONE["width"], (
                        f"{name}: page is {width}px wide at 390px: {page.evaluate(WIDEST)}"
                    )
        finally:
            page.set_viewport_size(WIDE)
            page.emulate_media(color_scheme="light")

    def assert_fits_a_phone(self, selector: str) -> None:
        """At 390 px, no element matching ``selector`` is wider inside than its box (nothing
        cut off by ``overflow: hidden`` or scrolling sideways: scrollWidth <= clientWidth)."""
        page = self.page
        page.set_viewport_size(PHONE)
        try:
            sizes = page.eval_on_selector_all(
                selector,
                "(els) => els.map((el) => [el.tagName + '.' + el.className,"
                " el.scrollWidth, el.clientWidth])",
            )
        finally:
            page.set_viewport_size(WIDE)
        assert sizes, f"nothing matches {selector}"
        too_wide = [size for size in sizes if size[1] > size[2]]
        assert not too_wide, f"wider than their box at 390px (scroll, client): {too_wide}"

    def assert_clean(self) -> None:
        assert not self.console_errors, self.console_errors
        assert not self.failed_requests, self.failed_requests


@pytest.fixture
def ui(monkeypatch, request):
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = pytest.importorskip("playwright.sync_api")
    prefix = getattr(request.module, "SCREENSHOT_PREFIX", None) or (
        request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    )
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport=WIDE, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("dialog", lambda dialog: dialog.accept())
        try:
            yield Ui(page, prefix)
        finally:
            with contextlib.suppress(Exception):
                context.close()
            browser.close()
