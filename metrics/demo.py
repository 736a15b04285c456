"""Demo project metrics (offline, deterministic). Idempotent: looks up by name first.

The built-in catalogue already exists in every database (data migration); these add two
project-specific checks a support-bot team would keep.
"""

from __future__ import annotations

from metrics import services
from metrics.catalogue import ensure_builtin_metrics
from metrics.models import Metric

DEMO_METRICS = [
    {
        "name": "No refusal or apology",
        "description": "1 when the answer avoids refusals and boilerplate apologies.",
        "implementation": "not_contains",
        "params": {
            "values": ["i'm sorry", "i cannot", "as an ai", "i don't know"],
            "case_sensitive": False,
        },
        "category": "METRIC_CATEGORY_USER_OUTCOMES",
    },
    {
        "name": "Concise answer (3-120 words)",
        "description": "1 when the answer has between 3 and 120 words.",
        "implementation": "word_count_in_range",
        "params": {"min": 3, "max": 120},
    },
]


def seed(*, project, user) -> list[str]:
    lines = []
    if ensure_builtin_metrics():
        lines.append("refreshed the built-in metric catalogue")
    for definition in DEMO_METRICS:
        if Metric.objects.alive().filter(project=project, name=definition["name"]).exists():
            continue
        services.metric_create(project=project, user=user, **definition)
        lines.append(f"created metric {definition['name']}")
    return lines
