"""The front server of deploy/nginx: a real nginx on its own port, in front of the site, sends
a clip's bytes after the site said yes (X-Accel-Redirect) and nothing to anyone else."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from benchmarks.stack import free_port, nginx_binary, nginx_conf, start_nginx, stop_nginx
from listening.models import Listener
from tests.conftest import require
from tests.factories import open_study, pass_checks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def nginx(tmp_path, live_server, settings):
    """nginx in front of the live server, with the site set to hand audio to it."""
    require(nginx_binary() is not None, "nginx is not installed (apt-get install nginx-light)")
    settings.AUDIO_SENDFILE = "nginx"
    port = free_port()
    conf = nginx_conf(
        tmp_path,
        upstream=live_server.url.removeprefix("http://"),
        port=port,
        static_root=settings.STATIC_ROOT,
        media_root=settings.MEDIA_ROOT,
        worker_connections=64,
    )
    try:
        proc = start_nginx(conf, port)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_nginx(proc)


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
