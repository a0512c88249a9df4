"""``manage.py synthesize STUDY_SLUG [--wait]``: queues a study's clips and, waiting, reports
how they ended."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from listening.studies.lifecycle import clip_counts
from tests.factories import espeak_study


@pytest.mark.worker
def test_synthesize_command_waits_and_reports(celery_worker):
    study = espeak_study(slug="cmd", n_sentences=2)
    out = io.StringIO()
    call_command("synthesize", "cmd", "--wait", "--timeout", "120", stdout=out)
    text = out.getvalue()
    assert "Queued 2 clips of 'cmd'." in text
    assert "Done: 2 ready, 0 failed; study is ready." in text
    assert clip_counts(study=study)["ready"] == 2


def test_synthesize_command_names_an_unknown_study(db):
    with pytest.raises(CommandError, match="No study with slug 'no-such-study'."):
        call_command("synthesize", "no-such-study")
