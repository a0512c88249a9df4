"""The researcher pages: a study from creation to an open test, in the browser; and the front page.

Where it sits: URLs in ``listening/studies/urls.py`` (under /studies/); each view parses the
request, calls one service of this room (the same functions as the API) and renders a template
under ``templates/listening/studies/``. Progress is a JSON endpoint polled by
``static/js/studies/progress.js``. A researcher sees and changes only their own studies (404
for anybody else's, so a slug's existence is not revealed; ``listening.access``); superusers see
all.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.forms import Form
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from rest_framework.authtoken.models import Token

from listening.access import is_researcher, researcher_required, study_for
from listening.errors import ServiceError, UploadError
from listening.models import Clip, Study, System
from listening.studies import launch, lifecycle, recordings
from listening.studies import sentences as sentence_set
from listening.studies import systems as study_systems
from listening.studies.forms import (
    AnchorForm,
    AudioUploadForm,
    MushraAnchorsForm,
    RecipeImportForm,
    SentenceUploadForm,
    StudyForm,
    SystemEditForm,
    SystemForm,
)
from listening.studies.recipes import recipe_read, study_import
from listening.studies.selectors import (
    listener_links,
    site_base_url,
    studies_on_home_page,
    studies_with_progress,
    study_systems_with_counts,
)
from listening.studies.settings import study_create, study_update
from listening.studies.study_types import TYPE_HELP, test_type_problems
from mos_site.http import audio_content_type
from synthesis.availability import voices_availability
from synthesis.models import Voice
from synthesis.provenance import provenance_summary

PENDING_SENTENCES = "harken-pending-sentences"
UNDECODED_SENTENCES = "harken-undecoded-sentences"
AUDIO_REPORTS = "harken-audio-reports"
CLIPS_PER_PAGE = 100
PREVIEW_ROWS_PER_PAGE = 200


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    return render(request, f"listening/studies/{template}", context, status=status)


def _errors_to_form(form: Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            target = name if name in form.fields else None
            for error in errors:
                form.add_error(target, error.messages)
    else:
        form.add_error(None, exc.messages)


def _submit(form: Form, service: Callable[..., Any], **kwargs: Any) -> Any | None:
    """Call ``service`` for a valid form; a refusal goes onto the form and gives None."""
    try:
        return service(**kwargs)
    except ValidationError as exc:
        _errors_to_form(form, exc)
    except ServiceError as exc:
        form.add_error(None, str(exc))
    return None


def _act(request: HttpRequest, service: Callable[[], Any], done: Callable[[Any], str]) -> None:
    """Run a button's service; say what it did, or why it was refused, on the next page."""
    try:
        result = service()
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done(result))


# --- Front page, dashboard and settings --------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    """Public demo studies for everyone, the researcher's studies when logged in."""
    public, mine = studies_on_home_page(request.user)
    context = {
        "public_studies": public,
        "my_studies": mine,
        "is_researcher": is_researcher(request.user),
    }
    return _page(request, "home.html", context)


@researcher_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return _page(request, "dashboard.html", {"studies": studies_with_progress(request.user)})


@researcher_required
def study_new(request: HttpRequest) -> HttpResponse:
    form = StudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        study = _submit(form, study_create, owner=request.user, data=form.service_data())
        if study is not None:
            messages.success(request, f"Study '{study.title}' created. Next: upload sentences.")
            return redirect("researcher:sentences", slug=study.slug)
    return _page(request, "study_form.html", {"form": form, "study": None})


@researcher_required
def study_new_from_recipe(request: HttpRequest) -> HttpResponse:
    """A new study from a recipe or a bundle: every refusal (a file that is no recipe, a
    changed audio file, a voice this site lacks, a taken slug) goes onto the form, named; on
    success the study page lists what the import left to do (synthesise, upload)."""
    form = RecipeImportForm()
    if request.method == "POST":
        try:
            # Before touching request.FILES, which would spool the whole body to disk.
            recordings.upload_size_check(request.META.get("CONTENT_LENGTH"))
        except UploadError as exc:
            form.add_error(None, str(exc))
            return _page(request, "study_import.html", {"form": form}, status=413)
        form = RecipeImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]

            def run():
                read = recipe_read(upload.read(), name=upload.name)
                return study_import(
                    owner=request.user,
                    recipe=read.recipe,
                    audio=read.audio,
                    slug=form.cleaned_data["slug"] or None,
                )

            result = _submit(form, run)
            if result is not None:
                messages.success(
                    request,
                    f"Study '{result.study.title}' created from {upload.name} "
                    f"({result.study.get_status_display().lower()}).",
                )
                for note in result.notes:
                    messages.info(request, note)
                return redirect("researcher:study", slug=result.study.slug)
        return _page(request, "study_import.html", {"form": form}, status=400)
    return _page(request, "study_import.html", {"form": form})


