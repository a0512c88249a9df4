"""Playlist construction: which clips each listener rates, and in which order.

Where it sits: when a researcher opens a study, the service that opens it calls
``design_playlists`` with the study's clips and settings and stores the result as ``Playlist``
and ``PlaylistItem`` rows; each listener later claims one precomputed playlist (a crowd "HIT").
``design_shape`` and ``summarize_design`` feed the researcher's preview. Pure Python and numpy:
no Django, no database.

What a design guarantees (``tests/listening/test_design.py`` checks each one over random shapes)
------------------------------------------------------------------------------------------------
Write S for the number of systems, N for the number of sentences that have at least one clip,
C for the number of clips, R for ``ratings_per_clip`` and K for ``clips_per_listener``.

1. Every clip is a test item in exactly R playlists.
2. A playlist holds each sentence at most once among its test items, so a listener never rates
   the same sentence twice (hearing the same text again invites comparing systems side by side,
   which an absolute category rating should not be). Hence every clip's R ratings come from R
   different playlists, that is R different listeners.
3. System balance.

   * Complete designs (every system has a clip for every sentence, the normal case): in every
     playlist the counts per system differ by at most one, so a playlist with fewer test items
     than systems holds each system at most once. Across playlists, the clips are spread
     replicate by replicate: the playlists in index order are cut from one sequence in which
     every clip appears once in each of R consecutive stretches of C positions, so after any
     number of whole playlists in index order have been rated (a study stopped early) the
     clips' rating counts differ by at most one.
   * Incomplete designs (some system lacks some sentence): exact balance can be impossible (one
     system with a single clip cannot be in every playlist), so the balance is a local optimum:
     with target ``length * clips_of_system / C`` for each playlist and system, no exchange of
     the systems of two test items of the same sentence in two playlists lowers the sum of
     squared differences between counts and targets. In a complete design this condition
     holds as well. (Observed, not promised: over random shapes with 2-30 % of clips missing,
     about 97 % of designs keep every count within one item of its target, the rest within
     two.)

4. Playlist length. A playlist cannot hold more test items than there are sentences, so the
   effective K is ``min(K, N)`` (``design_shape`` says so in its notes). The number of playlists
   is the smallest that fits every test item: ``ceil(R * C / min(K, N))``, raised to
   ``R * (most clips of one sentence)`` when one sentence needs more playlists than that (only
   possible with missing clips). The R * C test items are spread evenly: lengths differ by at
   most one, the longer playlists first. So with K = 20 and 50 test items there are three
   playlists of 17, 17 and 16, not 20, 20 and 10.
5. Order. Training items come first (as given, or per playlist by ``pick_training``). The test items and attention checks
   that follow are shuffled with the playlist's own seed, derived from the study seed and the
   playlist index and stored on the playlist: the same inputs and seed give the same design.
6. Attention checks: gold items in the manner of ITU-T P.808's gold-standard and trapping
   questions, and repeated clips as a consistency check. With
   ``attention_check_rate`` r > 0 a playlist of L test items gets ``max(1, round(r * L))`` extra
   items, alternating gold items (a clip with a known expected score, never one of the
   playlist's own test clips) and repeats of a test clip of the same playlist, each placed at
   least ``REPEAT_MIN_DISTANCE`` positions after that clip's test item (never adjacent). Each
   test clip is repeated at most once, each gold clip used at most once per playlist. When a
   kind runs out (no gold clips given, too few test items for a repeat) the other kind takes
   its place; a playlist that can hold neither gets fewer checks (the summary counts them).

Construction (why the guarantees hold)
--------------------------------------
Complete designs use a closed form. Lay all R * S * N test items out as one sequence, position
``t`` holding system ``t mod S`` and sentence ``(t + t // lcm(S, N)) mod N``, and cut it into
consecutive playlists. Within one block of ``lcm(S, N)`` positions the pair (system, sentence)
solves two congruences, which have one solution exactly when the block's shift matches the
pair modulo ``gcd(S, N)``; the shift grows by one per block, so every pair appears once in each
run of ``gcd(S, N)`` blocks (C positions), R times in all (1). Within a block a sentence recurs
every N positions; a block boundary skips one sentence, which can shorten that gap to N - 1. So
a playlist of at most N - 1 items never holds a sentence twice, and when K >= N every playlist
is exactly N long and starts at a multiple of N, as every block does (``lcm(S, N)`` is a
multiple of N), so no playlist straddles a block boundary (2).
Systems cycle with period S along the sequence, so any run of consecutive positions holds them
in balance (3). System and sentence labels are shuffled with the study seed first, so which
system meets which sentence first is random, not alphabetical.

Incomplete designs are built playlist by playlist. A sentence with ``m`` test items left fits
in the remaining ``P`` playlists exactly when ``m <= P`` (fill the sentences' items round-robin
over near-equal playlists), so each playlist must take every sentence with ``m == P`` and may
take any others: a greedy choice never paints itself into a corner. Within that freedom it
fills the systems in proportion to their remaining items, then exchanges systems between
playlists until no exchange improves the balance (3).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "PURPOSES",
    "REPEAT_MIN_DISTANCE",
    "DesignError",
    "DesignShape",
    "PlannedItem",
    "PlannedPlaylist",
    "design_playlists",
    "design_shape",
    "pick_training",
    "playlist_seed",
    "summarize_design",
]

PURPOSES = ("training", "test", "gold", "repeat")

#: A repeated clip comes at least this many positions after its test item: two other items
#: at least sit between them, so the listener cannot simply echo the score just given.
REPEAT_MIN_DISTANCE = 3

# Exchanges must lower the balance potential by more than this to count (float noise).
_EPS = 1e-9


class DesignError(ValueError):
    """The inputs admit no design; the message names the cause and the fix."""


@dataclass(frozen=True)
class PlannedItem:
    clip_id: int
    purpose: str = "test"  # one of PURPOSES
    expected_score: int | None = None  # gold items only: the score an attentive listener gives


@dataclass
class PlannedPlaylist:
    index: int
    seed: int  # this playlist's order seed, derived from the study seed and the index
    items: list[PlannedItem] = field(default_factory=list)

    @property
    def test_clip_ids(self) -> list[int]:
        return [item.clip_id for item in self.items if item.purpose == "test"]


@dataclass(frozen=True)
class DesignShape:
    """How many playlists a design has and how long they are, before any clip is placed."""

    n_systems: int
    n_sentences: int
    n_clips: int
    complete: bool  # every system has a clip for every sentence
    clips_per_listener: int  # as asked
    effective_clips_per_listener: int  # min(asked, sentences)
    lengths: tuple[int, ...]  # test items per playlist, longest first
    notes: tuple[str, ...]  # plain-language remarks for the researcher's preview

    @property
    def n_playlists(self) -> int:
        return len(self.lengths)

    @property
    def n_test_items(self) -> int:
        return sum(self.lengths)


def playlist_seed(study_seed: int, index: int) -> int:
    """The order seed of playlist ``index``: a stable 31-bit hash of (study seed, index).

    Stable across Python and numpy versions (blake2b, not ``hash()``), and small enough for any
    integer column.
    """
    return _derived_seed(study_seed, "playlist", index)


def design_shape(
    *, clips: Mapping[tuple[int, int], int], ratings_per_clip: int, clips_per_listener: int
) -> DesignShape:
    """The number and lengths of the playlists ``design_playlists`` would build.

    ``clips`` maps ``(system_id, sentence_id)`` to ``clip_id``; a missing pair means that
    system has no clip for that sentence.
    """
    _check_clips(clips)
    if ratings_per_clip < 1:
        raise DesignError(
            f"ratings_per_clip is {ratings_per_clip}: every clip needs at least one rating; "
            "set it to 1 or more (8 or more is usual for a MOS test)."
        )
    if clips_per_listener < 1:
        raise DesignError(
            f"clips_per_listener is {clips_per_listener}: a listener must rate at least one "
            "clip; set it to 1 or more."
        )
    systems = {system for system, _ in clips}
    per_sentence = Counter(sentence for _, sentence in clips)
    n_systems, n_sentences, n_clips = len(systems), len(per_sentence), len(clips)
    total = ratings_per_clip * n_clips
    notes = []
    k_eff = min(clips_per_listener, n_sentences)
    if clips_per_listener > n_sentences:
        notes.append(
            f"clips_per_listener ({clips_per_listener}) is more than the number of sentences "
            f"({n_sentences}); a listener rates each sentence at most once, so playlists hold "
            f"at most {n_sentences} test items."
        )
    n_playlists = math.ceil(total / k_eff)
    busiest = max(per_sentence.values())
    if ratings_per_clip * busiest > n_playlists:
        n_playlists = ratings_per_clip * busiest
        notes.append(
            f"A sentence with {busiest} clips needs {n_playlists} playlists to give each clip "
            f"{ratings_per_clip} ratings without repeating the sentence to a listener, so "
            "playlists are shorter than clips_per_listener."
        )
    base, extra = divmod(total, n_playlists)
    lengths = tuple([base + 1] * extra + [base] * (n_playlists - extra))
    complete = n_clips == n_systems * n_sentences
    if not complete:
        notes.append(
            f"{n_systems * n_sentences - n_clips} system/sentence pairs have no clip; every "
            "clip still gets its ratings, and systems are balanced as well as the gaps allow."
        )
    return DesignShape(
        n_systems=n_systems,
        n_sentences=n_sentences,
        n_clips=n_clips,
        complete=complete,
        clips_per_listener=clips_per_listener,
        effective_clips_per_listener=k_eff,
        lengths=lengths,
        notes=tuple(notes),
    )


def design_playlists(
    *,
    clips: Mapping[tuple[int, int], int],
    ratings_per_clip: int,
    clips_per_listener: int,
    seed: int,
    training: Sequence[int] = (),
    gold: Sequence[tuple[int, int]] = (),
    attention_check_rate: float = 0.0,
    training_tiers: Sequence[Sequence[tuple[int, int]]] = (),
    n_training: int = 0,
) -> list[PlannedPlaylist]:
    """Build the playlists of a study (see the module docstring for what is guaranteed).

    Args:
        clips: ``{(system_id, sentence_id): clip_id}``; a missing pair is a missing clip.
        ratings_per_clip: R, the test ratings every clip gets.
        clips_per_listener: K, the test items a playlist holds (capped at the sentences).
        seed: the study's design seed; the same inputs and seed give the same playlists.
        training: clip ids rated first by every listener, in this order, not counted.
        training_tiers: instead of ``training``, practice chosen per playlist: tiers of
            ``(clip_id, sentence_id)`` from the best condition to the worst (reference first,
            lowest MNRU anchor last); see :func:`pick_training`.
        n_training: how many practice clips each playlist gets from ``training_tiers``.
        gold: ``(clip_id, expected_score)`` pairs for gold attention checks, scores 1-5.
        attention_check_rate: extra check items per test item, in [0, 1).

    Returns:
        Playlists with ``index`` 0, 1, ...; each item's purpose is "training", "test",
        "gold" or "repeat".
    """
    shape = design_shape(
        clips=clips, ratings_per_clip=ratings_per_clip, clips_per_listener=clips_per_listener
    )
    training = [int(clip_id) for clip_id in training]
    gold_items = _check_gold(gold)
    if not 0.0 <= attention_check_rate < 1.0:
        raise DesignError(
            f"attention_check_rate is {attention_check_rate}: it is the share of extra check "
            "items per test item and must be at least 0 and below 1 (0.1 is usual)."
        )

    # Shuffle the labels once with the study seed: which system meets which sentence first,
    # and which sentences share a playlist, is then random rather than alphabetical.
    label_rng = random.Random(_derived_seed(seed, "labels"))
    systems = sorted({system for system, _ in clips})
    sentences = sorted({sentence for _, sentence in clips})
    label_rng.shuffle(systems)
    label_rng.shuffle(sentences)

    if shape.complete:
        assignment = _complete_design(len(systems), len(sentences), ratings_per_clip, shape)
    else:
        system_index = {system: i for i, system in enumerate(systems)}
        sentence_index = {sentence: j for j, sentence in enumerate(sentences)}
        present = np.zeros((len(systems), len(sentences)), dtype=bool)
        for system, sentence in clips:
            present[system_index[system], sentence_index[sentence]] = True
        assignment = _incomplete_design(present, ratings_per_clip, shape.lengths)

    playlists = []
    for index, pairs in enumerate(assignment):
        test_ids = sorted(clips[systems[s], sentences[j]] for s, j in pairs)
        pl_seed = playlist_seed(seed, index)
        own_training = training
        if training_tiers and n_training > 0:
            own_sentences = {sentences[j] for _s, j in pairs}
            own_training = pick_training(
                training_tiers,
                n_training,
                avoid_clips=set(test_ids) | {g[0] for g in gold_items},
                avoid_sentences=own_sentences,
                rng=random.Random(_derived_seed(pl_seed, "training")),
            )
        items = _order_playlist(
            test_ids,
            seed=pl_seed,
            training=own_training,
            gold=gold_items,
            attention_check_rate=attention_check_rate,
        )
        playlists.append(PlannedPlaylist(index=index, seed=pl_seed, items=items))
    return playlists


def pick_training(
    tiers: Sequence[Sequence[tuple[int, int]]],
    n: int,
    *,
    avoid_clips: set[int],
    avoid_sentences: set[int],
    rng: random.Random,
) -> list[int]:
    """``n`` practice clips that span the scale, for one playlist (P.808: the training
    anchors the listener's use of the scale with clips covering its range).

    ``tiers`` run from the best condition (the natural reference, where there is one) to the
    worst (the lowest MNRU anchor), each a list of ``(clip_id, sentence_id)``. The tiers are
    visited from both ends inwards (best, worst, second best, second worst, ...), one clip each,
    drawn with ``rng`` so listeners get different clips. A practice clip is never one of
    ``avoid_clips`` (the playlist's own test and check clips: a listener never rates a practice
    clip again as a test clip), each comes from a different sentence, and sentences outside
    ``avoid_sentences`` (the playlist's test sentences) are preferred. Returns fewer than ``n``
    only when too few clips qualify."""
    tiers = [list(tier) for tier in tiers if tier]
    if n <= 0 or not tiers:
        return []
    order: list[int] = []
    lo, hi = 0, len(tiers) - 1
    while lo <= hi:
        order.append(lo)
        if hi != lo:
            order.append(hi)
        lo, hi = lo + 1, hi - 1
    picked: list[int] = []
    used_sentences: set[int] = set()
    for _round in range(n):
        progressed = False
        for t in order:
            if len(picked) >= n:
                break
            pool = [
                (c, j)
                for c, j in tiers[t]
                if c not in avoid_clips and c not in picked and j not in used_sentences
            ]
            fresh = [(c, j) for c, j in pool if j not in avoid_sentences]
            choice = rng.choice(fresh or pool) if (fresh or pool) else None
            if choice is not None:
                picked.append(choice[0])
                used_sentences.add(choice[1])
                progressed = True
        if len(picked) >= n or not progressed:
            break
    return picked


def summarize_design(
    playlists: Iterable[PlannedPlaylist],
    *,
    clips: Mapping[tuple[int, int], int] | None = None,
) -> dict:
    """Counts for the researcher's preview and for tests.

    Always: per-playlist lengths and check counts, test ratings per clip. With ``clips`` (the
    mapping given to ``design_playlists``) also test items per system in each playlist, the
    largest spread between two systems' counts within one playlist, and the number of repeated
    sentences within a playlist (0 in every design this module builds).
    """
    playlists = list(playlists)
    per_clip: Counter[int] = Counter()
    lengths, checks = [], []
    for playlist in playlists:
        purposes = Counter(item.purpose for item in playlist.items)
        lengths.append(purposes["test"])
        checks.append({p: purposes[p] for p in ("training", "gold", "repeat")})
        per_clip.update(playlist.test_clip_ids)
    summary: dict = {
        "n_playlists": len(playlists),
        "test_items": lengths,
        "min_test_items": min(lengths, default=0),
        "max_test_items": max(lengths, default=0),
        "checks": checks,
        "ratings_per_clip": dict(sorted(per_clip.items())),
    }
    if clips is not None:
        where = {clip_id: pair for pair, clip_id in clips.items()}
        systems = sorted({system for system, _ in clips})
        per_system, spreads, repeated = [], [], 0
        for playlist in playlists:
            pairs = [where[clip_id] for clip_id in playlist.test_clip_ids]
            counts = Counter(system for system, _ in pairs)
            per_system.append({system: counts[system] for system in systems})
            spreads.append(max(counts[s] for s in systems) - min(counts[s] for s in systems))
            sentence_counts = Counter(sentence for _, sentence in pairs)
            repeated += sum(n - 1 for n in sentence_counts.values())
        summary["systems_per_playlist"] = per_system
        summary["max_system_spread"] = max(spreads, default=0)
        summary["repeated_sentences"] = repeated
    return summary


# --- construction -----------------------------------------------------------------------------


def _complete_design(
    n_systems: int, n_sentences: int, ratings: int, shape: DesignShape
) -> list[list[tuple[int, int]]]:
    """Cut the closed-form sequence (module docstring) into playlists of ``shape.lengths``.

    Returns per playlist a list of (system index, sentence index).
    """
    total = ratings * n_systems * n_sentences
    t = np.arange(total, dtype=np.int64)
    block = math.lcm(n_systems, n_sentences)
    system = t % n_systems
    sentence = (t + t // block) % n_sentences
    bounds = np.cumsum((0, *shape.lengths))
    return [
        list(zip(system[a:b].tolist(), sentence[a:b].tolist()))
        for a, b in zip(bounds[:-1], bounds[1:])
    ]


def _incomplete_design(
    present: np.ndarray, ratings: int, lengths: Sequence[int]
) -> list[list[tuple[int, int]]]:
    """Greedy playlist-by-playlist fill, then balancing exchanges.

    Args:
        present: (systems, sentences) bool, True where the clip exists.
    Returns per playlist a list of (system index, sentence index).
    """
    n_systems, n_sentences = present.shape
    left = present.astype(np.int64) * ratings  # test items still to place, per clip
    left_sentence = left.sum(axis=0)
    left_system = left.sum(axis=1)
    n_playlists = len(lengths)
    # A system prefers the sentences with most items left (they would become forced later and
    # take the freedom away), then its clip with most items left (spreads each clip's
    # ratings along the playlists).
    big = int(left.max()) + 1
    assignment: list[list[tuple[int, int]]] = []
    for index, length in enumerate(lengths):
        playlists_left = n_playlists - index
        target = (length * left_system / left_system.sum()).tolist()
        counts = [0] * n_systems
        taken: list[tuple[int, int]] = []
        used: set[int] = set()
        # Sentences that must be in this playlist, or they would not fit in the rest.
        forced = np.flatnonzero(left_sentence == playlists_left)
        for j in forced.tolist():
            options = np.flatnonzero(left[:, j] > 0).tolist()
            s = max(options, key=lambda s, j=j: (target[s] - counts[s], left[s, j]))
            taken.append((s, j))
            counts[s] += 1
            used.add(j)
        if len(taken) < length:
            ranked = _ranked_candidates(
                np.where(left > 0, left_sentence[None, :] * big + left, -1),
                forced,
                # At most `length` sentences get taken, so a system never runs out of these.
                keep=2 * length,
            )
            pointer = [0] * n_systems
            # Heap of systems by how far they are below their share (ties: lower index).
            heap = [(counts[s] - target[s], s) for s in range(n_systems) if ranked[s]]
            heapq.heapify(heap)
            while len(taken) < length:
                _, s = heapq.heappop(heap)
                row, i = ranked[s], pointer[s]
                while i < len(row) and row[i] in used:
                    i += 1
                pointer[s] = i
                if i == len(row):
                    continue  # nothing left for this system in this playlist
                j = row[i]
                taken.append((s, j))
                counts[s] += 1
                used.add(j)
                heapq.heappush(heap, (counts[s] - target[s], s))
        for s, j in taken:
            left[s, j] -= 1
            left_sentence[j] -= 1
            left_system[s] -= 1
        assignment.append(taken)
    _balance_by_exchange(assignment, n_systems, present.sum(axis=1), lengths)
    return assignment


def _ranked_candidates(score: np.ndarray, excluded: np.ndarray, keep: int) -> list[list[int]]:
    """Per system, the ``keep`` best sentences by ``score`` (best first), negatives dropped.

    Args:
        score: (systems, sentences) int; negative where the system has no item left.
    """
    score = score.copy()
    score[:, excluded] = -1
    n_sentences = score.shape[1]
    if keep < n_sentences:
        top = np.argpartition(-score, keep - 1, axis=1)[:, :keep]
    else:
        top = np.broadcast_to(np.arange(n_sentences), score.shape)
    top_score = np.take_along_axis(score, top, axis=1)
    order = np.argsort(-top_score, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    top_score = np.take_along_axis(top_score, order, axis=1)
    return [row[row_score >= 0].tolist() for row, row_score in zip(top, top_score)]


def _balance_by_exchange(
    assignment: list[list[tuple[int, int]]],
    n_systems: int,
    clips_per_system: np.ndarray,
    lengths: Sequence[int],
) -> None:
    """Exchange systems between two test items of one sentence while that improves balance.

    Potential: sum over playlists p and systems s of (count[p, s] - target[p, s])**2 with
    target = length[p] * clips_per_system[s] / clips. Moving sentence j's item in playlist p
    from system a to b, and its item in playlist q from b to a, keeps every clip's count and
    every playlist's sentences, and changes the potential by 4 - 2 * (x_p - x_q), where
    x = dev[., a] - dev[., b] and dev = count - target. Every exchange lowers the potential,
    so the loop ends; it ends at a design where no exchange helps.
    """
    n_playlists = len(assignment)
    share = clips_per_system / clips_per_system.sum()
    dev = -np.asarray(lengths, dtype=float)[:, None] * share[None, :]
    occ_playlist: dict[int, list[int]] = {}
    occ_system: dict[int, list[int]] = {}
    for p, pairs in enumerate(assignment):
        for s, j in pairs:
            dev[p, s] += 1
            occ_playlist.setdefault(j, []).append(p)
            occ_system.setdefault(j, []).append(s)
    sentences = [j for j in occ_system if len(set(occ_system[j])) > 1]
    occ = {j: (np.array(occ_playlist[j]), np.array(occ_system[j])) for j in sentences}

    changed = True
    while changed:
        changed = False
        for j in sentences:
            where, system = occ[j]
            rows = np.arange(len(where))
            while True:
                e = dev[where]  # (items of sentence j, systems)
                own = e[rows, system]
                # As the giving side (its system a -> b): x = dev[a] - dev[b].
                give = own[:, None] - e
                # As the receiving side (its system b -> a): x = dev[a] - dev[b].
                receive = e - own[:, None]
                best_give = np.full((n_systems, n_systems), -np.inf)
                np.maximum.at(best_give, system, give)
                worst_receive = np.full((n_systems, n_systems), np.inf)
                np.minimum.at(worst_receive, system, receive)
                gain = best_give - worst_receive.T  # [a, b]
                a, b = np.unravel_index(int(np.argmax(gain)), gain.shape)
                if not gain[a, b] > 2 + _EPS:
                    break
                o1 = int(np.flatnonzero(system == a)[np.argmax(give[system == a, b])])
                o2 = int(np.flatnonzero(system == b)[np.argmin(receive[system == b, a])])
                p, q = int(where[o1]), int(where[o2])
                dev[p, a] -= 1
                dev[p, b] += 1
                dev[q, a] += 1
                dev[q, b] -= 1
                system[o1], system[o2] = b, a
                changed = True
    # Write the exchanged systems back into the playlists.
    by_playlist: list[list[tuple[int, int]]] = [[] for _ in range(n_playlists)]
    for j, (where, system) in occ.items():
        for p, s in zip(where.tolist(), system.tolist()):
            by_playlist[p].append((s, j))
    for p, pairs in enumerate(assignment):
        kept = [(s, j) for s, j in pairs if j not in occ]
        assignment[p] = kept + by_playlist[p]


def _order_playlist(
    test_ids: list[int],
    *,
    seed: int,
    training: list[int],
    gold: list[tuple[int, int]],
    attention_check_rate: float,
) -> list[PlannedItem]:
    """Training first, then the test items shuffled with the checks inserted (seeded)."""
    rng = random.Random(seed)
    order = list(test_ids)
    rng.shuffle(order)
    sequence: list[PlannedItem] = [PlannedItem(clip_id) for clip_id in order]
    n_checks = 0
    if attention_check_rate > 0 and test_ids:
        n_checks = max(1, round(attention_check_rate * len(test_ids)))
    own = set(test_ids)
    gold_pool = [g for g in gold if g[0] not in own]
    rng.shuffle(gold_pool)
    repeated: set[int] = set()
    for k in range(n_checks):
        want_gold = k % 2 == 0
        if want_gold and gold_pool:
            _insert_gold(sequence, gold_pool.pop(), rng)
        elif _insert_repeat(sequence, repeated, rng):
            pass
        elif gold_pool:
            _insert_gold(sequence, gold_pool.pop(), rng)
    return [PlannedItem(clip_id, "training") for clip_id in training] + sequence


def _insert_gold(sequence: list[PlannedItem], gold: tuple[int, int], rng: random.Random) -> None:
    clip_id, expected = gold
    sequence.insert(rng.randint(0, len(sequence)), PlannedItem(clip_id, "gold", expected))


def _insert_repeat(sequence: list[PlannedItem], repeated: set[int], rng: random.Random) -> bool:
    """Insert a repeat of a not-yet-repeated test item at least REPEAT_MIN_DISTANCE after it.

    Inserting later items never brings two placed items closer, so distances only grow.
    """
    sources = [
        i
        for i, item in enumerate(sequence)
        if item.purpose == "test"
        and item.clip_id not in repeated
        and i + REPEAT_MIN_DISTANCE <= len(sequence)
    ]
    if not sources:
        return False
    i = rng.choice(sources)
    clip_id = sequence[i].clip_id
    repeated.add(clip_id)
    sequence.insert(
        rng.randint(i + REPEAT_MIN_DISTANCE, len(sequence)), PlannedItem(clip_id, "repeat")
    )
    return True


# --- input checks and seeds ---------------------------------------------------------------------


def _check_clips(clips: Mapping[tuple[int, int], int]) -> None:
    if not clips:
        raise DesignError(
            "There are no clips to rate: synthesise or upload clips for at least one system "
            "and sentence before opening the test."
        )
    seen: dict[int, tuple[int, int]] = {}
    for pair, clip_id in clips.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise DesignError(
                f"Clip key {pair!r} is not a (system_id, sentence_id) pair; pass "
                "{(system_id, sentence_id): clip_id}."
            )
        if clip_id in seen:
            raise DesignError(
                f"Clip {clip_id} is given for both {seen[clip_id]} and {pair}: one clip belongs "
                "to one system and one sentence; pass each clip once."
            )
        seen[clip_id] = pair


def _check_gold(gold: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    checked = []
    for entry in gold:
        try:
            clip_id, expected = entry
        except (TypeError, ValueError):
            raise DesignError(
                f"Gold entry {entry!r} is not a (clip_id, expected_score) pair."
            ) from None
        if not 1 <= int(expected) <= 5:
            raise DesignError(
                f"Gold clip {clip_id} expects score {expected}: expected scores are on the "
                "1-5 ACR scale of ITU-T P.800; give a score from 1 to 5."
            )
        if (int(clip_id), int(expected)) in checked:
            continue  # listed twice: still one gold clip
        if any(c == int(clip_id) for c, _ in checked):
            raise DesignError(
                f"Gold clip {clip_id} is listed with two expected scores; give it one."
            )
        checked.append((int(clip_id), int(expected)))
    return checked


def _derived_seed(seed: int, *parts: object) -> int:
    text = ":".join(str(part) for part in (int(seed), *parts))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF
