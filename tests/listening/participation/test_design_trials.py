"""Playlists of comparison trials (listening/participation/design_trials.py): every promise of
the module docstring, over many random shapes."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listening.participation.design import REPEAT_MIN_DISTANCE, DesignError
from listening.participation.design_trials import design_trials, trial_units

REFERENCE, ANCHOR = 900, 950
MODES = [("ccr", "reference"), ("ccr", "systems"), ("ab", "systems"), ("abx", "systems")]
MODES += [("smos", "reference")]


def make_clips(n_systems, n_sentences, *, missing=0.0, seed=0, reference=True, anchor=True):
    """{(system, sentence): clip} for test systems 100, 103, ..., the reference and an anchor;
    ``missing`` drops some test systems' clips."""
    rng = random.Random(seed)
    systems = [100 + 3 * s for s in range(n_systems)]
    sentences = [5000 + 7 * j for j in range(n_sentences)]
    clips = {}
    for s in systems + [REFERENCE] * reference + [ANCHOR] * anchor:
        for j in sentences:
            if s in (REFERENCE, ANCHOR) or rng.random() >= missing:
                clips[s, j] = 10_000 + s * 100 + j
    return systems, clips


shapes = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(MODES),
        "n_systems": st.integers(2, 5),
        "n_sentences": st.integers(2, 8),
        "ratings": st.integers(1, 4),
        "per_listener": st.integers(1, 9),
        "missing": st.sampled_from([0.0, 0.0, 0.2]),
        "anchor": st.booleans(),
        "rate": st.sampled_from([0.0, 0.25, 0.5]),
        "training": st.integers(0, 2),
        "different": st.booleans(),
        "seed": st.integers(0, 10_000),
    }
)


def build(shape):
    test_type, comparison = shape["mode"]
    systems, clips = make_clips(
        shape["n_systems"],
        shape["n_sentences"],
        missing=shape["missing"],
        seed=shape["seed"],
        anchor=shape["anchor"],
    )
    reference_text = "different" if shape["different"] and test_type == "smos" else "same"
    kwargs = dict(
        test_type=test_type,
        clips=clips,
        systems=systems + ([REFERENCE] if comparison == "systems" else []),
        ratings_per_clip=shape["ratings"],
        clips_per_listener=shape["per_listener"],
        seed=shape["seed"],
        reference=REFERENCE,
        anchor=ANCHOR if shape["anchor"] else None,
        comparison=comparison,
        reference_text=reference_text,
        n_training=shape["training"],
        attention_check_rate=shape["rate"],
    )
    return kwargs, design_trials(**kwargs)


def owner(clips):
    return {clip: key for key, clip in clips.items()}


def expected_trial_units(kwargs):
    """The (unit, sentence) pairs that have every clip they need, computed independently."""
    clips, test_type = kwargs["clips"], kwargs["test_type"]
    vs_reference = test_type == "smos" or kwargs["comparison"] == "reference"
    systems = [s for s in kwargs["systems"] if not (vs_reference and s == REFERENCE)]
    units = trial_units(test_type, systems, kwargs["comparison"])
    sentences = {j for _s, j in clips}
    wanted = set()
    for u, unit in enumerate(units):
        for j in sentences:
            if vs_reference:
                has_ref = (
                    any((REFERENCE, k) in clips for k in sentences if k != j)
                    if kwargs["reference_text"] == "different"
                    else (REFERENCE, j) in clips
                )
                if (unit, j) in clips and has_ref:
                    wanted.add((u, j))
            elif (unit[0], j) in clips and (unit[1], j) in clips:
                wanted.add((u, j))
    return units, wanted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes)
