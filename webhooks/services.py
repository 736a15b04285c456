"""Webhook endpoints and deliveries: creating endpoints, turning a finished run into events,
and delivering one attempt of one event (signed, through the outbound URL guard), with
retries scheduled by django-q2 at an exponential backoff until the last attempt."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from evalsite.outbound import guard
from evalsite.outbound import secrets as outbound_secrets
from evalsite.outbound.transport import OutboundRefused, new_client
from webhooks import signing
from webhooks.models import (
    SUBSCRIBABLE,
    DeliveryStatus,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)

EVENT_NAMESPACE = uuid.UUID("9a3c1a52-52a4-4d6b-9a0e-5f0c2f4b7e11")
USER_AGENT = "evalsite-webhooks/1"
MAX_ERROR = 500


def _guard_problem(url: str) -> str | None:
    """The outbound policy's refusal of ``url`` (the same as for agents and judges)."""
    return guard.url_problem(url)


def _encrypt(value: str) -> str:
    return outbound_secrets.encrypt(value)


def _decrypt(token: str) -> str:
    return outbound_secrets.decrypt(token)


def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    return _decrypt(endpoint.secret_encrypted)


def endpoint_create(
    *, project, user, url: str, events: list[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once, stored encrypted)."""
    url = (url or "").strip()
    errors: dict[str, list[str]] = {}
    if not url:
        errors["url"] = ["Give the URL that receives the events."]
    else:
        problem = _guard_problem(url)
        if problem:
            errors["url"] = [problem]
    wanted = [e for e in dict.fromkeys(events or [])]
    unknown = [e for e in wanted if e not in SUBSCRIBABLE]
    if unknown:
        errors["events"] = [f"Unknown event: {', '.join(unknown)}."]
    elif not wanted:
        errors["events"] = ["Pick at least one event."]
    if errors:
        raise ValidationError(errors)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        project=project,
        url=url,
        description=(description or "").strip()[:200],
        events=wanted,
        secret_encrypted=_encrypt(secret),
        created_by=user,
    )
    return endpoint, secret


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def endpoint_set_active(*, endpoint: WebhookEndpoint, active: bool) -> WebhookEndpoint:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=active)
    endpoint.is_active = active
    return endpoint


# --- events -----------------------------------------------------------------------------------


def _max_attempts() -> int:
    return max(1, int(getattr(settings, "EVALSITE_WEBHOOK_MAX_ATTEMPTS", 5)))


def _backoff(attempt: int) -> timedelta:
    """Delay before attempt ``attempt + 1``: base × 2^(attempt-1), capped at an hour."""
    base = float(getattr(settings, "EVALSITE_WEBHOOK_BACKOFF_SECONDS", 30))
    return timedelta(seconds=min(base * 2 ** (attempt - 1), 3600))


def _envelope(event: str, event_id: uuid.UUID, data: dict) -> dict:
    return {
        "id": str(event_id),
        "type": event,
        "created_at": timezone.now().isoformat(),
        "data": data,
    }


def events_create(
    *, project_id, event: str, event_id: uuid.UUID, data: dict, run_id=None, endpoints=None
) -> list[WebhookDelivery]:
    """One delivery per active endpoint of the project that wants ``event``; each is sent
    once the transaction commits. An event id already delivered to an endpoint is skipped."""
    if endpoints is None:
        endpoints = WebhookEndpoint.objects.filter(project_id=project_id, is_active=True)
    payload = _envelope(event, event_id, data)
    deliveries = [
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            event_id=event_id,
            run_id=run_id,
            payload=payload,
            max_attempts=_max_attempts(),
        )
        for endpoint in endpoints
        if endpoint.wants(event)
    ]
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        created = list(
            WebhookDelivery.objects.filter(
                event_id=event_id, endpoint__in=[d.endpoint for d in deliveries], attempts=0
            ).values_list("id", flat=True)
        )
        for delivery_id in created:
            transaction.on_commit(lambda d=delivery_id: _enqueue(d))
    return deliveries


def _enqueue(delivery_id) -> None:
    from django_q.tasks import async_task

    async_task("webhooks.tasks.webhook_deliver", str(delivery_id))


def endpoint_send_test(*, endpoint: WebhookEndpoint, user) -> WebhookDelivery:
    event_id = uuid.uuid4()
    data = {
        "project_id": str(endpoint.project_id),
        "endpoint_id": str(endpoint.id),
        "sent_by": getattr(user, "username", ""),
        "message": "A test event from evalsite: your endpoint is reachable and verifies "
        "signatures.",
    }
    events_create(
        project_id=endpoint.project_id,
        event=Event.TEST,
        event_id=event_id,
        data=data,
        endpoints=[endpoint],
    )
    return WebhookDelivery.objects.get(endpoint=endpoint, event_id=event_id)


# --- delivery ---------------------------------------------------------------------------------


def _claim(delivery_id) -> WebhookDelivery | None:
    """Take the next attempt of a delivery, exactly once (a conditional update)."""
    delivery = WebhookDelivery.objects.filter(id=delivery_id).select_related("endpoint").first()
    if delivery is None or delivery.status not in (
        DeliveryStatus.PENDING,
        DeliveryStatus.RETRYING,
    ):
        return None
    if delivery.attempts >= delivery.max_attempts:
        return None
    now = timezone.now()
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None  # a duplicate of the scheduled retry, early: that one will send it
    changed = WebhookDelivery.objects.filter(
        id=delivery.id, attempts=delivery.attempts, status=delivery.status
    ).update(attempts=delivery.attempts + 1, last_attempt_at=now)
    if not changed:
        return None
    delivery.attempts += 1
    delivery.last_attempt_at = now
    return delivery


class _Refused(Exception):
    """The outbound policy refused the connection itself (e.g. DNS now points inside)."""


async def _post_guarded(url: str, body: bytes, headers: dict, timeout: float) -> httpx.Response:
    # The guarded client checks every address it connects to (no DNS-rebinding window) and
    # follows no redirects.
    async with new_client(max_connections=1, timeout_s=timeout) as client:
        return await client.post(url, content=body, headers=headers)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """Send once: (status code or None, error text). Redirects are not followed."""
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Evalsite-Event": delivery.event,
        "X-Evalsite-Delivery": str(delivery.id),
        signing.HEADER: signing.sign(endpoint_secret(endpoint), body),
    }
    timeout = float(getattr(settings, "EVALSITE_WEBHOOK_TIMEOUT_SECONDS", 10))
    try:
        response = asyncio.run(_post_guarded(endpoint.url, body, headers, timeout))
    except OutboundRefused as exc:
        raise _Refused(str(exc)) from exc
    except httpx.HTTPError as exc:
        return None, f"{exc.__class__.__name__}: {exc}"[:MAX_ERROR]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


def delivery_attempt(*, delivery_id) -> WebhookDelivery | None:
    """One attempt: sign and POST; on failure schedule the next attempt or give up."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    if not delivery.endpoint.is_active:
        return _settle(delivery, DeliveryStatus.FAILED, None, "The endpoint is disabled.")
    problem = _guard_problem(delivery.endpoint.url)
    if problem:
        # A URL the guard refuses will not become acceptable by retrying.
        return _settle(delivery, DeliveryStatus.FAILED, None, f"Refused: {problem}")
    try:
        code, error = _post(delivery)
    except _Refused as exc:
        return _settle(delivery, DeliveryStatus.FAILED, None, f"Refused: {exc}")
    if not error:
        return _settle(delivery, DeliveryStatus.SUCCEEDED, code, "")
    if delivery.attempts >= delivery.max_attempts:
        return _settle(delivery, DeliveryStatus.FAILED, code, error)
    next_at = timezone.now() + _backoff(delivery.attempts)
    _settle(delivery, DeliveryStatus.RETRYING, code, error, next_attempt_at=next_at)
    _schedule_retry(delivery.id, next_at)
    return delivery


def _settle(delivery, status, code, error, *, next_attempt_at=None) -> WebhookDelivery:
    now = timezone.now()
    fields = {
        "status": status,
        "response_code": code,
        "last_error": error[:MAX_ERROR],
        "next_attempt_at": next_attempt_at,
    }
    if status == DeliveryStatus.SUCCEEDED:
        fields["delivered_at"] = now
    WebhookDelivery.objects.filter(id=delivery.id).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    level = logging.WARNING if status == DeliveryStatus.FAILED else logging.INFO
    log.log(level, "webhook %s %s attempt %s: %s %s", delivery.id, delivery.event,
            delivery.attempts, status, error or code)  # fmt: skip
    return delivery


SWEEP_GRACE = timedelta(minutes=2)
SWEEP_BATCH = 500


def deliveries_sweep() -> int:
    """Queue again the deliveries whose task was lost (the Redis broker loses tasks that were
    in flight when a worker died): never attempted, or overdue for their retry, by more than
    a grace period. Sending twice is prevented by the conditional claim."""
    from django.db.models import Q

    cutoff = timezone.now() - SWEEP_GRACE
    lost = WebhookDelivery.objects.filter(
        Q(status=DeliveryStatus.PENDING, attempts=0, created_at__lt=cutoff)
        | Q(status=DeliveryStatus.RETRYING, next_attempt_at__lt=cutoff)
    ).values_list("id", flat=True)[:SWEEP_BATCH]
    count = 0
    for delivery_id in lost:
        _enqueue(delivery_id)
        count += 1
    if count:
        log.warning("webhooks: re-queued %d delivery task(s) that were lost", count)
    return count


def _schedule_retry(delivery_id, next_at) -> None:
    from django_q.models import Schedule
    from django_q.tasks import schedule

    schedule(
        "webhooks.tasks.webhook_deliver",
        str(delivery_id),
        name=f"webhook-retry-{delivery_id}-{next_at.timestamp():.0f}",
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=next_at,
    )
