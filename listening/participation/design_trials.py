"""Playlists of comparison trials: CCR (CMOS), AB and ABX preference, and SMOS.

Where it sits: ``listening.studies.trials_open`` calls :func:`design_trials` when a study of one
of these types opens and stores each trial as a ``PlaylistItem`` with its ``TrialClip`` rows.
Pure Python: no Django, no database. ACR keeps :mod:`listening.participation.design`.

Trial units
-----------
A *unit* is what a trial compares; a unit on a sentence is a *trial unit* and gets
``ratings_per_clip`` (R) test trials, each in a different listener's playlist.

* CCR, ``comparison="reference"``: each test system against the reference recording of the same
  sentence. Variant 0 plays the reference first (A) and the system second (B), variant 1 the
  other way round (ITU-T P.800 Annex E presents the pair in both orders).
* CCR ``comparison="systems"`` and AB: every unordered pair of test systems; variant 0 plays the
  first system of the pair as A, variant 1 the second.
* ABX: every pair; four variants, (which system is A) x (whether X is A's or B's clip).
* SMOS: each test system; the reference clip first, the test clip second (the order SMOS
  studies use). With ``reference_text="different"`` the reference clip speaks another sentence,
  chosen per playlist among the sentences that playlist does not test when there are any.

Test systems are the study's systems other than the MNRU anchors (those serve attention checks)
and, for CCR against the reference and SMOS, other than the reference.

What a design guarantees (``tests/listening/participation/test_design_trials.py`` checks each)
----------------------------------------------------------------------------------------------
1. Every trial unit is a test trial in exactly R playlists, so R different listeners.
2. A playlist tests each sentence at most once: a listener hears a sentence in one test trial.
3. Playlists hold ``min(clips_per_listener, sentences)`` test trials or fewer, lengths differ by
   at most one, units are balanced per playlist as systems are in ACR (the assignment is the
   one :func:`design.design_playlists` makes, with units in place of systems).
4. Counterbalancing: each trial unit's R trials take its variants in turn from a seeded offset,
   so the counts of its variants differ by at most one; the offsets of one unit cycle over its
   sentences, so over all its sentences the counts of a unit's variants differ by at most one
   as well (two variants; ABX's four differ by at most two).
   Then orders are exchanged between two trials of the same trial unit in two playlists while
   that lowers the sum over playlists of (A-first minus B-first)^2, so listeners get both orders
   about equally often (no such exchange helps at the end).
5. Checks, with ``attention_check_rate`` r > 0: ``max(1, round(r * L))`` per playlist of L test
   trials, at seeded random places: CCR an identical pair (one clip twice), expected 0 "About
   the same"; AB the lowest anchor against the reference, expected the reference; ABX the
   reference and the lowest anchor, X one of them; SMOS the reference clip against itself,
   expected 5. An AB study without both a reference and an anchor repeats one of the listener's
   own trials later with A and B swapped (a consistent listener names the same system twice),
   so no identical pair is needed; an ABX study without them has no extra check, every ABX
   trial having a known answer already. Checks prefer sentences the playlist does not test.
6. Training trials come first: ``n_training`` trials of the same kind on sentences the playlist
   does not test where possible, the first of them the clearest contrast the study has.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from listening.participation.design import (
    REPEAT_MIN_DISTANCE,
    DesignError,
    _derived_seed,
    design_playlists,
)

__all__ = ["TRIAL_TYPES", "PlannedTrial", "TrialPlaylist", "design_trials", "trial_units"]

TRIAL_TYPES = ("ccr", "ab", "abx", "smos")

#: Expected answers of the checks (module docstring, 5).
CCR_IDENTICAL_EXPECTED = 0
SMOS_IDENTICAL_EXPECTED = 5


@dataclass(frozen=True)
class PlannedTrial:
    clips: tuple[tuple[str, int], ...]  # (role, clip_id) in play order
    purpose: str = "test"  # training, test, gold or repeat
    rated_clip_id: int | None = None  # SMOS: the test clip
    expected_score: int | None = None
    expected_choice: str = ""
    unit: int | None = None  # index into trial_units(...) for test trials and repeats
    sentence: int | None = None  # the sentence id a test trial tests
    variant: int = 0


@dataclass
class TrialPlaylist:
    index: int
    seed: int
    trials: list[PlannedTrial] = field(default_factory=list)

    @property
    def tests(self) -> list[PlannedTrial]:
        return [t for t in self.trials if t.purpose == "test"]


def trial_units(test_type: str, systems: Sequence[int], comparison: str = "reference") -> list:
    """The units of a type: a system id (CCR vs reference, SMOS) or a pair (a, b) of ids."""
    systems = list(systems)
    if test_type == "smos" or (test_type == "ccr" and comparison == "reference"):
        return systems
    return list(combinations(systems, 2))


def _variants(test_type: str, comparison: str) -> int:
    return {"abx": 4, "smos": 1}.get(test_type, 2)


def design_trials(
    *,
    test_type: str,
    clips: Mapping[tuple[int, int], int],
    systems: Sequence[int],
    ratings_per_clip: int,
    clips_per_listener: int,
    seed: int,
    reference: int | None = None,
    anchor: int | None = None,
    comparison: str = "reference",
    reference_text: str = "same",
    n_training: int = 0,
    attention_check_rate: float = 0.0,
) -> list[TrialPlaylist]:
    """Build the playlists of a comparison study (module docstring).

    Args:
        clips: ``{(system_id, sentence_id): clip_id}`` of every ready clip (test sentences).
        systems: the test systems, in the researcher's order.
        reference: the reference system (natural recordings), if the study has one.
        anchor: the lowest MNRU anchor, if any (attention checks only).
    """
    if test_type not in TRIAL_TYPES:
        raise DesignError(f"Unknown test type {test_type!r}: use one of {', '.join(TRIAL_TYPES)}.")
    if not 0.0 <= attention_check_rate < 1.0:
        raise DesignError(
            f"attention_check_rate is {attention_check_rate}: it must be at least 0 and below 1."
        )
    vs_reference = test_type == "smos" or (test_type == "ccr" and comparison == "reference")
    systems = [s for s in systems if not (vs_reference and s == reference) and s != anchor]
    _check_shape(test_type, systems, reference, clips, vs_reference, reference_text)
    units = trial_units(test_type, systems, comparison)
    sentences = sorted({j for _s, j in clips})
    ref_clips = {j: clips[reference, j] for j in sentences if (reference, j) in clips}

    # Trial units that have every clip they need, as pseudo-clips for the ACR assignment.
    pseudo: dict[tuple[int, int], int] = {}
    for u, unit in enumerate(units):
        for j in sentences:
            if _unit_clips_exist(unit, j, clips, vs_reference, reference_text, ref_clips):
                pseudo[u, j] = len(pseudo)
    if not pseudo:
        raise DesignError(
            "No sentence has every clip a trial needs (both systems of a pair, or a system and "
            "the reference): add the missing clips."
        )
    where = {pid: key for key, pid in pseudo.items()}
    planned = design_playlists(
        clips=pseudo,
        ratings_per_clip=ratings_per_clip,
        clips_per_listener=clips_per_listener,
        seed=seed,
    )
    n_var = _variants(test_type, comparison)
    variants = _counterbalance(planned, where, n_var, seed)

    playlists = []
    for p, plan in enumerate(planned):
        rng = random.Random(_derived_seed(plan.seed, "trials"))
        own = [where[item.clip_id] for item in plan.items]
        tested = {j for _u, j in own}
        fresh = [j for j in sentences if j not in tested] or list(sentences)
        references = _references(own, tested, sentences, ref_clips, reference_text, rng)
        tests = [
            _trial(
                test_type,
                units[u],
                j,
                variants[p][k],
                clips,
                reference,
                references[k],
                unit_index=u,
            )
            for k, (u, j) in enumerate(own)
        ]
        checks = _checks(
            test_type,
            tests,
            clips=clips,
            systems=systems,
            reference=reference,
            anchor=anchor,
            fresh=fresh,
            n=max(1, round(attention_check_rate * len(tests))) if attention_check_rate else 0,
            rng=rng,
        )
        sequence = _place_checks(tests, checks, rng)
        training = _training(
            test_type,
            units,
            clips,
            vs_reference,
            ref_clips,
            reference=reference,
            anchor=anchor,
            fresh=fresh,
            n=n_training,
            rng=rng,
        )
        playlists.append(TrialPlaylist(index=p, seed=plan.seed, trials=training + sequence))
    return playlists


# --- shape checks -------------------------------------------------------------------------------


def _check_shape(test_type, systems, reference, clips, vs_reference, reference_text) -> None:
    has_reference = reference is not None and any(s == reference for s, _j in clips)
    if vs_reference and not has_reference:
        what = "SMOS" if test_type == "smos" else "CCR against the reference"
        raise DesignError(
            f"{what} needs the natural recordings: add a reference system with clips, or (CCR) "
            "compare every pair of systems instead."
        )
    if vs_reference and not systems:
        raise DesignError(
            "There is no system to compare with the reference: add at least one system besides "
            "the reference."
        )
    if not vs_reference and len(systems) < 2:
        raise DesignError(
            f"{test_type.upper()} compares two systems at a time and the study has "
            f"{len(systems)} (anchors not counted): add another system."
        )
    if test_type == "smos" and reference_text == "different" and len({j for _s, j in clips}) < 2:
        raise DesignError(
            "SMOS with a different sentence for the reference needs at least two sentences: "
            "add a sentence, or let the reference speak the same sentence."
        )


def _unit_clips_exist(unit, j, clips, vs_reference, reference_text, ref_clips) -> bool:
    if vs_reference:
        if (unit, j) not in clips:
            return False
        if reference_text == "different":
            return any(k != j for k in ref_clips)
        return j in ref_clips
    a, b = unit
    return (a, j) in clips and (b, j) in clips


# --- counterbalancing -----------------------------------------------------------------------------


def _counterbalance(planned, where, n_var: int, seed: int) -> list[list[int]]:
    """Variant of each test trial, per playlist in item order (module docstring, 4)."""
    rng = random.Random(_derived_seed(seed, "variants"))
    by_unit: dict[int, list[int]] = defaultdict(list)
    for u, j in where.values():
        by_unit[u].append(j)
    offset: dict[tuple[int, int], int] = {}
    for u in sorted(by_unit):
        js = sorted(by_unit[u])
        rng.shuffle(js)
        start = rng.randrange(n_var)
        for rank, j in enumerate(js):
            offset[u, j] = (start + rank) % n_var
    seen: dict[tuple[int, int], int] = defaultdict(int)
    variants: list[list[int]] = []
    occurrences: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for p, plan in enumerate(planned):
        row = []
        for k, item in enumerate(plan.items):
            key = where[item.clip_id]
            row.append((seen[key] + offset[key]) % n_var)
            seen[key] += 1
            occurrences[key].append((p, k))
        variants.append(row)
    if n_var > 1:
        _balance_orders(variants, occurrences)
    return variants


def _balance_orders(variants: list[list[int]], occurrences) -> None:
    """Exchange the variants of two trials of one trial unit in two playlists while that lowers
    sum_p d_p^2, d_p = trials with an even variant (first system as A) minus odd ones. Moving
    an even variant from p to q changes the sum by 8 - 4 (d_p - d_q): only d_p - d_q > 2 helps,
    and each exchange lowers the sum, so the loop ends."""
    d = [sum(1 if v % 2 == 0 else -1 for v in row) for row in variants]
    changed = True
    while changed:
        changed = False
        for places in occurrences.values():
            for p, k in places:
                if variants[p][k] % 2:
                    continue
                for q, m in places:
                    if variants[q][m] % 2 == 1 and d[p] - d[q] > 2:
                        variants[p][k], variants[q][m] = variants[q][m], variants[p][k]
                        d[p] -= 2
                        d[q] += 2
                        changed = True
                        break


# --- trials -------------------------------------------------------------------------------------


def _references(own, tested, sentences, ref_clips, reference_text, rng) -> list[int | None]:
    """The reference sentence of each SMOS trial: its own, or another (module docstring)."""
    if reference_text != "different":
        return [j for _u, j in own]
    outside = [j for j in ref_clips if j not in tested]
    rng.shuffle(outside)
    chosen = []
    for k, (_u, j) in enumerate(own):
        if outside:
            chosen.append(outside[k % len(outside)])
        else:
            others = [i for i in sorted(ref_clips) if i != j]
            chosen.append(others[k % len(others)])
    return chosen


def _trial(test_type, unit, j, variant, clips, reference, ref_sentence, *, unit_index=None):
    """The test trial of ``unit`` on sentence ``j`` in ``variant``."""
    if test_type == "smos":
        test = clips[unit, j]
        return PlannedTrial(
            clips=(("reference", clips[reference, ref_sentence]), ("test", test)),
            rated_clip_id=test,
            unit=unit_index,
            sentence=j,
            variant=variant,
        )
    pair = (reference, unit) if isinstance(unit, int) else unit
    a, b = pair if variant % 2 == 0 else pair[::-1]
    roles = [("a", clips[a, j]), ("b", clips[b, j])]
    if test_type == "abx":
        roles.append(("x", clips[a, j] if variant // 2 == 0 else clips[b, j]))
    return PlannedTrial(clips=tuple(roles), unit=unit_index, sentence=j, variant=variant)


def _pick_sentence(fresh, ok, rng) -> int | None:
    """A sentence of ``fresh`` (not tested by the playlist) meeting ``ok``, else any meeting it."""
    pool = [j for j in fresh if ok(j)]
    return rng.choice(pool) if pool else None


def _checks(test_type, tests, *, clips, systems, reference, anchor, fresh, n, rng):
    """The playlist's attention checks (module docstring, 5)."""
    if n <= 0 or not tests:
        return []
    all_sentences = sorted({j for _s, j in clips})
    checks: list[PlannedTrial] = []
    contrast = reference is not None and anchor is not None
    for _ in range(n):
        if test_type == "ccr":
            j = _pick_sentence(fresh, lambda j: any((s, j) in clips for s in systems), rng)
            j = j if j is not None else rng.choice(all_sentences)
            options = [clips[s, j] for s in systems if (s, j) in clips] or [clips[reference, j]]
            clip = rng.choice(options)
            checks.append(
                PlannedTrial(
                    clips=(("a", clip), ("b", clip)),
                    purpose="gold",
                    expected_score=CCR_IDENTICAL_EXPECTED,
                )
            )
        elif test_type == "smos":
            j = _pick_sentence(fresh, lambda j: (reference, j) in clips, rng)
            if j is None:
                j = rng.choice(sorted(k for s, k in clips if s == reference))
            clip = clips[reference, j]
            checks.append(
                PlannedTrial(
                    clips=(("reference", clip), ("test", clip)),
                    purpose="gold",
                    rated_clip_id=clip,
                    expected_score=SMOS_IDENTICAL_EXPECTED,
                )
            )
        elif (
            contrast and (j := _contrast_sentence(clips, reference, anchor, fresh, rng)) is not None
        ):
            ref_first = rng.random() < 0.5
            a, b = (reference, anchor) if ref_first else (anchor, reference)
            roles = [("a", clips[a, j]), ("b", clips[b, j])]
            if test_type == "ab":
                expected = "a" if ref_first else "b"
            else:
                x_is_a = rng.random() < 0.5
                roles.append(("x", roles[0][1] if x_is_a else roles[1][1]))
                expected = "a" if x_is_a else "b"
            checks.append(
                PlannedTrial(clips=tuple(roles), purpose="gold", expected_choice=expected)
            )
        elif test_type == "ab":
            checks.append(PlannedTrial(clips=(), purpose="repeat"))  # filled in by placement
    return checks


