"""The clip audio view: type, ranges, caching headers, and only one's own playlist."""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import soundfile
from django.test import Client

from listening.models import Clip, Listener, PlaylistItem
from tests.factories import open_study, pass_checks, response_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    return open_study(slug="audio", seconds=0.8)


@pytest.fixture
def session(study):
    """A client holding a playlist, and one clip of that playlist."""
    client = Client()
    client.post(f"/t/{study.slug}/", {"consent": "yes"})
    listener = pass_checks(Listener.objects.get())
    clip = listener.playlist.items.filter(purpose="test").first().clip
    return client, listener, clip


def url(study, clip):
    return f"/t/{study.slug}/clip/{clip.token}/"


def test_whole_clip_with_type_length_and_cache_headers(study, session):
    client, _, clip = session
    response = client.get(url(study, clip))
    data = response_body(response)
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/flac"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(clip.audio.size) == str(len(data))
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response["ETag"].startswith('"') and clip.token in response["ETag"]
    audio, rate = soundfile.read(io.BytesIO(data))
    assert rate == 16000 and len(audio) == round(0.8 * 16000)


def test_range_request_gets_206_with_content_range(study, session):
    client, _, clip = session
    size = clip.audio.size
    whole = response_body(client.get(url(study, clip)))
    response = client.get(url(study, clip), HTTP_RANGE="bytes=10-99")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 10-99/{size}"
    assert response["Content-Length"] == "90"
    assert response_body(response) == whole[10:100]
    open_ended = client.get(url(study, clip), HTTP_RANGE="bytes=100-")
    assert open_ended.status_code == 206 and response_body(open_ended) == whole[100:]
    suffix = client.get(url(study, clip), HTTP_RANGE="bytes=-50")
    assert suffix["Content-Range"] == f"bytes {size - 50}-{size - 1}/{size}"
    assert response_body(suffix) == whole[-50:]
    beyond_end = client.get(url(study, clip), HTTP_RANGE=f"bytes=0-{size * 2}")
    assert beyond_end.status_code == 206 and response_body(beyond_end) == whole


def test_unsatisfiable_range_gets_416(study, session):
    client, _, clip = session
    size = clip.audio.size
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0", "bytes=9-3"):
        response = client.get(url(study, clip), HTTP_RANGE=header)
        assert response.status_code == 416, header
        assert response["Content-Range"] == f"bytes */{size}"


def test_range_we_do_not_serve_falls_back_to_the_whole_file(study, session):
    client, _, clip = session
    response = client.get(url(study, clip), HTTP_RANGE="bytes=0-1,5-9")
    assert response.status_code == 200
    assert len(response_body(response)) == clip.audio.size


def test_etag_revalidation_gets_304(study, session):
    client, _, clip = session
    etag = client.get(url(study, clip))["ETag"]
    response = client.get(url(study, clip), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert not response.content


def test_head_gives_headers_without_body(study, session):
    client, _, clip = session
    response = client.head(url(study, clip))
    assert response.status_code == 200
    assert response["Content-Length"] == str(clip.audio.size)
    assert response.content == b""


def test_clip_of_another_playlist_is_forbidden(study, session):
    client, listener, _ = session
    foreign = (
        Clip.objects.filter(system__study=study)
        .exclude(playlist_items__playlist=listener.playlist)
        .first()
    )
    assert foreign is not None
    response = client.get(url(study, foreign))
    assert response.status_code == 403
    assert "not part of your listening test" in response.content.decode()


def test_unknown_token_is_forbidden_like_a_foreign_one(study, session):
    client, _, _ = session
    response = client.get(f"/t/{study.slug}/clip/AAAAAAAAAAAAAAAAAAAAAA/")
    assert response.status_code == 403


def test_no_listener_cookie_is_forbidden(study, session):
    _, _, clip = session
    assert Client().get(url(study, clip)).status_code == 403


def test_listener_before_the_checks_gets_no_audio(study):
    client = Client()
    client.post(f"/t/{study.slug}/", {"consent": "yes"})
    clip = PlaylistItem.objects.first().clip
    assert client.get(url(study, clip)).status_code == 403


def test_cookie_of_one_study_opens_nothing_in_another(study, session):
    client, _, clip = session
    other = open_study(slug="audio-other")
    other_clip = Clip.objects.filter(system__study=other).first()
    assert client.get(f"/t/{other.slug}/clip/{other_clip.token}/").status_code == 403
    assert client.get(f"/t/{other.slug}/clip/{clip.token}/").status_code == 403


def test_wav_clips_are_served_as_audio_wav(study, session):
    client, _, clip = session
    from django.core.files.base import ContentFile

    buffer = io.BytesIO()
    soundfile.write(buffer, [0.0] * 800, 16000, format="WAV")
    clip.audio.save("clip.wav", ContentFile(buffer.getvalue()))
    response = client.get(url(study, clip))
    assert response["Content-Type"] == "audio/wav"
    assert response_body(response) == buffer.getvalue()


# --- Sent by nginx (AUDIO_SENDFILE=nginx) ------------------------------------------------------


def test_behind_nginx_the_view_checks_and_nginx_sends_the_bytes(study, session, settings):
    settings.AUDIO_SENDFILE = "nginx"
    client, _, clip = session
    response = client.get(url(study, clip))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected-media/{clip.audio.name}"
    assert response["Content-Type"] == "audio/flac"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response.content == b""  # no byte of the file from Python


def test_behind_nginx_a_stranger_still_gets_403_and_no_redirect(study, session, settings):
    settings.AUDIO_SENDFILE = "nginx"
    _, _, clip = session
    response = Client().get(url(study, clip))
    assert response.status_code == 403
    assert "X-Accel-Redirect" not in response


# --- From the S3 store (AUDIO_SENDFILE=signed-url) ---------------------------------------------


def test_with_s3_the_view_checks_and_redirects_to_a_short_lived_signed_url(
    study, session, settings
):
    _, _, clip = session
    name = clip.audio.name
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "harken-clips",
                "endpoint_url": "http://127.0.0.1:9000",
                "access_key": "test-key",
                "secret_key": "test-secret",
                "region_name": "us-east-1",
                "querystring_auth": True,
            },
        },
    }
    settings.AUDIO_SENDFILE = "signed-url"
    settings.AUDIO_SIGNED_URL_S = 120
    client = session[0]
    # Signing needs no request to the store: the URL is computed here.
    response = client.get(url(study, clip))
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"http://127.0.0.1:9000/harken-clips/{name}?")
    query = parse_qs(urlsplit(location).query)
    assert query.get("Signature") or query.get("X-Amz-Signature")
    # Valid for AUDIO_SIGNED_URL_S from now (the signature's own expiry time).
    assert abs(int(query["Expires"][0]) - (time.time() + 120)) < 30
    assert response["Cache-Control"] == "private, no-store"
    assert Client().get(url(study, clip)).status_code == 403
