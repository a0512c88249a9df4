"""Synthesis tasks (synthesis/tasks.py): queued only once the rows they read are committed, run
by a real worker, and a killed worker loses no clip."""

from __future__ import annotations

import io
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import soundfile as sf
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction

from listening.models import Clip, Study, System
from listening.studies.launch import clip_retry, study_start_synthesis
from listening.studies.lifecycle import clip_counts
from synthesis import tasks
from tests.conftest import (
    finish_on_a_new_worker,
    purge_broker,
    start_worker,
    synthesise_first_clips,
    wait_for,
)
from tests.factories import clips_of, espeak_study


def read_clip(clip: Clip) -> tuple[np.ndarray, int]:
    with clip.audio.open("rb") as fh:
        return sf.read(io.BytesIO(fh.read()), dtype="float32")


@pytest.mark.worker
def test_real_worker_synthesises_a_study_with_anchors(celery_worker):
    study = espeak_study(n_sentences=3, anchors=[15])
    assert study_start_synthesis(study=study) == 6
    wait_for(
        lambda: clip_counts(study=study)["ready"] == 6 or clip_counts(study=study)["failed"],
        timeout=120,
        message="every clip to be ready",
    )
    assert clip_counts(study=study)["failed"] == 0, celery_worker.log_text()[-3000:]
    wait_for(
        lambda: Study.objects.get(pk=study.pk).status == Study.Status.READY,
        timeout=30,
        message="the study to become ready",
    )
    for clip in clips_of(study):
        samples, sr = read_clip(clip)
        assert sr == 22050 and len(samples) > sr // 2


@pytest.mark.worker
def test_killed_worker_loses_no_clip_and_writes_none_twice(transactional_db, tmp_path):
    """SIGKILL the worker mid-task (as an OOM kill would), start another: every clip ends
    ready exactly once. Redis redelivers the unacknowledged task after the visibility timeout;
    with the filesystem broker the new worker requeues the orphaned clips."""
    purge_broker()
    env = {"CELERY_VISIBILITY_TIMEOUT": "3"}
    n = 240
    study = espeak_study(n_sentences=n)
    worker = start_worker(tmp_path / "first.log", env=env)
    try:
        synthesise_first_clips(study, 20)
        worker.kill()
    finally:
        worker.stop()
    counts = clip_counts(study=study)
    assert 0 < counts["ready"] < n, "the worker finished before it could be killed"
    assert counts["running"] > 0

    finish_on_a_new_worker(
        tmp_path / "second.log",
        study,
        n,
        timeout=180,
        env=env,
    )
    assert clip_counts(study=study)["failed"] == 0
    clips_dir = Path(settings.MEDIA_ROOT) / "clips"
    for clip in clips_of(study):
        files = list((clips_dir / clip.token[:2]).glob(f"{clip.token}*"))
        assert [f.name for f in files] == [f"{clip.token}.flac"]
        samples, sr = sf.read(files[0])
        assert len(samples) > 0


# --- Queued after the commit, by the one function that picks the task -------------------------


def _recorder(calls: list):
    """A stand-in for ``Task.delay`` that notes what a worker would find at that moment."""

    def delay(system_id: int, clip_ids: list[int]) -> None:
        statuses = sorted(Clip.objects.filter(id__in=clip_ids).values_list("status", flat=True))
        calls.append((system_id, sorted(clip_ids), connection.in_atomic_block, statuses))

    return delay


def test_launch_queues_voices_and_anchors_only_after_the_commit(transactional_db):
    study = espeak_study(n_sentences=2, anchors=[15])
    voice = study.systems.get(kind=System.Kind.VOICE)
    anchor = study.systems.get(kind=System.Kind.ANCHOR)
    sent: list = []
    with (
        mock.patch.object(tasks.synthesize_clips, "delay", _recorder(sent)),
        mock.patch.object(tasks.derive_anchor_clips, "delay", _recorder(sent)),
    ):
        with transaction.atomic():
            assert study_start_synthesis(study=study) == 4
            assert sent == []  # the clip rows are not committed yet: nothing is sent
        pending = [Clip.Status.PENDING] * 2
        assert sent == [
            (voice.pk, sorted(voice.clips.values_list("id", flat=True)), False, pending),
            (anchor.pk, sorted(anchor.clips.values_list("id", flat=True)), False, pending),
        ]


