"""Dataset limits. Each reads a Django setting first (handy in tests), then the environment.

- ``EVALSITE_DATASET_MAX_UPLOAD_MB`` (default 200): largest file an import accepts.
- ``EVALSITE_DATASET_MAX_ROW_KB`` (default 1024): largest row, measured as compact JSON.
- ``EVALSITE_DATASET_MAX_ROWS`` (default 1,000,000): most rows one version may hold.
"""

from __future__ import annotations

from django.conf import settings

from evalsite.env import env_int


def max_upload_bytes() -> int:
    configured = getattr(settings, "DATASET_MAX_UPLOAD_BYTES", None)
    return configured or env_int("EVALSITE_DATASET_MAX_UPLOAD_MB", 200) * 1024 * 1024


def max_row_bytes() -> int:
    configured = getattr(settings, "DATASET_MAX_ROW_BYTES", None)
    return configured or env_int("EVALSITE_DATASET_MAX_ROW_KB", 1024) * 1024


def max_rows() -> int:
    configured = getattr(settings, "DATASET_MAX_ROWS", None)
    return configured or env_int("EVALSITE_DATASET_MAX_ROWS", 1_000_000)


IMPORT_BATCH_SIZE = 5000
EXPORT_CHUNK_SIZE = 2000
MAX_REPORTED_PROBLEMS = 100
