"""The listener's pages under ``/t/<slug>/``: parse the request, call one service, render.

Where it sits: the public link a researcher posts on Prolific or MTurk lands here; every step
(the services of ``listening.participation``) is one page with a form that posts back to it and
redirects to the next step (post/redirect/get), so a reload never sends an answer twice. Audio
goes out through ``mos_site.http.ranged_response`` (ranges, ETags), only to a listener whose
playlist holds the clip.

Who is who: a signed cookie per study carries the listener's token (path ``/t/<slug>/``, so
studies do not see each other's cookies); a Prolific or MTurk id in the link finds the same
listener again from another browser. Listeners are created only when they consent (a POST),
so link previews, crawlers and MTurk's preview create no rows.

Nothing a listener can see says which system or sentence a clip is: audio comes from
``/t/<slug>/clip/<random token>/``, page titles are generic and sentence texts are never shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache, wraps

import markdown
import nh3
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from listening.models import Listener, Study
from listening.participation import (
    checks,
    limits,
    playlists,
    ratings,
    refusals,
    selectors,
    views_mushra,
)
from listening.participation.arrivals import Arrival
from listening.participation.followups import FollowupsMissingError, followups_posted
from listening.participation.forms import QuestionnaireForm, bounded_number
from listening.participation.page_tokens import RATE_PAGE_SALT, page_claims, page_token
from listening.participation.pages_acr import acr_page_context, acr_page_html, study_question
from mos_site.http import (
    accel_redirect_response,
    audio_content_type,
    signed_redirect_response,
    stored_file_response,
)
from mos_site.rendered import shared_page

Stage = Listener.Stage

COOKIE_MAX_AGE = 30 * 24 * 3600

#: The page and the answer of each test type but ACR, as ``{"page": view, "post": view}``:
#: filled in by ``views_trials`` when it is imported (the URLconf imports it), so this module
#: does not import that one, which uses the helpers below.
TRIAL_VIEWS: dict[str, Callable] = {}

STAGE_URLS = {
    Stage.CONSENT: "listener-entry",
    Stage.QUESTIONNAIRE: "listener-questionnaire",
    Stage.HEADPHONES: "listener-headphones",
    Stage.TRAINING: "listener-rate",
    Stage.RATING: "listener-rate",
    Stage.COMPLETED: "listener-done",
    Stage.FAILED_CHECK: "listener-ended",
    Stage.NO_PLAYLIST: "listener-full",
}


# --- Helpers ---------------------------------------------------------------------------------


# nh3's output is normalised HTML (attribute values double-quoted), so its <img> tags can be
# found reliably. (nh3's attribute_filter callback would do this inside the sanitiser, but it
# hung the threaded live server in the browser tests.)
_IMG_TAG = re.compile(r'<img\b(?:[^>"]|"[^"]*")*>')
_IMG_SRC = re.compile(r'\ssrc="([^"]*)"')
_IMG_ALT = re.compile(r'\salt="([^"]*)"')
_IMG_SRCSET = re.compile(r'\ssrcset="[^"]*"')


def _own_image_or_alt(match: re.Match) -> str:
    # An image from elsewhere is a tracking pixel on every listener: only the site's own paths
    # ("/media/...", not "//host/...") stay; any other becomes its alt text (already escaped).
    tag = match.group(0)
    src = _IMG_SRC.search(tag)
    if src and src.group(1).startswith("/") and not src.group(1).startswith("//"):
        return _IMG_SRCSET.sub("", tag)
    alt = _IMG_ALT.search(tag)
    return alt.group(1) if alt else ""


@lru_cache(maxsize=256)
def render_markdown(text: str) -> SafeString:
    """A researcher's Markdown as HTML that cannot run script (sanitised with nh3) and loads
    images only from the site itself. Kept per text (the welcome page shows the same two
    texts to every arrival)."""
    html = markdown.markdown(text or "", extensions=["sane_lists"])
    # nh3 has just removed scripts, handlers and unsafe URLs: what is left is safe to show.
    return mark_safe(_IMG_TAG.sub(_own_image_or_alt, nh3.clean(html)))


def _cookie_name(study: Study) -> str:
    return f"harken_listener_{study.slug}"


def _cookie_salt(study: Study) -> str:
    return f"listening.listener.{study.slug}"


def _cookie_token(request: HttpRequest, slug: str) -> str | None:
    """The listener token of the study's signed cookie; needs no database (the cookie's name
    and salt come from the slug)."""
    return request.get_signed_cookie(
        f"harken_listener_{slug}",
        default=None,
        salt=f"listening.listener.{slug}",
        max_age=COOKIE_MAX_AGE,
    )


def _cookie_listener(request: HttpRequest, study: Study) -> Listener | None:
    token = _cookie_token(request, study.slug)
    return selectors.listener_find(study=study, token=token) if token else None


def _remember(response: HttpResponseBase, request: HttpRequest, study: Study, listener) -> None:
    response.set_signed_cookie(
        _cookie_name(study),
        listener.token,
        salt=_cookie_salt(study),
        max_age=COOKIE_MAX_AGE,
        path=f"/t/{study.slug}/",
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def _stage_redirect(study: Study, listener: Listener) -> HttpResponse:
    return redirect(STAGE_URLS[listener.stage], slug=study.slug)


def _personal(response: HttpResponse) -> HttpResponse:
    # Listener pages are personal and change with every answer: never cache or share them.
    response["Cache-Control"] = "private, no-store"
    return response


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    return _personal(render(request, f"listening/participation/{template}", context, status=status))


def _shared_page(request: HttpRequest, template: str, context: dict, key: tuple) -> HttpResponse:
    """:func:`_page` for a page that every listener whose request gives the same ``key`` sees
    alike but for the CSRF token: rendered once per process (``mos_site.rendered``)."""
    return _personal(shared_page(request, f"listening/participation/{template}", context, key))


def _unavailable(request: HttpRequest, study: Study) -> HttpResponse:
    return _page(
        request,
        "unavailable.html",
        {"study": study, "message": refusals.study_unavailable_message(study)},
        status=503 if study.status == Study.Status.PAUSED else 200,
    )


def _message_page(
    request: HttpRequest, study: Study, message: str, status: int, heading: str = ""
) -> HttpResponse:
    return _page(
        request,
        "message.html",
        {"study": study, "message": message, "heading": heading or _("Sorry")},
        status=status,
    )


def _listener_or_response(
    request: HttpRequest, slug: str, stages: tuple[str, ...], open_only: bool, lock: bool = False
) -> tuple[Study, Listener] | HttpResponse:
    """The study and the cookie's listener, read together in one query (locked with ``lock``,
    inside the caller's transaction); or the response for a listener who is not at one of
    ``stages`` (that step's page), has no cookie (the welcome page), or whose study is not
    open while ``open_only``."""
    token = _cookie_token(request, slug)
    listener = (
        selectors.listener_by_cookie(study_slug=slug, token=token, lock=lock) if token else None
    )
    if listener is None:
        study = get_object_or_404(Study, slug=slug)
        return redirect("listener-entry", slug=study.slug)
    study = listener.study
    if listener.stage not in stages:
        return _stage_redirect(study, listener)
    if open_only and study.status != Study.Status.OPEN:
        return _unavailable(request, study)
    return study, listener


def listener_view(*stages: str, open_only: bool = True, lock_on: tuple[str, ...] = ()) -> Callable:
    """Decorator: find the study and the cookie's listener, and send listeners who are at
    another step to that step's page. Views get ``(request, study, listener)``.

    A request whose method is in ``lock_on`` runs in one transaction whose first statement
    reads the listener with its row lock: a view that writes the listener's row then needs
    no second read (its services take ``locked=True``). A refusal raised by such a service
    marks that transaction for rollback (nothing it wrote is kept): a view that catches it may
    render its page but must not query the database again."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args, **kwargs) -> HttpResponse:
            if request.method in lock_on:
                with transaction.atomic():
                    return run(request, slug, True, *args, **kwargs)
            return run(request, slug, False, *args, **kwargs)

        def run(request: HttpRequest, slug: str, lock: bool, *args, **kwargs) -> HttpResponse:
            found = _listener_or_response(request, slug, stages, open_only, lock=lock)
            if isinstance(found, HttpResponseBase):
                return found
            study, listener = found
            return view(request, study, listener, *args, **kwargs)

        return wrapper

    return decorate


# --- Arrival, consent ------------------------------------------------------------------------


def _arrival_listener(
    request: HttpRequest, study: Study, arrival: Arrival
) -> tuple[Listener | None, list[Listener]]:
    """Who this is, by what proves it: the signed cookie, or the external id together with the
    platform attempt id it first came with. An external id alone proves nothing. Also the
    id's other attempts (``selectors.external_id_attempts``; empty for a new id, the usual
    arrival), read in the same query as the attempt's listener."""
    cookie = _cookie_listener(request, study)
    if not arrival.external_id:
        return cookie, []
    if (
        cookie is not None
        and cookie.platform == arrival.platform
        and cookie.external_id == arrival.external_id
    ):
        return cookie, []
    attempts = selectors.external_id_attempts(
        study=study, platform=arrival.platform, external_id=arrival.external_id
    )
    return selectors.attempt_of(attempts, arrival.attempt_id), attempts


def _already_taking_part(request: HttpRequest, study: Study) -> HttpResponse:
    return _message_page(
        request,
        study,
        playlists.already_taking_part_message(),
        status=409,
        heading=_("You are already taking part"),
    )


def _client_address(request: HttpRequest) -> str:
    # The connecting address, never a header a client can choose. Behind the front server
    # (deploy/nginx), REMOTE_ADDR is nginx's own address, so settings.REAL_IP_HEADER names the
    # header nginx sets to the client's address, overwriting whatever the client sent. Behind
    # another proxy with no such header the per-address join limit counts everyone together:
    # raise HARKEN_JOINS_PER_ADDRESS or turn it off there (README, "Listener joins").
    if settings.REAL_IP_HEADER:
        forwarded = request.META.get(settings.REAL_IP_HEADER, "").strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "") or "unknown"


