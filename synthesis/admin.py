"""Django admin for voices: admins manage which checkpoints a study may synthesise with."""

from django.contrib import admin

from .models import Voice


@admin.register(Voice)
class VoiceAdmin(admin.ModelAdmin):
    list_display = ["name", "engine", "vocoder", "is_active", "updated_at"]
    list_filter = ["engine", "vocoder", "is_active"]
    search_fields = ["name", "description"]
    fieldsets = [
        (None, {"fields": ["name", "description", "engine", "is_active"]}),
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
