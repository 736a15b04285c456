"""A fake HTTP agent whose answers the test controls: it echoes the right answer
(``echo: <question>``, what ``qa_rows`` expects) except for the questions it is told to get
wrong, and it answers HTTP 500 to the questions in ``broken`` (a failed agent call). Set
``hold`` (a ``threading.Event``) to keep every call waiting until it is set. Change
``wrong`` between runs to build a baseline and a candidate that differ on exactly the rows
you choose."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from tests.workflows.fake_servers import FakeRequest, Reply


class ControlledAgent:
    def __init__(self, wrong: Iterable[str] = (), broken: Iterable[str] = ()):
        self._lock = threading.Lock()
        self._wrong = set(wrong)
        self.broken = set(broken)
        self.hold: threading.Event | None = None

    @property
    def wrong(self) -> set[str]:
        with self._lock:
            return set(self._wrong)

    @wrong.setter
    def wrong(self, questions: Iterable[str]) -> None:
        with self._lock:
            self._wrong = set(questions)

    def __call__(self, request: FakeRequest) -> Reply:
        if self.hold is not None:
            self.hold.wait(timeout=120)
        data = request.json if isinstance(request.json, dict) else {}
        question = str(data.get("question", ""))
        if question in self.broken:
            return Reply(500, json={"error": f"the agent crashed on {question}"})
        answer = "I do not know" if question in self.wrong else f"echo: {question}"
        return Reply(json={"answer": answer, "usage": {"input_tokens": 5, "output_tokens": 2}})


def questions(positions: Iterable[int]) -> set[str]:
    """The ``qa_rows`` questions at these positions."""
    return {f"q{i}" for i in positions}
