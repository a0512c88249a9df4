"""Listening-test statistics: a table of ratings in, numbers out.

Where this sits: the site (``listening.analysis.selectors.study_ratings_frame``), the ``mos_report``
command and offline analysis of a ratings CSV all build one pandas DataFrame and call
:func:`build_report`; ``listening.analysis.render`` turns the result into JSON, CSV or HTML. Nothing here
imports Django, touches a database or draws random numbers, so the same table always gives the
same report.

Input, one row per rating:

=================  =========================================================================
listener           who rated (any identifier; treated as text)
sentence           which sentence the clip speaks (text)
system             which system made the clip (text)
score              integer 1–5, the ACR scale of ITU-T P.800 (1 Bad … 5 Excellent)
clip               optional; the rated clip. Without it a clip is (system, sentence).
purpose            optional; "test" (default), "gold", "repeat" or "training" (dropped)
expected_score     gold rows: the answer an attentive listener gives
response_seconds   optional; time from the end of the first full play (when the listener
                   could first answer) to the answer
system_kind        optional; "voice", "uploaded", "reference" or "anchor"
is_low_anchor      optional; anchors that should sound bad (used by the anchor rule)
=================  =========================================================================

What it computes (the ``method`` entry of the report explains each point for a reviewer):

* per system: n, MOS, SD, median, histogram, the classic 95 % Student-t interval over ratings
  (ITU-T P.800 / P.808 practice) and a 95 % interval that respects that ratings are clustered
  by listener *and* by sentence: the two-way cluster-robust variance of Cameron, Gelbach &
  Miller (2011), "Robust inference with multiway clustering", J. Business & Economic
  Statistics 29(2), each one-way term CR2 with Bell & McCaffrey (2002) degrees of freedom;
  both intervals on the logit of the scale position, so they stay inside 1–5;
* pairwise comparisons: a t test on the two-way clustered difference of MOS (the same
  machinery, the difference as a linear contrast), Holm (1979) correction across all pairs,
  a 95 % interval and a Holm-compatible interval that agree with the tests exactly, and
  Cliff's delta as a descriptive effect size;
* listener screening in the style of ITU-T P.808 (gold questions, repeated clips, straight-
  lining, reference/anchor plausibility, answer speed, agreement with the crowd), calibrated
  to the study, reported per listener with each rule's effect, and applied switchably: every
  result is given with and without the exclusions;
* per-sentence and per-listener tables and the ratings still needed for a target interval
  half-width (point estimate and 80 % upper bound, split by listener and sentence variance).

docs/statistics.md explains each method and its reference, with the simulation table.

Modules: ``table`` (input checks, CSV, integer coding), ``variance`` (the clustered variance),
``mos`` (per-system summaries), ``pairwise`` (comparisons, Holm), ``screening`` (applies the
rules defined once in ``listening.screening``), ``report`` (everything together).

The comparative tests (CCR, AB, ABX, SMOS): :func:`build_test_report` ``(frame, test, *, rules,
reference, system_order, manual_exclusions)`` gives the report of any test type ("acr" is
:func:`build_report` unchanged), :func:`read_comparison_csv` / :func:`validate_comparison`
read and check their tables (columns in ``comparison_table``). Modules: ``comparison_table``,
``means`` (clustered mean of answers per group, test against a null), ``ccr`` (CMOS, order
effect), ``preference`` (AB, ABX), ``bradley_terry`` (ranking), ``smos``,
``comparative_screening`` and ``comparative`` (the report).
rules defined once in ``listening.screening``), ``report`` (everything together). Other test
types have their own entry points beside it: ``mushra`` (ITU-R BS.1534-3), ``transcription``
(word and character error rates; ``wording`` normalises the texts), ``followups`` (yes/no
follow-up questions on any test type) and ``clustered`` (the clustered interval of any mean).
"""

from listening.screening import ScreeningRules

from .comparative import TESTS, build_test_report
from .comparison_table import COLUMNS as COMPARISON_COLUMNS
from .comparison_table import read_comparison_csv, validate_comparison
from .mos import mos_summary
from .pairwise import holm_adjust, pairwise_tests, significance_matrix
from .report import METHOD, build_report
from .screening import screen_listeners
from .table import REQUIRED_COLUMNS, read_ratings_csv, validate_ratings
from .variance import CI_LEVEL

__all__ = [
    "CI_LEVEL",
    "COMPARISON_COLUMNS",
    "TESTS",
    "build_test_report",
    "read_comparison_csv",
    "validate_comparison",
    "METHOD",
    "REQUIRED_COLUMNS",
    "ScreeningRules",
    "build_report",
    "holm_adjust",
    "mos_summary",
    "pairwise_tests",
    "read_ratings_csv",
    "screen_listeners",
    "significance_matrix",
    "validate_ratings",
]