def _contrast_sentence(clips, reference, anchor, fresh, rng) -> int | None:
    """A sentence with both a reference and an anchor clip, one the playlist does not test
    if there is one."""
    both = sorted(j for s, j in clips if s == reference and (anchor, j) in clips)
    pool = [j for j in both if j in set(fresh)] or both
    return rng.choice(pool) if pool else None


def _place_checks(tests, checks, rng) -> list[PlannedTrial]:
    """Insert the checks at random places; an AB repeat goes at least REPEAT_MIN_DISTANCE
    after the trial it repeats, with A and B swapped."""
    sequence = list(tests)
    repeated: set[tuple] = set()
    for check in checks:
        if check.purpose != "repeat":
            sequence.insert(rng.randint(0, len(sequence)), check)
            continue
        sources = [
            i
            for i, t in enumerate(sequence)
            if t.purpose == "test"
            and (t.unit, t.sentence) not in repeated
            and i + REPEAT_MIN_DISTANCE <= len(sequence)
        ]
        if not sources:
            continue  # too short for a repeat: fewer checks
        i = rng.choice(sources)
        source = sequence[i]
        (ra, ca), (rb, cb) = source.clips[:2]
        swapped = PlannedTrial(
            clips=((ra, cb), (rb, ca)),
            purpose="repeat",
            unit=source.unit,
            sentence=source.sentence,
            variant=source.variant ^ 1,
        )
        at = rng.randint(i + REPEAT_MIN_DISTANCE, len(sequence))
        sequence.insert(at, swapped)
        repeated.add((source.unit, source.sentence))
    return sequence


