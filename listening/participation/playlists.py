"""Playlists: claimed atomically by a listener who passed the checks, released when abandoned.

Where it sits: ``checks`` claims a playlist for a listener who passed the last check,
``ratings`` moves the listener's stage after each rating, and the "study is full" page tries
again; all through the functions here. Every write of the listener's path locks the listener's
row first (:func:`listener_lock`). The rules (SKIP LOCKED, lazy release of abandoned playlists,
how a released playlist's ratings count) are in the package docstring.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    PositiveSmallIntegerField,
    Q,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from listening.models import Listener, Playlist, PlaylistItem, Rating, Study
from listening.participation.refusals import (
    AlreadyRatedError,
    AlreadyTakingPartError,
    ListenerStageError,
    SessionExpiredError,
    study_require_open,
)
from listening.participation.selectors import page_of, playlist_items_scored

log = logging.getLogger(__name__)

Stage = Listener.Stage
Purpose = PlaylistItem.Purpose


def listener_lock(listener: Listener) -> Listener:
    """The listener's row, locked until the transaction ends."""
    # Every write of a listener's path starts by locking the listener's row: two tabs or a
    # double click then run one after the other and the second sees the first's result. Only
    # this row is locked (OF self: the study read with it is shared by every listener of the
    # study), so listeners never queue behind each other.
    if not Listener.study.is_cached(listener):
        return (
            Listener.objects.select_related("study")
            .select_for_update(of=("self",))
            .get(pk=listener.pk)
        )
    # The study this request read already (every listener view reads it with the listener):
    # not read again, its many columns are the dearest part of the row to build.
    locked = Listener.objects.select_for_update().get(pk=listener.pk)
    locked.study = listener.study
    return locked


def _skip_locked(queryset):
    """FOR UPDATE SKIP LOCKED where the database has it (PostgreSQL), plain FOR UPDATE else.

    Django refuses skip_locked on a backend without it; SQLite ignores FOR UPDATE altogether
    and serialises writers with its database lock (BEGIN IMMEDIATE in Harken's settings)."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset.select_for_update()


def _cutoff(study: Study) -> datetime:
    return timezone.now() - timedelta(minutes=study.listener_timeout_minutes)


def _idle_cutoff(study: Study) -> datetime:
    return timezone.now() - timedelta(minutes=study.claim_idle_minutes)


def _no_activity() -> Exists:
    """The playlist's holder has rated none of its items (not even a practice clip)."""
    return ~Exists(
        Rating.objects.filter(item__playlist=OuterRef("pk"), listener=OuterRef("listener"))
    )


def _claimable(study: Study, cutoff: datetime) -> Q:
    """Free playlists; playlists claimed before ``cutoff`` and never completed; and playlists
    whose holder has rated nothing within the study's idle window (``claim_idle_minutes``),
    so a script that claims places and does nothing holds them only for minutes."""
    idle = Q(status=Playlist.Status.CLAIMED, claimed_at__lt=_idle_cutoff(study)) & Q(_no_activity())
    return Q(study=study) & (
        Q(status=Playlist.Status.FREE)
        | Q(status=Playlist.Status.CLAIMED, claimed_at__lt=cutoff)
        | idle
    )


def study_has_places(*, study: Study) -> bool:
    """Whether a listener arriving now would get a playlist (free or abandoned)."""
    # A free playlist first: while a study fills, that short read answers every arrival,
    # without the subqueries that find abandoned ones.
    free = Playlist.objects.filter(study=study, status=Playlist.Status.FREE).order_by()
    return free.exists() or Playlist.objects.filter(_claimable(study, _cutoff(study))).exists()


def external_id_taking_part(
    *, study: Study, platform: str, external_id: str, exclude_pk: int | None = None
) -> Listener | None:
    """Another listener with this external id who is taking part for real: has finished,
    has rated something, or holds a place that has not lapsed. Joining, consenting, failing
    the headphone check or sitting on a claim is not taking part, so nobody can use up a
    participant's place in advance by typing their id into a link."""
    if not external_id:
        return None
    others = Listener.objects.filter(study=study, platform=platform, external_id=external_id)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return others.filter(_taking_part(study)).order_by("pk").first()


