"""Opening a comparison study (CCR, AB, ABX, SMOS): its playlists of multi-clip trials.

Where it sits: ``lifecycle.study_open`` has checked the status and that every clip is ready,
then calls :func:`trials_playlists_create` inside its transaction for any type but ACR. The
design is ``listening.participation.design_trials``; this module gathers its inputs from the
study and hands the plan to ``playlists``, which writes the rows.
"""

from __future__ import annotations

from listening.models import Clip, Study, System
from listening.participation.design_trials import design_trials
from listening.studies.playlists import design_refusal, playlists_replace


def _low_anchor(study: Study) -> System | None:
    """The study's low anchor: the one marked so, else the MNRU anchor of the lowest Q."""
    anchors = list(study.systems.filter(kind=System.Kind.ANCHOR))
    marked = [a for a in anchors if a.is_low_anchor]
    pool = marked or anchors
    return min(pool, key=lambda a: (a.anchor_q_db or 0.0, a.pk)) if pool else None


def _reference(study: Study) -> System | None:
    """The study's reference system, else its only natural-reference system."""
    if study.reference_system_id:
        return study.reference_system
    references = list(study.systems.filter(kind=System.Kind.REFERENCE)[:2])
    return references[0] if len(references) == 1 else None


def trials_playlists_create(*, study: Study) -> int:
    """Build and store the playlists of a comparison study; returns how many. Raises
    ServiceError naming the fix when the study cannot run as set up."""
    reference = _reference(study)
    anchor = _low_anchor(study)
    clips = {
        (system_id, sentence_id): clip_id
        for clip_id, system_id, sentence_id in Clip.objects.filter(
            system__study=study,
            status=Clip.Status.READY,
            sentence__expected_score__isnull=True,  # ACR's spoken checks are not for comparisons
        ).values_list("id", "system_id", "sentence_id")
    }
    systems = list(
        study.systems.exclude(kind=System.Kind.ANCHOR)
        .order_by("position", "id")
        .values_list("id", flat=True)
    )
    with design_refusal():
        planned = design_trials(
            test_type=study.test_type,
            clips=clips,
            systems=systems,
            ratings_per_clip=study.ratings_per_clip,
            clips_per_listener=study.clips_per_listener,
            seed=study.design_seed,
            reference=reference.pk if reference else None,
            anchor=anchor.pk if anchor else None,
            comparison=study.comparison,
            reference_text=study.reference_text,
            n_training=study.training_clips,
            attention_check_rate=study.attention_check_rate,
        )
    return playlists_replace(study=study, planned=((p.index, p.seed, p.trials) for p in planned))
