"""API endpoints: parse the request, call one service, render the answer.

Permissions are the pages' (``listening.access``: own studies; all for a superuser; another
researcher's study is a 404). Refusals: 400 for bad input (field -> messages), 401 without a
token, 404 for a study that is not yours, 409 when the study's state forbids the action (a
frozen design, synthesis still running), 413 for an upload over ``MAX_UPLOAD_MB``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from listening.access import studies_for, study_for
from listening.analysis import downloads, reports
from listening.api import serializers as s
from listening.errors import ServiceError, UploadError
from listening.models import Clip, StudyReport, System
from listening.studies import launch, lifecycle, recordings, sentences, systems
from listening.studies import settings as study_settings
from mos_site.http import audio_content_type, streamed_csv_response
from synthesis.models import Voice

REFUSED = {
    400: OpenApiResponse(s.ErrorSerializer, description="Invalid input (field -> messages)."),
    404: OpenApiResponse(s.ErrorSerializer, description="No such study among yours."),
    409: OpenApiResponse(s.ErrorSerializer, description="The study's state forbids this."),
}


def _conflict(exc: Exception) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


def _bad(exc: Exception) -> Response:
    # A file that is not UTF-8 also lists every bad line and how each encoding would read it.
    body = exc.as_dict() if isinstance(exc, sentences.SentenceDecodeError) else {"detail": str(exc)}
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _invalid(exc: DjangoValidationError) -> Response:
    return Response(s.validation_detail(exc), status=status.HTTP_400_BAD_REQUEST)


def _deleted(delete: Any, **target: Any) -> Response:
    """204 once ``delete`` removed ``target`` and what hangs on it; 409 when the study's state
    forbids it."""
    try:
        delete(**target)
    except ServiceError as exc:
        return _conflict(exc)
    return Response(status=status.HTTP_204_NO_CONTENT)


_FROZEN = "its sentences, systems and clips can no longer change."


class StudyListView(APIView):
    @extend_schema(responses=s.StudySerializer(many=True), summary="Your studies")
    def get(self, request: Request) -> Response:
        studies = studies_for(request.user).order_by("-created_at")
        return Response(s.StudySerializer(studies, many=True, context={"request": request}).data)

    @extend_schema(
        request=s.StudySerializer,
        responses={201: s.StudySerializer, 400: REFUSED[400]},
        summary="Create a study (draft)",
    )
    def post(self, request: Request) -> Response:
        serializer = s.StudySerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        try:
            study = study_settings.study_create(owner=request.user, data=serializer.validated_data)
        except DjangoValidationError as exc:
            return _invalid(exc)
        return Response(
            s.StudySerializer(study, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class StudyDetailView(APIView):
    @extend_schema(responses={200: s.StudySerializer, 404: REFUSED[404]}, summary="A study")
    def get(self, request: Request, slug: str) -> Response:
        study = study_for(request.user, slug)
        return Response(s.StudySerializer(study, context={"request": request}).data)

    @extend_schema(
        request=s.StudySerializer,
        responses={200: s.StudySerializer, **REFUSED},
        summary="Change a study's settings (design fields are fixed once opened)",
    )
    def patch(self, request: Request, slug: str) -> Response:
        study = study_for(request.user, slug)
        serializer = s.StudySerializer(
            study, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        try:
            study = study_settings.study_update(study=study, data=serializer.validated_data)
        except DjangoValidationError as exc:
            return _invalid(exc)
        except ServiceError as exc:
            return _conflict(exc)
        return Response(s.StudySerializer(study, context={"request": request}).data)


def _study_rows_get(serializer: Any, related: str, summary: str) -> Any:
    """The GET of a study's rows of one kind (``related``: its sentences, its systems)."""

    @extend_schema(responses={200: serializer(many=True), 404: REFUSED[404]}, summary=summary)
    def get(self: APIView, request: Request, slug: str) -> Response:
        rows = getattr(study_for(request.user, slug), related).all()
        return Response(serializer(rows, many=True).data)

    return get


