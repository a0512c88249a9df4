"""Writing a designed study's playlists: the one place that turns a pure design's plan into
``Playlist``, ``PlaylistItem`` (the trial) and ``TrialClip`` rows.

Where it sits: opening a study (``lifecycle.study_open``) calls the design of its test type
(ACR in ``lifecycle``, the comparisons in ``trials_open``, MUSHRA and transcription in
``open_mushra``); each hands its plan here as :class:`PlannedTrial` rows, inside the opening's
transaction, so a study's playlists are replaced whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from listening.errors import ServiceError
from listening.models import Playlist, PlaylistItem, Study, TrialClip
from listening.participation.design import DesignError
from listening.participation.design_trials import PlannedTrial


@contextmanager
def design_refusal() -> Iterator[None]:
    """Run a design; its DesignError (which names the fix) becomes the ServiceError a page shows."""
    try:
        yield
    except DesignError as exc:
        raise ServiceError(f"Cannot build playlists: {exc}") from exc


def playlists_replace(
    *, study: Study, planned: Iterable[tuple[int, int, Sequence[PlannedTrial]]]
) -> int:
    """Replace the study's playlists by ``planned``, ``(index, seed, trials)`` per playlist, the
    trials in their order; returns how many playlists were written."""
    planned = list(planned)
    Playlist.objects.filter(study=study).delete()
    playlists = Playlist.objects.bulk_create(
        Playlist(study=study, index=index, seed=seed) for index, seed, _trials in planned
    )
    trials = [trial for _index, _seed, plan in planned for trial in plan]
    items = PlaylistItem.objects.bulk_create(
        PlaylistItem(
            playlist=playlist,
            position=position,
            clip_id=trial.rated_clip_id,
            purpose=trial.purpose,
            expected_score=trial.expected_score,
            expected_choice=trial.expected_choice,
        )
        for playlist, (_index, _seed, plan) in zip(playlists, planned, strict=True)
        for position, trial in enumerate(plan)
    )
    TrialClip.objects.bulk_create(
        TrialClip(trial=item, position=position, role=role, clip_id=clip_id)
        for item, trial in zip(items, trials, strict=True)
        for position, (role, clip_id) in enumerate(trial.clips)
    )
    return len(playlists)
