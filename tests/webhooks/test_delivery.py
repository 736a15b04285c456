"""Deliveries to a local receiver: signed, retried with backoff after a failure, given up
after the last attempt, and never sent where the outbound guard refuses. The worker's task
is called directly here, one attempt per call, as django-q2 would call it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from tests.workflows.fake_servers import FakeServer, Reply
from webhooks import signing
from webhooks.models import DeliveryStatus, Event, WebhookDelivery
from webhooks.services import endpoint_send_test, events_create
from webhooks.tasks import webhook_deliver

pytestmark = pytest.mark.django_db


def readme_verify(secret: str, body: bytes, header: str) -> bool:
    """The README's verification snippet, as a receiver would write it."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    signed = parts["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) < 300
    return fresh and hmac.compare_digest(expected, parts["v1"])


def one_event(endpoint, event=Event.RUN_FINISHED) -> WebhookDelivery:
    event_id = uuid.uuid4()
    events_create(
        project_id=endpoint.project_id,
        event=event,
        event_id=event_id,
        data={"run": {"id": "r-1", "status": "succeeded"}},
    )
    return WebhookDelivery.objects.get(endpoint=endpoint, event_id=event_id)


def due(delivery) -> None:
    """Move the next attempt's time to now, as if the backoff had passed."""
    WebhookDelivery.objects.filter(id=delivery.id, next_attempt_at__isnull=False).update(
        next_attempt_at=timezone.now()
    )


def retry_schedules(delivery) -> list[Schedule]:
    return list(
        Schedule.objects.filter(
            func="webhooks.tasks.webhook_deliver", args__contains=str(delivery.id)
        )
    )


