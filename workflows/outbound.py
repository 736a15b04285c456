"""Moved to ``evalsite.outbound.guard`` (the one outbound-call layer); kept for imports."""

from evalsite.outbound.guard import address_problem, check_url, resolve, url_problem

__all__ = ["address_problem", "check_url", "resolve", "url_problem"]
