"""Secrets at rest, their resolution at call time, and scrubbing them from what is kept.

A secret reference is ``{"encrypted": "<fernet token>"}`` (a value the user typed, stored
encrypted) or ``{"env": "NAME"}`` (read from this server's environment at call time). An
environment reference must name a variable that starts with one of
``EVALSITE_SECRET_ENV_PREFIXES`` (default ``EVALSITE_SECRET_``): an editor can point a header
at ``EVALSITE_SECRET_OPENAI_KEY`` that an operator exported for that purpose, never at
``SECRET_KEY`` or ``DATABASE_URL``. The prefix is checked when a config is saved and again
every time a reference is resolved.

Encryption uses ``EVALSITE_ENCRYPTION_KEY`` (one Fernet key, or several separated by commas:
the first encrypts, all decrypt, which is how a key is rotated). Without it -- only allowed
for the embedded local set-up or DEBUG -- the key is derived from ``SECRET_KEY``.

Every value ``resolve`` returns is remembered for the life of the process; ``scrub`` replaces
them (and any value passed explicitly) with the mask in outputs, reasoning, errors and log
records, so an agent that echoes its Authorization header does not get the key stored.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

MASK = "********"
DEFAULT_ENV_PREFIXES = ("EVALSITE_SECRET_",)
MIN_SCRUB_LENGTH = 4  # shorter values are not scrubbed: they would mask ordinary text

_known: set[str] = set()
_known_sorted: tuple[str, ...] = ()  # longest first, rebuilt when a new value is remembered
_known_lock = threading.Lock()


# --- encryption -----------------------------------------------------------------------------


def _configured_keys() -> list[str]:
    raw = getattr(settings, "EVALSITE_ENCRYPTION_KEY", "") or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if keys:
        try:
            return MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                "EVALSITE_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes), "
                "comma-separated; make one with "
                '`python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"`.'
            ) from exc
    digest = hashlib.sha256(b"evalsite-secrets:" + secret_key.encode()).digest()
    return MultiFernet([Fernet(base64.urlsafe_b64encode(digest))])


def _cipher() -> MultiFernet:
    return _fernet(tuple(_configured_keys()), settings.SECRET_KEY)


def key_material() -> bytes:
    """Bytes the secret fingerprints are keyed with (never shown)."""
    keys = _configured_keys()
    return (keys[0] if keys else settings.SECRET_KEY).encode()


def encrypt(value: str) -> str:
    return _cipher().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _cipher().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError, TypeError) as exc:
        raise ValidationError(
            "A stored secret cannot be decrypted (was the encryption key changed?)."
        ) from exc


# --- references -----------------------------------------------------------------------------


def env_prefixes() -> tuple[str, ...]:
    prefixes = getattr(settings, "EVALSITE_SECRET_ENV_PREFIXES", None) or DEFAULT_ENV_PREFIXES
    return tuple(p for p in prefixes if p)


def env_name_problem(name) -> str | None:
    """Why ``name`` may not be used as ``{"env": name}``, or None when it may."""
    if not isinstance(name, str) or not name.strip():
        return "Give the name of an environment variable."
    prefixes = env_prefixes()
    if not name.startswith(prefixes) or name in prefixes:
        allowed = " or ".join(f"{p}*" for p in prefixes)
        return (
            f"Environment variable {name[:80]} cannot be used: only variables named {allowed} "
            "can be referenced (an operator exports them for this purpose)."
        )
    if not name.replace("_", "").isalnum() or not name.isascii():
        return "Environment variable names use letters, digits and _."
    return None


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
    if not is_secret_ref(value):
        raise ValidationError("Not a secret reference.")
    if "env" in value:
        name = value["env"]
        problem = env_name_problem(name)
        if problem:
            raise ValidationError(problem)
        if name not in os.environ:
            raise ValidationError(f"Environment variable {name} is not set on this server.")
        clear = os.environ[name]
    else:
        clear = decrypt(value["encrypted"])
    for each in values_to_scrub(clear):
        remember(each)
    return clear


def mask(value):
    """What may be shown for a (possibly secret) value: env names are fine, values are not."""
    if isinstance(value, dict) and "env" in value:
        return {"env": value["env"], "secret": True}
    if isinstance(value, dict) and "encrypted" in value:
        return {"secret": True, "value": MASK}
    return value


# --- scrubbing ------------------------------------------------------------------------------


AUTH_SCHEMES = ("bearer", "basic", "token", "bot", "apikey", "api-key", "key")


def values_to_scrub(clear: str) -> list[str]:
    """``clear`` and, for ``"Bearer <token>"``-style values, the bare token too (an agent may
    echo either)."""
    values = [clear] if clear else []
    scheme, _, token = clear.strip().partition(" ")
    if scheme.lower() in AUTH_SCHEMES and len(token.strip()) >= MIN_SCRUB_LENGTH:
        values.append(token.strip())
    return values


def remember(clear: str) -> None:
    global _known_sorted
    if clear and len(clear) >= MIN_SCRUB_LENGTH and clear not in _known:
        with _known_lock:
            _known.add(clear)
            _known_sorted = tuple(sorted(_known, key=len, reverse=True))


def known_values() -> tuple[str, ...]:
    return _known_sorted


def _scrub_text(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def scrub(value, secrets: list[str] | None = None):
    """``value`` with every occurrence of a secret (``secrets``, or every secret this process
    resolved when None) replaced by the mask, in strings, keys, lists and dicts."""
    values = known_values() if secrets is None else [s for s in secrets if s]
    if not values:
        return value
    return _scrub(value, values)


def _scrub(value, values):
    if isinstance(value, str):
        return _scrub_text(value, values)
    if isinstance(value, list):
        return [_scrub(item, values) for item in value]
    if isinstance(value, tuple):
        return tuple(_scrub(item, values) for item in value)
    if isinstance(value, dict):
        return {_scrub(k, values): _scrub(v, values) for k, v in value.items()}
    return value


class ScrubSecretsFilter(logging.Filter):
    """A logging filter that masks every resolved secret in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = known_values()
        if values:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is logged as it is
                return True
            scrubbed = _scrub_text(message, values)
            if scrubbed != message:
                record.msg, record.args = scrubbed, ()
            if record.exc_info and not record.exc_text:
                record.exc_text = _scrub_text(
                    logging.Formatter().formatException(record.exc_info), values
                )
        return True
