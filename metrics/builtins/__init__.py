"""Built-in deterministic metric implementations (importing registers them)."""

from metrics.builtins import rag, structured, text  # noqa: F401
