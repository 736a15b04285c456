"""Domain errors shared by services, UI views and API views.

Services raise Django's ``ValidationError`` for bad input (with a field -> messages dict when
the problem belongs to a field) and ``ConflictError`` when the input is fine but the object's
state forbids the operation (editing a released version, downloading a running run...).
UI views show both next to the form; the API maps them to 400 and 409.
"""

from __future__ import annotations


class ConflictError(Exception):
    """The operation conflicts with the current state of the object (HTTP 409)."""

    def __init__(self, message: str, *, code: str = "conflict"):
        super().__init__(message)
        self.message = message
        self.code = code