class SentencesView(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    get = _study_rows_get(s.SentenceSerializer, "sentences", "The study's sentences")

    @extend_schema(
        request={
            "application/json": s.SentencesJsonSerializer,
            "multipart/form-data": s.SentencesFileSerializer,
        },
        responses={
            201: s.SentencePreviewSerializer,
            200: OpenApiResponse(s.SentencePreviewSerializer, description="dry_run: a preview."),
            400: OpenApiResponse(
                s.SentencePreviewSerializer,
                description="The file cannot be read, or rows have problems (listed; nothing "
                "was imported).",
            ),
            404: REFUSED[404],
            409: REFUSED[409],
            413: OpenApiResponse(s.ErrorSerializer, description="Over MAX_SENTENCE_FILE_KB."),
        },
        summary="Add sentences (JSON list or a .txt/.csv/.tsv file); all or nothing",
    )
    def post(self, request: Request, slug: str) -> Response:
        study = study_for(request.user, slug)
        if study.design_frozen:
            return _conflict(ServiceError("The test has been opened: " + _FROZEN))
        try:
            sentences.sentence_upload_size_check(request.META.get("CONTENT_LENGTH"))
        except UploadError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            if "multipart/" in (request.content_type or ""):
                form = s.SentencesFileSerializer(data=request.data)
                form.is_valid(raise_exception=True)
                upload = form.validated_data["file"]
                text, encoding = sentences.sentence_file_decode(
                    upload.read(), upload.name, read_as=form.validated_data["read_as"]
                )
                preview = sentences.sentences_preview(
                    study=study,
                    text=text,
                    filename=upload.name,
                    encoding=encoding,
                    replace=form.validated_data["replace"],
                )
            else:
                form = s.SentencesJsonSerializer(data=request.data)
                form.is_valid(raise_exception=True)
                preview = sentences.sentences_preview_from_items(
                    study=study,
                    items=form.validated_data["sentences"],
                    replace=form.validated_data["replace"],
                )
        except UploadError as exc:
            return _bad(exc)
        body = {**preview.as_dict(), "imported": 0}
        if not preview.ok:
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        if form.validated_data["dry_run"]:
            return Response(body)
        try:
            body["imported"] = sentences.sentences_import(study=study, preview=preview)
        except ServiceError as exc:
            return _conflict(exc)
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={204: None, 404: REFUSED[404], 409: REFUSED[409]},
        summary="Delete every sentence (and their clips)",
    )
    def delete(self, request: Request, slug: str) -> Response:
        return _deleted(sentences.sentences_delete, study=study_for(request.user, slug))


class SystemsView(APIView):
    get = _study_rows_get(
        s.SystemSerializer, "systems", "The study's systems with their clip counts"
    )

    @extend_schema(
        request=s.SystemCreateSerializer,
        responses={201: s.SystemSerializer, **REFUSED},
        summary="Add a system: a voice, uploaded or reference audio, or an anchor (MNRU or "
        "MUSHRA low-pass)",
    )
    def post(self, request: Request, slug: str) -> Response:
        study = study_for(request.user, slug)
        form = s.SystemCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            if data["kind"] == System.Kind.ANCHOR:
                source = study.systems.filter(pk=data.get("anchor_source") or 0).first()
                if source is None:
                    raise ValidationError(
                        {"anchor_source": ["Give the id of a system of this study."]}
                    )
                low = data.get("is_low_anchor")
                if data["anchor_kind"] != System.AnchorKind.MNRU:
                    if data.get("anchor_q_db") is not None:
                        raise ValidationError(
                            {"anchor_q_db": ["A low-pass anchor has no Q; leave it out."]}
                        )
                    system = systems.system_add_lowpass_anchor(
                        study=study,
                        source=source,
                        anchor_kind=data["anchor_kind"],
                        name=data.get("name", ""),
                        is_low_anchor=low,
                    )
                else:
                    if data.get("anchor_q_db") is None:
                        raise ValidationError({"anchor_q_db": ["An MNRU anchor needs Q in dB."]})
                    system = systems.system_add_anchor(
                        study=study,
                        source=source,
                        q_db=data["anchor_q_db"],
                        name=data.get("name", ""),
                        is_low_anchor=True if low is None else low,
                    )
            else:
                voice = None
                if data.get("voice") is not None:
                    voice = Voice.objects.filter(pk=data["voice"]).first()
                    if voice is None:
                        raise ValidationError({"voice": ["No voice has this id (GET /voices/)."]})
                if not data.get("name"):
                    raise ValidationError({"name": ["Give the system a name."]})
                system = systems.system_add(
                    study=study,
                    name=data["name"],
                    kind=data["kind"],
                    voice=voice,
                    is_low_anchor=bool(data.get("is_low_anchor")),
                )
        except DjangoValidationError as exc:
            return _invalid(exc)
        except ServiceError as exc:
            return _conflict(exc)
        data = s.SystemSerializer(system).data
        if system.voice is not None:
            # The sentences were checked against the systems there were at upload time.
            found = sentences.sentences_unreadable_by(study=study, voice=system.voice)
            data["warnings"] = [sentences.unreadable_warning(system.voice, found)] if found else []
        return Response(data, status=status.HTTP_201_CREATED)


