"""API endpoints for study recipes and the replication bundle (owner only, like every study
endpoint: another researcher's study is a 404).

    GET  /api/v1/studies/<slug>/recipe/            recipe.json (``?audio=1``: ZIP with audio)
    POST /api/v1/study-imports/                    multipart ``file`` (+ ``slug``): a new study
    GET  /api/v1/studies/<slug>/replication.zip    recipe + ratings + report + README

The study and report pages link to the GET endpoints (the API takes the session too), since
the replication bundle needs both the studies room (the recipe) and analysis (the report),
and only the API may import both (``docs/architecture.md``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from listening.access import study_for
from listening.analysis.replication import replication_bundle_zip
from listening.analysis.reports import report_request
from listening.api.serializers import ErrorSerializer, validation_detail
from listening.errors import ServiceError, UploadError
from listening.models import StudyReport
from listening.studies.recipes import (
    recipe_bundle_zip,
    recipe_json,
    recipe_read,
    study_import,
    study_recipe,
)
from listening.studies.recordings import upload_size_check
from mos_site.http import text_download

NOT_YOURS = OpenApiResponse(ErrorSerializer, description="No such study among yours.")


class RecipeImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="recipe.json, or the ZIP of a recipe with its audio.")
    slug = serializers.SlugField(required=False, help_text="Default: the recipe's (or -2, -3...).")


class RecipeImportResultSerializer(serializers.Serializer):
    slug = serializers.CharField()
    status = serializers.CharField()
    notes = serializers.ListField(child=serializers.CharField())


class RecipeView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("audio", bool, description="A ZIP with every clip's audio.")],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, 404: NOT_YOURS},
        summary="The study's recipe (JSON), or with audio=1 a ZIP bundle with its audio",
    )
    def get(self, request: Request, slug: str):
        study = study_for(request.user, slug)
        if request.query_params.get("audio") in ("1", "true", "yes"):
            return FileResponse(
                recipe_bundle_zip(study=study),
                as_attachment=True,
                filename=f"{study.slug}-recipe.zip",
                content_type="application/zip",
            )
        text = recipe_json(study_recipe(study=study))
        return text_download(text, "application/json; charset=utf-8", f"{study.slug}-recipe.json")


class RecipeImportView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": RecipeImportSerializer},
        responses={201: RecipeImportResultSerializer, 400: ErrorSerializer},
        summary="Create a study from a recipe or a recipe bundle (audio hashes checked)",
    )
    def post(self, request: Request) -> Response:
        try:
            upload_size_check(request.META.get("CONTENT_LENGTH"))
        except UploadError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        form = RecipeImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        try:
            read = recipe_read(upload.read(), name=upload.name)
            result = study_import(
                owner=request.user,
                recipe=read.recipe,
                audio=read.audio,
                slug=form.validated_data.get("slug"),
            )
        except DjangoValidationError as exc:
            return Response(validation_detail(exc), status=status.HTTP_400_BAD_REQUEST)
        except ServiceError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class ReplicationView(APIView):
    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            202: OpenApiResponse(description="The report is being built: try again."),
            404: NOT_YOURS,
            409: OpenApiResponse(ErrorSerializer, description="No report yet (no ratings)."),
        },
        summary="Replication bundle: recipe, ratings CSV, report JSON, the rebuild command",
    )
    def get(self, request: Request, slug: str):
        study = study_for(request.user, slug)
        report = report_request(study=study)
        if report.status == StudyReport.Status.FAILED:
            return Response({"detail": report.error}, status=status.HTTP_409_CONFLICT)
        if report.status != StudyReport.Status.READY:
            return Response(
                {"detail": "The report is being built; ask again in a moment."},
                status=status.HTTP_202_ACCEPTED,
            )
        bundle = replication_bundle_zip(
            study=study, report=report.data, recipe_text=recipe_json(study_recipe(study=study))
        )
        return FileResponse(
            bundle,
            as_attachment=True,
            filename=f"{study.slug}-replication.zip",
            content_type="application/zip",
        )
