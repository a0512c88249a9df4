"""Claiming playlists: atomic under concurrency, full studies, abandoned playlists."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from listening.models import Listener, Playlist
from listening.participation import checks, playlists, refusals, selectors
from tests.factories import open_study, pass_checks, rate, rating_listener


def one_clip_places(slug: str, *, n_sentences: int):
    """An open study of 2 systems x ``n_sentences`` whose every playlist is one clip, with no
    practice or attention check: as many places as clips."""
    return open_study(
        slug=slug,
        n_sentences=n_sentences,
        clips_per_listener=1,
        training_clips=0,
        gold=False,
        attention_check_rate=0.0,
    )


def ready_listeners(study, n: int, prefix: str) -> list[Listener]:
    """Listeners who passed every check and are about to claim."""
    check = {"seed": 1, "n": 6, "correct": [1] * 6, "passed": True}
    return [
        Listener.objects.create(
            study=study,
            platform="prolific",
            external_id=f"{prefix}{i}",
            stage=Listener.Stage.HEADPHONES,
            consented_at=timezone.now(),
            questionnaire={"native_language": "en", "age_band": "25-34", "device": "headphones"},
            headphone_check=check,
        )
        for i in range(n)
    ]


def claim_all_at_once(listeners: list[Listener]) -> dict[int, int | None]:
    """Every listener claims from its own thread (own database connection), all released by
    one barrier so the claims really overlap."""
    barrier = threading.Barrier(len(listeners))
    results: dict[int, int | None | BaseException] = {}

    def work(pk: int) -> None:
        try:
            barrier.wait(timeout=30)
            playlist = playlists.playlist_claim(listener=Listener.objects.get(pk=pk))
            results[pk] = playlist.pk if playlist else None
        except BaseException as exc:  # reported below, with the listener
            results[pk] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(x.pk,)) for x in listeners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = {pk: r for pk, r in results.items() if isinstance(r, BaseException)}
    assert not errors, errors
    assert len(results) == len(listeners)
    return results


def check_concurrent_claims() -> None:
    # clips_per_listener=1: 2 systems x 5 sentences x 1 rating = 10 playlists for 16 listeners.
    study = one_clip_places(f"crowd-{connection.vendor}", n_sentences=5)
    assert study.playlists.count() == 10
    results = claim_all_at_once(ready_listeners(study, 16, "A"))
    given = [pk for pk in results.values() if pk is not None]
    assert len(given) == 10  # none lost ...
    assert len(set(given)) == 10  # ... none given twice
    assert set(given) == set(study.playlists.values_list("pk", flat=True))
    for playlist in study.playlists.all():
        assert playlist.status == Playlist.Status.CLAIMED
        assert results[playlist.listener_id] == playlist.pk
    turned_away = [pk for pk, r in results.items() if r is None]
    assert len(turned_away) == 6
    assert set(Listener.objects.filter(pk__in=turned_away).values_list("stage", flat=True)) == {
        Listener.Stage.NO_PLAYLIST
    }

    # Three listeners walk away; newcomers arriving at once get exactly those three back.
    abandoned = list(study.playlists.order_by("index")[:3])
    old = timezone.now() - timedelta(minutes=study.listener_timeout_minutes + 5)
    Playlist.objects.filter(pk__in=[p.pk for p in abandoned]).update(claimed_at=old)
    later = claim_all_at_once(ready_listeners(study, 5, "B"))
    regained = [pk for pk in later.values() if pk is not None]
    assert sorted(regained) == sorted(p.pk for p in abandoned)
    assert Counter(
        study.playlists.filter(pk__in=regained).values_list("times_released", flat=True)
    ) == {1: 3}
    assert study.playlists.filter(status=Playlist.Status.CLAIMED).count() == 10


@pytest.mark.postgres
def test_many_listeners_claiming_at_once_on_postgresql(transactional_db):
    """SELECT ... FOR UPDATE SKIP LOCKED: 16 threads, 10 playlists, no double claims."""
    check_concurrent_claims()


# The read a claimant makes when every claimable row was locked: is any left at all?
LOOKS_AGAIN = 'SELECT 1 AS "a" FROM "listening_playlist"'


@pytest.mark.postgres
def test_a_claim_that_found_every_place_locked_keeps_no_lock(transactional_db):
    """A claimant that finds every place locked looks again. When their holders take them all,
    it must be left holding no playlist's lock: a claimant that waited in ``FOR UPDATE`` kept
    the lock of each row that no longer matched (PostgreSQL does), and a waiter holding one
    while it queued on another's is how 16 claims at once deadlocked."""
    study = one_clip_places("waiting", n_sentences=1)
    assert study.playlists.count() == 2
    first, second, waiter = ready_listeners(study, 3, "W")
    locked, waiting, claimed, checked = (threading.Event() for _ in range(4))
    outcome: dict[str, object] = {}

    def holder() -> None:
        try:
            with transaction.atomic():
                rows = list(Playlist.objects.select_for_update().filter(study=study).order_by())
                locked.set()
                waiting.wait(timeout=30)
                for row, listener in zip(rows, (first, second)):
                    Playlist.objects.filter(pk=row.pk).update(
                        status=Playlist.Status.CLAIMED, listener=listener, claimed_at=timezone.now()
                    )
        finally:
            connection.close()

    def claimant() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    outcome["pid"] = cursor.fetchone()[0]
                outcome["claim"] = playlists.playlist_claim(
                    listener=Listener.objects.get(pk=waiter.pk)
                )
                claimed.set()
                checked.wait(timeout=30)  # the claimant's transaction is still open meanwhile
        except BaseException as exc:  # reported below
            outcome["claim"] = exc
            claimed.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=claimant)]
    threads[0].start()
    assert locked.wait(timeout=30)
    threads[1].start()
    for _ in range(600):  # until the claimant has found both places locked
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT state, wait_event_type, query FROM pg_stat_activity WHERE pid = %s",
                [outcome.get("pid")],
            )
            state, waits_for, query = cursor.fetchone() or ("", "", "")
        if waits_for == "Lock" or (state == "idle in transaction" and LOOKS_AGAIN in query):
            break  # queued on the holder's lock, or looking again in a moment
        time.sleep(0.005)
    else:
        pytest.fail("the claimant never found the places locked")
    waiting.set()
    assert claimed.wait(timeout=30)
    try:
        with transaction.atomic():
            free_to_lock = list(
                Playlist.objects.select_for_update(nowait=True).filter(study=study).order_by()
            )
    except DatabaseError as exc:
        free_to_lock = exc
    finally:
        checked.set()
        for thread in threads:
            thread.join(timeout=60)
    assert outcome["claim"] is None  # both places went to the holder's listeners
    assert isinstance(free_to_lock, list) and len(free_to_lock) == 2, free_to_lock