def _taking_part(study: Study) -> Q:
    """A listener row that takes part for real (:func:`external_id_taking_part`)."""
    held = Playlist.objects.filter(listener=OuterRef("pk")).exclude(
        _claimable(study, _cutoff(study))
    )
    return (
        Q(stage=Stage.COMPLETED)
        | Q(Exists(Rating.objects.filter(listener=OuterRef("pk"))))
        | Q(Exists(held))
    )


@transaction.atomic
def playlist_release_abandoned(*, study: Study) -> int:
    """Give playlists claimed longer than the study's timeout ago, or idle without a rating
    longer than its idle window, back to the pool (for a
    periodic job; claims also take abandoned playlists directly, see ``playlist_claim``)."""
    abandoned = Playlist.objects.filter(
        _claimable(study, _cutoff(study)), status=Playlist.Status.CLAIMED
    )
    # Skip rows someone holds right now (a claim, or rating_submit's lock): nobody waits, and
    # the next run or claim takes them.
    # order_by(): Playlist's default ordering (by study) would join, and lock, the study row.
    ids = list(_skip_locked(abandoned.order_by()).values_list("pk", flat=True))
    if not ids:
        return 0
    released = abandoned.filter(pk__in=ids).update(
        status=Playlist.Status.FREE,
        listener=None,
        claimed_at=None,
        times_released=F("times_released") + 1,
    )
    log.info("playlists released", extra={"study": study.slug, "n": released})
    return released


def _take_one(listener: Listener, study: Study) -> Playlist | None:
    """Claim one claimable playlist for a locked listener, or None when none is left.

    Each claimant locks only the row it takes (and, until it commits, rows its read found changed
    since its snapshot), and never waits for another's lock. Releasing every abandoned playlist
    in bulk here would lock them all until this transaction ends, and listeners arriving
    meanwhile would skip them and be turned away from a study that has places: the concurrency
    test caught that."""
    cutoff = _cutoff(study)
    claimable = Playlist.objects.filter(_claimable(study, cutoff)).order_by("index")
    # Bounded only as a guard: each round either claims, or sees a row claimed by someone else.
    for _attempt in range(200):
        candidate = _skip_locked(claimable).first()
        if candidate is not None:
            if _take(candidate, listener, study, cutoff):
                return candidate
        elif not claimable.exists():
            return None  # nothing claimable, even among rows others hold right now
        else:
            # Every claimable row is locked by another transaction (a claim or a release in
            # flight, over in milliseconds): look again in a moment rather than queue on one.
            # A claim never waits for a playlist's lock, so claims cannot wait on each other
            # in a circle. Waiting in FOR UPDATE did deadlock: PostgreSQL keeps the lock a
            # locking read takes on a row that changed since its snapshot and no longer
            # matches, so a claimant could hold the row another waits for while it waits.
            time.sleep(random.uniform(0.002, 0.02))
    log.warning("playlist claim gave up after many contended attempts", extra={"study": study.slug})
    return None


def _take(candidate: Playlist, listener: Listener, study: Study, cutoff: datetime) -> bool:
    """Claim ``candidate``, whose row this transaction has locked, for ``listener``; False if it
    is no longer claimable (the UPDATE is conditional whatever happened)."""
    abandoned = candidate.status == Playlist.Status.CLAIMED
    claimed_at = timezone.now()
    taken = (
        Playlist.objects.filter(pk=candidate.pk)
        .filter(_claimable(study, cutoff))
        .update(
            status=Playlist.Status.CLAIMED,
            listener=listener,
            claimed_at=claimed_at,
            times_released=Case(
                When(status=Playlist.Status.CLAIMED, then=F("times_released") + 1),
                default=F("times_released"),
                output_field=PositiveSmallIntegerField(),
            ),
        )
    )
    if taken != 1:
        return False
    if abandoned:
        log.info(
            "abandoned playlist reclaimed",
            extra={"study": study.slug, "playlist": candidate.index},
        )
    # The row is locked by this transaction, so what the UPDATE wrote is known without
    # reading it back.
    candidate.status = Playlist.Status.CLAIMED
    candidate.listener = listener
    candidate.claimed_at = claimed_at
    candidate.times_released += 1 if abandoned else 0
    return True


