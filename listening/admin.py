"""Django admin for every listening model: the admin's view of everything."""

from django.contrib import admin

from . import models


class SentenceInline(admin.TabularInline):
    model = models.Sentence
    extra = 0
    fields = ["key", "text", "position"]


class SystemInline(admin.TabularInline):
    model = models.System
    extra = 0
    fields = [
        "name",
        "kind",
        "voice",
        "anchor_source",
        "anchor_kind",
        "anchor_q_db",
        "is_low_anchor",
        "position",
    ]
    fk_name = "study"


@admin.register(models.Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "owner", "status", "ratings_per_clip", "created_at"]
    list_filter = ["status", "listed_publicly"]
    search_fields = ["slug", "title", "owner__username"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [SystemInline, SentenceInline]
    readonly_fields = ["created_at", "updated_at", "opened_at", "closed_at"]


@admin.register(models.Sentence)
class SentenceAdmin(admin.ModelAdmin):
    list_display = ["key", "study", "text"]
    list_filter = ["study"]
    search_fields = ["key", "text"]


@admin.register(models.System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ["name", "study", "kind", "voice", "anchor_q_db"]
    list_filter = ["kind", "study"]
    search_fields = ["name"]


@admin.register(models.Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = [
        "token",
        "system",
        "sentence",
        "status",
        "duration_s",
        "loudness_lufs",
        "device",
    ]
    list_filter = ["status", "system__study"]
    search_fields = ["token", "sentence__key", "system__name"]
    readonly_fields = [
        "token",
        "created_at",
        "updated_at",
        "ready_at",
        # The synthesis claim, written by the workers and the sweep only.
        "worker",
        "lease_until",
        "lease_expiries",
        "enqueued_at",
        "task_id",
    ]
    raw_id_fields = ["system", "sentence"]


@admin.register(models.Listener)
class ListenerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "study", "stage", "flagged", "excluded", "created_at"]
    list_filter = ["study", "platform", "stage", "flagged", "excluded"]
    search_fields = ["external_id", "token"]
    readonly_fields = ["token", "created_at", "last_seen_at", "consented_at", "completed_at"]


class _ClipRowInline(admin.TabularInline):
    """Rows that name a clip: its id only, since a select of every clip of every study would
    load them all into the page."""

    extra = 0
    raw_id_fields = ["clip"]


class PlaylistItemInline(_ClipRowInline):
    model = models.PlaylistItem


class TrialClipInline(_ClipRowInline):
    model = models.TrialClip


@admin.register(models.Playlist)
class PlaylistAdmin(admin.ModelAdmin):
    list_display = ["index", "study", "status", "listener", "claimed_at", "times_released"]
    list_filter = ["study", "status"]
    raw_id_fields = ["listener"]
    inlines = [PlaylistItemInline]


@admin.register(models.PlaylistItem)
class PlaylistItemAdmin(admin.ModelAdmin):
    list_display = ["playlist", "position", "purpose", "clip", "expected_score", "expected_choice"]
    list_filter = ["purpose", "playlist__study"]
    raw_id_fields = ["playlist", "clip"]
    inlines = [TrialClipInline]


@admin.register(models.TrialClip)
class TrialClipAdmin(admin.ModelAdmin):
    list_display = ["trial", "position", "role", "clip"]
    list_filter = ["role", "trial__playlist__study"]
    raw_id_fields = ["trial", "clip"]


@admin.register(models.ConditionScore)
class ConditionScoreAdmin(admin.ModelAdmin):
    """A MUSHRA response's score of one condition (0-100, ITU-R BS.1534-3)."""

    list_display = ["response", "trial_clip", "score", "play_count"]
    raw_id_fields = ["response", "trial_clip"]


@admin.register(models.Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["listener", "item", "test_type", "purpose", "score", "choice", "created_at"]
    list_filter = ["test_type", "purpose", "listener__study", "score", "choice"]
    raw_id_fields = ["listener", "clip", "item"]


@admin.register(models.StudyArrival)
class StudyArrivalAdmin(admin.ModelAdmin):
    """The funnel's first count (welcome page openings per platform): kept by the listener
    path, read here, never edited by hand."""

    list_display = ["study", "platform", "count"]
    list_filter = ["platform", "study"]
    readonly_fields = ["study", "platform", "count"]


@admin.register(models.StudyReport)
class StudyReportAdmin(admin.ModelAdmin):
    list_display = ["study", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "study"]
    readonly_fields = ["key", "created_at", "finished_at"]