def test_every_promise_of_the_design_holds(shape):
    kwargs, playlists = build(shape)
    clips, test_type, r = kwargs["clips"], kwargs["test_type"], kwargs["ratings_per_clip"]
    of = owner(clips)
    units, wanted = expected_trial_units(kwargs)
    n_sentences = len({j for _s, j in clips})
    counts = Counter()
    listeners = defaultdict(set)
    variants = defaultdict(Counter)
    for playlist in playlists:
        tests = playlist.tests
        # 2: each sentence at most once among a playlist's test trials.
        sentences = [t.sentence for t in tests]
        assert len(sentences) == len(set(sentences))
        # 3: never longer than the listener's share or the sentences allow.
        assert len(tests) <= min(kwargs["clips_per_listener"], n_sentences)
        # 6: practice first.
        purposes = [t.purpose for t in playlist.trials]
        assert purposes == sorted(purposes, key=lambda p: p != "training")
        assert purposes.count("training") <= kwargs["n_training"]
        tested = set(sentences)
        for t in tests:
            counts[t.unit, t.sentence] += 1
            listeners[t.unit, t.sentence].add(playlist.index)
            variants[t.unit, t.sentence][t.variant] += 1
            _check_test_trial(t, units[t.unit], kwargs, of, tested, n_sentences)
        _check_checks(playlist, kwargs, of)
    # 1: every trial unit exactly R times, from R different listeners.
    assert set(counts) == wanted
    assert set(counts.values()) == {r}
    assert all(len(p) == r for p in listeners.values())
    # 4: variants of each trial unit in balance; both orders of a pair as soon as R >= 2.
    n_var = {"abx": 4, "smos": 1}.get(test_type, 2)
    for key, seen in variants.items():
        full = [seen[v] for v in range(n_var)]
        assert max(full) - min(full) <= 1, (key, full)
    per_unit = defaultdict(Counter)
    for (u, _j), seen in variants.items():
        per_unit[u].update(seen)
    for seen in per_unit.values():
        full = [seen[v] for v in range(n_var)]
        assert max(full) - min(full) <= (2 if n_var == 4 else 1), full
    if n_var > 1:
        _check_no_order_exchange_helps(playlists)


