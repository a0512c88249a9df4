"""What the simulation harnesses (``test_simulation*.py``) count and hold the same way: how
often a study's 95 % intervals hold the true value and the Monte-Carlo error of that share,
studies with a false positive among the true nulls, and the bands every harness holds these
and its screening to. This module holds no tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Tally:
    """Intervals that held the truth, over all studies and study by study; the studies run and
    those where a true null came out significant. A harness's tally extends it."""

    covered: int = 0
    intervals: int = 0
    per_study: list = field(default_factory=list)  # (covered, intervals) of every study
    studies: int = 0
    false_any: int = 0


def coverage_count(
    tally: Tally, study: Iterable[tuple[tuple[float | None, float | None], float]]
) -> None:
    """Add one study's ``(interval, true value)`` pairs; an interval the report could not give
    (``(None, None)``) is not counted."""
    covered = intervals = 0
    for (lo, hi), true in study:
        if lo is not None:
            covered += lo <= true <= hi
            intervals += 1
    tally.covered += covered
    tally.intervals += intervals
    tally.per_study.append((covered, intervals))


def coverage_mc_error(tally: Tally) -> float:
    """Monte-Carlo SE of the pooled coverage, clustered by study: a study's intervals share its
    listeners and sentences, so they are not independent draws (the binomial SE over intervals
    understates the error). Never below the binomial SE."""
    covered, intervals = np.array(tally.per_study, dtype=float).T
    share = covered.sum() / intervals.sum()
    n = len(covered)
    clustered = math.sqrt(((covered - share * intervals) ** 2).sum() * n / max(n - 1, 1))
    return max(clustered / intervals.sum(), mc_error(share, int(intervals.sum())))


def mc_error(p: float, n: int) -> float:
    """Binomial Monte-Carlo SE of a share ``p`` over ``n`` draws."""
    return math.sqrt(max(p * (1 - p), 1e-9) / max(n, 1))


def assert_coverage_in_band(name: str, share: float, se: float, *, slack: float = 0.0) -> None:
    """93-97 % coverage. Where the study-clustered Monte-Carlo SE exceeds 0.8 % (about the
    binomial SE of 700 intervals), the band widens by two SEs of the excess: an allowance for
    Monte-Carlo error, not for a method that under-covers."""
    widen = 2 * max(se - 0.008, 0)
    assert 0.93 - slack - widen <= share <= 0.97 + slack + widen, (name, share)


def assert_fwer_at_most_5_percent(name: str, tally: Tally, *, slack: float = 0.0) -> None:
    """The family-wise false-positive rate over the true nulls, with two binomial SEs of 5 %
    as the Monte-Carlo allowance."""
    fwer = tally.false_any / tally.studies
    assert fwer <= 0.05 + 2 * mc_error(0.05, tally.studies) + slack, (name, fwer)


def assert_screening(
    name: str, tally: Tally, *, should_go: int, should_stay: int, recall: float, slack: float
) -> None:
    """The screening excluded (``tally.caught``) at least ``recall`` of the ``should_go``
    listeners (judged only from 20 of them) and wrongly (``tally.wrongly``) at most 5 % of the
    ``should_stay`` listeners."""
    if should_go >= 20:
        assert tally.caught / should_go >= recall - slack, (name, tally.caught / should_go)
    assert tally.wrongly / should_stay <= 0.05 + slack, (name, tally.wrongly / should_stay)


def assert_targets(name: str, tally: Tally, *, slack: float, **screening) -> None:
    """Every target of a harness that also screens: coverage in its band, the family-wise
    error rate, and the screening (``screening`` as :func:`assert_screening` takes it)."""
    assert_coverage_in_band(
        name, tally.covered / tally.intervals, coverage_mc_error(tally), slack=slack
    )
    assert_fwer_at_most_5_percent(name, tally, slack=slack)
    assert_screening(name, tally, slack=slack, **screening)
