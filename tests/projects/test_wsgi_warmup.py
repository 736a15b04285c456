"""A gunicorn worker loads the whole URLconf while it boots, not on its first request."""

import os
import subprocess
import sys

from django.conf import settings


def test_importing_the_wsgi_module_loads_every_view_before_the_first_request():
    probe = (
        "import sys, evalsite.wsgi\n"
        "print('runs.api.gradient' in sys.modules, 'runs.views' in sys.modules)\n"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="evalsite.settings")
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Before, the first request paid for this (1.3 s on the development machine), so a
    # user's first POST after a start waited for it.
    assert done.stdout.split() == ["True", "True"]
