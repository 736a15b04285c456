"""In Chromium (Playwright) against the real web server and a real qcluster: an admin opens
Webhooks from the header, adds an endpoint, copies the secret shown once, sends a test event
and watches the delivery log show it delivered to a local receiver (no console errors or
failed requests; screenshots at 1440 and 390 px, light and dark)."""

from __future__ import annotations

import pytest

from projects.demo import seed_demo
from tests.support.processes import qcluster, web_server
from tests.workflows.fake_servers import FakeServer, Reply
from webhooks import signing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOT_PREFIX = "webhooks"  # webhooks_01_added_1440_light.png, ...


def test_an_admin_adds_an_endpoint_and_sends_a_test_event(ui):
    project, _ = seed_demo()
    page = ui.page
    with FakeServer(Reply.sequence([Reply(200)])) as receiver, web_server() as base, qcluster():
        ui.login(base)
        ui.goto(f"/projects/{project.pk}/evaluations/")
        page.get_by_role("link", name="Webhooks").click()
        page.wait_for_selector("text=Add an endpoint")

        page.fill("#id_url", receiver.url + "evalsite")
        page.get_by_role("button", name="Add endpoint").click()
        secret = page.locator("#new-secret").inner_text().strip()
        assert secret.startswith("whsec_")
        ui.shots("01_added")

        page.get_by_role("button", name="Send test event").click()
        page.wait_for_selector("#delivery-log")
        for _ in range(60):  # the worker delivers; reload until the log says so
            if "Delivered" in page.locator("#delivery-log").inner_text():
                break
            page.wait_for_timeout(500)
            page.reload()
        log = page.locator("#delivery-log").inner_text()
        ui.shots("02_delivered")
        [request] = receiver.requests
    ui.assert_clean()
    assert "webhook.test" in log and "Delivered" in log and "200" in log
    assert request.path == "/evalsite"
    assert signing.verify(secret, request.body, request.headers[signing.HEADER])
