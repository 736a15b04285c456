"""Built-in deterministic metric implementations (importing registers them)."""

from metrics.builtins import answer, rag, spans, structured, text  # noqa: F401
