"""Synthesis tasks (synthesis/tasks.py): run by a real worker, and a killed worker loses no clip."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.conf import settings

from listening.models import Clip, Study
from listening.studies.launch import study_start_synthesis
from listening.studies.lifecycle import clip_counts
from tests.conftest import purge_broker, start_worker, wait_for
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
        study_start_synthesis(study=study)
        wait_for(
            lambda: clip_counts(study=study)["ready"] >= 20,
            timeout=120,
            interval=0.02,
            message="the first clips",
        )
        worker.kill()
    finally:
        worker.stop()
    counts = clip_counts(study=study)
    assert 0 < counts["ready"] < n, "the worker finished before it could be killed"
    assert counts["running"] > 0

    second = start_worker(tmp_path / "second.log", env=env)
    try:
        wait_for(
            lambda: clip_counts(study=study)["ready"] == n,
            timeout=180,
            message="every clip after the restart",
        )
    finally:
        second.stop()
    assert clip_counts(study=study)["failed"] == 0
    clips_dir = Path(settings.MEDIA_ROOT) / "clips"
    for clip in clips_of(study):
        files = list((clips_dir / clip.token[:2]).glob(f"{clip.token}*"))
        assert [f.name for f in files] == [f"{clip.token}.flac"]
        samples, sr = sf.read(files[0])
        assert len(samples) > 0
