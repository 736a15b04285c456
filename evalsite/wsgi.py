import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
application = get_wsgi_application()

# Load the URLconf (and with it every view module, DRF and the schema) while the worker boots,
# before it accepts a connection: left to the first request, this took 1.3 s, which a user's
# first POST after a start (or a gunicorn worker recycle) waited for.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018 - loading it is the point
