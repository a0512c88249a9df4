"""MUSHRA and transcription studies for the tests, built as a researcher's would be: a MUSHRA
study (a natural reference, systems under test, low-pass anchors derived from the reference)
and a transcription study, each with short real FLAC clips, opened by ``study_open``; and their
listeners' answers written as the listener pages write them (``rate_study``,
``careless_mushra_study``, ``transcription_answer``). No tests here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import factory

from listening.models import (
    ConditionScore,
    Listener,
    Rating,
    Study,
    System,
    TestType,
    TrialClip,
)
from listening.studies.lifecycle import study_open
from tests.factories import (
    PLAIN,
    SystemFactory,
    claimed_listeners,
    clips_of,
    flac_bytes,
    open_study,
    ready_clip,
)

#: The anchors of ITU-R BS.1534-3: the 3.5 kHz low anchor and the 7 kHz mid anchor.
ANCHOR_CUTOFFS_HZ = (3500.0, 7000.0)
LOWPASS_KINDS = {3500.0: System.AnchorKind.LOWPASS_3500, 7000.0: System.AnchorKind.LOWPASS_7000}


class LowpassAnchorFactory(SystemFactory):
    """A low-pass anchor system derived from ``anchor_source``; ``cutoff_hz`` 3500 or 7000."""

    class Params:
        cutoff_hz = 3500.0

    name = factory.LazyAttribute(lambda anchor: f"anchor{int(anchor.cutoff_hz // 100)}")
    kind = System.Kind.ANCHOR
    anchor_kind = factory.LazyAttribute(lambda anchor: LOWPASS_KINDS[float(anchor.cutoff_hz)])


def mushra_study(
    *,
    slug: str = "mushra",
    n_systems: int = 3,
    n_sentences: int = 3,
    seconds: float = 0.6,
    anchors: tuple[float, ...] = ANCHOR_CUTOFFS_HZ,
    open_it: bool = True,
    **fields,
) -> Study:
    """An open MUSHRA study: system 0 ("system-0") is the natural reference, systems 1… are
    under test, then the anchors; ``ratings_per_clip`` 1 and every sentence on each playlist
    by default."""
    fields = {**PLAIN, "ratings_per_clip": 1, "clips_per_listener": n_sentences, **fields}
    study = open_study(
        slug=slug,
        n_systems=n_systems,
        n_sentences=n_sentences,
        seconds=seconds,
        open_study=False,
        test_type=TestType.MUSHRA,
        **fields,
    )
    reference = study.systems.get(kind=System.Kind.REFERENCE)
    sentences = list(study.sentences.all())
    for i, cutoff in enumerate(anchors):
        anchor = LowpassAnchorFactory(
            study=study, anchor_source=reference, cutoff_hz=cutoff, position=n_systems + i
        )
        for j, sentence in enumerate(sentences):
            ready_clip(
                anchor, sentence, flac_bytes(seconds, 250 + 30 * i + 5 * j), duration_s=seconds
            )
    if open_it:
        study_open(study=study)
        study.refresh_from_db()
    return study


#: Three sentence texts to transcribe, with a digit and British spellings so that the
#: normalisation before scoring (numbers spelt out, American spellings) has work to do.
SENTENCE_TEXTS = {
    "s0": "The cat sat on the mat.",
    "s1": "Bring me 3 apples.",
    "s2": "Colour the grey box.",
}


def transcription_study(
    *,
    slug: str = "transcribe",
    seconds: float = 0.6,
    n_systems: int = 2,
    texts: Mapping[str, str] | None = None,
    **fields,
) -> Study:
    """An open transcription study of ``n_systems`` systems (two by default) and three
    sentences, whose texts are ``texts`` (sentence key -> text) when given."""
    fields = {**PLAIN, "ratings_per_clip": 1, "clips_per_listener": 3, **fields}
    study = open_study(
        slug=slug,
        n_systems=n_systems,
        n_sentences=3,
        seconds=seconds,
        test_type=TestType.TRANSCRIPTION,
        **fields,
    )
    assert clips_of(study).count() == 3 * n_systems
    if texts is not None:
        texts_set(study, texts)
    return study


#: Each test system's usual score; the hidden reference, the mid and the low anchor.
USUAL = {"system-1": 70, "system-2": 50, "anchor70": 40, "anchor35": 15}


def honest(listener: int, system: str, role: str, sentence: int) -> int:
    """An attentive listener: the hidden reference near 100, the rest near its usual score."""
    if role == TrialClip.Role.HIDDEN_REFERENCE:
        return 100 - (listener + sentence) % 4
    return USUAL[system] + (listener * 3 + sentence * 5) % 9 - 4


def rate_study(study, score=honest, *, n_listeners: int | None = None) -> list[Listener]:
    """Every playlist of ``study`` taken by a Prolific listener ``P<i>`` who rates every page:
    one MUSHRA response per trial, one condition score per rated trial clip."""
    listeners = []
    for i, listener, playlist in claimed_listeners(study, "P", n_listeners):
        for item in playlist.items.order_by("position"):
            clips = list(item.trial_clips.select_related("clip__system", "clip__sentence"))
            response = Rating.objects.create(
                listener=listener,
                item=item,
                purpose=item.purpose,
                test_type="mushra",
                play_counts=[1] * len(clips),
                response_seconds=4.0,
            )
            ConditionScore.objects.bulk_create(
                ConditionScore(
                    response=response,
                    trial_clip=c,
                    score=score(i, c.clip.system.name, c.role, c.clip.sentence.position),
                    play_count=1,
                    played_seconds=0.6,
                )
                for c in clips
                if c.role != TrialClip.Role.REFERENCE
            )
        listeners.append(listener)
    return listeners


def careless(listener: int, system: str, role: str, sentence: int) -> int:
    """Listener 0 cannot find the hidden reference (rates it like the systems)."""
    if listener == 0 and role == TrialClip.Role.HIDDEN_REFERENCE:
        return 60 + sentence
    return honest(listener, system, role, sentence)


def careless_mushra_study(**fields) -> Study:
    """An open MUSHRA study (:func:`mushra_study`, ``fields`` as it takes them) whose six
    listeners P0-P5 have rated every page as :func:`careless` says: P0 misses the hidden
    reference, the rest rate attentively. The reports' tests start from this crowd."""
    study = mushra_study(ratings_per_clip=6, **fields)
    rate_study(study, careless)
    return study


def transcription_answer(
    study: Study, typed: Callable[[str, str], str], *, prefix: str = "T"
) -> list[Listener]:
    """Every playlist of the transcription ``study`` taken by a Prolific listener
    ``<prefix><i>`` who types ``typed(system, sentence_key)`` for each clip, heard once."""
    listeners = []
    for _i, listener, playlist in claimed_listeners(study, prefix):
        for item in playlist.items.select_related("clip__system", "clip__sentence"):
            Rating.objects.create(
                listener=listener,
                item=item,
                clip=item.clip,
                purpose=item.purpose,
                test_type="transcription",
                text=typed(item.clip.system.name, item.clip.sentence.key),
                play_counts=[1],
                response_seconds=3.0,
            )
        listeners.append(listener)
    return listeners


def texts_set(study: Study, texts: Mapping[str, str]) -> None:
    """The sentences of ``study`` given the texts ``texts`` (sentence key -> text)."""
    for sentence in study.sentences.all():
        sentence.text = texts[sentence.key]
        sentence.save()
