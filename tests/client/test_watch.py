"""Following a run on a CI log (a rich Console that is not a terminal): plain lines with the
rows done, the failed rows, the rate and the time left, polled over HTTP from a local server
that plays the run's progress."""

from __future__ import annotations

import io
import re

from evalsite_client import watch
from evalsite_client.api import Client
from rich.console import Console

from tests.workflows.fake_servers import FakeServer, Reply

RUN_ID = "7f1c0a52-0000-4000-8000-000000000001"


def state(status: str, done: int, failed: int, total: int = 40) -> Reply:
    return Reply(
        json={
            "id": RUN_ID,
            "name": "nightly",
            "status": status,
            "progress": {"done": done, "failed": failed, "total": total},
        }
    )


def test_a_ci_log_gets_plain_progress_lines_with_rows_failed_rate_and_time_left(monkeypatch):
    monkeypatch.setattr(watch, "LOG_EVERY", 0.0)  # a line per poll, not one per 10 s
    plays = [
        state("pending", 0, 0, total=0),
        state("running", 4, 0),
        state("running", 12, 1),
        state("running", 24, 2),
        state("succeeded", 40, 3),
    ]
    output = io.StringIO()
    console = Console(file=output, force_terminal=False, width=200)
    assert not console.is_terminal

    with FakeServer(Reply.sequence(plays)) as server, Client(server.url, "key") as client:
        [final] = watch.follow(client, [RUN_ID], console=console, interval=0.6)
        polled = [r.path for r in server.requests]

    assert final["status"] == "succeeded"
    assert polled == [f"/v1/evaluations/{RUN_ID}"] * len(plays)
    lines = output.getvalue().splitlines()
    assert "\x1b[" not in output.getvalue()  # no colours or cursor moves in a log
    assert lines[0] == "nightly: pending 0/0 rows (-), 0 failed, - rows/s, - left"
    assert lines[-1].startswith("nightly: succeeded 40/40 rows (100%), 3 failed, ")
    running = [line for line in lines if ": running " in line]
    assert len(running) == 3
    # Polls are 0.6 s apart, so from the first running poll the rate (and time left) is known.
    line = re.compile(
        r"nightly: running (?P<done>\d+)/40 rows \((?P<pct>\d+)%\), (?P<failed>\d) failed, "
        r"(?P<rate>\d+\.\d) rows/s, (?P<left>\d+:\d\d) left"
    )
    matches = [line.fullmatch(text) for text in running]
    assert all(matches), running
    assert [(m["done"], m["pct"], m["failed"]) for m in matches] == [
        ("4", "10", "0"),
        ("12", "30", "1"),
        ("24", "60", "2"),
    ]
    assert all(float(m["rate"]) > 0 for m in matches)
