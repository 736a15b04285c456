"""Throughput of deterministic metrics on one core, in scorings per second.

Run: .venv/bin/python benchmarks/bench_metrics.py [--seconds 1.0]
Scores typical QA answers through the full ``Scorer`` (input checks, type and range checks),
as a run does. Goal: >= 50,000/s for the string checks.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")

import django  # noqa: E402

django.setup()
logging.getLogger("absl").setLevel(logging.WARNING)

from metrics.registry import get_implementation  # noqa: E402
from metrics.scoring import Scorer  # noqa: E402

SAMPLES = [
    {
        "response": "The Eiffel Tower is located in Paris, France.",
        "expected": "Paris",
    },
    {
        "response": "Water boils at 100 degrees Celsius at sea level.",
        "expected": "100 degrees Celsius",
    },
    {
        "response": "The mitochondria is the powerhouse of the cell.",
        "expected": "the mitochondria",
    },
    {
        "response": "Shakespeare wrote Hamlet around 1600.",
        "expected": "William Shakespeare",
    },
]
CASES = [
    ("exact_match", {}, "string check"),
    ("exact_match", {"case_sensitive": False, "collapse_whitespace": True}, "string check"),
    ("contains", {}, "string check"),
    ("contains_any", {"values": ["Paris", "Celsius", "cell"]}, "string check"),
    ("not_contains", {"values": ["password", "secret"]}, "string check"),
    ("starts_with", {}, "string check"),
    ("regex_match", {"pattern": r"\d+"}, "string check"),
    ("squad_exact_match", {}, "normalised"),
    ("squad_f1", {}, "normalised"),
    ("levenshtein_similarity", {}, "similarity"),
    ("rouge", {"rouge_type": "rougeL"}, "similarity"),
    ("bleu", {}, "similarity"),
    ("chrf", {}, "similarity"),
]


def scorer_for(key: str, params: dict) -> Scorer:
    implementation = get_implementation(key)
    clean, inputs = implementation.clean(params, None)
    low, high = implementation.value_range(clean)
    return Scorer(
        implementation.build(clean, inputs=inputs),
        name=key,
        value_type=implementation.value_type,
        range_min=low,
        range_max=high,
        required_inputs=[i["name"] for i in inputs if i["required"]],
    )


def measure(scorer: Scorer, seconds: float) -> float:
    samples = SAMPLES
    n = len(samples)
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            scorer.score(samples[done % n])
            done += 1
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{'metric':<42} {'kind':<14} {'scorings/s':>12}")
    for key, params, kind in CASES:
        scorer = scorer_for(key, params)
        outcome = scorer.score(SAMPLES[0])
        assert outcome.error_description is None, (key, outcome)
        label = key + (f" {params}" if params else "")
        rate = measure(scorer, args.seconds)
        goal = "  (goal >= 50,000)" if kind == "string check" else ""
        print(f"{label[:42]:<42} {kind:<14} {rate:>12,.0f}{goal}")


if __name__ == "__main__":
    main()
