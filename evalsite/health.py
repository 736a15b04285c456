from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means unhealthy; the reason is reported
        return False, exc.__class__.__name__
    return True, connection.vendor


def _broker_ok() -> tuple[bool, str]:
    if not settings.REDIS_URL:
        # The ORM broker lives in the database checked above.
        return _database_ok()[0], "orm"
    try:
        import redis

        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        client.ping()
    except Exception as exc:  # any failure means unhealthy
        return False, f"redis ({exc.__class__.__name__})"
    return True, "redis"


def _workers() -> dict:
    """The worker heartbeat (``runs.heartbeat``): not ok when work waits and no worker has
    beaten for ``EVALSITE_WORKER_STALE_SECONDS`` (a dead or wedged cluster)."""
    from runs.heartbeat import worker_status

    try:
        return worker_status().as_dict()
    except Exception as exc:  # reported, never raised: the database check says why
        return {"ok": False, "error": exc.__class__.__name__}


@login_not_required
def healthz(request):
    db_ok, db_info = _database_ok()
    broker_ok, broker_info = _broker_ok()
    workers = _workers() if db_ok else {"ok": False, "error": "database unavailable"}
    healthy = db_ok and broker_ok and workers["ok"]
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": {"ok": db_ok, "backend": db_info},
        "broker": {"ok": broker_ok, "backend": broker_info},
        "workers": workers,
    }
    return JsonResponse(body, status=200 if healthy else 503)
