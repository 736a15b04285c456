"""The call cache: answers of agent and judge calls, content-addressed.

A key is the SHA-256 of the kind, the pinned version id (any new workflow or metric version
has a new id, so a version change always misses), the exact inputs (canonical JSON) and,
for agents, the trial (repetitions of a row stay independent calls; a rerun of the same
trial reuses its answer). Only successful calls are stored; a cached call costs nothing.
"""

from __future__ import annotations

import hashlib
import json

from runs.models import CallCache

AGENT = "agent"
JUDGE = "judge"


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def agent_key(workflow_version_id, inputs: dict, trial: int) -> str:
    text = _canonical([AGENT, str(workflow_version_id), inputs, int(trial)])
    return hashlib.sha256(text.encode()).hexdigest()


def judge_key(metric_version_id, inputs: dict) -> str:
    text = _canonical([JUDGE, str(metric_version_id), inputs])
    return hashlib.sha256(text.encode()).hexdigest()


def lookup(keys) -> dict[str, CallCache]:
    keys = list(keys)
    found: dict[str, CallCache] = {}
    for start in range(0, len(keys), 500):
        for entry in CallCache.objects.filter(key__in=keys[start : start + 500]):
            found[entry.key] = entry
    return found


def agent_result(entry: CallCache):
    """The cached agent answer as an ExecutionResult (no latency: nothing was called)."""
    from workflows.executors import ExecutionResult

    payload = entry.payload or {}
    return ExecutionResult(
        outputs=payload.get("outputs") or {},
        input_tokens=payload.get("input_tokens"),
        output_tokens=payload.get("output_tokens"),
        chunks=payload.get("chunks") or [],
        spans=payload.get("spans") or [],
        latency_ms=0.0,
    )


def agent_entry(key: str, result, cost: float | None) -> CallCache:
    return CallCache(
        key=key,
        kind=AGENT,
        payload={
            "outputs": result.outputs or {},
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "chunks": result.chunks or [],
            "spans": result.spans or [],
        },
        cost=cost,
    )


def judge_entry(key: str, outcome) -> CallCache:
    return CallCache(
        key=key,
        kind=JUDGE,
        payload={
            "number_value": outcome.number_value,
            "string_value": outcome.string_value,
            "reasoning": outcome.reasoning,
            "details": outcome.details or {},
            "input_tokens": outcome.input_tokens,
            "output_tokens": outcome.output_tokens,
        },
        cost=outcome.cost,
    )


def store(entries: list[CallCache]) -> None:
    if entries:
        CallCache.objects.bulk_create(entries, ignore_conflicts=True, batch_size=500)


def judge_outcome(entry: CallCache):
    """The cached judge score as a MetricOutcome marked cached (its ``cost`` is what the
    original call cost: what the cache saved)."""
    from metrics.scoring import MetricOutcome

    payload = entry.payload or {}
    return MetricOutcome(
        number_value=payload.get("number_value"),
        string_value=payload.get("string_value"),
        reasoning=payload.get("reasoning"),
        details={**(payload.get("details") or {}), "cached": True},
        input_tokens=payload.get("input_tokens"),
        output_tokens=payload.get("output_tokens"),
        cost=entry.cost,
        cached=True,
    )
