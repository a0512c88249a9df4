"""MUSHRA and transcription designs (listening/participation/design_mushra.py): each promise of
the module docstring, over random shapes."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listening.participation.design import DesignError
from listening.participation.design_mushra import (
    ANCHOR,
    HIDDEN_REFERENCE,
    REFERENCE,
    TEST,
    MushraSentence,
    design_mushra,
    design_transcription,
    mushra_anchor_ids,
)


def sentences_of(n_systems: int, n_sentences: int, *, n_anchors: int, reference: bool):
    """Ids unlike indices: systems 100+, sentences 5000+, clips 10 000+."""
    out = {}
    for j in range(n_sentences):
        sentence = 5000 + 7 * j
        out[sentence] = MushraSentence(
            systems={100 + s: 10_000 + 100 * s + j for s in range(n_systems)},
            reference=90_000 + j if reference else None,
            reference_system=99 if reference else None,
            anchors=[(200 + a, 80_000 + 100 * a + j) for a in range(n_anchors)],
        )
    return out


shapes = st.fixed_dictionaries(
    {
        "n_systems": st.integers(1, 14),
        "n_sentences": st.integers(1, 12),
        "n_anchors": st.integers(0, 2),
        "reference": st.booleans(),
        "ratings_per_clip": st.integers(1, 6),
        "trials_per_listener": st.integers(1, 15),
        "conditions_per_page": st.integers(4, 12),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes)
def test_every_promise_holds_for_random_shapes(shape):
    sentences = sentences_of(
        shape["n_systems"],
        shape["n_sentences"],
        n_anchors=shape["n_anchors"],
        reference=shape["reference"],
    )
    playlists = design_mushra(
        sentences=sentences,
        ratings_per_clip=shape["ratings_per_clip"],
        trials_per_listener=shape["trials_per_listener"],
        conditions_per_page=shape["conditions_per_page"],
        seed=shape["seed"],
    )
    counts: Counter = Counter()
    lengths = [len(p.trials) for p in playlists]
    assert max(lengths) - min(lengths) <= 1
    assert max(lengths) <= min(shape["trials_per_listener"], shape["n_sentences"]) or (
        # More trials of one sentence than the listeners' share: more, shorter playlists.
        max(lengths) <= shape["n_sentences"]
    )
    for playlist in playlists:
        heard = [t.sentence_id for t in playlist.trials]
        assert len(heard) == len(set(heard)), "a listener hears a sentence at most once"
        for trial in playlist.trials:
            sentence = sentences[trial.sentence_id]
            roles = [c.role for c in trial.clips]
            rated = trial.rated
            assert len(rated) <= shape["conditions_per_page"]
            if shape["reference"]:
                assert roles[0] == REFERENCE, "the open reference is the page's first button"
                assert roles.count(REFERENCE) == 1 and roles.count(HIDDEN_REFERENCE) == 1
                assert trial.clips[0].clip_id == sentence.reference
                hidden = next(c for c in rated if c.role == HIDDEN_REFERENCE)
                assert hidden.clip_id == sentence.reference
            else:
                assert REFERENCE not in roles and HIDDEN_REFERENCE not in roles
            assert roles.count(ANCHOR) == shape["n_anchors"], "anchors are on every page"
            tested = [c.system_id for c in rated if c.role == TEST]
            assert len(tested) == len(set(tested)), "a system once per page"
            for c in rated:
                if c.role == TEST:
                    assert sentence.systems[c.system_id] == c.clip_id
                    counts[c.system_id, trial.sentence_id] += 1
    for sentence_id, sentence in sentences.items():
        per_system = [counts[s, sentence_id] for s in sentence.systems]
        assert min(per_system) >= shape["ratings_per_clip"], "target counts met"
        assert max(per_system) - min(per_system) <= 1, "every condition equally often"


def test_the_same_seed_gives_the_same_design_and_another_seed_another_order():
    sentences = sentences_of(6, 5, n_anchors=2, reference=True)
    kwargs = dict(
        sentences=sentences, ratings_per_clip=3, trials_per_listener=5, conditions_per_page=12
    )

    def layout(seed):
        return [
            [(t.sentence_id, [(c.role, c.clip_id) for c in t.clips]) for t in p.trials]
            for p in design_mushra(seed=seed, **kwargs)
        ]

    assert layout(7) == layout(7)
    assert layout(7) != layout(8)
    # The conditions' order differs between trials (randomised per trial), not one fixed order.
    orders = {
        tuple(c.role for c in t.clips) for p in design_mushra(seed=7, **kwargs) for t in p.trials
    }
    assert len(orders) > 1


@pytest.mark.parametrize(
    ("n_systems", "n_sentences", "per_listener", "per_page", "seed", "tests", "trials", "lists"),
    [
        # 1 hidden reference + 2 anchors + 8 systems = 11 rated: all of them fit one page.
        (8, 3, 3, 12, 1, 8, 6, 2),
        # 8 places minus the hidden reference and two anchors: 5 systems a page, 10 systems
        # rated twice on each sentence = 4 trials per sentence, 16 trials, 4 playlists of 4.
        (10, 4, 4, 8, 3, 5, 16, 4),
    ],
    ids=["all conditions fit one page", "a subset per page when the systems do not fit"],
)
def test_a_page_holds_every_condition_or_as_many_systems_as_fit(
    n_systems, n_sentences, per_listener, per_page, seed, tests, trials, lists
):
    playlists = design_mushra(
        sentences=sentences_of(n_systems, n_sentences, n_anchors=2, reference=True),
        ratings_per_clip=2,
        trials_per_listener=per_listener,
        conditions_per_page=per_page,
        seed=seed,
    )
    every_trial = [t for p in playlists for t in p.trials]
    assert all(len(t.rated) == tests + 3 for t in every_trial)
    assert all(sum(c.role == TEST for c in t.clips) == tests for t in every_trial)
    assert len(every_trial) == trials and len(playlists) == lists
    assert all(len(p.trials) == per_listener for p in playlists)


@pytest.mark.parametrize(
    ("n_anchors", "reference", "conditions_per_page", "message"),
    [(2, True, 3, "mushra_conditions_per_page"), (0, False, 13, "at most 12")],
)
def test_a_page_without_room_for_a_system_is_refused_with_the_fix(
    n_anchors, reference, conditions_per_page, message
):
    with pytest.raises(DesignError, match=message):
        design_mushra(
            sentences=sentences_of(3, 2, n_anchors=n_anchors, reference=reference),
            ratings_per_clip=1,
            trials_per_listener=2,
            conditions_per_page=conditions_per_page,
            seed=0,
        )


def test_the_mid_anchor_is_left_out_unless_the_study_wants_it():
    anchors = [(1, 3500.0), (2, 7000.0), (3, None)]
    assert mushra_anchor_ids(anchors, mid_anchor=True) == [1, 2, 3]
    assert mushra_anchor_ids(anchors, mid_anchor=False) == [1, 3]


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 6), st.integers(1, 10), st.integers(1, 5), st.integers(1, 12), st.integers(0, 99)
)
def test_transcription_trials_give_every_clip_its_listeners_and_a_sentence_once(
    n_systems, n_sentences, ratings, per_listener, seed
):
    clips = {
        (s, 1000 + j): 10_000 + 100 * s + j for s in range(n_systems) for j in range(n_sentences)
    }
    playlists = design_transcription(
        clips=clips, ratings_per_clip=ratings, clips_per_listener=per_listener, seed=seed
    )
    sentence_of = {clip: sentence for (_s, sentence), clip in clips.items()}
    counts = Counter()
    for p in playlists:
        assert {i.purpose for i in p.items} == {"test"}, "no ACR attention checks"
        heard = [sentence_of[i.clip_id] for i in p.items]
        assert len(heard) == len(set(heard))
        counts.update(i.clip_id for i in p.items)
    assert set(counts.values()) == {ratings} and set(counts) == set(clips.values())
