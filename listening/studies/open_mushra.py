"""Opening a MUSHRA or transcription study: its clips become playlists of trials.

Where it sits: ``lifecycle.study_open`` checks that every clip is ready, then hands a study of
either type to :func:`playlists_write`, which calls the pure designs of
``listening.participation.design_mushra`` and has ``playlists`` write ``Playlist``,
``PlaylistItem`` (the trials) and ``TrialClip`` rows (the conditions in their order on the
page), in the caller's transaction. Attention-check sentences (a spoken "Please select Poor") are left out: they ask
for an ACR answer.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from listening.errors import ServiceError
from listening.models import Clip, Study, System, TestType, TrialClip
from listening.participation.design import PlannedPlaylist
from listening.participation.design_mushra import (
    MushraPlaylist,
    MushraSentence,
    design_mushra,
    design_transcription,
    mushra_anchor_ids,
)
from listening.participation.design_trials import PlannedTrial
from listening.studies.playlists import design_refusal, playlists_replace

TEST_TYPES = (TestType.MUSHRA, TestType.TRANSCRIPTION)
LOWPASS_HZ = {System.AnchorKind.LOWPASS_3500: 3500.0, System.AnchorKind.LOWPASS_7000: 7000.0}


def anchor_lowpass_hz(system: System) -> float | None:
    """The cut-off of a low-pass anchor (3.5 or 7 kHz, BS.1534-3), None for any other anchor
    (an MNRU anchor, which the design treats as a low anchor)."""
    return LOWPASS_HZ.get(system.anchor_kind)


def study_reference(study: Study) -> System | None:
    """The study's natural reference: its reference system, else its one system of kind
    reference."""
    if study.reference_system_id:
        return study.reference_system
    references = list(study.systems.filter(kind=System.Kind.REFERENCE))
    return references[0] if len(references) == 1 else None


def _test_clips(study: Study) -> dict[tuple[int, int], int]:
    return {
        (system_id, sentence_id): clip_id
        for clip_id, system_id, sentence_id in Clip.objects.filter(
            system__study=study, sentence__expected_score__isnull=True
        ).values_list("id", "system_id", "sentence_id")
    }


def mushra_sentences(study: Study) -> dict[int, MushraSentence]:
    """Each test sentence's conditions for :func:`design_mushra`."""
    clips = _test_clips(study)
    systems = list(study.systems.all())
    reference = None if study.mushra_reference_free else study_reference(study)
    if not study.mushra_reference_free and reference is None:
        raise ServiceError(
            _(
                "A MUSHRA test needs the natural recordings as its reference: set the study's "
                "reference system, or choose the reference-free variant."
            )
        )
    anchors = mushra_anchor_ids(
        [(s.pk, anchor_lowpass_hz(s)) for s in systems if s.kind == System.Kind.ANCHOR],
        mid_anchor=study.mushra_mid_anchor,
    )
    tested = [
        s.pk
        for s in systems
        if s.kind != System.Kind.ANCHOR and (reference is None or s.pk != reference.pk)
    ]
    out = {}
    for sentence_id in sorted({sentence for _system, sentence in clips}):
        ref_clip = clips.get((reference.pk, sentence_id)) if reference is not None else None
        if reference is not None and ref_clip is None:
            raise ServiceError(
                _(
                    "Sentence %(id)s has no reference recording: upload it, or remove the "
                    "sentence, before opening the MUSHRA test."
                )
                % {"id": sentence_id}
            )
        out[sentence_id] = MushraSentence(
            systems={s: clips[s, sentence_id] for s in tested if (s, sentence_id) in clips},
            reference=ref_clip,
            reference_system=reference.pk if reference is not None else None,
            anchors=[(a, clips[a, sentence_id]) for a in anchors if (a, sentence_id) in clips],
        )
    return out


def _mushra_trials(playlist: MushraPlaylist) -> list[PlannedTrial]:
    """A page of conditions: the clips in their order, no one rated clip."""
    return [
        PlannedTrial(clips=tuple((c.role, c.clip_id) for c in t.clips)) for t in playlist.trials
    ]


def _transcription_trials(playlist: PlannedPlaylist) -> list[PlannedTrial]:
    """One clip a trial, to type what it says."""
    return [
        PlannedTrial(clips=((TrialClip.Role.TEST, i.clip_id),), rated_clip_id=i.clip_id)
        for i in playlist.items
    ]


def playlists_write(*, study: Study) -> int:
    """Replace the study's playlists by its MUSHRA or transcription design; returns how many
    playlists were written. Raises ServiceError with the design's reason."""
    with design_refusal():
        if study.test_type == TestType.MUSHRA:
            planned = design_mushra(
                sentences=mushra_sentences(study),
                ratings_per_clip=study.ratings_per_clip,
                trials_per_listener=study.clips_per_listener,
                conditions_per_page=study.mushra_conditions_per_page,
                seed=study.design_seed,
            )
            trials = _mushra_trials
        else:
            planned = design_transcription(
                clips=_test_clips(study),
                ratings_per_clip=study.ratings_per_clip,
                clips_per_listener=study.clips_per_listener,
                seed=study.design_seed,
            )
            trials = _transcription_trials
    return playlists_replace(study=study, planned=((p.index, p.seed, trials(p)) for p in planned))
