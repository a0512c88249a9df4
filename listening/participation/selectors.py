"""Read-side queries of the listener's path: who a listener is, their playlist and their page."""

from __future__ import annotations

import math

from listening.models import Listener, Playlist, PlaylistItem, Rating, Study, TrialClip

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


def listener_playlist(*, listener: Listener) -> Playlist | None:
    """The playlist the listener holds (claimed or completed), or None."""
    return Playlist.objects.filter(listener=listener).first()


def listener_page(*, listener: Listener, playlist: Playlist | None = None) -> list[PlaylistItem]:
    """The items of the listener's current page: the first unrated ones, up to the study's
    ``clips_per_page``, never mixing training with counted items. Empty when all are rated."""
    playlist = playlist or listener_playlist(listener=listener)
    if playlist is None:
        return []
    per_page = max(1, listener.study.clips_per_page)
    rated = Rating.objects.filter(listener=listener, item__playlist=playlist).values("item_id")
    unrated = list(
        playlist.items.exclude(pk__in=rated).select_related("clip").order_by("position")[:per_page]
    )
    if not unrated:
        return []
    training = unrated[0].purpose == Purpose.TRAINING
    page = []
    for item in unrated:
        if (item.purpose == Purpose.TRAINING) != training:
            break
        page.append(item)
    return page


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


#: Rough time per clip beyond its own length: reading, choosing, pressing Next (seconds).
SECONDS_PER_ANSWER = 6.0
#: Rough time of the checks before the ratings (seconds).
QUESTIONNAIRE_SECONDS = 60.0
HEADPHONE_CHECK_SECONDS = 120.0


def study_task_size(*, study: Study) -> dict:
    """What a listener will do, from the study's playlists, for the welcome page and the
    progress line to agree: practice clips, rated clips (test items and attention checks),
    each as (fewest, most) over the playlists, the checks, and about how many minutes."""
    counts: dict[int, list[int]] = {}
    seconds: dict[int, float] = {}
    items = PlaylistItem.objects.filter(playlist__study=study).values_list("playlist_id", "purpose")
    for playlist_id, purpose in items:
        practice, rated = counts.setdefault(playlist_id, [0, 0])
        if purpose == Purpose.TRAINING:
            counts[playlist_id][0] = practice + 1
        else:
            counts[playlist_id][1] = rated + 1
    # Every clip each trial presents: one in ACR, two or three in a comparison.
    for playlist_id, duration in TrialClip.objects.filter(trial__playlist__study=study).values_list(
        "trial__playlist_id", "clip__duration_s"
    ):
        seconds[playlist_id] = seconds.get(playlist_id, 0.0) + (duration or 0.0)
    if not counts:
        return {}
    practice = sorted(c[0] for c in counts.values())
    rated = sorted(c[1] for c in counts.values())
    n_items = max(p + r for p, r in counts.values())
    total = max(seconds.values(), default=0.0) + SECONDS_PER_ANSWER * n_items
    total += QUESTIONNAIRE_SECONDS if study.questionnaire_enabled else 0.0
    total += HEADPHONE_CHECK_SECONDS if study.headphone_check_enabled else 0.0
    return {
        "practice_min": practice[0],
        "practice_max": practice[-1],
        "rated_min": rated[0],
        "rated_max": rated[-1],
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
    purposes = list(playlist.items.order_by("position").values_list("pk", "purpose"))
    rated = set(
        Rating.objects.filter(listener=listener, item__playlist=playlist).values_list(
            "item_id", flat=True
        )
    )
    n_practice = sum(1 for _pk, p in purposes if p == Purpose.TRAINING)
    done_practice = sum(1 for pk, p in purposes if p == Purpose.TRAINING and pk in rated)
    done_rated = sum(1 for pk, p in purposes if p != Purpose.TRAINING and pk in rated)
    return {
        "n_practice": n_practice,
        "n_rated": len(purposes) - n_practice,
        "done_practice": done_practice,
        "done_rated": done_rated,
        "done": len(rated),
        "total": len(purposes),
    }
