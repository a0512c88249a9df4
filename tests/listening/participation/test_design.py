"""Playlist construction (listening/participation/design.py): every invariant, over many random shapes."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listening.participation.design import (
    REPEAT_MIN_DISTANCE,
    DesignError,
    PlannedItem,
    _order_playlist,
    design_playlists,
    design_shape,
    pick_training,
    playlist_seed,
    summarize_design,
)

# --- helpers ----------------------------------------------------------------------------------


def make_clips(
    n_systems: int, n_sentences: int, *, missing: float = 0.0, seed: int = 0
) -> dict[tuple[int, int], int]:
    """{(system_id, sentence_id): clip_id} with ids unlike indices, some pairs dropped."""
    rng = random.Random(seed)
    clips = {}
    for s in range(n_systems):
        for j in range(n_sentences):
            if rng.random() >= missing:
                clips[(100 + 3 * s, 5000 + 7 * j)] = 10_000 + s * 1000 + j
    if not clips:  # keep at least one clip
        clips[(100, 5000)] = 10_000
    return clips


def rated(playlist):
    return [item for item in playlist.items if item.purpose == "test"]


def system_counts(playlist, where, systems):
    counts = Counter(where[item.clip_id][0] for item in rated(playlist))
    return [counts[s] for s in systems]


def improving_exchange(playlists, clips):
    """An exchange of systems between two items of one sentence that lowers the balance
    potential (module docstring, point 3), or None. Written independently of the module."""
    where = {clip_id: pair for pair, clip_id in clips.items()}
    systems = sorted({s for s, _ in clips})
    per_system = Counter(s for s, _ in clips)
    lengths = [len(rated(p)) for p in playlists]
    dev = []
    for p, playlist in enumerate(playlists):
        counts = Counter(where[item.clip_id][0] for item in rated(playlist))
        dev.append({s: counts[s] - lengths[p] * per_system[s] / len(clips) for s in systems})
    occurrences: dict[int, list[tuple[int, int]]] = {}
    for p, playlist in enumerate(playlists):
        for item in rated(playlist):
            s, j = where[item.clip_id]
            occurrences.setdefault(j, []).append((p, s))
    for occ in occurrences.values():
        for p, a in occ:
            for q, b in occ:
                if a == b:
                    continue
                x_p = dev[p][a] - dev[p][b]
                x_q = dev[q][a] - dev[q][b]
                if 4 - 2 * (x_p - x_q) < -1e-9:
                    return (p, a, q, b)
    return None


def check_design(playlists, clips, *, R, K, seed, training=(), gold=(), rate=0.0):
    """Assert invariants 1-6 of the module docstring."""
    where = {clip_id: pair for pair, clip_id in clips.items()}
    systems = sorted({s for s, _ in clips})
    per_sentence = Counter(j for _, j in clips)
    n_sentences = len(per_sentence)
    complete = len(clips) == len(systems) * n_sentences

    # 1. Every clip is a test item in exactly R playlists.
    per_clip = Counter(item.clip_id for p in playlists for item in rated(p))
    assert per_clip == {clip_id: R for clip_id in clips.values()}

    # 2. No sentence twice among a playlist's test items.
    for playlist in playlists:
        sentences = [where[item.clip_id][1] for item in rated(playlist)]
        assert len(sentences) == len(set(sentences))

    # 4. Number and lengths of playlists.
    lengths = [len(rated(p)) for p in playlists]
    expected_n = max(
        math.ceil(R * len(clips) / min(K, n_sentences)), R * max(per_sentence.values())
    )
    assert len(playlists) == expected_n
    assert max(lengths) - min(lengths) <= 1
    assert max(lengths) <= min(K, n_sentences)
    assert lengths == sorted(lengths, reverse=True)  # the longer ones first

    # 3. Balance: exact in complete designs, a local optimum in every design.
    if complete:
        for playlist in playlists:
            counts = system_counts(playlist, where, systems)
            assert max(counts) - min(counts) <= 1
            if len(rated(playlist)) <= len(systems):
                assert max(counts) <= 1
        # Any prefix of playlists leaves the clips' rating counts within one of each other.
        so_far: Counter = Counter({clip_id: 0 for clip_id in clips.values()})
        for playlist in playlists:
            so_far.update(item.clip_id for item in rated(playlist))
            assert max(so_far.values()) - min(so_far.values()) <= 1
    assert improving_exchange(playlists, clips) is None

    # 5. Indices, seeds, training first.
    assert [p.index for p in playlists] == list(range(len(playlists)))
    for playlist in playlists:
        assert playlist.seed == playlist_seed(seed, playlist.index)
        head = playlist.items[: len(training)]
        assert head == [PlannedItem(c, "training") for c in training]
        assert all(item.purpose != "training" for item in playlist.items[len(training) :])

    # 6. Attention checks.
    gold_scores = dict(gold)
    for playlist in playlists:
        body = playlist.items[len(training) :]
        tests = rated(playlist)
        own = {item.clip_id for item in tests}
        golds = [item for item in body if item.purpose == "gold"]
        repeats = [(i, item) for i, item in enumerate(body) if item.purpose == "repeat"]
        for item in golds:
            assert item.expected_score == gold_scores[item.clip_id]
            assert item.clip_id not in own
        assert len({item.clip_id for item in golds}) == len(golds)
        assert len({item.clip_id for _, item in repeats}) == len(repeats)
        for i, item in repeats:
            assert item.expected_score is None
            first = next(
                k
                for k, other in enumerate(body)
                if other.purpose == "test" and other.clip_id == item.clip_id
            )
            assert i - first >= REPEAT_MIN_DISTANCE
        n_checks = len(golds) + len(repeats)
        wanted = max(1, round(rate * len(tests))) if rate > 0 else 0
        assert n_checks <= wanted
        if len(tests) >= wanted + 2:
            # Always room for repeats then; gold, when there is some, comes first.
            assert n_checks == wanted
            usable_gold = [g for g in gold_scores if g not in own]
            assert len(golds) == min(len(usable_gold), math.ceil(wanted / 2))


# --- properties over random shapes ------------------------------------------------------------


@st.composite
def shapes(draw):
    """A random clip table and the keyword options of ``design_playlists`` to lay it out with."""
    n_systems = draw(st.integers(1, 12))
    n_sentences = draw(st.integers(1, 60))
    missing = draw(st.sampled_from([0.0, 0.0, 0.05, 0.3, 0.7]))
    clips = make_clips(n_systems, n_sentences, missing=missing, seed=draw(st.integers(0, 999)))
    with_checks = draw(st.booleans())
    options = {
        "ratings_per_clip": draw(st.integers(1, 10)),
        "clips_per_listener": draw(st.integers(1, 40)),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "attention_check_rate": draw(st.sampled_from([0.1, 0.25, 0.5])) if with_checks else 0.0,
        "gold": (
            [(900_000 + i, draw(st.integers(1, 5))) for i in range(draw(st.integers(0, 4)))]
            if with_checks
            else []
        ),
        "training": [800_000 + i for i in range(draw(st.integers(0, 3)))],
    }
    return clips, options


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes())
def test_every_invariant_holds_for_random_shapes(shape):
    clips, options = shape
    options = dict(options)
    R, K = options.pop("ratings_per_clip"), options.pop("clips_per_listener")
    design(clips, R, K, **options)


@settings(max_examples=40, deadline=None)
@given(shapes())
def test_same_inputs_and_seed_give_the_same_design(shape):
    clips, options = shape
    first = design_playlists(clips=clips, **options)
    # The order in which the clips are listed does not matter either.
    shuffled = list(clips.items())
    random.Random(options["seed"]).shuffle(shuffled)
    second = design_playlists(clips=dict(shuffled), **options)
    assert first == second


# --- named shapes -----------------------------------------------------------------------------


def design(clips, R, K, seed=7, **kwargs):
    playlists = design_playlists(
        clips=clips, ratings_per_clip=R, clips_per_listener=K, seed=seed, **kwargs
    )
    check_design(
        playlists,
        clips,
        R=R,
        K=K,
        seed=seed,
        training=kwargs.get("training", ()),
        gold=kwargs.get("gold", ()),
        rate=kwargs.get("attention_check_rate", 0.0),
    )
    return playlists


def test_remainder_is_spread_over_playlists_not_left_in_the_last():
    # 3 systems x 7 sentences x R=2 = 42 items, K=5: 9 playlists of 5,5,5,5,5,5,4,4,4.
    playlists = design(make_clips(3, 7), R=2, K=5)
    assert [len(rated(p)) for p in playlists] == [5] * 6 + [4] * 3


def test_playlists_shorter_than_systems_hold_each_system_at_most_once():
    clips = make_clips(7, 9)
    playlists = design(clips, R=3, K=4)
    summary = summarize_design(playlists, clips=clips)
    assert all(max(counts.values()) == 1 for counts in summary["systems_per_playlist"])


def test_clips_per_listener_above_the_sentence_count_is_capped_and_said():
    clips = make_clips(2, 3)
    shape = design_shape(clips=clips, ratings_per_clip=2, clips_per_listener=10)
    assert shape.effective_clips_per_listener == 3
    assert any("more than the number of sentences" in note for note in shape.notes)
    playlists = design(clips, R=2, K=10)
    assert [len(rated(p)) for p in playlists] == [3, 3, 3, 3]


def test_a_single_sentence_gives_one_item_playlists():
    playlists = design(make_clips(4, 1), R=3, K=5)
    assert len(playlists) == 12
    assert all(len(rated(p)) == 1 for p in playlists)


def test_full_playlists_when_systems_do_not_divide_sentences():
    # K >= N: every playlist holds every sentence; lcm(4, 6) = 12 is not N, so the closed form
    # crosses a block boundary only at a playlist boundary.
    clips = make_clips(4, 6)
    playlists = design(clips, R=2, K=6)
    assert [len(rated(p)) for p in playlists] == [6] * 8


def test_a_sentence_with_many_clips_sets_the_number_of_playlists():
    # Sentence 0 has all four systems, the other nine only system 0: each of its clips needs
    # two playlists of its own, so 8 playlists even though 26 items would fit in 3 of 10.
    clips = {(s, 0): 100 + s for s in range(4)}
    clips.update({(0, j): 200 + j for j in range(1, 10)})
    shape = design_shape(clips=clips, ratings_per_clip=2, clips_per_listener=10)
    assert shape.n_playlists == 8
    assert any("needs 8 playlists" in note for note in shape.notes)
    playlists = design(clips, R=2, K=10)
    assert [len(rated(p)) for p in playlists] == [4, 4, 3, 3, 3, 3, 3, 3]


def test_a_system_with_one_clip_cannot_be_everywhere_but_everything_else_holds():
    clips = {("A", j): j for j in range(10)} | {("B", 0): 99}
    playlists = design(clips, R=1, K=2)
    assert len(playlists) == 6
    holding_b = [p for p in playlists if 99 in p.test_clip_ids]
    assert len(holding_b) == 1


def test_one_missing_clip_keeps_every_playlist_nearly_balanced():
    clips = make_clips(6, 30)
    del clips[(100, 5000)]
    playlists = design(clips, R=4, K=12)
    summary = summarize_design(playlists, clips=clips)
    # Counts 2 per system are the target (12 / 6); a missing clip costs at most one more.
    assert summary["max_system_spread"] <= 2


def test_attention_checks_alternate_gold_and_repeats():
    clips = make_clips(4, 20)
    gold = [(900, 1), (901, 5), (902, 1)]
    playlists = design(clips, R=2, K=20, training=[800, 801], gold=gold, attention_check_rate=0.25)
    for playlist in playlists:
        purposes = Counter(item.purpose for item in playlist.items)
        assert purposes == {"training": 2, "test": 20, "gold": 3, "repeat": 2}
        assert [item.clip_id for item in playlist.items[:2]] == [800, 801]


def test_without_gold_every_check_is_a_repeat():
    playlists = design(make_clips(3, 10), R=1, K=10, attention_check_rate=0.3)
    for playlist in playlists:
        assert Counter(item.purpose for item in playlist.items) == {"test": 10, "repeat": 3}


def test_too_short_for_a_repeat_and_no_gold_means_no_check():
    playlists = design(make_clips(2, 2), R=1, K=2, attention_check_rate=0.4)
    assert all(len(p.items) == 2 for p in playlists)
    summary = summarize_design(playlists)
    assert all(checks["repeat"] == checks["gold"] == 0 for checks in summary["checks"])


def test_check_positions_vary_between_playlists():
    clips = make_clips(5, 40)
    playlists = design(clips, R=2, K=20, gold=[(900, 1), (901, 5)], attention_check_rate=0.2)
    positions = {
        tuple(i for i, item in enumerate(p.items) if item.purpose != "test") for p in playlists
    }
    assert len(positions) > len(playlists) // 2


def test_a_different_seed_gives_a_different_order():
    clips = make_clips(4, 30)
    a = design_playlists(clips=clips, ratings_per_clip=3, clips_per_listener=12, seed=1)
    b = design_playlists(clips=clips, ratings_per_clip=3, clips_per_listener=12, seed=2)
    assert [p.seed for p in a] != [p.seed for p in b]
    assert [[i.clip_id for i in p.items] for p in a] != [[i.clip_id for i in p.items] for p in b]


def test_order_within_a_playlist_is_shuffled():
    clips = make_clips(3, 40)
    playlists = design(clips, R=1, K=40)
    orders = [[item.clip_id for item in p.items] for p in playlists]
    assert any(order != sorted(order) for order in orders)


def test_summary_counts_ratings_and_systems():
    clips = make_clips(3, 6)
    playlists = design(clips, R=2, K=3)
    summary = summarize_design(playlists, clips=clips)
    assert summary["n_playlists"] == 12
    assert set(summary["ratings_per_clip"].values()) == {2}
    assert summary["repeated_sentences"] == 0
    assert summary["max_system_spread"] == 0
    assert all(sum(c.values()) == 3 for c in summary["systems_per_playlist"])


def test_a_large_study_is_exact():
    # The largest shape the design is sized for (20 systems x 500 sentences x R=8), exact.
    clips = make_clips(20, 500)
    playlists = design_playlists(clips=clips, ratings_per_clip=8, clips_per_listener=20, seed=3)
    summary = summarize_design(playlists, clips=clips)
    assert summary["n_playlists"] == 4000
    assert set(summary["ratings_per_clip"].values()) == {8}
    assert summary["max_system_spread"] == 0
    assert summary["repeated_sentences"] == 0


# --- inputs that admit no design --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(clips={}), "no clips"),
        (dict(ratings_per_clip=0), "ratings_per_clip is 0"),
        (dict(clips_per_listener=0), "clips_per_listener is 0"),
        (dict(gold=[(900, 6)]), "expects score 6"),
        (dict(gold=[(900,)]), "not a (clip_id, expected_score) pair"),
        (dict(gold=[(900, 1), (900, 5)]), "listed with two expected scores"),
        (dict(attention_check_rate=1.0), "attention_check_rate is 1.0"),
        (dict(attention_check_rate=-0.1), "attention_check_rate is -0.1"),
        (dict(clips={(1, 1): 5, (2, 1): 5}), "Clip 5 is given for both"),
        (dict(clips={1: 5}), "not a (system_id, sentence_id) pair"),
    ],
)
def test_impossible_inputs_are_refused_with_the_cause(kwargs, message):
    args = dict(clips=make_clips(2, 3), ratings_per_clip=2, clips_per_listener=3, seed=1)
    args.update(kwargs)
    with pytest.raises(DesignError, match=message.replace("(", r"\(").replace(")", r"\)")):
        design_playlists(**args)


def test_design_error_is_a_value_error():
    assert issubclass(DesignError, ValueError)


# --- the order of the attention checks: repeat or gold, and where a repeat goes ---------------


def _repeat_follows_its_test(items) -> None:
    for i, item in enumerate(items):
        if item.purpose == "repeat":
            first = next(
                k for k, o in enumerate(items) if o.purpose == "test" and o.clip_id == item.clip_id
            )
            assert first < i and i - first >= REPEAT_MIN_DISTANCE


def test_a_repeat_is_tried_before_gold_on_its_turn_even_with_gold_left():
    """Checks alternate gold, repeat, gold, …: on a repeat's turn the repeat comes first, even
    though unused gold remains; the repeat sits after its test item, never before it."""
    gold = [(900 + i, 1 + i % 5) for i in range(10)]
    for seed in range(20):
        items = _order_playlist(
            list(range(1, 11)), seed=seed, training=[], gold=gold, attention_check_rate=0.4
        )
        assert Counter(item.purpose for item in items) == {"test": 10, "gold": 2, "repeat": 2}
        _repeat_follows_its_test(items)


def test_a_repeat_with_no_room_after_its_test_falls_back_to_gold():
    """Two test items: after the first gold check, a repeat fits only if a test item opens
    the playlist (it must come REPEAT_MIN_DISTANCE later). When none does, the repeat's turn
    goes to gold rather than placing the repeat before, or too close to, its test item."""
    gold = [(900, 1), (901, 5), (902, 1)]
    outcomes = set()
    for seed in range(40):
        items = _order_playlist([1, 2], seed=seed, training=[], gold=gold, attention_check_rate=0.9)
        purposes = Counter(item.purpose for item in items)
        assert purposes["test"] == 2 and purposes["gold"] + purposes["repeat"] == 2
        _repeat_follows_its_test(items)
        outcomes.add((purposes["gold"], purposes["repeat"]))
    # Both branches ran: a repeat where it fitted, gold where it did not.
    assert outcomes == {(1, 1), (2, 0)}


# --- Practice clips ---------------------------------------------------------------------------


def test_pick_training_spans_the_tiers_and_avoids_the_playlists_own_clips():
    best = [(100 + j, j) for j in range(6)]
    middle = [(200 + j, j) for j in range(6)]
    worst = [(300 + j, j) for j in range(6)]
    rng = random.Random(1)
    picked = pick_training(
        [best, middle, worst], 2, avoid_clips={100, 101, 300}, avoid_sentences={0, 1}, rng=rng
    )
    assert picked[0] in {c for c, _ in best} and picked[1] in {c for c, _ in worst}
    assert not {100, 101, 300} & set(picked)
    assert len({c % 100 for c in picked}) == 2  # different sentences
    assert all(c % 100 not in (0, 1) for c in picked)  # spare sentences preferred
    three = pick_training(
        [best, middle, worst], 3, avoid_clips=set(), avoid_sentences=set(), rng=rng
    )
    assert [c // 100 for c in three] == [1, 3, 2]
    draws = {
        tuple(
            pick_training(
                [best, worst], 2, avoid_clips=set(), avoid_sentences=set(), rng=random.Random(seed)
            )
        )
        for seed in range(20)
    }
    assert len(draws) > 5  # listeners get different practice clips