def test_a_delivery_is_signed_so_the_receiver_can_verify_it(
    make_endpoint, django_capture_on_commit_callbacks
):
    with FakeServer(Reply.sequence([Reply(204)])) as receiver:
        endpoint, secret = make_endpoint(receiver.url + "hooks")
        with django_capture_on_commit_callbacks(execute=True):
            delivery = one_event(endpoint)
        assert OrmQ.objects.count() == 1  # queued for a worker once the transaction committed
        webhook_deliver(str(delivery.id))

        [request] = receiver.requests
    assert request.method == "POST" and request.path == "/hooks"
    assert readme_verify(secret, request.body, request.headers[signing.HEADER])
    assert signing.verify(secret, request.body, request.headers[signing.HEADER])
    assert not readme_verify("whsec_wrong", request.body, request.headers[signing.HEADER])
    assert not readme_verify(secret, request.body + b" ", request.headers[signing.HEADER])
    body = json.loads(request.body)
    assert body["type"] == "run.finished" and body["id"] == str(delivery.event_id)
    assert body["data"]["run"]["status"] == "succeeded"
    assert request.headers["X-Evalsite-Event"] == "run.finished"
    assert request.headers["X-Evalsite-Delivery"] == str(delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 1 and delivery.response_code == 204
    assert secret not in json.dumps(delivery.payload)


def test_a_500_is_retried_later_with_backoff_and_then_delivered(make_endpoint, settings):
    settings.EVALSITE_WEBHOOK_BACKOFF_SECONDS = 30
    with FakeServer(Reply.sequence([Reply(500), Reply(200)])) as receiver:
        endpoint, secret = make_endpoint(receiver.url)
        delivery = one_event(endpoint)

        webhook_deliver(str(delivery.id))
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.RETRYING
        assert delivery.attempts == 1 and delivery.response_code == 500
        [retry] = retry_schedules(delivery)
        assert retry.schedule_type == Schedule.ONCE and retry.repeats == 1
        delay = (retry.next_run - delivery.last_attempt_at).total_seconds()
        assert 29 <= delay <= 31

        webhook_deliver(str(delivery.id))  # early (a duplicate task): nothing is sent
        assert len(receiver.requests) == 1
        due(delivery)
        webhook_deliver(str(delivery.id))  # what the schedule runs when it is due
        delivery.refresh_from_db()
        assert len(receiver.requests) == 2
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 2 and delivery.response_code == 200
    first, second = receiver.requests
    assert first.body == second.body  # the same event, signed afresh
    assert readme_verify(secret, second.body, second.headers[signing.HEADER])


def test_it_stops_after_the_last_attempt(make_endpoint, settings):
    settings.EVALSITE_WEBHOOK_MAX_ATTEMPTS = 3
    settings.EVALSITE_WEBHOOK_BACKOFF_SECONDS = 10
    with FakeServer(Reply.sequence([Reply(503)])) as receiver:
        endpoint, _ = make_endpoint(receiver.url)
        delivery = one_event(endpoint)
        delays = []
        for _ in range(5):  # more calls than attempts: the extra ones send nothing
            webhook_deliver(str(delivery.id))
            delivery.refresh_from_db()
            due(delivery)
            if delivery.next_attempt_at:
                delays.append(
                    round((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds())
                )
        assert len(receiver.requests) == 3
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 3 and delivery.response_code == 503
    assert delivery.last_error == "HTTP 503" and delivery.next_attempt_at is None
    assert delays == [10, 20]
    assert len(retry_schedules(delivery)) == 2


def test_a_receiver_that_is_down_is_retried(make_endpoint):
    with FakeServer(Reply.sequence([Reply(200)])) as receiver:
        url = receiver.url
    endpoint, _ = make_endpoint(url)  # nothing listens there any more
    delivery = one_event(endpoint)

    webhook_deliver(str(delivery.id))

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.response_code is None and "ConnectError" in delivery.last_error


def test_the_outbound_guard_refuses_private_and_metadata_addresses(make_endpoint, settings):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        make_endpoint("http://169.254.169.254/latest/meta-data")
    assert "url" in refused.value.message_dict
    with pytest.raises(ValidationError):
        make_endpoint("http://10.1.2.3/hook")

    settings.EVALSITE_ALLOW_LOOPBACK = True
    endpoint, _ = make_endpoint("http://127.0.0.1:9/hook")
    settings.EVALSITE_ALLOW_LOOPBACK = False  # the guard is asked again at delivery time
    delivery = one_event(endpoint)
    webhook_deliver(str(delivery.id))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.last_error.startswith("Refused:")
    assert retry_schedules(delivery) == []


def test_the_test_event_goes_to_that_endpoint_only(make_endpoint, owner):
    with FakeServer(Reply.sequence([Reply(200)])) as receiver:
        endpoint, secret = make_endpoint(receiver.url, events=[Event.RUN_FAILED])
        make_endpoint(receiver.url + "other")
        delivery = endpoint_send_test(endpoint=endpoint, user=owner)
        webhook_deliver(str(delivery.id))
        [request] = receiver.requests
    assert json.loads(request.body)["type"] == "webhook.test"
    assert readme_verify(secret, request.body, request.headers[signing.HEADER])
    assert WebhookDelivery.objects.count() == 1


def test_an_event_is_delivered_once_per_endpoint_even_when_raised_twice(make_endpoint):
    endpoint, _ = make_endpoint("http://127.0.0.1:9/hook")
    event_id = uuid.uuid4()
    for _ in range(2):
        events_create(
            project_id=endpoint.project_id, event=Event.RUN_FINISHED, event_id=event_id, data={}
        )
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1


def test_the_sweep_requeues_lost_deliveries_only(make_endpoint):
    from datetime import timedelta

    from webhooks.services import deliveries_sweep

    endpoint, _ = make_endpoint("http://127.0.0.1:9/hook")
    lost, fresh, overdue, done = (one_event(endpoint) for _ in range(4))
    old = timezone.now() - timedelta(minutes=10)
    WebhookDelivery.objects.filter(id=lost.id).update(created_at=old)
    WebhookDelivery.objects.filter(id=overdue.id).update(
        status=DeliveryStatus.RETRYING, attempts=1, next_attempt_at=old
    )
    WebhookDelivery.objects.filter(id=done.id).update(
        status=DeliveryStatus.SUCCEEDED, created_at=old
    )
    before = OrmQ.objects.count()

    assert deliveries_sweep() == 2

    queued = [q.task for q in OrmQ.objects.order_by("id")][before:]
    assert sorted(t["args"][0] for t in queued) == sorted([str(lost.id), str(overdue.id)])
    assert fresh.status == DeliveryStatus.PENDING


def test_a_host_that_now_resolves_inside_is_refused_at_connect_time(make_endpoint, monkeypatch):
    """DNS rebinding: the name looked public when checked, then points at the metadata
    address; the guarded transport checks the address it connects to and refuses."""
    import ipaddress

    from evalsite.outbound import guard, transport

    public = ipaddress.ip_address("93.184.216.34")
    monkeypatch.setattr(guard, "resolve", lambda host, port: [public])

    async def rebound(host, port):
        return ["169.254.169.254"]

    monkeypatch.setattr(transport, "resolve_host", rebound)
    endpoint, _ = make_endpoint("http://hooks.example.com/evalsite")
    delivery = one_event(endpoint)

    webhook_deliver(str(delivery.id))

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.last_error.startswith("Refused:") and retry_schedules(delivery) == []