def test_many_listeners_claiming_at_once_on_sqlite(transactional_db):
    """SQLite has no SKIP LOCKED; its database lock (BEGIN IMMEDIATE) serialises the claims."""
    if connection.vendor != "sqlite":
        pytest.skip("the PostgreSQL test covers this database")
    check_concurrent_claims()


@pytest.mark.django_db
def test_claim_gives_the_lowest_free_playlist_once():
    study = open_study(slug="claim")
    listener = rating_listener(study)
    first = Playlist.objects.get(listener=listener)
    assert first.index == 0 and first.claimed_at is not None
    assert playlists.playlist_claim(listener=listener) == first  # asking again changes nothing
    assert Playlist.objects.filter(listener__isnull=False).count() == 1


@pytest.mark.django_db
def test_claim_before_the_checks_is_refused():
    study = open_study(slug="early")
    listener = checks.listener_consent(
        listener=checks.listener_join(
            study=study, platform="none", external_id="", params={}, user_agent=""
        )
    )
    with pytest.raises(refusals.ListenerStageError):
        playlists.playlist_claim(listener=listener)
    assert not Playlist.objects.filter(listener__isnull=False).exists()


@pytest.mark.django_db
def test_full_study_turns_listener_away_then_lets_them_in_when_a_place_frees_up():
    study = open_study(slug="tiny", n_sentences=2, clips_per_listener=4)
    n = study.playlists.count()
    # The late listener starts while places are left, but others finish the checks first.
    client = Client()
    client.post(f"/t/{study.slug}/?PROLIFIC_PID=LATE", {"consent": "yes"})
    late = Listener.objects.get(external_id="LATE")
    holders = [rating_listener(study, f"H{i}") for i in range(n)]
    late = pass_checks(late)
    assert late.stage == Listener.Stage.NO_PLAYLIST
    page = client.get(f"/t/{study.slug}/full/")
    assert "The study is full" in page.content.decode()
    # Still full: trying again changes nothing.
    client.post(f"/t/{study.slug}/full/")
    late.refresh_from_db()
    assert late.stage == Listener.Stage.NO_PLAYLIST
    # A holder leaves; after the timeout their place goes to the late listener.
    Playlist.objects.filter(listener=holders[0]).update(
        claimed_at=timezone.now() - timedelta(hours=2)
    )
    response = client.post(f"/t/{study.slug}/full/")
    assert response["Location"] == f"/t/{study.slug}/rate/"
    assert Playlist.objects.get(listener=late).times_released == 1


