"""Read-side queries of the listener's path: who a listener is, their playlist and their page.

The rating page and the rating POST read the listener's state once per request: the listener
row with its study and playlist in one query (:func:`listener_by_cookie`), then every item of
the playlist with its clip and the listener's score of it in a second
(:func:`playlist_items_scored`). The page, the progress and the next stage are computed from
that list in Python (:func:`page_of`, :func:`progress_of`): a playlist holds tens of items.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from listening.models import (
    Clip,
    Listener,
    Playlist,
    PlaylistItem,
    Rating,
    Study,
    System,
    TrialClip,
)
from listening.participation import rows

Purpose = PlaylistItem.Purpose


def listener_find(
    *,
    study: Study,
    token: str | None = None,
    platform: str = "",
    external_id: str = "",
    attempt_id: str = "",
) -> Listener | None:
    """The listener of ``study`` with this cookie token, or with this external id *and* the
    platform attempt id it first came with. An external id alone finds nobody: anyone can
    type a participant's id into a link, only the platform hands out the attempt id."""
    if external_id:
        if not attempt_id:
            return None
        return Listener.objects.filter(
            study=study, platform=platform, external_id=external_id, attempt_id=attempt_id
        ).first()
    if token:
        return Listener.objects.filter(study=study, token=token).first()
    return None


def external_id_attempts(*, study: Study, platform: str, external_id: str) -> list[Listener]:
    """The listeners of ``study`` with this platform's external id, one per attempt, oldest
    first, each with ``study`` set: one short read. Most arrivals are a new id and find none,
    and then no other read about the id is needed (whether it is taking part elsewhere)."""
    if not external_id:
        return []
    # order_by("pk"): Listener's default ordering (by study) would join the study table.
    attempts = list(
        Listener.objects.filter(study=study, platform=platform, external_id=external_id).order_by(
            "pk"
        )
    )
    for listener in attempts:
        listener.study = study
    return attempts


def attempt_of(attempts: list[Listener], attempt_id: str) -> Listener | None:
    """The listener of the platform attempt ``attempt_id`` among an id's ``attempts``
    (:func:`external_id_attempts`): an external id without its attempt id finds nobody."""
    if not attempt_id:
        return None
    return next((listener for listener in attempts if listener.attempt_id == attempt_id), None)


#: This process's copies of the studies its listeners use: pk -> ((updated_at, status), column
#: values). A study row has some fifty columns and every listener request needs it: building
#: it from the query costs more CPU than the rest of the listener's row. Each request still
#: reads the study's ``updated_at`` and ``status`` (with the listener, or by slug) and takes
#: the copy only while both match, so a change of settings or status is seen by the next
#: request of every process: the study's writes save ``updated_at`` (auto_now; the
#: ``save(update_fields=...)`` and ``.update()`` calls name it), and the status, the one field
#: that decides whether a listener may go on at all, is compared by itself too.
_STUDY_ROWS: dict[int, tuple[tuple[datetime, str], tuple, tuple[int, ...]]] = {}
_STUDY_ROWS_MAX = 256
_STUDY_ATTNAMES = [f.attname for f in Study._meta.concrete_fields]
#: Values shared as they are between copies: nobody can change them in place. The rest (JSON
#: dicts and lists, the file field's object) are deep-copied for each copy.
_IMMUTABLE = (str, int, float, bool, type(None), datetime, date, Decimal, UUID)


def study_current(*, pk: int, updated_at: datetime, status: str) -> Study:
    """The study ``pk`` as it is when its ``updated_at`` and ``status`` are these: from this
    process's copy, else read (one query) and kept. Every call returns an instance of its own
    (a caller may change it without touching anyone else's)."""
    kept = _STUDY_ROWS.get(pk)
    if kept is not None and kept[0] == (updated_at, status):
        values = list(kept[1])
        for index in kept[2]:
            values[index] = copy.deepcopy(values[index])
        return Study.from_db("default", _STUDY_ATTNAMES, values)
    study = Study.objects.get(pk=pk)
    if len(_STUDY_ROWS) >= _STUDY_ROWS_MAX:
        _STUDY_ROWS.clear()
    values = copy.deepcopy(tuple(getattr(study, name) for name in _STUDY_ATTNAMES))
    mutable = tuple(i for i, value in enumerate(values) if type(value) not in _IMMUTABLE)
    _STUDY_ROWS[pk] = ((study.updated_at, study.status), values, mutable)
    return study


def study_by_slug(*, slug: str) -> Study | None:
    """The study with this public slug (:func:`study_current`: one query of three columns while
    this process has a current copy), or None."""
    row = Study.objects.filter(slug=slug).values_list("pk", "updated_at", "status").first()
    return None if row is None else study_current(pk=row[0], updated_at=row[1], status=row[2])


