"""Playlists of MUSHRA trials (ITU-R BS.1534-3) and of transcription trials.

Where it sits: ``listening.studies.open_mushra`` calls :func:`design_mushra` (or
:func:`design_transcription`) when a researcher opens a study of either type and stores the
result as playlists, trials (``PlaylistItem``) and the clips each trial presents
(``TrialClip``). Pure Python: no Django, no database.

A MUSHRA trial is one sentence with its conditions on one page (BS.1534-3 §5): the open
reference (played on demand, not rated), the hidden reference (the same recording, rated among
the others), the anchors (the 3.5 kHz low anchor and, if the study wants it, the 7 kHz mid
anchor) and the systems under test. The reference-free variant (ITU-R BS.2132 style) has
neither reference. What a design guarantees (``tests/listening/test_design_mushra.py`` checks
each over random shapes):

1. Target counts: every (system, sentence) is rated in at least R trials (R =
   ``ratings_per_clip``), and the counts of the systems of one sentence differ by at most one.
2. Subsets: a page rates at most ``conditions_per_page`` conditions (BS.1534-3 advises at most
   12, reference not counted). The hidden reference and the anchors are on every page; when the
   systems do not all fit, each trial shows a subset of them: per sentence the systems are laid
   out in a shuffled cycle, repeated, and cut into consecutive runs of the free places, so a run
   never holds a system twice and every system appears equally often (within one), the
   balanced subsets webMUSHRA #36 and WAET #20 ask for.
3. Each listener hears a sentence at most once: the trials, sentence by sentence, are dealt
   round-robin to P playlists with P at least the trials of the busiest sentence, so no two
   trials of one sentence share a playlist; lengths differ by at most one.
4. Order: the trials of a playlist are shuffled with the playlist's seed, and the conditions of
   each trial with a seed derived from it and the trial's place: the same inputs and study seed
   give the same design, and the ``TrialClip`` positions record the order. The open reference
   is always at position 0 (it is the page's "Reference" button), the rated ones follow.

A transcription trial presents one clip (role ``test``): the ACR design of
``listening.participation.design`` already gives every clip its R listeners, each listener a
sentence at most once and systems balanced per playlist, so :func:`design_transcription` uses
it, without attention checks (a gold or repeated clip there is an ACR score check).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from listening.participation.design import (
    DesignError,
    PlannedPlaylist,
    _derived_seed,
    design_playlists,
    playlist_seed,
)

#: BS.1534-3's advice: no more than 12 conditions (hidden reference and anchors included) on
#: one page, or listeners cannot compare them.
MAX_CONDITIONS_PER_PAGE = 12

REFERENCE = "reference"
HIDDEN_REFERENCE = "hidden_reference"
ANCHOR = "anchor"
TEST = "test"


@dataclass(frozen=True)
class PlannedClip:
    """A clip as a planned trial presents it: its role, and its system (for the tests)."""

    clip_id: int
    role: str
    system_id: int | None = None


@dataclass
class PlannedTrial:
    sentence_id: int
    #: In play order: the open reference first (if any), then the rated conditions shuffled.
    clips: list[PlannedClip] = field(default_factory=list)

    @property
    def rated(self) -> list[PlannedClip]:
        return [c for c in self.clips if c.role != REFERENCE]


@dataclass
class MushraPlaylist:
    index: int
    seed: int
    trials: list[PlannedTrial] = field(default_factory=list)


@dataclass(frozen=True)
class MushraSentence:
    """One sentence's conditions: ``systems`` maps each system under test to its clip;
    ``reference`` is the natural recording (None: reference-free); ``anchors`` are
    ``(system_id, clip_id)`` pairs, presented on every trial of the sentence."""

    systems: Mapping[int, int]
    reference: int | None = None
    reference_system: int | None = None
    anchors: Sequence[tuple[int, int]] = ()


def design_mushra(
    *,
    sentences: Mapping[int, MushraSentence],
    ratings_per_clip: int,
    trials_per_listener: int,
    conditions_per_page: int,
    seed: int,
) -> list[MushraPlaylist]:
    """Build the playlists of a MUSHRA study (see the module docstring for the guarantees).

    Args:
        sentences: ``{sentence_id: MushraSentence}``; every sentence needs at least one system.
        ratings_per_clip: R, the trials that rate each (system, sentence) at least.
        trials_per_listener: K, the trials of one playlist (capped by the sentences).
        conditions_per_page: rated conditions per page, hidden reference and anchors included.
        seed: the study's design seed.
    """
    if ratings_per_clip < 1:
        raise DesignError(
            f"ratings_per_clip is {ratings_per_clip}: every condition needs at least one "
            "rating; set it to 1 or more."
        )
    if trials_per_listener < 1:
        raise DesignError(
            f"clips_per_listener is {trials_per_listener}: a listener must rate at least one "
            "page; set it to 1 or more."
        )
    if not 2 <= conditions_per_page <= MAX_CONDITIONS_PER_PAGE:
        raise DesignError(
            f"mushra_conditions_per_page is {conditions_per_page}: it must be between 2 and "
            f"{MAX_CONDITIONS_PER_PAGE} (ITU-R BS.1534-3 advises at most 12 on a page)."
        )
    if not sentences:
        raise DesignError("The study has no sentences to test: add sentences, then open it.")
    trials: list[PlannedTrial] = []
    order = sorted(sentences)
    random.Random(_derived_seed(seed, "mushra-sentences")).shuffle(order)
    for sentence_id in order:
        trials += _sentence_trials(
            sentence_id,
            sentences[sentence_id],
            ratings_per_clip,
            conditions_per_page,
            random.Random(_derived_seed(seed, "mushra-subsets", sentence_id)),
        )
    busiest = max(
        sum(1 for t in trials if t.sentence_id == sentence_id) for sentence_id in sentences
    )
    k_eff = min(trials_per_listener, len(sentences))
    n_playlists = max(math.ceil(len(trials) / k_eff), busiest)
    playlists = [MushraPlaylist(index=i, seed=playlist_seed(seed, i)) for i in range(n_playlists)]
    # Trials are grouped by sentence, and a sentence has at most n_playlists of them: dealing
    # them round-robin puts the trials of one sentence in different playlists.
    for t, trial in enumerate(trials):
        playlists[t % n_playlists].trials.append(trial)
    for playlist in playlists:
        rng = random.Random(playlist.seed)
        rng.shuffle(playlist.trials)
        for position, trial in enumerate(playlist.trials):
            trial_rng = random.Random(_derived_seed(playlist.seed, "conditions", position))
            rated = trial.rated
            trial_rng.shuffle(rated)
            trial.clips = [c for c in trial.clips if c.role == REFERENCE] + rated
    return playlists


def _sentence_trials(
    sentence_id: int,
    sentence: MushraSentence,
    ratings_per_clip: int,
    conditions_per_page: int,
    rng: random.Random,
) -> list[PlannedTrial]:
    if not sentence.systems:
        raise DesignError(
            f"Sentence {sentence_id} has no clip of a system under test: add a system, or "
            "remove the sentence."
        )
    fixed: list[PlannedClip] = []
    if sentence.reference is not None:
        fixed.append(PlannedClip(sentence.reference, REFERENCE, sentence.reference_system))
        fixed.append(PlannedClip(sentence.reference, HIDDEN_REFERENCE, sentence.reference_system))
    fixed += [PlannedClip(clip_id, ANCHOR, system_id) for system_id, clip_id in sentence.anchors]
    n_fixed = sum(1 for c in fixed if c.role != REFERENCE)
    free = conditions_per_page - n_fixed
    if free < 1:
        raise DesignError(
            f"{n_fixed} hidden reference and anchor conditions leave no place for a system on "
            f"a page of {conditions_per_page}: raise mushra_conditions_per_page, or leave the "
            "mid anchor out."
        )
    systems = sorted(sentence.systems)
    rng.shuffle(systems)
    per_trial = min(free, len(systems))
    n_trials = math.ceil(ratings_per_clip * len(systems) / per_trial)
    cycle = [systems[t % len(systems)] for t in range(n_trials * per_trial)]
    return [
        PlannedTrial(
            sentence_id=sentence_id,
            clips=list(fixed)
            + [
                PlannedClip(sentence.systems[s], TEST, s)
                for s in cycle[i * per_trial : (i + 1) * per_trial]
            ],
        )
        for i in range(n_trials)
    ]


def mushra_anchor_ids(
    anchors: Sequence[tuple[int, float | None]], *, mid_anchor: bool
) -> list[int]:
    """Which anchor systems a MUSHRA page presents: ``anchors`` are ``(system_id,
    lowpass_hz)`` (None for an anchor that is no low-pass, e.g. MNRU: BS.1534-3 allows other
    anchors beside the required ones); the 7 kHz mid anchor only when ``mid_anchor``."""
    return [
        system_id
        for system_id, lowpass_hz in anchors
        if mid_anchor or lowpass_hz is None or lowpass_hz < 5000.0
    ]


def design_transcription(
    *,
    clips: Mapping[tuple[int, int], int],
    ratings_per_clip: int,
    clips_per_listener: int,
    seed: int,
) -> list[PlannedPlaylist]:
    """Playlists of one-clip transcription trials: the ACR design without attention checks."""
    return design_playlists(
        clips=clips,
        ratings_per_clip=ratings_per_clip,
        clips_per_listener=clips_per_listener,
        seed=seed,
        attention_check_rate=0.0,
    )
