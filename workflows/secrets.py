"""Secrets at rest: Fernet-encrypted values and references to environment variables.

A secret reference is ``{"env": "NAME"}`` (read from the environment at call time) or
``{"encrypted": "<fernet token>"}``. Configs store only references; ``resolve`` turns one
into its clear value just before a call. Clear values are never rendered, returned, logged
or exported: ``mask`` gives what may be shown instead.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError

MASK = "********"


@lru_cache(maxsize=4)
def _fernet(key_material: str, secret_key: str) -> Fernet:
    if key_material:
        return Fernet(key_material.encode())
    digest = hashlib.sha256(b"evalsite-secrets:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def key_material() -> bytes:
    """Bytes the secret fingerprints are keyed with (never shown)."""
    return (getattr(settings, "EVALSITE_ENCRYPTION_KEY", "") or settings.SECRET_KEY).encode()


def _cipher() -> Fernet:
    return _fernet(getattr(settings, "EVALSITE_ENCRYPTION_KEY", "") or "", settings.SECRET_KEY)


def encrypt(value: str) -> str:
    return _cipher().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _cipher().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise ValidationError(
            "A stored secret cannot be decrypted (was the encryption key changed?)."
        ) from exc


def is_secret_ref(value) -> bool:
    return isinstance(value, dict) and (
        set(value) == {"env"}
        and isinstance(value["env"], str)
        or set(value) == {"encrypted"}
        and isinstance(value["encrypted"], str)
    )


def resolve(value) -> str:
    """The clear value of a secret reference (a plain string is returned as it is)."""
    if isinstance(value, str):
        return value
    if is_secret_ref(value):
        if "env" in value:
            name = value["env"]
            if name not in os.environ:
                raise ValidationError(f"Environment variable {name} is not set.")
            return os.environ[name]
        return decrypt(value["encrypted"])
    raise ValidationError("Not a secret reference.")


def mask(value):
    """What may be shown for a (possibly secret) value: env names are fine, values are not."""
    if isinstance(value, dict) and "env" in value:
        return {"env": value["env"], "secret": True}
    if isinstance(value, dict) and "encrypted" in value:
        return {"secret": True, "value": MASK}
    return value
