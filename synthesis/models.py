"""Voices: where a system's checkpoints live. Managed by admins; workers load them.

A voice is the eSpeak NG formant engine (no weights), a Piper (VITS) voice (an ``.onnx`` with
its ``.onnx.json``), or a Tacotron2 acoustic model with a vocoder (Griffin-Lim, which needs no
weights, or a HiFi-GAN, WaveGlow or Parallel WaveGAN checkpoint, its format detected). Each
file comes from one of: an uploaded file, a path on the worker, a URL with its sha256 (fetched
once and cached on the worker), or a bundle: torchaudio's pipeline for the acoustic model, the
``en_US-joe-medium`` voice installed with Harken for Piper.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def _given(*sources: tuple[str, object]) -> list[str]:
    """The names of the ``(name, value)`` sources whose value is set."""
    return [name for name, value in sources if value]


class Voice(models.Model):
    class Engine(models.TextChoices):
        TACOTRON2 = "tacotron2", _("Tacotron2 + vocoder")
        ESPEAK = "espeak", _("eSpeak NG (formant synthesis, no weights)")
        PIPER = "piper", _("Piper (VITS, ONNX)")

    class Vocoder(models.TextChoices):
        GRIFFINLIM = "griffinlim", _("Griffin-Lim (no weights)")
        HIFIGAN = "hifigan", _("HiFi-GAN generator")
        WAVEGLOW = "waveglow", _("WaveGlow (NVIDIA)")
        PWG = "pwg", _("Parallel WaveGAN")

    class PiperBundle(models.TextChoices):
        NONE = "", _("None")
        JOE = "en_US-joe-medium", _("en_US-joe-medium (installed with Harken)")

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
        default=dict,
        blank=True,
        help_text=_(
            "HiFi-GAN config.json (inferred when empty) or Parallel WaveGAN config.yml as JSON "
            "(read from beside a worker path when empty)."
        ),
    )

    # Piper (VITS): the .onnx and its .onnx.json, from exactly one source.
    piper_bundle = models.CharField(
        max_length=50, choices=PiperBundle.choices, default=PiperBundle.NONE, blank=True
    )
    piper_model_file = models.FileField(upload_to="checkpoints/piper/", blank=True)
    piper_config_file = models.FileField(upload_to="checkpoints/piper/", blank=True)
    piper_model_path = models.CharField(
        max_length=500,
        blank=True,
        help_text=_("The .onnx on the worker; its .onnx.json beside it."),
    )
    piper_model_url = models.URLField(max_length=500, blank=True)
    piper_model_sha256 = models.CharField(max_length=64, blank=True)
    piper_config_url = models.URLField(max_length=500, blank=True)
    piper_config_sha256 = models.CharField(max_length=64, blank=True)
    piper_speaker = models.CharField(
        max_length=100,
        blank=True,
        help_text=_("Multi-speaker voices: a speaker id or a name of the voice's speaker_id_map."),
    )

    # eSpeak NG.
    espeak_voice = models.CharField(max_length=50, default="en-us", blank=True)
    espeak_rate_wpm = models.PositiveSmallIntegerField(default=165)

    options = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "Synthesizer options: gate_threshold, max_decoder_steps, decoder_steps_per_char, "
            "max_batch_frames, max_batch_items, griffinlim_iters, waveglow_sigma, cpu_bf16, "
            "ignore_stop_token. Piper: noise_scale, length_scale, noise_w, max_batch_items."
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
            models.CheckConstraint(
                condition=Q(piper_model_url="")
                | (
                    ~Q(piper_model_sha256="") & ~Q(piper_config_url="") & ~Q(piper_config_sha256="")
                ),
                name="voice_piper_url_needs_config_and_sha256s",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def acoustic_sources(self) -> list[str]:
        return _given(
            ("file", self.acoustic_file),
            ("path", self.acoustic_path),
            ("url", self.acoustic_url),
            ("bundle", self.acoustic_bundle),
        )

    def vocoder_sources(self) -> list[str]:
        return _given(
            ("file", self.vocoder_file),
            ("path", self.vocoder_path),
            ("url", self.vocoder_url),
        )

    def piper_sources(self) -> list[str]:
        """The sources given for a Piper voice's pair (an upload counts once, both files)."""
        return _given(
            ("bundle", self.piper_bundle),
            ("upload", self.piper_model_file or self.piper_config_file),
            ("path", self.piper_model_path),
            ("url", self.piper_model_url),
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.engine == self.Engine.PIPER:
            sources = self.piper_sources()
            if len(sources) != 1:
                errors["piper_bundle"] = _(
                    "Give exactly one source for the Piper voice (bundle, upload, path or URL); "
                    "found %(n)d."
                ) % {"n": len(sources)}
            elif sources == ["upload"] and not (self.piper_model_file and self.piper_config_file):
                errors["piper_config_file"] = _(
                    "Upload both files of the voice: the .onnx and its .onnx.json."
                )
            elif sources == ["url"] and not (
                self.piper_model_sha256 and self.piper_config_url and self.piper_config_sha256
            ):
                errors["piper_config_url"] = _(
                    "A Piper voice from URLs needs the .onnx.json's URL too, and both sha256s."
                )
            for key, low, high in (
                ("noise_scale", 0.0, 2.0),
                ("length_scale", 0.1, 5.0),
                ("noise_w", 0.0, 2.0),
            ):
                value = (self.options or {}).get(key)
                if value is not None and (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not low <= value <= high
                ):
                    errors["options"] = _("%(key)s must be a number from %(low)s to %(high)s.") % {
                        "key": key,
                        "low": low,
                        "high": high,
                    }
        if self.engine == self.Engine.TACOTRON2:
            sources = self.acoustic_sources()
            if len(sources) != 1:
                errors["acoustic_path"] = _(
                    "Give exactly one acoustic checkpoint source (file, path, URL or bundle); "
                    "found %(n)d."
                ) % {"n": len(sources)}
            if self.vocoder != self.Vocoder.GRIFFINLIM and len(self.vocoder_sources()) != 1:
                errors["vocoder_path"] = _(
                    "A neural vocoder needs exactly one checkpoint source (file, path or URL)."
                )
        for field in (
            "acoustic_sha256",
            "vocoder_sha256",
            "piper_model_sha256",
            "piper_config_sha256",
        ):
            value = getattr(self, field)
            if value and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
                errors[field] = _("A sha256 is 64 lowercase hexadecimal characters.")
        if errors:
            raise ValidationError(errors)
