"""Practice clips: they span the scale, vary across listeners, never come back as
a test clip, and the page says what they are."""

from __future__ import annotations

import pytest

from listening.models import PlaylistItem, System
from tests.factories import open_study

pytestmark = pytest.mark.django_db


def test_practice_is_the_reference_and_the_worst_anchor_never_a_test_clip_and_varies():
    """Today's code gave every listener the same two clips of the two worst anchors, and one
    of them came back as a test clip of the same playlist."""
    study = open_study(
        slug="practice",
        n_systems=2,
        n_sentences=6,
        clips_per_listener=4,
        training_clips=2,
        anchors=(5.0, 15.0),
        attention_check_rate=0.25,
    )
    kinds = []
    practice_sets = set()
    for playlist in study.playlists.all():
        items = list(playlist.items.select_related("clip__system").order_by("position"))
        practice = [i for i in items if i.purpose == PlaylistItem.Purpose.TRAINING]
        rated_later = {i.clip_id for i in items if i.purpose != PlaylistItem.Purpose.TRAINING}
        assert len(practice) == 2
        assert not {i.clip_id for i in practice} & rated_later
        kinds.append([(i.clip.system.kind, i.clip.system.anchor_q_db) for i in practice])
        practice_sets.add(tuple(i.clip_id for i in practice))
    # Best first (the natural reference), then the worst condition (the 5 dB anchor).
    assert all(k == [(System.Kind.REFERENCE, None), (System.Kind.ANCHOR, 5.0)] for k in kinds)
    assert len(practice_sets) > 1
