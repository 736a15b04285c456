"""Site-wide pages in a real browser: the login page, a styled 404 inside the layout, the
favicon (no /favicon.ico 404), and dark mode following the operating system."""

from __future__ import annotations

import pytest

from projects.demo import seed_demo
from tests.support.processes import web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_404_favicon_and_dark_mode(ui):
    project, _ = seed_demo()
    page = ui.page
    with web_server() as base:
        ui.base = base
        ui.goto("/accounts/login/")
        page.wait_for_selector("#id_username")
        ui.shots("01_login")
        ui.login(base)
        favicon = page.request.get(f"{base}/favicon.ico")
        assert favicon.ok and "svg" in favicon.headers["content-type"]
        ui.allowed_statuses.add(404)  # the page below is meant to be a 404
        response = page.goto(f"{base}/projects/{project.pk}/no-such-page/")
        assert response.status == 404
        page.wait_for_selector("h2:text('Page not found')")
        assert page.locator(".topbar .brand").count() == 1
        ui.shots("02_not_found")
        ui.allowed_statuses.clear()
        ui.goto(f"/projects/{project.pk}/evaluations/")
        light = page.evaluate("getComputedStyle(document.body).backgroundColor")
        page.emulate_media(color_scheme="dark")
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert light != dark
    ui.assert_clean()
