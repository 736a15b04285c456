"""The evaluation engine: planning, claiming, draining, finishing and sweeping runs.

Everything here is called from ``runs.tasks`` (django-q2 entry points) and, for the
operations a person triggers (cancel, rerun), from ``runs.services``.
"""