class SystemDetailView(APIView):
    @extend_schema(responses={200: s.SystemSerializer, 404: REFUSED[404]}, summary="A system")
    def get(self, request: Request, slug: str, system_id: int) -> Response:
        system = get_object_or_404(System, pk=system_id, study=study_for(request.user, slug))
        return Response(s.SystemSerializer(system).data)

    @extend_schema(
        request=s.SystemUpdateSerializer,
        responses={200: s.SystemSerializer, **REFUSED},
        summary="Rename, mark as reference or low anchor",
    )
    def patch(self, request: Request, slug: str, system_id: int) -> Response:
        system = get_object_or_404(System, pk=system_id, study=study_for(request.user, slug))
        form = s.SystemUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            system = systems.system_update(system=system, **form.validated_data)
        except DjangoValidationError as exc:
            return _invalid(exc)
        except ServiceError as exc:
            return _conflict(exc)
        return Response(s.SystemSerializer(system).data)

    @extend_schema(
        responses={204: None, 404: REFUSED[404], 409: REFUSED[409]},
        summary="Remove a system, its clips and its anchors",
    )
    def delete(self, request: Request, slug: str, system_id: int) -> Response:
        system = get_object_or_404(System, pk=system_id, study=study_for(request.user, slug))
        return _deleted(systems.system_delete, system=system)


class SystemAudioView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": s.AudioUploadSerializer},
        responses={
            201: s.AudioImportReportSerializer,
            413: OpenApiResponse(s.ErrorSerializer, description="Over MAX_UPLOAD_MB."),
            **REFUSED,
        },
        summary="Upload recordings for an uploaded or reference system (ZIP or files)",
    )
    def post(self, request: Request, slug: str, system_id: int) -> Response:
        system = get_object_or_404(System, pk=system_id, study=study_for(request.user, slug))
        try:
            # Before request.data, which would spool the whole body to disk.
            recordings.upload_size_check(request.META.get("CONTENT_LENGTH"))
        except UploadError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        files = request.FILES.getlist("files")
        if not files:
            return _bad(UploadError("Send the recordings in the multipart field 'files'."))
        try:
            report = recordings.system_audio_import(system=system, files=files)
        except UploadError as exc:
            return _bad(exc)
        except ServiceError as exc:
            return _conflict(exc)
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)


class SynthesisView(APIView):
    @extend_schema(
        request=s.SynthesisStartSerializer,
        responses={202: s.QueuedSerializer, 404: REFUSED[404], 409: REFUSED[409]},
        summary="Queue synthesis of every clip not ready (or only the failed ones)",
    )
    def post(self, request: Request, slug: str) -> Response:
        study = study_for(request.user, slug)
        form = s.SynthesisStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            n = launch.study_start_synthesis(
                study=study, user=request.user, only_failed=form.validated_data["only_failed"]
            )
        except ServiceError as exc:
            return _conflict(exc)
        study.refresh_from_db(fields=["status"])
        return Response({"queued": n, "status": study.status}, status=status.HTTP_202_ACCEPTED)


class StatusView(APIView):
    @extend_schema(responses={200: s.StatusSerializer, 404: REFUSED[404]}, summary="Progress")
    def get(self, request: Request, slug: str) -> Response:
        return Response(lifecycle.study_progress(study=study_for(request.user, slug)))


class _StudyActionView(APIView):
    """POST runs one status change of the study (``lifecycle``); 409 when its status forbids it."""

    service: Any = None
    done = ""

    def post(self, request: Request, slug: str) -> Response:
        study = study_for(request.user, slug)
        try:
            self.service(study=study, user=request.user)
        except ServiceError as exc:
            return _conflict(exc)
        study.refresh_from_db(fields=["status"])
        return Response({"status": study.status, "detail": self.done})


