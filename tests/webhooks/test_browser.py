"""In Chromium (Playwright) against the real web server and a real qcluster: an admin opens
Webhooks from the header, adds an endpoint, copies the secret shown once, sends a test event
and watches the delivery log show it delivered to a local receiver."""

from __future__ import annotations

import pytest

from projects.demo import DEMO_PASSWORD, DEMO_USERNAME, seed_demo
from tests.runs_ui.test_browser import browser_page, shot  # noqa: F401 - the fixture
from tests.support.processes import qcluster, web_server
from tests.workflows.fake_servers import FakeServer, Reply
from webhooks import signing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_adds_an_endpoint_and_sends_a_test_event(browser_page):  # noqa: F811
    project, _ = seed_demo()
    page = browser_page
    with FakeServer(Reply.sequence([Reply(200)])) as receiver, web_server() as base, qcluster():
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", DEMO_USERNAME)
        page.fill("#id_password", DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{base}/projects/{project.pk}/evaluations/")
        page.get_by_role("link", name="Webhooks").click()
        page.wait_for_selector("text=Add an endpoint")

        page.fill("#id_url", receiver.url + "evalsite")
        page.get_by_role("button", name="Add endpoint").click()
        secret = page.locator("#new-secret").inner_text().strip()
        assert secret.startswith("whsec_")
        shot(page, "webhooks_01_added")

        page.get_by_role("button", name="Send test event").click()
        page.wait_for_selector("#delivery-log")
        for _ in range(60):  # the worker delivers; reload until the log says so
            if "Delivered" in page.locator("#delivery-log").inner_text():
                break
            page.wait_for_timeout(500)
            page.reload()
        log = page.locator("#delivery-log").inner_text()
        shot(page, "webhooks_02_delivered")
        [request] = receiver.requests
    assert "webhook.test" in log and "Delivered" in log and "200" in log
    assert request.path == "/evalsite"
    assert signing.verify(secret, request.body, request.headers[signing.HEADER])
