"""API key format: ``es_<prefix>_<secret>``. The prefix finds the row; the secret's SHA-256
is compared in constant time. The key is long and random, so a fast hash is enough."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from projects.models import ApiKey


def generate_key() -> tuple[str, str, str]:
    """Return (raw key, prefix, hashed secret)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{ApiKey.PREFIX}_{prefix}_{secret}", prefix, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(raw: str) -> tuple[str, str] | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != ApiKey.PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(api_key: ApiKey, secret: str) -> bool:
    return hmac.compare_digest(api_key.hashed_secret, hash_secret(secret))