@require_http_methods(["GET", "POST"])
def entry(request: HttpRequest, slug: str) -> HttpResponse:
    """The public link: welcome, instructions and consent; resumes a returning listener."""
    study = selectors.study_by_slug(slug=slug)  # this process's copy while it is current
    if study is None:
        raise Http404("no such study")
    arrival = Arrival(request.GET)
    if arrival.error:
        return _message_page(request, study, arrival.error, status=400)
    listener, attempts = _arrival_listener(request, study, arrival)
    if listener is not None and listener.stage != Stage.CONSENT:
        response = _stage_redirect(study, listener)
        _remember(response, request, study, listener)
        return response
    if study.status != Study.Status.OPEN:
        # Draft, ready, paused and closed studies show listeners nothing of the study, not
        # even to MTurk's preview (the instructions of a draft are not public).
        return _unavailable(request, study)
    context = {
        "study": study,
        "instructions": render_markdown(study.instructions),
        "consent": render_markdown(study.consent_text),
        "size": selectors.study_task_size(study=study),
        "question": study_question(study),
        "platform": arrival.platform,
    }
    if arrival.preview:
        # MTurk shows the task before a worker accepts it: describe it, record nothing.
        return _page(request, "preview.html", context)
    if request.method == "GET" and listener is None:
        checks.arrival_count(study=study, platform=arrival.platform)
    # Only an id seen before (another attempt) can be taking part already.
    if (
        listener is None
        and attempts
        and playlists.external_id_taking_part(
            study=study, platform=arrival.platform, external_id=arrival.external_id
        )
    ):
        return _already_taking_part(request, study)
    if listener is None and not playlists.study_has_places(study=study):
        # Say so before they start, rather than after the checks.
        return _page(request, "full.html", {"study": study, "listener": None})
    if request.method == "POST":
        if request.POST.get("consent") != "yes":
            context["error"] = _(
                "To take part, please tick the box to say you agree, then press Start."
            )
            return _page(request, "welcome.html", context, status=400)
        try:
            if listener is None:
                allowed, retry = limits.join_allowed(
                    study_slug=study.slug, address=_client_address(request)
                )
                if not allowed:
                    response = _message_page(
                        request,
                        study,
                        _(
                            "Many people are starting this test from your network right now. "
                            "Please try again in %(minutes)d minute(s); nothing was recorded."
                        )
                        % {"minutes": max(1, round(retry / 60))},
                        status=429,
                        heading=_("Please wait a moment"),
                    )
                    response["Retry-After"] = str(retry)
                    return response
                listener = checks.listener_join(
                    study=study,
                    platform=arrival.platform,
                    external_id=arrival.external_id,
                    attempt_id=arrival.attempt_id,
                    params=arrival.params,
                    user_agent=request.headers.get("User-Agent", ""),
                    consent=True,
                    attempts=attempts,
                )
            if listener.stage == Stage.CONSENT:
                listener = checks.listener_consent(listener=listener)
        except refusals.StudyNotOpenError:
            return _unavailable(request, study)
        except refusals.AlreadyTakingPartError:
            return _already_taking_part(request, study)
        response = _stage_redirect(study, listener)
        _remember(response, request, study, listener)
        return response
    # The same for every arrival of the platform while the study is unchanged: the context is
    # the study's (its version names it), the platform and the task size.
    key = (
        study.pk,
        study.updated_at,
        study.status,
        arrival.platform,
        *sorted(context["size"].items()),
    )
    return _shared_page(request, "welcome.html", context, key)


