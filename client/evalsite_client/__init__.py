"""evalsite's command-line client (``evalsite``), usable without the server installed."""

__version__ = "0.1.0"
