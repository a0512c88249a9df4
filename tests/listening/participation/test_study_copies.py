"""The per-process copy of a study on the listener path: taken only while the row is unchanged,
and each request gets an instance of its own."""

from __future__ import annotations

import pytest

from listening.models import Listener, Study
from listening.participation import selectors
from tests.factories import open_study

pytestmark = pytest.mark.django_db


def listener_of(study: Study) -> Listener:
    return Listener.objects.create(study=study, platform=Listener.Platform.NONE)


def read(listener: Listener) -> Study:
    found = selectors.listener_by_cookie(study_slug=listener.study.slug, token=listener.token)
    return found.study


def test_a_saved_change_of_the_study_is_seen_by_the_next_read():
    study = open_study()
    listener = listener_of(study)
    assert read(listener).title == study.title
    study.title = "Renamed"
    study.save()
    assert read(listener).title == "Renamed"


def test_a_status_change_that_skips_updated_at_is_seen_too():
    study = open_study()
    listener = listener_of(study)
    assert read(listener).status == Study.Status.OPEN
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    assert read(listener).status == Study.Status.PAUSED


def test_each_read_gets_an_instance_of_its_own(django_assert_num_queries):
    study = open_study()
    listener = listener_of(study)
    first = read(listener)
    first.title = "changed in one request only"
    first.screening["mine"] = True
    with django_assert_num_queries(1):  # the listener's row; the study from the copy
        second = read(listener)
    assert second.title == study.title
    assert "mine" not in second.screening