@pytest.mark.django_db
def test_release_takes_only_old_unfinished_playlists():
    study = open_study(slug="release", n_sentences=2, clips_per_listener=1)
    fresh, stale, finished = (rating_listener(study, f"R{i}") for i in range(3))
    rate(stale, selectors.listener_next_item(listener=stale), 4)  # it rated, then went away
    old = timezone.now() - timedelta(minutes=study.listener_timeout_minutes + 1)
    Playlist.objects.filter(listener__in=[stale, finished]).update(claimed_at=old)
    Playlist.objects.filter(listener=finished).update(status=Playlist.Status.COMPLETED)
    assert playlists.playlist_release_abandoned(study=study) == 1
    assert Playlist.objects.filter(listener=fresh, status="claimed").exists()
    assert Playlist.objects.filter(listener=finished, status="completed").exists()
    assert not Playlist.objects.filter(listener=stale).exists()
    assert playlists.playlist_release_abandoned(study=study) == 0
    # The released listener is not handed a second playlist.
    with pytest.raises(refusals.SessionExpiredError):
        playlists.playlist_claim(listener=stale)


# --- One client cannot drain a study ----------------------------------------------------------


@pytest.mark.django_db
def test_claims_without_any_rating_lapse_after_the_idle_window():
    """Today's code kept a claim for the listener timeout (60 min) even with no activity."""
    study = open_study(slug="idle", n_sentences=2, clips_per_listener=4, claim_idle_minutes=10)
    n = study.playlists.count()
    squatters = [rating_listener(study, f"S{i}") for i in range(n)]
    assert not playlists.study_has_places(study=study)
    # One squatter rated a practice clip: active, keeps the place.
    rate(squatters[0], selectors.listener_next_item(listener=squatters[0]), 4)
    Playlist.objects.filter(listener__in=squatters).update(
        claimed_at=timezone.now() - timedelta(minutes=11)
    )
    assert playlists.study_has_places(study=study)
    newcomer = rating_listener(study, "REAL")
    taken = Playlist.objects.get(listener=newcomer)
    assert taken.times_released == 1
    assert Playlist.objects.filter(listener=squatters[0]).exists()  # the active one kept it
    # A lapsed squatter who comes back and finds a place free claims again (rated nothing).
    lapsed = next(s for s in squatters[1:] if not Playlist.objects.filter(listener=s).exists())
    again = playlists.playlist_claim(listener=lapsed)
    assert again is not None or Listener.objects.get(pk=lapsed.pk).stage == "no_playlist"


@pytest.fixture
def joinable_study():
    """Open a study of one clip per listener, straight to the consent; the join counts (kept in
    the cache) start and end empty."""
    cache.clear()
    yield lambda slug: open_study(
        slug=slug, n_sentences=4, clips_per_listener=1, headphone_check=False, questionnaire=False
    )
    cache.clear()


@pytest.mark.django_db
def test_joins_are_limited_per_address_and_per_study(settings, joinable_study):
    """Today's code let one address start 50 listeners in 13.5 s and take every playlist."""
    settings.LISTENER_JOINS_PER_ADDRESS = "3/600"
    settings.LISTENER_JOINS_PER_STUDY = "5/60"
    study = joinable_study("drain")
    codes = [
        Client(REMOTE_ADDR="203.0.113.9").post(f"/t/{study.slug}/", {"consent": "yes"}).status_code
        for _ in range(5)
    ]
    assert codes == [302, 302, 302, 429, 429]
    refused = Client(REMOTE_ADDR="203.0.113.9").post(f"/t/{study.slug}/", {"consent": "yes"})
    assert re.search(r"try again in \d+ minute", refused.content.decode())
    assert int(refused["Retry-After"]) > 0
    assert Listener.objects.filter(study=study).count() == 3
    # Another address may still join, until the study-wide limit.
    other = [
        Client(REMOTE_ADDR=f"198.51.100.{i}").post(f"/t/{study.slug}/", {"consent": "yes"})
        for i in range(3)
    ]
    assert [r.status_code for r in other] == [302, 302, 429]


@pytest.mark.django_db
def test_behind_the_front_server_joins_are_counted_per_client_address(settings, joinable_study):
    """nginx connects from one address for everyone; the header it sets names the client."""
    settings.LISTENER_JOINS_PER_ADDRESS = "1/600"
    settings.REAL_IP_HEADER = "HTTP_X_REAL_IP"
    study = joinable_study("front-joins")

    def join_from(client_address: str) -> int:
        proxy = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP=client_address)
        return proxy.post(f"/t/{study.slug}/", {"consent": "yes"}).status_code

    assert [join_from("203.0.113.1"), join_from("203.0.113.2")] == [302, 302]
    assert join_from("203.0.113.1") == 429
