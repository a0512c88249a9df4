"""Numbers the stats tests work out by hand, from their definitions, to compare with what the
report computes its own way. This module holds no tests.
"""

from __future__ import annotations

import pandas as pd


def crossed_cgm_variance(rows: pd.DataFrame, residuals: pd.Series) -> float:
    """The two-way clustered variance of a mean over ``rows`` (columns ``listener`` and
    ``sentence``), fully crossed with one answer per cell, from sums of ``residuals``: there
    CR2 equals Cameron, Gelbach and Miller's G/(G-1) correction per dimension, so the variance
    is V_listener + V_sentence - V_cell."""
    n = len(rows)

    def one_way(keys: pd.Series) -> float:
        sums = residuals.groupby(keys).sum()
        g = len(sums)
        return g / (g - 1) * float((sums**2).sum()) / n**2

    return (
        one_way(rows["listener"])
        + one_way(rows["sentence"])
        - one_way(rows["listener"] + "|" + rows["sentence"])
    )
