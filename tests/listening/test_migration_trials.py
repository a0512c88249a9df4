"""The trials migration (0005, squashed with 0006-0007) turns ACR playlists of a database at the
shipped schema (0001-0004, squashed) into trials without losing or changing anything: every old
item presents its clip as the test clip, and every old rating keeps its score."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("listening", "0001_squashed_0004_studies")]
AFTER = [("listening", "0005_squashed_0007_trials")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_old_acr_data_becomes_trials_with_the_same_answers():
    old = _migrate(BEFORE)
    User = old.get_model("auth", "User")
    Study = old.get_model("listening", "Study")
    Sentence = old.get_model("listening", "Sentence")
    System = old.get_model("listening", "System")
    Clip = old.get_model("listening", "Clip")
    Listener = old.get_model("listening", "Listener")
    Playlist = old.get_model("listening", "Playlist")
    PlaylistItem = old.get_model("listening", "PlaylistItem")
    Rating = old.get_model("listening", "Rating")
    owner = User.objects.create(username="old-researcher")
    study = Study.objects.create(owner=owner, slug="old", title="Old", status="open")
    system = System.objects.create(study=study, name="rec", kind="uploaded")
    clips = [
        Clip.objects.create(
            system=system, sentence=Sentence.objects.create(study=study, key=f"s{i}", text="Hi.")
        )
        for i in range(3)
    ]
    playlist = Playlist.objects.create(study=study, index=0, seed=7)
    listener = Listener.objects.create(study=study)
    items = [
        PlaylistItem.objects.create(playlist=playlist, position=i, clip=clip)
        for i, clip in enumerate(clips)
    ]
    for score, (item, plays) in zip((1, 5, 3), zip(items, (1, 2, 3), strict=True), strict=True):
        Rating.objects.create(
            listener=listener, clip=item.clip, item=item, score=score, play_count=plays
        )
    before = sorted(Rating.objects.values_list("item_id", "clip_id", "score", "purpose"))

    new = _migrate(AFTER)
    TrialClip = new.get_model("listening", "TrialClip")
    Rating = new.get_model("listening", "Rating")
    assert sorted(TrialClip.objects.values_list("trial_id", "position", "role", "clip_id")) == [
        (item.id, 0, "test", item.clip_id) for item in items
    ]
    after = Rating.objects.order_by("item_id")
    assert sorted(after.values_list("item_id", "clip_id", "score", "purpose")) == before
    assert {r.test_type for r in after} == {"acr"}
    assert [(r.play_count, r.play_counts) for r in after] == [(1, [1]), (2, [2]), (3, [3])]
    # Leave the database as the other tests expect it.
    _migrate(_latest())


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
