"""django-q2 entry points: take ids, call a service."""

from __future__ import annotations

from webhooks import events, services


def webhook_run_events(run_id: str) -> int:
    return events.run_events_emit(run_id=run_id)


def webhook_deliver(delivery_id: str) -> None:
    services.delivery_attempt(delivery_id=delivery_id)


def webhook_sweep() -> int:
    return services.deliveries_sweep()
