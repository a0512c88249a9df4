"""Django admin for voices: admins manage which checkpoints a study may synthesise with."""

from django.contrib import admin
from django.utils.html import format_html_join

from .availability import voice_availability
from .models import Voice


@admin.register(Voice)
class VoiceAdmin(admin.ModelAdmin):
    list_display = ["name", "engine", "vocoder", "is_active", "available", "updated_at"]
    readonly_fields = ["availability"]
    list_filter = ["engine", "vocoder", "is_active"]
    search_fields = ["name", "description"]
    fieldsets = [
        (None, {"fields": ["name", "description", "engine", "is_active", "availability"]}),
        (
            "Acoustic model (Tacotron2)",
            {
                "fields": [
                    "acoustic_file",
                    "acoustic_path",
                    "acoustic_url",
                    "acoustic_sha256",
                    "acoustic_bundle",
                    "symbol_set",
                ]
            },
        ),
        (
            "Vocoder",
            {
                "fields": [
                    "vocoder",
                    "vocoder_file",
                    "vocoder_path",
                    "vocoder_url",
                    "vocoder_sha256",
                    "vocoder_config",
                ]
            },
        ),
        ("eSpeak NG", {"fields": ["espeak_voice", "espeak_rate_wpm"]}),
        (
            "Piper (VITS)",
            {
                "description": (
                    "One source for the .onnx and its .onnx.json: the bundled voice, both files "
                    "uploaded, a path on the worker (NAME.onnx.json beside NAME.onnx), or two "
                    "URLs with their sha256. Noise and length scales go in the options."
                ),
                "fields": [
                    "piper_bundle",
                    "piper_model_file",
                    "piper_config_file",
                    "piper_model_path",
                    "piper_model_url",
                    "piper_model_sha256",
                    "piper_config_url",
                    "piper_config_sha256",
                    "piper_speaker",
                ],
            },
        ),
        ("Options", {"fields": ["options"]}),
    ]

    @admin.display(boolean=True, description="Available here")
    def available(self, voice: Voice) -> bool:
        return voice_availability(voice).ok

    @admin.display(description="Availability on this machine")
    def availability(self, voice: Voice) -> str:
        if not voice.pk:
            return "Checked once the voice is saved."
        found = voice_availability(voice)
        lines = found.problems or ["Available: every file is present and fits."]
        return format_html_join("", "<p>{}</p>", ((line,) for line in lines + found.notes))
