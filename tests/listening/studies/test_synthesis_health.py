"""What a researcher sees of synthesis that is not moving (lifecycle.synthesis_health) and of
failed clips (the study page): stalled with no worker, a worker that died, failed clips that
block opening with their first error and a "Retry failed clips" button."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from listening.models import Clip, Study
from listening.studies.lifecycle import synthesis_health
from tests.factories import ResearcherFactory, clips_of, espeak_study


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def study(db):
    study = espeak_study(n_sentences=4)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.SYNTHESIZING)
    return study


@pytest.fixture
def owner(client, study):
    client.force_login(study.owner)
    return client


def _page(client, study, name="clips") -> str:
    return client.get(reverse(f"researcher:{name}", kwargs={"slug": study.slug})).content.decode()


def test_pending_clips_no_worker_took_are_called_stalled_with_what_to_do(owner, study):
    clips_of(study).update(enqueued_at=_ago(600), updated_at=_ago(600))
    health = synthesis_health(study=study)
    assert health["stalled"] and health["stalled_minutes"] == 10 and health["waiting"] == 4
    page = _page(owner, study)
    assert "Stalled: no worker has picked up these 4 clips for 10 minutes" in page
    assert "Is a worker running?" in page and "make run" in page
    assert "celery -A mos_site worker" in page
    status = owner.get(reverse("researcher:status_json", kwargs={"slug": study.slug})).json()
    assert status["synthesis"]["stalled"] is True
    assert status["synthesis"]["alerts"] == health["alerts"]


def test_a_clip_moving_means_not_stalled(owner, study):
    clips_of(study).update(enqueued_at=_ago(600), updated_at=_ago(600))
    clip = clips_of(study).first()
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.RUNNING, worker="gpu/1", lease_until=timezone.now() + timedelta(60)
    )
    assert synthesis_health(study=study)["stalled"] is False
    # Queued a moment ago: the worker has not had its chance yet.
    clips_of(study).update(
        status=Clip.Status.PENDING, enqueued_at=timezone.now(), updated_at=timezone.now()
    )
    health = synthesis_health(study=study)
    assert health["stalled"] is False and health["alerts"] == []
    assert "Stalled" not in _page(owner, study)


def test_a_dead_worker_and_its_requeued_clips_are_named(owner, study):
    first, second, *_ = clips_of(study).order_by("id")
    Clip.objects.filter(pk=first.pk).update(
        status=Clip.Status.RUNNING, worker="gpu-1/42", lease_until=_ago(5)
    )
    Clip.objects.filter(pk=second.pk).update(worker="gpu-0/7", lease_expiries=1)
    page = _page(owner, study)
    assert "Worker gpu-1/42 stopped while synthesising 1 clip: it will be queued again" in page
    assert "Worker gpu-0/7 died; 1 clip re-queued." in page
    health = synthesis_health(study=study)
    assert health["dead_workers"] == [{"worker": "gpu-1/42", "clips": 1}]
    assert health["requeued"] == [{"worker": "gpu-0/7", "clips": 1}]


def _fail_one(study) -> Clip:
    clips = list(clips_of(study).order_by("id"))
    for clip in clips[1:]:
        Clip.objects.filter(pk=clip.pk).update(
            status=Clip.Status.READY, audio=f"clips/xx/{clip.token}.flac"
        )
    Clip.objects.filter(pk=clips[0].pk).update(
        status=Clip.Status.FAILED, error="The voice produced unusable audio: silent"
    )
    Study.objects.filter(pk=study.pk).update(status=Study.Status.READY)
    return clips[0]


def _open_button(page: str) -> str:
    return re.search(r"<button[^>]*data-open-test[^>]*>", page).group(0)


def test_failed_clips_block_opening_visibly_and_offer_a_retry(owner, study):
    _fail_one(study)
    page = _page(owner, study, "study")
    assert "1 clip failed: the test cannot open until it is ready" in page
    assert "First error" in page and "The voice produced unusable audio: silent" in page
    assert "Retry failed clips" in page and 'name="only_failed" value="1"' in page
    assert "secondary" in _open_button(page)  # not the highlighted button


def test_retry_failed_clips_requeues_only_those(owner, study):
    failed = _fail_one(study)
    response = owner.post(
        reverse("researcher:synthesis_start", kwargs={"slug": study.slug}), {"only_failed": "1"}
    )
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == Clip.Status.PENDING and failed.error == ""
    assert clips_of(study).filter(status=Clip.Status.READY).count() == 3
    assert Study.objects.get(pk=study.pk).status == Study.Status.SYNTHESIZING


def test_retry_failed_clips_is_the_owners_and_needs_the_csrf_token(client, study):
    failed = _fail_one(study)
    url = reverse("researcher:synthesis_start", kwargs={"slug": study.slug})
    client.force_login(ResearcherFactory(username="bob"))
    assert client.post(url, {"only_failed": "1"}).status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(study.owner)
    assert strict.post(url, {"only_failed": "1"}).status_code == 403
    assert Clip.objects.get(pk=failed.pk).status == Clip.Status.FAILED


def test_open_the_test_is_primary_once_every_clip_is_ready(owner, study):
    for clip in clips_of(study):
        Clip.objects.filter(pk=clip.pk).update(
            status=Clip.Status.READY, audio=f"clips/xx/{clip.token}.flac"
        )
    Study.objects.filter(pk=study.pk).update(status=Study.Status.READY)
    page = _page(owner, study, "study")
    assert "secondary" not in _open_button(page)
    assert "Retry failed clips" not in page