def listener_by_cookie(*, study_slug: str, token: str, lock: bool = False) -> Listener | None:
    """The listener of the study ``study_slug`` whose cookie carries ``token``, with the
    playlist they hold (if any) and the study's ``updated_at`` and status in the same query; the
    study itself from :func:`study_current` (read only when it changed).

    With ``lock`` (inside a transaction) the listener's row, and only that row, is locked
    (``FOR UPDATE OF`` the listener): the study row is shared by every listener of the study
    and the playlist is the nullable side of an outer join, so neither may be locked here."""
    # Written once per process (rows.py): through the ORM, compiling this query cost more CPU
    # than the rest of the request's reads.
    found = rows.listener_row(study_slug=study_slug, token=token, lock=lock)
    if found is None:
        return None
    listener, study_updated_at, study_status = found
    listener.study = study_current(
        pk=listener.study_id, updated_at=study_updated_at, status=study_status
    )
    return listener


def held_playlist(listener: Listener) -> Playlist | None:
    """The playlist the listener holds, from what was read with the listener when it was
    (``listener_by_cookie``), else with one query."""
    try:
        return listener.playlist
    except Playlist.DoesNotExist:
        return None


def page_again_items(listener: Listener) -> list[PlaylistItem] | None:
    """The listener's items, scored, for a page sent back whole (a follow-up question left
    open); None when the listener no longer holds a playlist (the place went to another
    listener meanwhile): the caller sends them to the rating page, which says so."""
    playlist = held_playlist(listener)
    if playlist is None:
        return None
    return playlist_items_scored(listener=listener, playlist=playlist)


@dataclass(frozen=True)
class TrialPage:
    """The one-trial page being drawn (comparison, MUSHRA, transcription): whose it is, the
    trial (their next item, or the one a refused POST came from) and where they are
    (:func:`progress_of`)."""

    study: Study
    listener: Listener
    item: PlaylistItem
    progress: dict


def trial_page_again(*, study: Study, listener: Listener, item_id: int) -> TrialPage | None:
    """The one-trial page a POST came from, to be sent back whole (a follow-up question left
    open); None when the listener no longer holds that trial (the place went to another
    listener meanwhile): the caller sends them to the rating page, which says so."""
    items = page_again_items(listener)
    item = next((i for i in items or () if i.pk == item_id), None)
    if item is None:
        return None
    return TrialPage(study, listener, item, progress_of(items))


def listener_playlist(*, listener: Listener) -> Playlist | None:
    """The playlist the listener holds (claimed or completed), or None."""
    return Playlist.objects.filter(listener=listener).order_by().first()


def playlist_items_scored(*, listener: Listener, playlist: Playlist) -> list[PlaylistItem]:
    """Every item of ``playlist`` in order, with its clip, each carrying ``listener_answered``
    (whether the listener has answered that trial) and ``listener_score`` (the score of the
    answer, None while unanswered and for the types that answer with a choice). One query.

    A listener rates only the items of the one playlist they hold, so these scores are all of
    their ratings (the attention checks compare within this list)."""
    return rows.item_rows(listener_id=listener.pk, playlist_id=playlist.pk)


def page_of(items: list[PlaylistItem], per_page: int) -> list[PlaylistItem]:
    """The current page of scored ``items`` (``playlist_items_scored``): the first unrated
    ones, up to ``per_page``, never mixing training with counted items. Empty when all are
    rated."""
    unrated = [item for item in items if not item.listener_answered][: max(1, per_page)]
    if not unrated:
        return []
    training = unrated[0].purpose == Purpose.TRAINING
    page = []
    for item in unrated:
        if (item.purpose == Purpose.TRAINING) != training:
            break
        page.append(item)
    return page


def progress_of(items: list[PlaylistItem]) -> dict:
    """Where the listener is, from scored ``items``: practice k of P, or clip k of T."""
    n_practice = sum(1 for item in items if item.purpose == Purpose.TRAINING)
    rated = [item for item in items if item.listener_answered]
    done_practice = sum(1 for item in rated if item.purpose == Purpose.TRAINING)
    return {
        "n_practice": n_practice,
        "n_rated": len(items) - n_practice,
        "done_practice": done_practice,
        "done_rated": len(rated) - done_practice,
        "done": len(rated),
        "total": len(items),
    }


def listener_page(*, listener: Listener, playlist: Playlist | None = None) -> list[PlaylistItem]:
    """The items of the listener's current page: the first unrated ones, up to the study's
    ``clips_per_page``, never mixing training with counted items. Empty when all are rated."""
    playlist = playlist or listener_playlist(listener=listener)
    if playlist is None:
        return []
    items = playlist_items_scored(listener=listener, playlist=playlist)
    return page_of(items, listener.study.clips_per_page)


def listener_next_item(*, listener: Listener) -> PlaylistItem | None:
    """The next item the listener has to rate, or None when they are done (or have none)."""
    page = listener_page(listener=listener)
    return page[0] if page else None


