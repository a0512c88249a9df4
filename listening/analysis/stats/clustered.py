"""Two-way clustered intervals (listeners x sentences) for the mean of any real-valued column.

Where it sits: the transcription (error-rate ratio estimators, linearised) and follow-up
(proportions of yes) analyses need the MOS report's variance machinery (``variance``: CR2 per
dimension, Cameron-Gelbach-Miller combination, Bell-McCaffrey df) for values that are not
1-5 ratings. That machinery is written for the 1-5 scale (it also counts a histogram of the
scores), so the values enter it mapped affinely into 1-5 and the variance is mapped back: a
mean is linear in the values, so the variance scales exactly with the square of the map's
slope, and nothing of the estimator changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .table import Coded
from .variance import contrast_variance, system_parts, t_quantile


@dataclass(frozen=True)
class GroupMean:
    """One group's mean with its two-way clustered standard error and df (NaN if not estimable)."""

    group: str
    n: int
    mean: float
    se: float
    df: float

    def half_width(self) -> float | None:
        """Half the 95 % interval's width; None when the variance is not estimable."""
        if self.se == 0:
            return 0.0
        if not (math.isfinite(self.se) and math.isfinite(self.df)):
            return None
        return float(t_quantile(self.df)) * self.se

    def interval(self, *, low: float | None = None, high: float | None = None) -> list:
        """The 95 % interval [lo, hi] (None, None when not estimable), cut at ``low``/``high``."""
        half = self.half_width()
        if half is None:
            return [None, None]
        lo, hi = self.mean - half, self.mean + half
        if low is not None:
            lo = max(lo, low)
        if high is not None:
            hi = min(hi, high)
        return [float(lo) + 0.0, float(hi) + 0.0]


def clustered_group_means(
    listener: pd.Series | np.ndarray,
    sentence: pd.Series | np.ndarray,
    group: pd.Series | np.ndarray,
    values: np.ndarray,
    groups: list[str] | None = None,
) -> list[GroupMean]:
    """Per group, the mean of ``values`` with the two-way (listener, sentence) clustered SE.

    ``groups`` fixes the order (default: order of first appearance); a group without rows has
    n = 0 and NaN mean. The SE is NaN when fewer than two listeners or sentences vary."""
    values = np.asarray(values, dtype=np.float64)
    listener_codes, listener_names = pd.factorize(np.asarray(listener), sort=False)
    sentence_codes, sentence_names = pd.factorize(np.asarray(sentence), sort=False)
    group = np.asarray(group).astype(str)
    names = list(groups) if groups is not None else list(pd.unique(group))
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    slope = 4.0 / (hi - lo) if hi > lo else 1.0
    coded = Coded(
        listener=np.asarray(listener_codes, dtype=np.int64),
        sentence=np.asarray(sentence_codes, dtype=np.int64),
        system=pd.Index(names).get_indexer(group).astype(np.int64),
        score=1.0 + (values - lo) * slope,
        listener_names=[str(x) for x in listener_names],
        sentence_names=[str(x) for x in sentence_names],
        system_names=names,
        system_kinds=[""] * len(names),
    )
    known = coded.system >= 0
    coded = coded.subset(known)
    values = values[known]
    parts = system_parts(coded)
    out = []
    for k, name in enumerate(names):
        rows = coded.system == k
        n = int(rows.sum())
        if n == 0:
            out.append(GroupMean(name, 0, math.nan, math.nan, math.nan))
            continue
        mean = float(values[rows].mean())
        if np.ptp(values[rows]) == 0:
            # Every value equal: the variance is exactly 0 (not the round-off of the mapping).
            out.append(GroupMean(name, n, mean, 0.0, math.nan))
            continue
        cv = contrast_variance(parts, {k: 1.0})
        se = math.sqrt(cv.variance) / slope if math.isfinite(cv.variance) else math.nan
        out.append(GroupMean(name, n, mean, se, float(cv.df)))
    return out