# --- Questionnaire ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@listener_view(Stage.QUESTIONNAIRE, lock_on=("POST",))
def questionnaire(request: HttpRequest, study: Study, listener: Listener) -> HttpResponse:
    form = QuestionnaireForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            listener = checks.listener_questionnaire_save(
                listener=listener, answers=form.cleaned_data, locked=True
            )
        except refusals.AlreadyTakingPartError:
            return _already_taking_part(request, study)
        except refusals.QuestionnaireError as exc:
            form.add_error(None, str(exc))
        else:
            return _stage_redirect(study, listener)
    context = {"study": study, "form": form}
    if form.is_bound:
        return _page(request, "questionnaire.html", context, status=400)
    return _shared_page(request, "questionnaire.html", context, (study.pk, study.updated_at))


# --- Rating pages ----------------------------------------------------------------------------


def _page_token(listener: Listener, page: dict) -> str:
    """The token of a served ACR or comparison page (``ratings.page_serve``'s dict)."""
    return page_token(listener, items=page["items"], nonce=page["nonce"], salt=RATE_PAGE_SALT)


def _page_claims(token: str, listener: Listener, study: Study) -> tuple[str, list[int]]:
    """(nonce, item ids) of an ACR or comparison page token issued to ``listener``."""
    return page_claims(token, listener, study, salt=RATE_PAGE_SALT)


