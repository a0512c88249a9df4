"""Voices: where a system's checkpoints live. Managed by admins; workers load them.

A voice is either the eSpeak NG formant engine (no weights) or a Tacotron2 acoustic model with a
vocoder (Griffin-Lim, which needs no weights, or a HiFi-GAN generator). Each checkpoint comes
from one of: an uploaded file, a path on the worker, a URL with its sha256 (fetched once and
cached on the worker), or, for the acoustic model, a torchaudio pipeline bundle.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Voice(models.Model):
    class Engine(models.TextChoices):
        TACOTRON2 = "tacotron2", _("Tacotron2 + vocoder")
        ESPEAK = "espeak", _("eSpeak NG (formant synthesis, no weights)")

    class Vocoder(models.TextChoices):
        GRIFFINLIM = "griffinlim", _("Griffin-Lim (no weights)")
        HIFIGAN = "hifigan", _("HiFi-GAN generator")

    class SymbolSet(models.TextChoices):
        AUTO = "auto", _("Detect from the checkpoint")
        NVIDIA = "nvidia", _("NVIDIA Tacotron2 (148 symbols, ARPAbet in {braces})")
        TORCHAUDIO = "torchaudio", _("torchaudio characters (38 symbols)")

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    engine = models.CharField(max_length=16, choices=Engine.choices)
    is_active = models.BooleanField(default=True)

    # Acoustic model (Tacotron2): exactly one source.
    acoustic_file = models.FileField(upload_to="checkpoints/acoustic/", blank=True)
    acoustic_path = models.CharField(max_length=500, blank=True)
    acoustic_url = models.URLField(max_length=500, blank=True)
    acoustic_sha256 = models.CharField(max_length=64, blank=True)
    acoustic_bundle = models.CharField(
        max_length=100,
        blank=True,
        help_text=_("A torchaudio pipeline bundle, e.g. TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH."),
    )
    symbol_set = models.CharField(max_length=16, choices=SymbolSet.choices, default=SymbolSet.AUTO)

    # Vocoder.
    vocoder = models.CharField(max_length=16, choices=Vocoder.choices, default=Vocoder.GRIFFINLIM)
    vocoder_file = models.FileField(upload_to="checkpoints/vocoder/", blank=True)
    vocoder_path = models.CharField(max_length=500, blank=True)
    vocoder_url = models.URLField(max_length=500, blank=True)
    vocoder_sha256 = models.CharField(max_length=64, blank=True)
    vocoder_config = models.JSONField(
        default=dict, blank=True, help_text=_("HiFi-GAN config.json; inferred when empty.")
    )

    # eSpeak NG.
    espeak_voice = models.CharField(max_length=50, default="en-us", blank=True)
    espeak_rate_wpm = models.PositiveSmallIntegerField(default=165)

    options = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "Synthesizer options: gate_threshold, max_decoder_steps, decoder_steps_per_char, "
            "max_batch_frames, max_batch_items, griffinlim_iters, cpu_bf16, ignore_stop_token."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(acoustic_url="") | ~Q(acoustic_sha256=""),
                name="voice_acoustic_url_needs_sha256",
            ),
            models.CheckConstraint(
                condition=Q(vocoder_url="") | ~Q(vocoder_sha256=""),
                name="voice_vocoder_url_needs_sha256",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def acoustic_sources(self) -> list[str]:
        return [
            name
            for name, value in (
                ("file", self.acoustic_file),
                ("path", self.acoustic_path),
                ("url", self.acoustic_url),
                ("bundle", self.acoustic_bundle),
            )
            if value
        ]

    def vocoder_sources(self) -> list[str]:
        return [
            name
            for name, value in (
                ("file", self.vocoder_file),
                ("path", self.vocoder_path),
                ("url", self.vocoder_url),
            )
            if value
        ]

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.engine == self.Engine.TACOTRON2:
            sources = self.acoustic_sources()
            if len(sources) != 1:
                errors["acoustic_path"] = _(
                    "Give exactly one acoustic checkpoint source (file, path, URL or bundle); "
                    "found %(n)d."
                ) % {"n": len(sources)}
            if self.vocoder == self.Vocoder.HIFIGAN and len(self.vocoder_sources()) != 1:
                errors["vocoder_path"] = _(
                    "A HiFi-GAN vocoder needs exactly one generator source (file, path or URL)."
                )
        for field in ("acoustic_sha256", "vocoder_sha256"):
            value = getattr(self, field)
            if value and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
                errors[field] = _("A sha256 is 64 lowercase hexadecimal characters.")
        if errors:
            raise ValidationError(errors)
