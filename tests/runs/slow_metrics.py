"""A custom metric for the engine's fault tests: slow on purpose, and it notes every call in
the file named by ``EVALSITE_TEST_METRIC_LOG`` (one line per call, appended atomically) so a
test can count how often each row was scored across processes."""

from __future__ import annotations

import os
import time


def slow_exact(inputs: dict, *, seconds: float = 0.3) -> float:
    path = os.environ.get("EVALSITE_TEST_METRIC_LOG")
    if path:
        with open(path, "a") as log:
            log.write(f"{inputs.get('response')}\n")
    time.sleep(seconds)
    return float(str(inputs.get("response")) == str(inputs.get("expected")))