def _training(
    test_type, units, clips, vs_reference, ref_clips, *, reference, anchor, fresh, n, rng
):
    """Practice trials first (module docstring, 6): the clearest contrast the study has, then
    random units, each on its own sentence, fresh sentences first."""
    if n <= 0:
        return []
    trials: list[PlannedTrial] = []
    used: set[int] = set()
    candidates = [
        (u, j)
        for u, unit in enumerate(units)
        for j in sorted({k for _s, k in clips})
        if _unit_clips_exist(unit, j, clips, vs_reference, "same", ref_clips)
    ]
    rng.shuffle(candidates)
    fresh_set = set(fresh)
    candidates.sort(key=lambda c: c[1] not in fresh_set)  # stable: fresh sentences first
    if anchor is not None and reference is not None and test_type != "smos":
        both = [j for j in fresh if (reference, j) in clips and (anchor, j) in clips]
        if both:
            j = rng.choice(both)
            variant = rng.randrange(_variants(test_type, "systems"))
            pair = (reference, anchor) if variant % 2 == 0 else (anchor, reference)
            roles = [("a", clips[pair[0], j]), ("b", clips[pair[1], j])]
            if test_type == "abx":
                roles.append(("x", roles[variant // 2][1]))
            trials.append(PlannedTrial(clips=tuple(roles), purpose="training"))
            used.add(j)
    for u, j in candidates:
        if len(trials) >= n:
            break
        if j in used:
            continue
        unit = units[u]
        variant = rng.randrange(_variants(test_type, "systems"))
        trial = _trial(test_type, unit, j, variant, clips, reference, j)
        trials.append(
            PlannedTrial(
                clips=trial.clips,
                purpose="training",
                rated_clip_id=trial.rated_clip_id,
            )
        )
        used.add(j)
    return trials[:n]