def _refused(request: HttpRequest, study: Study, exc: Exception) -> HttpResponse:
    status = refusals.http_status(exc)
    return _page(
        request,
        "refused.html",
        {
            "study": study,
            "message": str(exc),
            "continue_url": reverse("listener-rate", args=[study.slug]),
        },
        status=status,
    )


RATE_STAGES = (Stage.TRAINING, Stage.RATING, Stage.COMPLETED)


@require_http_methods(["GET", "POST"])
def rate(request: HttpRequest, slug: str) -> HttpResponse:
    """One page of the playlist: one clip (or the study's clips_per_page), each with the ACR
    scale, unlocked by the page's script once the clip has played to its end."""
    if request.method == "POST":
        # A finished listener's replayed POST gets the refusal message, not a silent redirect.
        return _rate_post(request, slug)
    found = _listener_or_response(request, slug, RATE_STAGES, open_only=True)
    if isinstance(found, HttpResponseBase):
        return found
    study, listener = found
    if listener.stage == Stage.COMPLETED:
        return _stage_redirect(study, listener)
    playlist = selectors.held_playlist(listener)
    items = (
        selectors.playlist_items_scored(listener=listener, playlist=playlist) if playlist else []
    )
    if playlist is None or not any(item.listener_answered for item in items):
        # The place is claimed (again, after an idle lapse) when the listener reaches it:
        # before their first rating only, so later pages skip the claim's reads.
        try:
            playlist = playlists.playlist_claim(listener=listener)
        except refusals.AlreadyTakingPartError:
            return _already_taking_part(request, study)
        except refusals.StudyNotOpenError:
            return _unavailable(request, study)
        except (refusals.SessionExpiredError, refusals.ListenerStageError):
            playlist = None
        listener.refresh_from_db()
        if listener.stage == Stage.NO_PLAYLIST:
            return _stage_redirect(study, listener)
        if playlist is None:
            return _message_page(
                request,
                study,
                _(
                    "Your session timed out and your place went to another listener. Thank "
                    "you for the ratings you gave; they are kept. Please return the task on "
                    "your platform."
                ),
                status=410,
                heading=_("Session timed out"),
            )
        items = selectors.playlist_items_scored(listener=listener, playlist=playlist)
    page = selectors.page_of(items, study.clips_per_page)
    if not page:  # finished in another tab
        listener.refresh_from_db()
        return _stage_redirect(study, listener)
    progress = selectors.progress_of(items)
    if study.test_type != Study.TestType.ACR:
        # One trial a page: a comparison, or a MUSHRA trial with all its conditions, or a
        # transcription's one clip.
        trial = selectors.TrialPage(study, listener, page[0], progress)
        if study.test_type in views_mushra.TEST_TYPES:
            return views_mushra.page(request, trial)
        return TRIAL_VIEWS["page"](request, trial)
    token = _page_token(listener, ratings.page_serve(listener=listener, items=page))
    context = acr_page_context(study, page, progress, token)
    return _personal(HttpResponse(acr_page_html(request, study, context)))