@researcher_required
def study_edit(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for(request.user, slug)
    form = StudyForm(request.POST or None, instance=Study.objects.get(pk=study.pk))
    if request.method == "POST" and form.is_valid():
        saved = _submit(form, study_update, study=study, data=form.service_data())
        if saved is not None:
            messages.success(request, "Settings saved.")
            return redirect("researcher:study", slug=saved.slug)
    return _page(request, "study_form.html", {"form": form, "study": study, "tab": "settings"})


@researcher_required
@require_GET
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for(request.user, slug)
    progress = lifecycle.study_progress(study=study)
    target = progress["ratings_target"]
    context = {
        "study": study,
        "tab": "overview",
        "progress": progress,
        "ratings_percent": min(100, round(100 * progress["ratings"] / target)) if target else 0,
        "n_sentences": study.sentences.count(),
        "n_systems": study.systems.count(),
        "links": listener_links(request, study),
        "type_help": TYPE_HELP[study.test_type],
        "type_problems": [] if study.design_frozen else test_type_problems(study),
    }
    return _page(request, "study_detail.html", context)


ACTIONS = {
    "open": (lifecycle.study_open, "The test is open: listeners can use the link."),
    "pause": (lifecycle.study_pause, "The test is paused: new listeners are turned away."),
    "resume": (lifecycle.study_resume, "The test is open again."),
    "close": (lifecycle.study_close, "The test is closed."),
}


@researcher_required
@require_POST
def study_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    study = study_for(request.user, slug)
    if action not in ACTIONS:
        raise Http404("No such action.")
    service, done = ACTIONS[action]
    _act(request, lambda: service(study=study, user=request.user), lambda _: done)
    return redirect("researcher:study", slug=study.slug)


# --- Sentences ---------------------------------------------------------------------------------


def _pending(request: HttpRequest, study: Study) -> dict | None:
    return request.session.get(PENDING_SENTENCES, {}).get(str(study.pk))


def _set_pending(request: HttpRequest, study: Study, value: dict | None) -> None:
    pending = dict(request.session.get(PENDING_SENTENCES, {}))
    if value is None:
        pending.pop(str(study.pk), None)
    else:
        pending[str(study.pk)] = value
    request.session[PENDING_SENTENCES] = pending


def _undecoded(request: HttpRequest, study: Study, value: dict | None = None) -> dict | None:
    """The last upload that was not UTF-8, kept so the researcher can read it as another
    encoding without choosing the file again (bounded by MAX_SENTENCE_FILE_KB)."""
    kept = dict(request.session.get(UNDECODED_SENTENCES, {}))
    if value is not None:
        kept[str(study.pk)] = value
        request.session[UNDECODED_SENTENCES] = kept
    return kept.get(str(study.pk))


def _sentences_read_as(request: HttpRequest, study: Study) -> HttpResponse:
    """Decode the kept upload as the encoding the researcher chose, then preview it."""
    kept = _undecoded(request, study)
    back = redirect("researcher:sentences", slug=study.slug)
    if kept is None:
        messages.info(request, "No upload is waiting to be read again: choose the file.")
        return back
    data = base64.b64decode(kept["data"])
    try:
        text, encoding = sentence_set.sentence_file_decode(
            data, kept["filename"], read_as=request.POST.get("read_as", "")
        )
        sentence_set.sentences_preview(
            study=study, text=text, filename=kept["filename"], encoding=encoding
        )
    except UploadError as exc:
        messages.error(request, str(exc))
        return back
    pending = {"filename": kept["filename"], "encoding": encoding, "text": text}
    _set_pending(request, study, {**pending, "replace": kept["replace"]})
    request.session[UNDECODED_SENTENCES] = {
        k: v for k, v in request.session.get(UNDECODED_SENTENCES, {}).items() if k != str(study.pk)
    }
    return redirect("researcher:sentences_preview", slug=study.slug)


@researcher_required
def sentences(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for(request.user, slug)
    if request.method == "POST" and request.POST.get("action") == "read_as":
        if study.design_frozen:
            messages.error(request, "The test has been opened: its sentences can no longer change.")
            return redirect("researcher:sentences", slug=study.slug)
        return _sentences_read_as(request, study)
    undecoded = None
    if request.method == "POST":
        try:
            # Before touching request.POST/FILES, which would read the whole body.
            sentence_set.sentence_upload_size_check(request.META.get("CONTENT_LENGTH"))
        except UploadError as exc:
            messages.error(request, str(exc))
            return redirect("researcher:sentences", slug=study.slug)
    form = SentenceUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if study.design_frozen:
            messages.error(request, "The test has been opened: its sentences can no longer change.")
            return redirect("researcher:sentences", slug=study.slug)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            data = upload.read()
            try:
                text, encoding = sentence_set.sentence_file_decode(
                    data, upload.name, read_as=form.cleaned_data["read_as"]
                )
                # Parse now so a file of the wrong type is refused on this page.
                sentence_set.sentences_preview(
                    study=study, text=text, filename=upload.name, encoding=encoding
                )
            except sentence_set.SentenceDecodeError as exc:
                form.add_error("file", str(exc))
                undecoded = {"filename": upload.name, "read_as": exc.alternatives}
                kept = {"filename": upload.name, "replace": form.cleaned_data["replace"]}
                _undecoded(request, study, {**kept, "data": base64.b64encode(data).decode()})
            except UploadError as exc:
                form.add_error("file", str(exc))
            else:
                # Keep the decoded text, not the parsed rows: the preview and the import are
                # both computed from it against the study as it is at that moment.
                _set_pending(
                    request,
                    study,
                    {
                        "filename": upload.name,
                        "encoding": encoding,
                        "text": text,
                        "replace": form.cleaned_data["replace"],
                    },
                )
                return redirect("researcher:sentences_preview", slug=study.slug)
    page = Paginator(study.sentences.all(), 200).get_page(request.GET.get("page"))
    context = {
        "study": study,
        "tab": "sentences",
        "form": form,
        "page": page,
        "n_sentences": study.sentences.count(),
        "pending": _pending(request, study),
        "undecoded": undecoded,
    }
    return _page(request, "sentences.html", context)


@researcher_required
def sentences_preview(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for(request.user, slug)
    pending = _pending(request, study)
    if pending is None:
        messages.info(request, "No upload is waiting: choose a sentence file first.")
        return redirect("researcher:sentences", slug=study.slug)
    preview = sentence_set.sentences_preview(
        study=study,
        text=pending["text"],
        filename=pending["filename"],
        encoding=pending["encoding"],
        replace=pending["replace"],
    )
    if request.method == "POST":
        if request.POST.get("action") == "discard":
            _set_pending(request, study, None)
            messages.info(request, f"Upload of {pending['filename']} discarded; nothing saved.")
            return redirect("researcher:sentences", slug=study.slug)
        try:
            n = sentence_set.sentences_import(study=study, preview=preview)
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            _set_pending(request, study, None)
            messages.success(request, f"{n} sentences imported from {pending['filename']}.")
            return redirect("researcher:sentences", slug=study.slug)
    # A page of rows at a time (up to MAX_SENTENCES of them): only the problems until they are
    # fixed, every sentence once there are none, either on request.
    show = request.GET.get("show")
    if show not in ("problems", "all"):
        show = "all" if preview.ok else "problems"
    rows = preview.rows_with_problems if show == "problems" else preview.rows
    page = Paginator(rows, PREVIEW_ROWS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "study": study,
        "tab": "sentences",
        "preview": preview,
        "show": show,
        "page": page,
        "query": f"show={show}",
        "n_problems": len(preview.rows_with_problems),
    }
    return _page(request, "sentences_preview.html", context)


@researcher_required
@require_POST
def sentences_delete(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for(request.user, slug)
    _act(
        request,
        lambda: sentence_set.sentences_delete(study=study),
        lambda n: f"{n} sentences deleted.",
    )
    return redirect("researcher:sentences", slug=study.slug)


# --- Systems -----------------------------------------------------------------------------------


@researcher_required
def systems(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for(request.user, slug)
    which = request.POST.get("form") if request.method == "POST" else None
    voices = list(Voice.objects.filter(is_active=True))
    availability = voices_availability(voices)
    system_form = SystemForm(
        request.POST if which == "system" else None, prefix="system", availability=availability
    )
    anchor_form = AnchorForm(
        request.POST if which == "anchor" else None, study=study, prefix="anchor"
    )
    mushra_form = MushraAnchorsForm(
        request.POST if which == "mushra" else None, study=study, prefix="mushra"
    )
    if which == "mushra" and mushra_form.is_valid():
        data = mushra_form.cleaned_data
        made = _submit(
            mushra_form,
            study_systems.system_add_mushra_anchors,
            study=study,
            source=data["source"],
            mid=data["which"] == "both",
        )
        if made is not None:
            names = ", ".join(f"'{system.name}'" for system in made)
            messages.success(request, f"MUSHRA anchors {names} added.")
            return redirect("researcher:systems", slug=study.slug)
    # The two forms that add one system: their fields are the service's arguments.
    adders = {
        "system": (system_form, study_systems.system_add, "System"),
        "anchor": (anchor_form, study_systems.system_add_anchor, "Anchor"),
    }
    added, what = None, ""
    if which in adders and adders[which][0].is_valid():
        form, service, what = adders[which]
        added = _submit(form, service, study=study, **form.cleaned_data)
    if added is not None:
        messages.success(request, f"{what} '{added.name}' added.")
        if added.voice is not None:
            # The sentences were checked against the systems there were at upload time.
            found = sentence_set.sentences_unreadable_by(study=study, voice=added.voice)
            if found:
                messages.warning(request, sentence_set.unreadable_warning(added.voice, found))
        return redirect("researcher:systems", slug=study.slug)
    reports = request.session.get(AUDIO_REPORTS, {})
    report = reports.pop(str(study.pk), None)
    if report is not None:
        request.session[AUDIO_REPORTS] = reports
    context = {
        "study": study,
        "tab": "systems",
        "systems": study_systems_with_counts(study),
        "system_form": system_form,
        "anchor_form": anchor_form,
        "mushra_form": mushra_form,
        "upload_form": AudioUploadForm(),
        "report": report,
        "max_upload_mb": settings.MAX_UPLOAD_MB,
        "n_sentences": study.sentences.count(),
        "voices": [(voice, availability[voice.pk]) for voice in voices],
    }
    return _page(request, "systems.html", context)


def _system(request: HttpRequest, slug: str, system_id: int) -> tuple[Study, System]:
    study = study_for(request.user, slug)
    return study, get_object_or_404(System, pk=system_id, study=study)


@researcher_required
def system_edit(request: HttpRequest, slug: str, system_id: int) -> HttpResponse:
    study, system = _system(request, slug, system_id)
    form = SystemEditForm(request.POST or None, system=system)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = _submit(
            form,
            study_systems.system_update,
            system=system,
            name=data["name"],
            kind=data.get("kind") or None,
            is_low_anchor=data["is_low_anchor"],
        )
        if saved is not None:
            messages.success(request, f"System '{data['name']}' saved.")
            return redirect("researcher:systems", slug=study.slug)
    context = {"study": study, "tab": "systems", "system": system, "form": form}
    return _page(request, "system_edit.html", context)


@researcher_required
@require_POST
def system_delete(request: HttpRequest, slug: str, system_id: int) -> HttpResponse:
    study, system = _system(request, slug, system_id)
    _act(
        request,
        lambda: study_systems.system_delete(system=system),
        lambda _: f"System '{system.name}' deleted with its clips.",
    )
    return redirect("researcher:systems", slug=study.slug)


@researcher_required
@require_POST
def system_upload(request: HttpRequest, slug: str, system_id: int) -> HttpResponse:
    study, system = _system(request, slug, system_id)
    back = HttpResponseRedirect(reverse("researcher:systems", kwargs={"slug": study.slug}))
    try:
        # Before touching request.FILES, which would spool the whole body to disk.
        recordings.upload_size_check(request.META.get("CONTENT_LENGTH"))
    except UploadError as exc:
        messages.error(request, str(exc))
        return back
    form = AudioUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a ZIP or audio files to upload.")
        return back
    try:
        report = recordings.system_audio_import(system=system, files=form.cleaned_data["files"])
    except ServiceError as exc:
        messages.error(request, str(exc))
        return back
    reports = dict(request.session.get(AUDIO_REPORTS, {}))
    reports[str(study.pk)] = report.as_dict()
    request.session[AUDIO_REPORTS] = reports
    if report.problems:
        messages.warning(
            request,
            f"{len(report.stored)} recordings stored for '{system.name}'; "
            f"{report.problems} problem(s) listed below.",
        )
    else:
        messages.success(request, f"{len(report.stored)} recordings stored for '{system.name}'.")
    return back


# --- Synthesis and clips -----------------------------------------------------------------------


@researcher_required
@require_POST
def synthesis_start(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for(request.user, slug)
    try:
        n = launch.study_start_synthesis(
            study=study, user=request.user, only_failed=request.POST.get("only_failed") == "1"
        )
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("researcher:study", slug=study.slug)
    if n:
        messages.success(request, f"{n} clips queued for synthesis.")
    else:
        messages.info(request, "Nothing to synthesise: every synthesised clip is ready.")
    return redirect("researcher:clips", slug=study.slug)


@researcher_required
@require_GET
def clips(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for(request.user, slug)
    rows = Clip.objects.filter(system__study=study).select_related("system", "sentence")
    status = request.GET.get("status", "")
    if status in Clip.Status.values:
        rows = rows.filter(status=status)
    system_id = request.GET.get("system", "")
    if system_id.isdigit():
        rows = rows.filter(system_id=int(system_id))
    rows = rows.order_by("sentence__position", "sentence__key", "system__position", "system_id")
    page = Paginator(rows, CLIPS_PER_PAGE).get_page(request.GET.get("page"))
    for clip in page.object_list:  # what made each clip, for its "How it was made" detail
        clip.provenance_rows = provenance_summary(clip.provenance)
        clip.provenance_json = json.dumps(clip.provenance, indent=1, sort_keys=True)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "study": study,
        "tab": "clips",
        "page": page,
        "progress": lifecycle.study_progress(study=study),
        "systems": study.systems.order_by("position", "id"),
        "statuses": Clip.Status.choices,
        "status": status,
        "system_id": system_id,
        "query": query.urlencode(),
        "can_retry_kinds": list(launch.SYNTHESISED_KINDS),
    }
    return _page(request, "clips.html", context)


@researcher_required
@require_GET
def status_json(request: HttpRequest, slug: str) -> JsonResponse:
    study = study_for(request.user, slug)
    progress = lifecycle.study_progress(study=study)
    progress["status_display"] = study.get_status_display()
    return JsonResponse(progress)


def _clip(study: Study, token: str) -> Clip:
    return get_object_or_404(
        Clip.objects.select_related("system", "sentence"), token=token, system__study=study
    )


@researcher_required
@require_GET
def clip_audio(request: HttpRequest, slug: str, token: str) -> FileResponse:
    """A clip's audio for its researcher (listeners get theirs through the listener path)."""
    clip = _clip(study_for(request.user, slug), token)
    if not clip.audio:
        raise Http404("This clip has no audio yet.")
    response = FileResponse(clip.audio.open("rb"), content_type=audio_content_type(clip.audio.name))
    response["Cache-Control"] = "private, no-store"
    return response


@researcher_required
@require_POST
def clip_retry(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    study = study_for(request.user, slug)
    clip = _clip(study, token)
    _act(
        request,
        lambda: launch.clip_retry(clip=clip),
        lambda _: f"Clip {clip.system.name} / {clip.sentence.key} queued for synthesis again.",
    )
    url = reverse("researcher:clips", kwargs={"slug": study.slug})
    back = request.POST.get("back", "")
    return redirect(f"{url}?{back}" if back and "//" not in back else url)


# --- API token ---------------------------------------------------------------------------------


@researcher_required
def api_token(request: HttpRequest) -> HttpResponse:
    """Show the researcher's API token; POST makes a new one (the old one stops working)."""
    if request.method == "POST":
        Token.objects.filter(user=request.user).delete()
        Token.objects.create(user=request.user)
        messages.success(request, "A new API token was made; the old one no longer works.")
        return redirect("researcher:api_token")
    token, _ = Token.objects.get_or_create(user=request.user)
    context = {"token": token.key, "api_base": site_base_url(request) + "/api/v1"}
    return _page(request, "api_token.html", context)
