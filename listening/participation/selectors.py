"""Read-side queries of the listener's path: who a listener is, their playlist and their page."""

from __future__ import annotations

from listening.models import Listener, Playlist, PlaylistItem, Rating, Study

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
