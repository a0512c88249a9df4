"""Security headers (mos_site.security) and the files the embedded setup creates: a
Content-Security-Policy on every page, no-store on signed-in pages only, instructions images
from the site only, the SQLite file and the generated secret key readable by their owner only."""

from __future__ import annotations

import stat

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from listening.participation.views import render_markdown
from tests.conftest import site_process
from tests.factories import open_study


def test_every_page_has_the_policy_and_researcher_pages_are_not_stored(client_ada, client):
    study = open_study(slug="headers")
    listener = client.get(f"/t/{study.slug}/")
    assert listener.status_code == 200
    assert "default-src 'self'" in listener["Content-Security-Policy"]
    assert "'unsafe-inline'" not in listener["Content-Security-Policy"]
    researcher = client_ada.get(reverse("researcher:dashboard"))
    assert researcher.status_code == 200
    assert "no-store" in researcher["Cache-Control"]
    assert "default-src 'self'" in researcher["Content-Security-Policy"]


def test_api_answers_to_a_token_are_not_stored(client, ada):
    token = Token.objects.create(user=ada).key
    response = client.get(reverse("researcher:api:studies"), HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_the_policy_setting_replaces_or_removes_it(client, settings, db):
    settings.CONTENT_SECURITY_POLICY = ""
    assert "Content-Security-Policy" not in client.get(reverse("login"))


@pytest.mark.parametrize(
    ("markdown", "kept", "gone"),
    [
        ("![pixel](https://tracker.example/p.gif)", "pixel", "tracker.example"),
        ("![p](//tracker.example/p.gif)", "p", "tracker.example"),
        ('<img src="http://tracker.example/p.gif" alt="x">', "x", "<img"),
        ("![logo](/static/logo.png)", '<img alt="logo" src="/static/logo.png">', "tracker"),
    ],
)
def test_instructions_images_come_only_from_the_site(markdown, kept, gone):
    html = str(render_markdown(markdown))
    assert kept in html and gone not in html


def test_the_embedded_database_and_secret_key_are_created_owner_only(tmp_path):
    out = site_process(["manage.py", "migrate", "--noinput", "-v", "0"], tmp_path)
    assert out.returncode == 0, out.stderr
    for name in ("harken.sqlite3", "secret_key"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
