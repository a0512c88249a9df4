"""Builders shared by the listener-path tests (unit and browser); this file holds no tests.

``build_open_study`` makes a real study the way a researcher's would be: systems, sentences
(one of them a spoken attention check with an expected score), ready clips with short real
FLAC files in the default storage, then ``study_open`` builds the playlists with
``listening/design.py``.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import numpy as np
import soundfile
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.files.base import ContentFile
from django.utils import timezone

from listening.models import Clip, Listener, PlaylistItem, Sentence, Study, System
from listening.services import listeners as svc
from listening.services.studies import study_open

SAMPLE_RATE = 16000


def flac_bytes(seconds: float, freq: float = 440.0) -> bytes:
    """A short tone as FLAC: real audio a browser can decode and play to its end."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = 0.2 * np.sin(2 * np.pi * freq * t)
    buffer = io.BytesIO()
    soundfile.write(buffer, tone, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def build_open_study(
    *,
    slug: str = "listen",
    n_systems: int = 2,
    n_sentences: int = 4,
    ratings_per_clip: int = 1,
    clips_per_listener: int = 4,
    clips_per_page: int = 1,
    training_clips: int = 1,
    attention_check_rate: float = 0.25,
    gold: bool = True,
    seconds: float = 0.6,
    questionnaire: bool = True,
    headphone_check: bool = True,
    completion_code: str = "HARKEN-42",
    completion_url: str = "",
    open_study: bool = True,
    **study_fields,
) -> Study:
    owner, _ = get_user_model().objects.get_or_create(username=f"researcher-{slug}")
    study = Study.objects.create(
        owner=owner,
        slug=slug,
        title=f"Study {slug}",
        status=Study.Status.READY,
        instructions="Please **wear headphones**.\n\n<script>alert('x')</script>",
        consent_text="You agree to take part. [More](javascript:alert(1))",
        ratings_per_clip=ratings_per_clip,
        clips_per_listener=clips_per_listener,
        clips_per_page=clips_per_page,
        training_clips=training_clips,
        attention_check_rate=attention_check_rate,
        questionnaire_enabled=questionnaire,
        headphone_check_enabled=headphone_check,
        completion_code=completion_code,
        completion_url=completion_url,
        **study_fields,
    )
    systems = [
        System.objects.create(
            study=study,
            name=f"system-{k}",
            kind=System.Kind.REFERENCE if k == 0 else System.Kind.UPLOADED,
            position=k,
        )
        for k in range(n_systems)
    ]
    sentences = [
        Sentence.objects.create(study=study, key=f"s{j}", text=f"Sentence {j}.", position=j)
        for j in range(n_sentences)
    ]
    if gold:
        sentences.append(
            Sentence.objects.create(
                study=study,
                key="check",
                text="Please select Poor.",
                position=n_sentences,
                expected_score=2,
            )
        )
    for k, system in enumerate(systems):
        for j, sentence in enumerate(sentences):
            clip = Clip(system=system, sentence=sentence, duration_s=seconds)
            clip.audio.save("clip.flac", ContentFile(flac_bytes(seconds, 300 + 40 * k + 5 * j)))
            clip.status = Clip.Status.READY
            clip.sample_rate = SAMPLE_RATE
            clip.ready_at = timezone.now()
            clip.save()
    if open_study:
        study_open(study=study)
        study.refresh_from_db()
    return study


def pass_checks(listener: Listener) -> Listener:
    """Consent, questionnaire and a passed headphone check (answers read from the database)."""
    listener = svc.listener_consent(listener=listener)
    if listener.stage == Listener.Stage.QUESTIONNAIRE:
        listener = svc.listener_questionnaire_save(
            listener=listener,
            answers={"native_language": "English", "age_band": "25-34", "device": "headphones"},
        )
    if listener.stage == Listener.Stage.HEADPHONES:
        svc.headphone_check_start(listener=listener)
        listener.refresh_from_db()
        svc.headphone_check_answer(listener=listener, answers=listener.headphone_check["correct"])
    listener.refresh_from_db()
    return listener


def join(study: Study, external_id: str = "", platform: str = "") -> Listener:
    platform = platform or (Listener.Platform.PROLIFIC if external_id else Listener.Platform.NONE)
    return svc.listener_join(
        study=study, platform=platform, external_id=external_id, params={}, user_agent="test"
    )


def rating_listener(study: Study, external_id: str = "") -> Listener:
    """A listener who has passed every check and holds a playlist."""
    return pass_checks(join(study, external_id))


def rate(listener: Listener, item: PlaylistItem, score: int, **overrides):
    """Rate an item as a browser would after playing it to its end."""
    now = timezone.now()
    duration = item.clip.duration_s or 1.0
    fields = {
        "listener": listener,
        "item_id": item.pk,
        "score": score,
        "play_count": 1,
        "played_seconds": duration,
        "page_issued_at": now - timedelta(seconds=duration + 2),
        "first_play_ended_at": now - timedelta(seconds=1),
        "clip_token": item.clip.token,
    }
    fields.update(overrides)
    return svc.rating_submit(**fields)


def rate_everything(listener: Listener, score_for=None) -> None:
    """Rate the listener's whole playlist; gold items get their expected score by default."""
    while (item := svc.listener_next_item(listener=listener)) is not None:
        score = score_for(item) if score_for else (item.expected_score or 4)
        rate(listener, item, score)
        listener.refresh_from_db()


PAGE_TOKEN_RE = re.compile(r'name="page" value="([^"]+)"')


def page_token(html: str) -> str:
    match = PAGE_TOKEN_RE.search(html)
    assert match, "no page token on the rating page"
    return match.group(1)


def aged(token: str, seconds: float) -> str:
    """The same page token, issued ``seconds`` earlier (a listener who took their time)."""
    payload = signing.loads(token, salt="listening.rate-page")
    payload["t"] -= seconds
    return signing.dumps(payload, salt="listening.rate-page", compress=True)


def form_fields(html: str) -> dict[str, str]:
    """Hidden inputs of the rating form: item_N, clip_N, plays_N, played_N, ended_N, page."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