def _check_test_trial(t, unit, kwargs, of, tested, n_sentences):
    roles = [role for role, _c in t.clips]
    owners = [of[c] for _r, c in t.clips]
    test_type = kwargs["test_type"]
    assert {j for _s, j in owners} == {t.sentence} or test_type == "smos"
    if test_type == "smos":
        assert roles == ["reference", "test"]
        (ref_system, ref_sentence), (system, sentence) = owners
        assert ref_system == REFERENCE and system == unit and sentence == t.sentence
        assert t.rated_clip_id == t.clips[1][1]
        if kwargs["reference_text"] == "different":
            assert ref_sentence != sentence
            if len(tested) < n_sentences:  # a sentence the listener does not test exists
                assert ref_sentence not in tested
        else:
            assert ref_sentence == sentence
        return
    assert t.rated_clip_id is None
    pair = (REFERENCE, unit) if isinstance(unit, int) else unit
    first = pair if t.variant % 2 == 0 else pair[::-1]
    assert [s for s, _j in owners[:2]] == list(first)
    if test_type == "abx":
        assert roles == ["a", "b", "x"]
        assert t.clips[2][1] == t.clips[t.variant // 2][1]
    else:
        assert roles == ["a", "b"]


def _check_checks(playlist, kwargs, of):
    test_type = kwargs["test_type"]
    anchor = kwargs["anchor"]
    gold = [t for t in playlist.trials if t.purpose == "gold"]
    repeats = [(i, t) for i, t in enumerate(playlist.trials) if t.purpose == "repeat"]
    checks = len(gold) + len(repeats)
    n_tests = len(playlist.tests)
    if kwargs["attention_check_rate"] == 0 or not n_tests:
        assert checks == 0
    elif test_type != "abx" or anchor is not None:
        want = max(1, round(kwargs["attention_check_rate"] * n_tests))
        # AB repeats need room after their trial; everything else is always placed.
        assert checks == want or (test_type == "ab" and anchor is None and checks < want)
    for t in gold:
        clips = [c for _r, c in t.clips]
        if test_type in ("ccr", "smos"):
            assert len(set(clips)) == 1
            assert t.expected_score == (0 if test_type == "ccr" else 5)
            if test_type == "smos":
                assert of[clips[0]][0] == REFERENCE
        else:
            systems = [of[c][0] for c in clips[:2]]
            assert sorted(systems) == sorted([REFERENCE, anchor])
            if test_type == "ab":
                assert systems["ab".index(t.expected_choice)] == REFERENCE
            else:
                assert clips[2] == clips["ab".index(t.expected_choice)]
    for i, rep in repeats:
        assert test_type == "ab" and anchor is None
        sources = [
            k
            for k, t in enumerate(playlist.trials[:i])
            if t.purpose == "test"
            and t.clips == ((rep.clips[0][0], rep.clips[1][1]), (rep.clips[1][0], rep.clips[0][1]))
        ]
        assert sources and i - sources[0] >= REPEAT_MIN_DISTANCE


def _check_no_order_exchange_helps(playlists):
    d = [sum(1 if t.variant % 2 == 0 else -1 for t in p.tests) for p in playlists]
    where = defaultdict(list)
    for p in playlists:
        for t in p.tests:
            where[t.unit, t.sentence].append((p.index, t.variant % 2))
    for places in where.values():
        for p, even in places:
            for q, odd in places:
                if even == 0 and odd == 1:
                    assert d[p] - d[q] <= 2


def test_same_inputs_and_seed_give_the_same_design_and_another_seed_another():
    shape = dict(mode=("ab", "systems"), n_systems=4, n_sentences=6, ratings=2, per_listener=4)
    shape |= dict(missing=0.0, anchor=True, rate=0.25, training=1, different=False, seed=7)
    _k, one = build(shape)
    _k, two = build(shape)
    _k, other = build(shape | {"seed": 8})
    assert [p.trials for p in one] == [p.trials for p in two]
    assert [p.trials for p in one] != [p.trials for p in other]


def test_both_orders_of_every_pair_are_heard_equally_often_by_listeners():
    """A complete AB design of 4 systems and the reference (10 pairs) on 6 sentences, R = 4:
    each pair in each order twice per sentence, and every listener hears both orders about
    equally often."""
    shape = dict(mode=("ab", "systems"), n_systems=4, n_sentences=6, ratings=4, per_listener=6)
    shape |= dict(missing=0.0, anchor=False, rate=0.0, training=0, different=False, seed=3)
    _k, playlists = build(shape)
    orders = Counter()
    for p in playlists:
        seen = Counter(t.variant for t in p.tests)
        assert abs(seen[0] - seen[1]) <= 2
        for t in p.tests:
            orders[t.unit, t.sentence, t.variant] += 1
    assert len(orders) == 10 * 6 * 2 and set(orders.values()) == {2}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(test_type="ccr", comparison="reference", reference=None), "natural recordings"),
        (dict(test_type="smos", reference=None), "natural recordings"),
        (dict(test_type="ab", systems=[100]), "add another system"),
        (dict(test_type="abx", systems=[100]), "add another system"),
        (dict(test_type="smos", reference_text="different", n_sentences=1), "two sentences"),
        (dict(test_type="mushra"), "Unknown test type"),
    ],
)
def test_designs_that_cannot_run_are_refused_naming_the_fix(kwargs, message):
    systems, clips = make_clips(2, kwargs.pop("n_sentences", 3))
    args = dict(
        test_type="ccr",
        clips=clips,
        systems=systems,
        ratings_per_clip=2,
        clips_per_listener=3,
        seed=1,
        reference=REFERENCE,
        anchor=ANCHOR,
    )
    args.update(kwargs)
    with pytest.raises(DesignError, match=message):
        design_trials(**args)