def _study_action_view(service: Any, summary: str, done: str) -> type[_StudyActionView]:
    """The endpoint of one status change: ``service`` runs it, ``done`` is the answer's text."""
    schema = extend_schema(
        request=None,
        responses={200: s.ActionResultSerializer, 404: REFUSED[404], 409: REFUSED[409]},
        summary=summary,
    )
    name = f"Study{service.__name__.removeprefix('study_').title()}View"
    attrs = {"service": staticmethod(service), "done": done, "__module__": __name__}
    return schema(type(name, (_StudyActionView,), attrs))


#: The study's status changes by URL name (``api/urls.py`` routes each under the study).
STUDY_ACTIONS = {
    "open": _study_action_view(
        lifecycle.study_open,
        "Open the test: freeze the design and build the playlists",
        "The test is open.",
    ),
    "pause": _study_action_view(lifecycle.study_pause, "Pause an open test", "The test is paused."),
    "resume": _study_action_view(
        lifecycle.study_resume, "Resume a paused test", "The test is open again."
    ),
    "close": _study_action_view(lifecycle.study_close, "Close the test", "The test is closed."),
}


class ClipsView(APIView):
    @extend_schema(
        responses={200: s.ClipSerializer(many=True), 404: REFUSED[404]},
        summary="Every clip: status, duration, loudness, error, audio URL",
    )
    def get(self, request: Request, slug: str) -> Response:
        study = study_for(request.user, slug)
        clips = (
            Clip.objects.filter(system__study=study)
            .select_related("system__study", "sentence")
            .order_by("sentence__position", "sentence__key", "system__position", "system_id")
        )
        return Response(s.ClipSerializer(clips, many=True, context={"request": request}).data)


def _clip(request: Request, slug: str, token: str) -> Clip:
    return get_object_or_404(
        Clip.objects.select_related("system", "sentence"),
        token=token,
        system__study=study_for(request.user, slug),
    )


class ClipRetryView(APIView):
    @extend_schema(
        request=None,
        responses={202: s.ClipSerializer, 404: REFUSED[404], 409: REFUSED[409]},
        summary="Synthesise one clip again",
    )
    def post(self, request: Request, slug: str, token: str) -> Response:
        clip = _clip(request, slug, token)
        try:
            launch.clip_retry(clip=clip)
        except ServiceError as exc:
            return _conflict(exc)
        clip.refresh_from_db()
        return Response(
            s.ClipSerializer(clip, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class ClipAudioView(APIView):
    @extend_schema(
        responses={(200, "audio/flac"): OpenApiTypes.BINARY, 404: REFUSED[404]},
        summary="A clip's audio (FLAC)",
    )
    def get(self, request: Request, slug: str, token: str) -> HttpResponse:
        clip = _clip(request, slug, token)
        if not clip.audio:
            raise Http404("This clip has no audio yet.")
        return FileResponse(clip.audio.open("rb"), content_type=audio_content_type(clip.audio.name))


class ReportView(APIView):
    @extend_schema(
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT, description="The report (stats.build_report)."
            ),
            202: OpenApiResponse(s.ReportPendingSerializer, description="Being built: poll again."),
            404: REFUSED[404],
            409: OpenApiResponse(s.ErrorSerializer, description="No report: e.g. no ratings yet."),
        },
        summary="The MOS report as JSON (cached until new ratings arrive)",
    )
    def get(self, request: Request, slug: str) -> Response:
        # The report page's own service: the same cache, screening and manual exclusions.
        report = reports.report_request(study=study_for(request.user, slug))
        if report.status == StudyReport.Status.READY:
            return Response(report.data)
        if report.status == StudyReport.Status.FAILED:
            return Response({"detail": report.error}, status=status.HTTP_409_CONFLICT)
        return Response(
            {"status": report.status, "progress": report.progress, "message": report.message},
            status=status.HTTP_202_ACCEPTED,
        )


class RatingsCsvView(APIView):
    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR, 404: REFUSED[404]},
        summary="Every rating as CSV (listener,sentence,system,score first; the page's download)",
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        study = study_for(request.user, slug)
        rows = downloads.study_ratings_csv_rows(study=study)
        return streamed_csv_response(rows, f"{study.slug}-ratings.csv")


class VoiceListView(APIView):
    @extend_schema(responses=s.VoiceSerializer(many=True), summary="Voices to synthesise with")
    def get(self, request: Request) -> Response:
        voices = Voice.objects.filter(is_active=True).order_by("name")
        return Response(s.VoiceSerializer(voices, many=True).data)
