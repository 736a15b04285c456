"""Moved to ``evalsite.outbound.secrets`` (the one outbound-call layer); kept for imports."""

from evalsite.outbound.secrets import (
    MASK,
    decrypt,
    encrypt,
    env_name_problem,
    is_secret_ref,
    key_material,
    mask,
    resolve,
    scrub,
)

__all__ = [
    "MASK",
    "decrypt",
    "encrypt",
    "env_name_problem",
    "is_secret_ref",
    "key_material",
    "mask",
    "resolve",
    "scrub",
]
