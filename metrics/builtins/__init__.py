"""Built-in deterministic metric implementations (importing registers them)."""

from metrics.builtins import answer, rag, structured, text  # noqa: F401
