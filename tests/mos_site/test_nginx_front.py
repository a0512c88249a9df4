"""The front server of deploy/nginx: a real nginx on its own port, in front of the site, sends
a clip's bytes after the site said yes (X-Accel-Redirect) and nothing to anyone else."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from listening.models import Listener
from tests.conftest import require
from tests.factories import open_study, pass_checks

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "harken.conf.template"

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def filled(template: str, values: dict[str, str]) -> str:
    """The template as the nginx image's envsubst fills it: only ${NAME} forms are names."""
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: values[m.group(1)], template)


@pytest.fixture
def nginx(tmp_path, live_server, settings):
    """nginx in front of the live server, with the site set to hand audio to it."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    require(Path(binary).exists(), "nginx is not installed (apt-get install nginx-light)")
    settings.AUDIO_SENDFILE = "nginx"
    port = free_port()
    server = filled(
        TEMPLATE.read_text(),
        {
            "HARKEN_UPSTREAM": live_server.url.removeprefix("http://"),
            "NGINX_PORT": f"127.0.0.1:{port}",
            "STATIC_ROOT": str(settings.STATIC_ROOT),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "MAX_UPLOAD_MB": "10",
        },
    )
    (tmp_path / "harken.conf").write_text(server)
    # As root, nginx's workers would run as "nobody", who may not read the test's media.
    user = "user root;" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"""
        daemon off;
        worker_processes 1;
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/error.log warn;
        {user}
        events {{ worker_connections 64; }}
        http {{
            include /etc/nginx/mime.types;
            access_log off;
            client_body_temp_path {tmp_path}/body;
            proxy_temp_path {tmp_path}/proxy;
            fastcgi_temp_path {tmp_path}/fastcgi;
            uwsgi_temp_path {tmp_path}/uwsgi;
            scgi_temp_path {tmp_path}/scgi;
            include {tmp_path}/harken.conf;
        }}
        """
    )
    proc = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"nginx did not start: {output}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fetch(url: str, cookie: str = "", **headers) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Cookie": cookie, **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_nginx_sends_the_clip_the_site_allowed_and_nothing_else(nginx):
    study = open_study(slug="front", seconds=0.8)
    client = Client()
    client.post(f"/t/{study.slug}/", {"consent": "yes"})
    listener = pass_checks(Listener.objects.get())
    clip = listener.playlist.items.first().clip
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    data = Path(settings.MEDIA_ROOT, clip.audio.name).read_bytes()
    url = f"{nginx}/t/{study.slug}/clip/{clip.token}/"

    status, headers, body = fetch(url, cookie)
    assert status == 200
    assert body == data
    assert headers["Content-Type"] == "audio/flac"
    assert "X-Accel-Redirect" not in headers  # nginx keeps the internal path to itself
    assert "private" in headers["Cache-Control"]

    # Media players seek with ranges: nginx answers them from the file.
    status, headers, body = fetch(url, cookie, Range="bytes=10-99")
    assert status == 206
    assert body == data[10:100]
    assert headers["Content-Range"] == f"bytes 10-99/{len(data)}"

    # Nobody else: no cookie, or the internal location asked for directly.
    assert fetch(url)[0] == 403
    assert fetch(f"{nginx}/protected-media/{clip.audio.name}", cookie)[0] == 404
    assert fetch(f"{nginx}/media/{clip.audio.name}", cookie)[0] == 404
