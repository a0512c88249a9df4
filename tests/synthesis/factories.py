"""Small builders for synthesis tests: a study whose systems need no weights."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from listening.models import Clip, Sentence, Study, System
from listening.services import study_clips_ensure
from synthesis.models import Voice

SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
]


def espeak_study(*, slug: str = "synth", n_sentences: int = 4, anchors=(), **study_fields) -> Study:
    owner, _ = get_user_model().objects.get_or_create(username="researcher")
    study = Study.objects.create(owner=owner, slug=slug, title=slug, **study_fields)
    Sentence.objects.bulk_create(
        Sentence(study=study, key=f"s{i:03d}", text=SENTENCES[i % len(SENTENCES)], position=i)
        for i in range(n_sentences)
    )
    voice, _ = Voice.objects.get_or_create(
        name="espeak-test", defaults={"engine": Voice.Engine.ESPEAK, "espeak_voice": "en-us"}
    )
    source = System.objects.create(study=study, name="espeak", kind=System.Kind.VOICE, voice=voice)
    for q in anchors:
        System.objects.create(
            study=study,
            name=f"mnru{q}",
            kind=System.Kind.ANCHOR,
            anchor_source=source,
            anchor_q_db=float(q),
        )
    study_clips_ensure(study=study)
    return study


def clips_of(study: Study, kind: str | None = None):
    qs = Clip.objects.filter(system__study=study).select_related("system", "sentence")
    return qs.filter(system__kind=kind) if kind else qs