def _trial_post(request: HttpRequest, study: Study, listener: Listener) -> HttpResponse:
    if study.test_type in views_mushra.TEST_TYPES:
        return views_mushra.post(request, study, listener)
    return TRIAL_VIEWS["post"](request, study, listener)


def _acr_page_again(
    request: HttpRequest, study: Study, listener: Listener, exc: Exception
) -> HttpResponse:
    """The page a POST came from, shown again with what it carried and what is still open: its
    token was not used (nothing was read or written), so the same page goes on from here."""
    items = selectors.page_again_items(listener)
    if items is None:
        return redirect("listener-rate", slug=study.slug)
    page = selectors.page_of(items, study.clips_per_page)
    context = acr_page_context(
        study,
        page,
        selectors.progress_of(items),
        request.POST.get("page", ""),
        posted=request.POST,
        notice=str(exc),
    )
    return _page(request, "rate.html", context, status=400)


def _rate_post(request: HttpRequest, slug: str) -> HttpResponse:
    now = timezone.now()
    out_of_date = refusals.PageExpiredError(
        _("This page is out of date or was not issued to you; nothing was saved.")
    )
    indices = sorted(
        int(key[5:]) for key in request.POST if key.startswith("item_") and key[5:].isdigit()
    )[:10]
    posted = [bounded_number(request.POST.get(f"item_{i}"), int, -1, 2**62) for i in indices]
    study = None
    try:
        # One transaction, one read of the listener (locked: two tabs or a double click run
        # one after the other) with its study and playlist; the page is saved whole or not at
        # all and used up with it. A refusal is raised before anything is written.
        with transaction.atomic():
            found = _listener_or_response(request, slug, RATE_STAGES, open_only=True, lock=True)
            if isinstance(found, HttpResponseBase):
                return found
            study, listener = found
            if study.test_type != Study.TestType.ACR:
                # A trial of another type: its own answer (the listener is locked already).
                return _trial_post(request, study, listener)
            try:
                nonce, page_items = _page_claims(request.POST.get("page", ""), listener, study)
            except (signing.BadSignature, KeyError, TypeError, ValueError):
                raise out_of_date from None
            if not indices:
                raise refusals.ItemNotInPlaylistError(_("No clip was sent; nothing was saved."))
            if sorted(posted) != sorted(page_items):
                # The token names the page's items: another page's token cannot carry this page.
                raise out_of_date
            served_at = ratings.page_served_at(listener)
            answers = []
            for i in indices:
                # The browser's own end-of-play time (ms after the page loaded): kept as
                # information; the checks use the server's served time and the durations.
                ended_ms = bounded_number(request.POST.get(f"ended_{i}"), float, None, 86_400_000)
                ended_at = None
                if ended_ms is not None and served_at is not None:
                    ended_at = min(now, served_at + timedelta(milliseconds=ended_ms))
                answers.append(
                    ratings.Answer(
                        item_id=request.POST.get(f"item_{i}", ""),
                        clip_token=request.POST.get(f"clip_{i}", ""),
                        score=request.POST.get(f"score_{i}"),
                        play_count=bounded_number(request.POST.get(f"plays_{i}"), int, 0, 32767),
                        played_seconds=bounded_number(
                            request.POST.get(f"played_{i}"), float, 0.0, 86_400
                        ),
                        first_play_ended_at=ended_at,
                        followups=followups_posted(study, request.POST, i),
                    )
                )
            ratings.page_submit(
                listener=listener, nonce=nonce, item_ids=page_items, answers=answers, now=now
            )
    except FollowupsMissingError as exc:
        return _acr_page_again(request, study, listener, exc)
    except refusals.StudyNotOpenError:
        return _unavailable(request, study)
    except refusals.SessionExpiredError:
        return redirect("listener-rate", slug=slug)
    except refusals.ListenerError as exc:
        return _refused(request, study, exc)
    # The stage page_submit set (no second read).
    return _stage_redirect(study, listener)


