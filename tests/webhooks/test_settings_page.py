"""The project's webhook settings page: add an endpoint (secret shown once), the guard's
refusal as a form error, "Send test event", the delivery log, and who may see it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.workflows.fake_servers import FakeServer, Reply
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.services import endpoint_secret
from webhooks.tasks import webhook_deliver

pytestmark = pytest.mark.django_db


def page(project) -> str:
    return reverse("webhooks:settings", args=[project.pk])


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(web, project):
    response = web.post(
        page(project),
        {"url": "http://127.0.0.1:9/hook", "events": ["run.finished", "run.regressed"]},
    )

    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    secret = endpoint_secret(endpoint)
    assert secret.startswith("whsec_") and secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert endpoint.events == ["run.finished", "run.regressed"]
    assert secret not in endpoint.secret_encrypted
    again = web.get(page(project)).content.decode()
    assert secret not in again and "http://127.0.0.1:9/hook" in again


def test_a_url_the_guard_refuses_is_a_form_error_and_creates_nothing(web, project):
    response = web.post(
        page(project), {"url": "http://169.254.169.254/latest", "events": ["run.finished"]}
    )

    assert response.status_code == 400
    assert "Refusing to call" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_send_test_event_delivers_and_the_log_shows_it(web, project):
    with FakeServer(Reply.sequence([Reply(500), Reply(202)])) as receiver:
        web.post(page(project), {"url": receiver.url, "events": ["run.failed"]})
        endpoint = WebhookEndpoint.objects.get()
        response = web.post(reverse("webhooks:send_test", args=[project.pk, endpoint.pk]))
        assert response.status_code == 302
        delivery = WebhookDelivery.objects.get()
        webhook_deliver(str(delivery.id))
        log = web.get(page(project)).content.decode()
        assert "Retrying" in log and "500" in log and "1 / 5" in log
        WebhookDelivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now())
        webhook_deliver(str(delivery.id))  # the retry, once due
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    log = web.get(page(project)).content.decode()
    assert "webhook.test" in log and "Delivered" in log and "202" in log and "2 / 5" in log


def test_members_see_the_log_and_only_admins_change_endpoints(
    web, project, viewer_web, outsider_web, editor
):
    web.post(page(project), {"url": "http://127.0.0.1:9/hook", "events": ["run.finished"]})
    endpoint = WebhookEndpoint.objects.get()
    editor_web = Client()
    editor_web.force_login(editor)

    seen = viewer_web.get(page(project))
    assert seen.status_code == 200
    body = seen.content.decode()
    assert "http://127.0.0.1:9/hook" in body and "Add endpoint" not in body
    assert "Send test event" not in body
    assert editor_web.post(page(project), {"url": "http://127.0.0.1:9/x"}).status_code == 403
    for action in ("send_test", "toggle", "delete"):
        url = reverse(f"webhooks:{action}", args=[project.pk, endpoint.pk])
        assert viewer_web.post(url).status_code == 403
        assert editor_web.post(url).status_code == 403
    assert outsider_web.get(page(project)).status_code == 404
    assert WebhookEndpoint.objects.count() == 1 and not WebhookDelivery.objects.exists()
    assert WebhookEndpoint.objects.get().is_active


def test_the_admin_lists_endpoints_and_deliveries_without_the_secret(web, project, owner):
    get_user_model().objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    web.post(page(project), {"url": "http://127.0.0.1:9/hook", "events": ["run.finished"]})
    endpoint = WebhookEndpoint.objects.get()

    listing = web.get(reverse("admin:webhooks_webhookdelivery_changelist"))
    change = web.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))

    assert listing.status_code == 200
    assert change.status_code == 200
    assert endpoint_secret(endpoint) not in change.content.decode()
    assert endpoint.secret_encrypted not in change.content.decode()