def _external_id_taken(listener: Listener) -> bool:
    """Whether another listener of this locked listener's external id is taking part
    (:func:`external_id_taking_part`), with the claims of one id serialised: each claimant
    locks its own row, then the id's first listener row (lowest pk), so two attempts with the
    same id never wait on each other in a circle.

    One short read in the usual case (no other attempt of the id); with other attempts, they
    are read with whether each takes part. Only when an earlier attempt exists is its row
    locked, and the answer read again after the lock (that attempt may have just claimed)."""
    if not listener.external_id:
        return False
    same_id = Listener.objects.filter(
        study_id=listener.study_id,
        platform=listener.platform,
        external_id=listener.external_id,
    ).exclude(pk=listener.pk)
    # order_by(): without the default ordering's join; the subqueries below only when needed.
    if not same_id.order_by().exists():
        return False
    others = list(
        same_id.annotate(
            taking_part=ExpressionWrapper(_taking_part(listener.study), output_field=BooleanField())
        )
        .order_by("pk")
        .values_list("pk", "taking_part")
    )
    if not others or others[0][0] > listener.pk:
        return any(taking for _pk, taking in others)
    # order_by(): Listener's default ordering (by study) would join, and lock, the study row.
    list(
        Listener.objects.select_for_update(of=("self",))
        .filter(pk=others[0][0])
        .order_by()
        .values_list("pk", flat=True)
    )
    return (
        external_id_taking_part(
            study=listener.study,
            platform=listener.platform,
            external_id=listener.external_id,
            exclude_pk=listener.pk,
        )
        is not None
    )


def playlist_claim_locked(listener: Listener, changed: Sequence[str] = ()) -> Playlist | None:
    """:func:`playlist_claim` for a listener whose row the caller has locked. The fields of
    ``changed`` (set on ``listener`` by the caller) are saved with the stage the claim sets, in
    the same UPDATE; a refusal saves nothing (the caller's transaction rolls back)."""
    own_ratings = Rating.objects.filter(listener=listener)
    # One read: the playlist held (if any) with whether its holder has rated anything.
    current = (
        Playlist.objects.filter(listener=listener)
        .annotate(holder_rated=Exists(own_ratings))
        .order_by()
        .first()
    )
    if current is not None:
        if current.status == Playlist.Status.CLAIMED and not current.holder_rated:
            # Back on the page after the idle window and nobody took the place meanwhile:
            # the claim starts again (only a claim without any rating lapses this way).
            Playlist.objects.filter(
                pk=current.pk, listener=listener, claimed_at__lt=_idle_cutoff(listener.study)
            ).update(claimed_at=timezone.now())
        if changed:
            listener.save(update_fields=[*changed, "last_seen_at"])
        return current
    if listener.stage in (Stage.TRAINING, Stage.RATING) and own_ratings.exists():
        raise SessionExpiredError(
            _(
                "Your session timed out and your place went to another listener. "
                "Thank you for the ratings you gave; they are kept."
            )
        )
    study = listener.study
    checks_done = (
        listener.consented_at is not None
        and (not study.questionnaire_enabled or bool(listener.questionnaire))
        and (not study.headphone_check_enabled or bool(listener.headphone_check.get("passed")))
    )
    if listener.stage in (Stage.COMPLETED, Stage.FAILED_CHECK) or not checks_done:
        # (A listener whose claim lapsed before any rating is in training/rating: claims anew.)
        raise ListenerStageError(
            _("Please give your consent and complete the checks before the ratings.")
        )
    study_require_open(study)
    if _external_id_taken(listener):
        raise AlreadyTakingPartError(already_taking_part_message())
    playlist = _take_one(listener, study)
    if playlist is None:
        listener.stage = Stage.NO_PLAYLIST
        listener.save(update_fields=[*changed, "stage", "last_seen_at"])
        return None
    listener_stage_update(listener, playlist, changed)
    return playlist