def listener_progress(*, listener: Listener) -> tuple[int, int]:
    """(items rated, items in the playlist), training included."""
    playlist = listener_playlist(listener=listener)
    if playlist is None:
        return 0, 0
    total = playlist.items.count()
    done = Rating.objects.filter(listener=listener, item__playlist=playlist).count()
    return done, total


def study_has_both_ends(*, study: Study) -> bool:
    """Whether the study has anchors and other systems too (practice then spans the scale,
    ``design.pick_training``): one query."""
    counts = study.systems.order_by().aggregate(
        anchors=Count("pk", filter=Q(kind=System.Kind.ANCHOR)),
        others=Count("pk", filter=~Q(kind=System.Kind.ANCHOR)),
    )
    return bool(counts["anchors"] and counts["others"])


def listener_clip(*, study_slug: str, listener_token: str, clip_token: str) -> Clip | None:
    """The clip with ``clip_token`` when the playlist held by the listener with
    ``listener_token`` in study ``study_slug`` holds it, else None: one query, with the audio
    file's name only (the audio view needs nothing else)."""
    return rows.clip_row(
        study_slug=study_slug, listener_token=listener_token, clip_token=clip_token
    )


#: Rough time per clip beyond its own length: reading, choosing, pressing Next (seconds).
SECONDS_PER_ANSWER = 6.0
#: Rough time of the checks before the ratings (seconds).
QUESTIONNAIRE_SECONDS = 60.0
HEADPHONE_CHECK_SECONDS = 120.0


#: How long the welcome page's task size may be reused (seconds). Playlists are built once, when
#: the study opens (the cache key names that moment), so this only bounds a stale entry.
TASK_SIZE_CACHE_S = 300


def study_task_size(*, study: Study) -> dict:
    """What a listener will do, from the study's playlists, for the welcome page and the
    progress line to agree: practice clips, rated clips (test items and attention checks),
    each as (fewest, most) over the playlists, the checks, and about how many minutes.

    Counted per playlist in the database and kept in the cache: every arrival opens the
    welcome page, and a big study has tens of thousands of items."""
    opened = study.opened_at.timestamp() if study.opened_at else 0
    key = f"harken:task-size:{study.pk}:{opened}:{study.status}"
    summary = cache.get(key)
    if summary is None:
        per_playlist = list(
            PlaylistItem.objects.filter(playlist__study=study)
            .order_by()
            .values("playlist_id")
            .annotate(
                practice=Count("pk", filter=Q(purpose=Purpose.TRAINING)),
                rated=Count("pk", filter=~Q(purpose=Purpose.TRAINING)),
            )
            .values_list("playlist_id", "practice", "rated")
        )
        # Every clip each trial presents: one in ACR, two or three in a comparison, all the
        # conditions of a MUSHRA page.
        seconds = dict(
            TrialClip.objects.filter(trial__playlist__study=study)
            .order_by()
            .values("trial__playlist_id")
            .annotate(seconds=Sum(Coalesce("clip__duration_s", 0.0)))
            .values_list("trial__playlist_id", "seconds")
        )
        per_playlist = [(p, r, seconds.get(pk, 0.0)) for pk, p, r in per_playlist]
        summary = ()
        if per_playlist:
            summary = (
                min(p for p, _r, _s in per_playlist),
                max(p for p, _r, _s in per_playlist),
                min(r for _p, r, _s in per_playlist),
                max(r for _p, r, _s in per_playlist),
                max(p + r for p, r, _s in per_playlist),
                max(s for _p, _r, s in per_playlist),
            )
        cache.set(key, summary, TASK_SIZE_CACHE_S)
    if not summary:
        return {}
    practice_min, practice_max, rated_min, rated_max, n_items, seconds = summary
    total = seconds + SECONDS_PER_ANSWER * n_items
    total += QUESTIONNAIRE_SECONDS if study.questionnaire_enabled else 0.0
    total += HEADPHONE_CHECK_SECONDS if study.headphone_check_enabled else 0.0
    return {
        "practice_min": practice_min,
        "practice_max": practice_max,
        "rated_min": rated_min,
        "rated_max": rated_max,
        # A comparison trial (CCR, AB, ABX, SMOS) presents two or three sounds, not one clip.
        "comparison": study.test_type != Study.TestType.ACR,
        "questionnaire": study.questionnaire_enabled,
        "headphones": study.headphone_check_enabled,
        "minutes": max(1, math.ceil(total / 60)),
    }


def listener_progress_parts(*, listener: Listener) -> dict:
    """Where the listener is, in the welcome page's terms: practice k of P, or clip k of T."""
    playlist = listener_playlist(listener=listener)
    if playlist is None:
        return {}
    return progress_of(playlist_items_scored(listener=listener, playlist=playlist))
