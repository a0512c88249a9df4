"""Shapes of the API's requests and answers (and so of its OpenAPI schema).

Serializers here only check types; ranges, uniqueness and the study's state are checked by the
services, which raise the same errors for the API and the researcher pages.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from listening.models import Clip, Sentence, Study, System
from listening.studies.lifecycle import status_counts
from listening.studies.selectors import listener_links
from listening.studies.settings import STUDY_FIELDS
from listening.studies.study_types import test_type_problems
from synthesis.availability import voice_availability
from synthesis.models import Voice

#: A study's fields that the site sets and the API only shows.
SITE_FIELDS = [
    "status",
    "sample_rate",
    "loudness_target_lufs",
    "created_at",
    "opened_at",
    "closed_at",
]


@extend_schema_field(OpenApiTypes.STR)
class StudySystemField(serializers.Field):
    """One of the study's own systems, by name (or id) in, by name out. The study's service
    (``listening.studies.study_types``) finds it among the study's systems and refuses any
    other, so a system of another study is never reachable."""

    def to_representation(self, value: System) -> str:
        return value.name

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str | int) or isinstance(data, bool):
            raise serializers.ValidationError("Give the system's name (or its id).")
        return data


class StudySerializer(serializers.ModelSerializer):
    """A study's settings. ``screening`` takes the setting names of ``listening.screening.SETTINGS``;
    ``test_type`` is acr, ccr, ab, abx or smos, with ``reference_system`` (a system's name),
    ``comparison`` (CCR), ``allow_tie`` (AB), ``reference_text`` (SMOS) and ``scale_labels``
    (best first: 5 for ACR and SMOS, 7 for CCR; empty for the standard ones).
    ``followup_questions``: up to 5 yes/no questions asked about every clip, as
    ``[{"key": "mispronounced", "text": "Did you hear any mispronounced word?"}]``."""

    links = serializers.SerializerMethodField()
    test_type_problems = serializers.SerializerMethodField(
        help_text="What keeps the study from running as its test type, each naming the fix "
        "(empty once the type's settings are complete); the study page's checklist shows them."
    )
    screening = serializers.JSONField(required=False)
    reference_system = StudySystemField(
        required=False,
        allow_null=True,
        help_text="Name of one of the study's systems, normally its natural recordings "
        "(kind 'reference'): what CCR compares against, the voice SMOS compares with. Set it "
        "once the system exists.",
    )
    scale_labels = serializers.ListField(
        child=serializers.CharField(max_length=60),
        required=False,
        help_text="The study's own answer labels, best first (5 for ACR and SMOS, 7 for CCR); "
        "empty: the standard ones.",
    )

    class Meta:
        model = Study
        # The services' field list (the pages use it too), then what only the site sets.
        fields = [*STUDY_FIELDS, *SITE_FIELDS, "test_type_problems", "links"]
        read_only_fields = SITE_FIELDS
        # Slug uniqueness is the service's check (one message for pages and API).
        extra_kwargs = {"slug": {"validators": []}}

    def get_test_type_problems(self, study: Study) -> list[str]:
        return [] if study.design_frozen else test_type_problems(study)

    def get_links(self, study: Study) -> dict[str, str]:
        request = self.context.get("request")
        links = listener_links(request, study)
        links["page"] = reverse("researcher:study", kwargs={"slug": study.slug})
        if request is not None:
            links["page"] = request.build_absolute_uri(links["page"])
        return links


class SentenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sentence
        fields = ["key", "text", "expected_score", "position"]


class SentenceItemSerializer(serializers.Serializer):
    key = serializers.CharField(required=False, allow_blank=True, max_length=200)
    text = serializers.CharField(allow_blank=True, max_length=10_000)
    expected_score = serializers.IntegerField(required=False, allow_null=True)


class SentencesJsonSerializer(serializers.Serializer):
    """Sentences as a JSON list; items without a key get s001, s002, ..."""

    sentences = SentenceItemSerializer(
        many=True, allow_empty=True, max_length=settings.MAX_SENTENCES
    )
    replace = serializers.BooleanField(default=False)
    dry_run = serializers.BooleanField(default=False)


class SentencesFileSerializer(serializers.Serializer):
    """A sentence file: .txt (one per line) or .csv/.tsv (key,text[,expected_score])."""

    file = serializers.FileField()
    replace = serializers.BooleanField(default=False)
    dry_run = serializers.BooleanField(default=False)
    read_as = serializers.ChoiceField(
        choices=["", "cp1252", "latin-1"],
        default="",
        help_text="Read a file that is not UTF-8 as Windows-1252 (Excel) or Latin-1.",
    )


class SentenceRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    key = serializers.CharField()
    text = serializers.CharField()
    expected_score = serializers.IntegerField(allow_null=True)
    problems = serializers.ListField(child=serializers.CharField())


class SentencePreviewSerializer(serializers.Serializer):
    """What an upload would import; ``ok`` is false when anything blocks it."""

    ok = serializers.BooleanField()
    imported = serializers.IntegerField()
    filename = serializers.CharField()
    format = serializers.CharField()
    encoding = serializers.CharField()
    header = serializers.BooleanField()
    replace = serializers.BooleanField()
    n_sentences = serializers.IntegerField()
    n_with_problems = serializers.IntegerField()
    blank_lines = serializers.ListField(child=serializers.IntegerField())
    problems = serializers.ListField(child=serializers.CharField())
    rows = SentenceRowSerializer(many=True)


class ClipCountsSerializer(serializers.Serializer):
    """How many clips are in each state (pending, running, ready, failed), and in all."""

    # The fields are read from Clip.Status, as lifecycle.status_counts counts them, so a new
    # state reaches the API and its schema without a second list to keep in step.
    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: serializers.IntegerField() for name in (*Clip.Status.values, "total")}


class SystemSerializer(serializers.ModelSerializer):
    voice_name = serializers.CharField(source="voice.name", read_only=True, allow_null=True)
    clips = serializers.SerializerMethodField()

    class Meta:
        model = System
        fields = [
            "id",
            "name",
            "kind",
            "voice",
            "voice_name",
            "anchor_source",
            "anchor_kind",
            "anchor_q_db",
            "is_low_anchor",
            "position",
            "clips",
        ]

    def get_clips(self, system: System) -> ClipCountsSerializer:
        return status_counts(system.clips.all())


class SystemCreateSerializer(serializers.Serializer):
    """A system: ``kind`` voice (with ``voice``), uploaded or reference (audio uploaded later),
    or anchor (from ``anchor_source``: MNRU at ``anchor_q_db`` dB, ITU-T P.810, or with
    ``anchor_kind`` lowpass3500/lowpass7000 a MUSHRA low-pass anchor, ITU-R BS.1534-3)."""

    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=System.Kind.choices)
    voice = serializers.IntegerField(required=False, allow_null=True, help_text="A voice id.")
    anchor_source = serializers.IntegerField(
        required=False, allow_null=True, help_text="Id of a system of the same study."
    )
    anchor_kind = serializers.ChoiceField(
        choices=System.AnchorKind.choices, required=False, default=System.AnchorKind.MNRU
    )
    anchor_q_db = serializers.FloatField(required=False, allow_null=True)
    is_low_anchor = serializers.BooleanField(required=False, allow_null=True, default=None)


class SystemUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    kind = serializers.ChoiceField(
        choices=System.Kind.choices,
        required=False,
        help_text="Switch an uploaded system between 'uploaded' and 'reference'.",
    )
    is_low_anchor = serializers.BooleanField(required=False)


class AudioUploadSerializer(serializers.Serializer):
    """A ZIP, or audio files named by sentence key (s001.wav), in the ``files`` field."""

    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)


class AudioProblemSerializer(serializers.Serializer):
    file = serializers.CharField()
    key = serializers.CharField()
    error = serializers.CharField()


class AudioDuplicateSerializer(serializers.Serializer):
    key = serializers.CharField()
    files = serializers.ListField(child=serializers.CharField())


class AudioImportReportSerializer(serializers.Serializer):
    """What became of each uploaded file."""

    system = serializers.CharField()
    stored = serializers.ListField(child=serializers.CharField())
    unmatched = serializers.ListField(child=serializers.CharField())
    missing = serializers.ListField(child=serializers.CharField())
    unreadable = AudioProblemSerializer(many=True)
    silent = AudioProblemSerializer(many=True)
    duplicates = AudioDuplicateSerializer(many=True)
    mismatched = AudioProblemSerializer(
        many=True, help_text="Files refused: not the sha256 the study's recipe gives."
    )
    skipped = serializers.ListField(child=serializers.CharField())
    n_problems = serializers.IntegerField()


class SynthesisStartSerializer(serializers.Serializer):
    only_failed = serializers.BooleanField(default=False)


class QueuedSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    status = serializers.CharField()


class FailureSerializer(serializers.Serializer):
    token = serializers.CharField()
    system__name = serializers.CharField()
    sentence__key = serializers.CharField()
    error = serializers.CharField()


class PlaylistCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    completed = serializers.IntegerField()
    claimed = serializers.IntegerField()


class WorkerClipsSerializer(serializers.Serializer):
    worker = serializers.CharField(help_text="host/pid of the worker process")
    clips = serializers.IntegerField()


class SynthesisHealthSerializer(serializers.Serializer):
    """``lifecycle.synthesis_health``: whether synthesis is moving, and if not, why."""

    stalled = serializers.BooleanField(
        help_text="Pending clips waited SYNTHESIS_STALLED_AFTER_S with nothing running."
    )
    stalled_minutes = serializers.IntegerField()
    waiting = serializers.IntegerField(help_text="Pending clips whose task was sent.")
    running_live = serializers.IntegerField(help_text="Running clips under a live lease.")
    dead_workers = WorkerClipsSerializer(many=True, help_text="Running under an expired lease.")
    requeued = WorkerClipsSerializer(many=True, help_text="Queued again after a worker died.")
    alerts = serializers.ListField(child=serializers.CharField())


class StatusSerializer(serializers.Serializer):
    """``study_progress``: clips by state, failures with their message, ratings so far."""

    status = serializers.CharField()
    clips = ClipCountsSerializer()
    synthesis = SynthesisHealthSerializer()
    failures = FailureSerializer(many=True)
    playlists = PlaylistCountsSerializer()
    ratings = serializers.IntegerField()
    ratings_target = serializers.IntegerField()


class ActionResultSerializer(serializers.Serializer):
    status = serializers.CharField()
    detail = serializers.CharField()


class ClipSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="system.name")
    sentence = serializers.CharField(source="sentence.key")
    audio_url = serializers.SerializerMethodField()
    provenance = serializers.JSONField(
        read_only=True,
        help_text=(
            "What produced the clip (synthesis.provenance, schema harken.clip_provenance/1): "
            "seed, engine, voice and its files' sha256, settings, package versions; {} until "
            "the clip is ready."
        ),
    )

    class Meta:
        model = Clip
        fields = [
            "token",
            "system",
            "sentence",
            "status",
            "duration_s",
            "sample_rate",
            "loudness_lufs",
            "peak_dbfs",
            "clipped",
            "error",
            "attempts",
            "audio_url",
            "provenance",
        ]
        read_only_fields = fields

    def get_audio_url(self, clip: Clip) -> str | None:
        if not clip.audio:
            return None
        url = reverse(
            "researcher:api:clip-audio",
            kwargs={"slug": clip.system.study.slug, "token": clip.token},
        )
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class VoiceSerializer(serializers.ModelSerializer):
    """A voice and whether it can synthesise on this machine (``synthesis.availability``):
    ``available``, and when not, ``problems`` that say what is missing and how to supply it."""

    available = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()

    class Meta:
        model = Voice
        fields = [
            "id",
            "name",
            "description",
            "engine",
            "vocoder",
            "symbol_set",
            "available",
            "problems",
            "notes",
        ]

    def _availability(self, voice: Voice):
        found = self.context.setdefault("availability", {})
        if voice.pk not in found:
            found[voice.pk] = voice_availability(voice)
        return found[voice.pk]

    def get_available(self, voice: Voice) -> bool:
        return self._availability(voice).ok

    def get_problems(self, voice: Voice) -> list[str]:
        return self._availability(voice).problems

    def get_notes(self, voice: Voice) -> list[str]:
        return self._availability(voice).notes


class ReportPendingSerializer(serializers.Serializer):
    status = serializers.CharField()
    progress = serializers.FloatField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """A refusal: ``detail`` says why and what to do; field errors name the field."""

    detail = serializers.CharField()


def validation_detail(exc: Any) -> dict:
    """A Django ValidationError as DRF's {field: [messages]} (``non_field_errors`` for the rest)."""
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if name == "__all__" else name): [
                m for e in errors for m in e.messages
            ]
            for name, errors in exc.error_dict.items()
        }
    return {"non_field_errors": list(exc.messages)}