@transaction.atomic
def playlist_claim(*, listener: Listener) -> Playlist | None:
    """The listener's playlist: the one they hold, or the first free one claimed atomically.

    Returns None (and sets stage ``no_playlist``) when the study is full. Raises
    SessionExpiredError for a listener whose playlist was released after the timeout."""
    listener = listener_lock(listener)
    return playlist_claim_locked(listener)


def already_taking_part_message() -> str:
    return _(
        "You are already taking part in this listening test in another session. Please "
        "continue there (in the same browser where you started), or contact the researcher "
        "through your platform if you think this is a mistake."
    )


def listener_stage_apply(
    listener: Listener, playlist: Playlist, items: list[PlaylistItem]
) -> list[str]:
    """Set training / rating / completed on ``listener`` (row locked) from what is left to rate
    in the scored ``items`` of its playlist (``selectors.playlist_items_scored``); returns the
    fields changed, for the caller's one save. A finished playlist is marked completed here,
    only while this listener still holds it (a release may have handed it on meanwhile)."""
    nxt = page_of(items, listener.study.clips_per_page)
    if not nxt:
        now = timezone.now()
        Playlist.objects.filter(pk=playlist.pk, listener=listener).update(
            status=Playlist.Status.COMPLETED, completed_at=now
        )
        listener.stage = Stage.COMPLETED
        listener.completed_at = now
        return ["stage", "completed_at"]
    stage = Stage.TRAINING if nxt[0].purpose == Purpose.TRAINING else Stage.RATING
    if listener.stage != stage:
        listener.stage = stage
        return ["stage"]
    return []


def listener_stage_update(
    listener: Listener, playlist: Playlist, changed: Sequence[str] = ()
) -> None:
    """:func:`listener_stage_apply`, reading the playlist's items and saving the listener
    (with the caller's ``changed`` fields, in one UPDATE)."""
    items = playlist_items_scored(listener=listener, playlist=playlist)
    fields = [*changed, *listener_stage_apply(listener, playlist, items)]
    if fields:
        listener.save(update_fields=[*dict.fromkeys(fields), "last_seen_at"])


def playlist_required(listener: Listener, playlist: Playlist | None) -> Playlist:
    """``playlist`` (the listener's, as the caller read it), or the refusal that says why there
    is none: the place went to another listener, or the steps before the test are not done."""
    if playlist is None:
        if listener.stage in (Listener.Stage.TRAINING, Listener.Stage.RATING):
            raise SessionExpiredError(
                _("Your session timed out and your place went to another listener.")
            )
        raise ListenerStageError(_("Please finish the steps before the ratings first."))
    return playlist


def playlist_for_answer(listener: Listener) -> Playlist:
    """The playlist a trial's answer goes to, locked (``listener`` is locked by the caller),
    or the refusal: the test already finished, the place gone, the steps not done."""
    if listener.stage == Listener.Stage.COMPLETED:
        raise AlreadyRatedError(_("You have already finished this test; nothing was changed."))
    # OF self and order_by(): Playlist's default ordering (by study) would join the study row
    # and FOR UPDATE would lock it, queueing every answer of the study on that one row.
    locked = (
        Playlist.objects.select_for_update(of=("self",))
        .filter(listener=listener)
        .order_by()
        .first()
    )
    return playlist_required(listener, locked)
