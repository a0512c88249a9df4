"""A gunicorn worker imports the URLconf, and every view with it, as it loads the WSGI
application: the first request of a fresh worker in an arrival burst does not pay for it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import mos_site.wsgi
from django.urls import get_resolver
print("listening.participation.views" in sys.modules, "url_patterns" in get_resolver().__dict__)
"""


def test_loading_the_wsgi_application_imports_the_views():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mos_site.settings"}
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == ["True", "True"], result.stderr[-2000:]
