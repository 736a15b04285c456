"""Signals other apps listen to. ``run_finished`` is sent once per run, by the one caller
that finished it (``runs.engine.finish.try_finish``), after the status was written."""

from django.dispatch import Signal

run_finished = Signal()  # kwargs: run_id, status
