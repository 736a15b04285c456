"""Prices of model calls: the list shipped in ``runs/data/model_prices.json`` overlaid with
the project's own prices (``ModelPrice``), and the cost of one call from its tokens.

A model name matches its exact entry, else the longest entry it starts with followed by
``-`` (``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``); an unknown model, or a
call without token counts, has no cost (None), never a guessed one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PRICE_FILE = Path(__file__).resolve().parent / "data" / "model_prices.json"
MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int | None, output_tokens: int | None) -> float | None:
        if input_tokens is None and output_tokens is None:
            return None
        return (
            (input_tokens or 0) * self.input_per_million
            + (output_tokens or 0) * self.output_per_million
        ) / MILLION


@cache
def shipped_price_list() -> dict:
    """The shipped list: {"as_of": date, "models": {name: Price}}."""
    data = json.loads(PRICE_FILE.read_text())
    return {
        "as_of": data.get("as_of", ""),
        "models": {
            name: Price(float(p["input"]), float(p["output"]))
            for name, p in data.get("models", {}).items()
        },
    }


class PriceList:
    def __init__(self, prices: dict[str, Price]):
        self.prices = prices
        # Longest names first, so the most specific prefix wins.
        self._prefixes = sorted(prices, key=len, reverse=True)

    def price_of(self, model: str | None) -> Price | None:
        if not model:
            return None
        model = model.strip()
        found = self.prices.get(model)
        if found is not None:
            return found
        lowered = model.lower()
        for name in self._prefixes:
            if lowered.startswith(name.lower() + "-"):
                return self.prices[name]
        return None

    def cost(self, model: str | None, input_tokens, output_tokens) -> float | None:
        price = self.price_of(model)
        return None if price is None else price.cost(input_tokens, output_tokens)


def price_list_for(project_id) -> PriceList:
    """The shipped list with the project's own prices on top (ORM: call outside event loops)."""
    from runs.models import ModelPrice

    prices = dict(shipped_price_list()["models"])
    for model, price_in, price_out in ModelPrice.objects.filter(project_id=project_id).values_list(
        "model", "input_per_million", "output_per_million"
    ):
        prices[model] = Price(price_in, price_out)
    return PriceList(prices)


def effective_prices(project_id) -> list[dict]:
    """Every price the project's runs use, marked with where it comes from (for the UI)."""
    from runs.models import ModelPrice

    own = {p.model: p for p in ModelPrice.objects.filter(project_id=project_id).order_by("model")}
    rows = []
    for name, price in shipped_price_list()["models"].items():
        if name not in own:
            rows.append(
                {
                    "model": name,
                    "input_per_million": price.input_per_million,
                    "output_per_million": price.output_per_million,
                    "source": "shipped",
                }
            )
    for name, price in own.items():
        rows.append(
            {
                "model": name,
                "input_per_million": price.input_per_million,
                "output_per_million": price.output_per_million,
                "source": "project",
                "id": price.id,
            }
        )
    return sorted(rows, key=lambda row: row["model"])


def workflow_model(workflow_version) -> str | None:
    """The model a workflow version names (openai_chat ``model``; optional on http)."""
    config = workflow_version.config or {}
    model = config.get("model")
    return model.strip() if isinstance(model, str) and model.strip() else None


def metric_model(metric_version) -> str | None:
    """The model an LLM-judge metric version names."""
    params = metric_version.params or {}
    model = params.get("model")
    return model.strip() if isinstance(model, str) and model.strip() else None


def format_cost(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "$0.00"
    if value < 0.01:
        return f"${value:.4f}"
    return f"${value:,.2f}"
