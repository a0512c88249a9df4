"""MUSHRA and transcription studies for the tests, built as a researcher's would be: a MUSHRA
study (a natural reference, systems under test, low-pass anchors derived from the reference)
and a transcription study, each with short real FLAC clips, opened by ``study_open``. No tests here.
"""

from __future__ import annotations

import factory

from listening.models import Study, System, TestType
from listening.studies.lifecycle import study_open
from tests.factories import PLAIN, SystemFactory, clips_of, flac_bytes, open_study, ready_clip

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


def transcription_study(*, slug: str = "transcribe", seconds: float = 0.6, **fields) -> Study:
    """An open transcription study of two systems and three sentences."""
    fields = {**PLAIN, "ratings_per_clip": 1, "clips_per_listener": 3, **fields}
    study = open_study(
        slug=slug,
        n_systems=2,
        n_sentences=3,
        seconds=seconds,
        test_type=TestType.TRANSCRIPTION,
        **fields,
    )
    assert clips_of(study).count() == 6
    return study