# --- Audio -----------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
def clip_audio(request: HttpRequest, slug: str, token: str) -> HttpResponseBase:
    """A clip's audio, only for a listener whose playlist holds it (403 for anyone else,
    whether or not the token exists, so tokens cannot be probed). The check is one query
    (the cookie's listener token, the study and the clip together); the bytes leave as
    ``settings.AUDIO_SENDFILE`` says: from Django through the default storage (local files
    and S3 alike, ranged), from nginx (``X-Accel-Redirect``), or from a signed URL of the
    S3-compatible store."""
    listener_token = _cookie_token(request, slug)
    clip = None
    if listener_token:
        clip = selectors.listener_clip(
            study_slug=slug, listener_token=listener_token, clip_token=token
        )
    if clip is None:
        get_object_or_404(Study, slug=slug)  # an unknown study is a 404, as on every page
        return HttpResponse(
            _("This sound is not part of your listening test."),
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    if not clip.audio:
        raise Http404("clip has no audio")
    content_type = audio_content_type(clip.audio.name)
    if settings.AUDIO_SENDFILE == "nginx":
        return accel_redirect_response(
            settings.AUDIO_ACCEL_PREFIX + clip.audio.name, content_type=content_type
        )
    if settings.AUDIO_SENDFILE == "signed-url":
        return signed_redirect_response(
            clip.audio.storage.url(clip.audio.name, expire=settings.AUDIO_SIGNED_URL_S)
        )
    return stored_file_response(request, clip.audio, tag=clip.token)


# --- The end of the path ---------------------------------------------------------------------


@require_GET
@listener_view(Stage.COMPLETED, open_only=False)
def done(request: HttpRequest, study: Study, listener: Listener) -> HttpResponse:
    """The completion code (always shown, even once the study has closed); Prolific listeners
    are sent on to the study's completion URL, which carries the code."""
    completion = ratings.listener_completion(listener=listener)
    if completion["redirect_url"]:
        return redirect(completion["redirect_url"])
    return _page(
        request,
        "done.html",
        {"study": study, "listener": listener, "completion": completion},
    )


@require_GET
@listener_view(Stage.FAILED_CHECK, open_only=False)
def ended(request: HttpRequest, study: Study, listener: Listener) -> HttpResponse:
    return _page(request, "ended.html", {"study": study, "listener": listener})


@require_http_methods(["GET", "POST"])
@listener_view(Stage.NO_PLAYLIST)
def full(request: HttpRequest, study: Study, listener: Listener) -> HttpResponse:
    """The study is full; a listener may try again later (an abandoned place may free up)."""
    if request.method == "POST":
        playlists.playlist_claim(listener=listener)
        listener.refresh_from_db()
        if listener.stage != Stage.NO_PLAYLIST:
            return _stage_redirect(study, listener)
    return _page(request, "full.html", {"study": study, "listener": listener})
