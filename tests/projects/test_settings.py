"""Settings come from the environment with safe defaults; bad values fail loudly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from evalsite.env import env_bool, env_int, env_list
from tests.support.processes import ROOT


def _settings_in_child(**env: str) -> subprocess.CompletedProcess:
    child = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")
    }
    child.update(env)
    code = (
        "import django, json; django.setup(); from django.conf import settings as s;"
        "print(json.dumps({'debug': s.DEBUG, 'engine': s.DATABASES['default']['ENGINE'],"
        "'opts': {k: str(v) for k, v in s.DATABASES['default'].get('OPTIONS', {}).items()},"
        "'conn_max_age': s.DATABASES['default'].get('CONN_MAX_AGE'),"
        "'q': s.Q_CLUSTER, 'hosts': s.ALLOWED_HOSTS}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**child, "DJANGO_SETTINGS_MODULE": "evalsite.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_env_bool_reads_the_usual_spellings(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env_bool("X_FLAG") is True
    monkeypatch.setenv("X_FLAG", "0")
    assert env_bool("X_FLAG", True) is False
    monkeypatch.delenv("X_FLAG")
    assert env_bool("X_FLAG", True) is True


def test_env_bool_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ValueError, match="X_FLAG"):
        env_bool("X_FLAG")


def test_env_int_and_list(monkeypatch):
    monkeypatch.setenv("X_NUM", "42")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_int("X_NUM", 1) == 42
    assert env_list("X_LIST") == ["a", "b", "c"]
    monkeypatch.setenv("X_NUM", "forty")
    with pytest.raises(ValueError, match="X_NUM"):
        env_int("X_NUM", 1)


def test_the_default_is_sqlite_in_wal_mode_with_the_orm_broker(tmp_path):
    import json

    result = _settings_in_child(EVALSITE_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["debug"] is False
    assert data["engine"] == "django.db.backends.sqlite3"
    assert data["opts"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in data["opts"]["init_command"]
    assert data["q"]["orm"] == "default"
    assert "redis" not in data["q"]
    assert data["q"]["retry"] >= 1.5 * data["q"]["timeout"]
    assert data["q"]["ack_failures"] is True
    assert data["q"]["max_attempts"] >= 1
    # a secret key was generated into the var dir for local use
    assert (tmp_path / "secret_key").exists()


def test_database_and_redis_urls_switch_to_postgres_and_the_redis_broker(tmp_path):
    import json

    result = _settings_in_child(
        EVALSITE_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://u@db.example:5432/evalsite",
        REDIS_URL="redis://127.0.0.1:6379/3",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="evals.example.com",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["engine"] == "django.db.backends.postgresql"
    assert data["conn_max_age"] > 0
    assert data["q"]["redis"] == "redis://127.0.0.1:6379/3"
    assert "orm" not in data["q"]
    assert data["hosts"] == ["evals.example.com"]


def test_a_shared_database_without_secret_key_refuses_to_start(tmp_path):
    result = _settings_in_child(
        EVALSITE_VAR_DIR=str(tmp_path), DATABASE_URL="postgres://u@db.example:5432/evalsite"
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
