"""What a run spent, for every read (run page, both APIs, downloads, comparisons)."""

from __future__ import annotations

from django.db.models import Count, Sum


def run_usage(run) -> dict:
    """Calls, tokens and cost the run used (cached calls cost nothing), and what the call
    cache saved."""
    return {
        "agent_calls": run.agent_calls,
        "judge_calls": run.judge_calls,
        "tokens": run.tokens_used,
        "cost": round(run.cost_used, 6),
        "cached_calls": run.cached_calls,
        "cached_cost_saved": round(run.cached_cost_saved, 6),
    }


def cost_by_entry(run) -> dict:
    """{entry id: {"cost": agent cost, "calls": agent calls, "cached": cached calls}}."""
    from runs.models import RunTask

    rows = (
        RunTask.objects.filter(run_id=run.id, cost__isnull=False)
        .order_by()
        .values("entry_id")
        .annotate(cost=Sum("cost"), calls=Count("id"), cached=Count("id", filter=_cached()))
    )
    return {
        r["entry_id"]: {"cost": r["cost"] or 0.0, "calls": r["calls"], "cached": r["cached"]}
        for r in rows
    }


def _cached():
    from django.db.models import Q

    return Q(cached=True)


def cost_by_binding(run) -> dict:
    """{binding id: judge cost} for the run's LLM-judge bindings."""
    from runs.models import MetricBinding, MetricResult

    bindings = list(MetricBinding.objects.filter(run_id=run.id).values_list("id", flat=True))
    rows = (
        MetricResult.objects.filter(binding_id__in=bindings, cost__isnull=False)
        .order_by()
        .values("binding_id")
        .annotate(cost=Sum("cost"))
    )
    return {r["binding_id"]: r["cost"] or 0.0 for r in rows}


def run_budget(run) -> dict:
    """The run page's budget figures, formatted (cost per agent included)."""
    from runs.models import RunEntry
    from runs.pricing import format_cost

    by_entry = cost_by_entry(run) if run.cost_used else {}
    agents = []
    entries = RunEntry.objects.filter(run_id=run.id, workflow_version__isnull=False)
    for entry in entries.select_related("workflow_version__workflow").order_by("position"):
        figures = by_entry.get(entry.id) or {}
        version = entry.workflow_version
        agents.append(
            {
                "label": f"{version.workflow.name} v{version.number}",
                "cost": format_cost(figures.get("cost") or 0.0),
            }
        )
    return {
        "cost": format_cost(run.cost_used),
        "max_cost": format_cost(run.max_cost),
        "cached_cost_saved": format_cost(run.cached_cost_saved),
        "agents": agents,
    }
