"""Sample custom metrics (add their dotted paths to ``EVALSITE_CUSTOM_METRICS`` to use them)."""

from __future__ import annotations

import asyncio


def keyword_coverage(inputs: dict, *, keywords: list[str] | None = None) -> dict:
    """Share of ``keywords`` (an option) or of the words of ``expected`` found in ``response``."""
    response = str(inputs.get("response", "")).lower()
    wanted = keywords or str(inputs.get("expected", "")).lower().split()
    if not wanted:
        return {"error": "No keywords to look for."}
    found = [w for w in wanted if w.lower() in response]
    return {
        "value": len(found) / len(wanted),
        "reasoning": f"Found {len(found)} of {len(wanted)} keywords.",
    }


def tone_label(inputs: dict) -> str:
    """A string metric: 'polite', 'rude' or 'neutral'."""
    text = str(inputs.get("response", "")).lower()
    if any(w in text for w in ("please", "thank")):
        return "polite"
    if any(w in text for w in ("stupid", "shut up")):
        return "rude"
    return "neutral"


async def async_length_ratio(inputs: dict) -> tuple[float, str] | dict:
    """An async metric: len(response) / len(expected), capped at 1."""
    await asyncio.sleep(0)
    response, expected = str(inputs["response"]), str(inputs["expected"])
    if not expected:
        return {"error": "Expected text is empty."}
    ratio = min(len(response) / len(expected), 1.0)
    return ratio, f"{len(response)} / {len(expected)} characters"


def broken(inputs: dict) -> float:
    """Always raises: shows that a crashing metric becomes an error, not a score."""
    raise RuntimeError("this metric is broken on purpose")


def out_of_range(inputs: dict) -> float:
    return 42.0
