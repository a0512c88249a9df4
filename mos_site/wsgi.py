"""WSGI entry point for gunicorn."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mos_site.settings")

application = get_wsgi_application()

# Import the URLconf, and with it every view module, while the worker starts rather than on
# its first request: about 0.6 s of CPU that a fresh worker otherwise spends on the first
# listener of an arrival burst, with the requests queued behind it waiting (docs/operations.md,
# "Crowd scale").
url_patterns = get_resolver().url_patterns
