"""``check --deploy`` is clean with the README's production variables."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.support.processes import ROOT


def readme_production_env() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- production-env -->(.*?)<!-- /production-env -->", text, re.S)
    assert block, "the README's production variables block is missing"
    env = {}
    for line in block.group(1).splitlines():
        line = line.strip()
        if "=" in line and not line.startswith(("```", "#")):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def test_check_deploy_is_clean_with_the_readme_variables(tmp_path):
    env = readme_production_env()
    assert {"SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE"} <= set(env)
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env["EVALSITE_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    env["DATABASE_URL"] = env["DATABASE_URL"].replace("<password>", "pw")
    assert not any("<" in value for value in env.values()), env
    child = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("EVALSITE_", "SECURE_", "SESSION_", "CSRF_", "DEBUG"))
        and k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    child.update(env, EVALSITE_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="evalsite.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=child,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