def test_a_retried_clip_is_queued_only_after_the_commit(transactional_db):
    study = espeak_study(n_sentences=1)
    clip = clips_of(study).get()
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.FAILED, error="boom")
    sent: list = []
    with mock.patch.object(tasks.synthesize_clips, "delay", _recorder(sent)):
        with transaction.atomic():
            clip_retry(clip=clip)
            assert sent == []
        assert sent == [(clip.system_id, [clip.pk], False, [Clip.Status.PENDING])]


def test_anchors_are_queued_only_after_their_source_clips_commit(transactional_db):
    study = espeak_study(n_sentences=2, anchors=[15])
    voice = study.systems.get(kind=System.Kind.VOICE)
    anchor = study.systems.get(kind=System.Kind.ANCHOR)
    sources = list(voice.clips.values_list("id", flat=True))
    sent: list = []
    seen_sources: list = []

    def derive(system_id: int, clip_ids: list[int]) -> None:
        _recorder(sent)(system_id, clip_ids)
        seen_sources.extend(Clip.objects.filter(id__in=sources).values_list("status", flat=True))

    with mock.patch.object(tasks.derive_anchor_clips, "delay", derive), transaction.atomic():
        assert tasks.synthesize_clips(voice.pk, sources) == 2
        assert sent == []  # the source clips are ready, but not committed yet
    anchors = sorted(anchor.clips.values_list("id", flat=True))
    assert sent == [(anchor.pk, anchors, False, [Clip.Status.PENDING] * 2)]
    assert seen_sources == [Clip.Status.READY] * 2  # the worker finds its sources ready


def test_each_kind_of_system_has_its_task_and_uploaded_audio_none(
    db, django_capture_on_commit_callbacks
):
    study = espeak_study(n_sentences=1, anchors=[15])
    uploaded = System.objects.create(study=study, name="recordings", kind=System.Kind.UPLOADED)
    with (
        mock.patch.object(tasks.synthesize_clips, "delay") as synthesize,
        mock.patch.object(tasks.derive_anchor_clips, "delay") as derive,
        django_capture_on_commit_callbacks(execute=True),
    ):
        tasks.clips_enqueue(system=study.systems.get(kind=System.Kind.VOICE), clip_ids=[1])
        tasks.clips_enqueue(system=study.systems.get(kind=System.Kind.ANCHOR), clip_ids=[2])
    assert synthesize.call_args.args[1] == [1] and derive.call_args.args[1] == [2]
    with pytest.raises(ValueError, match="its audio is uploaded"):
        tasks.clips_enqueue(system=uploaded, clip_ids=[3])


def test_a_task_past_its_soft_time_limit_fails_its_unfinished_clips(db, settings):
    study = espeak_study(n_sentences=3)
    system = study.systems.get()
    done, *unfinished = sorted(system.clips.values_list("id", flat=True))
    # Made before the limit hit.
    Clip.objects.filter(pk=done).update(status=Clip.Status.READY, audio="clips/xx/done.flac")
    Clip.objects.filter(pk__in=unfinished).update(status=Clip.Status.RUNNING)
    with mock.patch.object(
        tasks.clip_service, "voice_clips_synthesize", side_effect=SoftTimeLimitExceeded()
    ):
        assert tasks.synthesize_clips(system.pk, [done, *unfinished]) == 0
    assert Clip.objects.get(pk=done).status == Clip.Status.READY
    limit = settings.CELERY_TASK_SOFT_TIME_LIMIT
    for clip in Clip.objects.filter(pk__in=unfinished):
        assert clip.status == Clip.Status.FAILED
        assert f"ran past the task's time limit ({limit} s)" in clip.error
        assert "Retry the failed clips" in clip.error
