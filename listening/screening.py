"""Listener screening: the one definition of every rule and every threshold.

Each test type has one table, a :class:`RuleSet`, that states each of its rules once: the
settings (default, range, label, help) with their validation (:meth:`RuleSet.clean`), and the
rules that fire (label, what each checks, the reason text for one listener).
:data:`ACR_SCREENING` serves ACR and SMOS (rated on a 1-5 scale), :data:`COMPARATIVE_SCREENING`
CCR, AB and ABX (the same settings, judged on the answers these tests ask for) and
:data:`MUSHRA_SCREENING` the post-screening of MUSHRA (ITU-R BS.1534-3).

Where it sits: a study's ``screening`` JSON holds the thresholds defined here; the study
services validate it with :func:`screening_clean`, the settings form draws its fields from
:data:`SETTINGS`, the statistics (``listening.analysis.stats.screening``) apply a rule set's
rules and explain each exclusion with the rule's reason text, and the report shows each rule's
label.
Nothing here imports Django, so the offline ``mos_report --ratings-csv`` path and the site use
the same rules.

The rules follow ITU-T P.808 practice (gold standard questions, repeated clips, reference and
anchor plausibility) plus the checks large crowdsourced MOS collections use (straight-lining,
answer speed, agreement with the crowd). They are calibrated to the study rather than to fixed
numbers: agreement is judged against the crowd's own distribution of agreement, gold answers
within the listener's own range of scores, and a rule that would exclude more than
``max_rule_share`` of the listeners is reported but not applied, with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any


class ScreeningRulesError(ValueError):
    """A screening setting is unknown or out of range; the message names it and the fix."""


@dataclass(frozen=True)
class Setting:
    """One threshold or switch of the screening.

    ``kind`` is "bool", "int" or "float"; ``low``/``high`` bound numbers; ``can_be_off``: None
    switches the rule off. ``label`` and ``help`` are what the settings form shows; settings
    with ``in_form=False`` are tuning knobs set through the API only."""

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    can_be_off: bool = False
    label: str = ""
    help: str = ""
    in_form: bool = True


@dataclass(frozen=True)
class Rule:
    """One reason to exclude a listener.

    ``label`` is what a report shows; ``description`` what it checks; ``reason(row, rules)``
    the sentence for one listener, with the measured value and the threshold it crossed (``row``
    has the per-listener columns of the screening table)."""

    name: str
    label: str
    description: str
    reason: Callable[[Any, Any], str]

    def explain(self, row: Any, rules: Any) -> str:
        """The line a report gives for this rule on one listener: "name: reason"."""
        return f"{self.name}: {self.reason(row, rules)}"


@dataclass(frozen=True)
class RuleSet:
    """One test type's screening: its settings and the rules they drive, each stated once.

    ``name`` is how messages name the set ("screening", "MUSHRA screening"); ``settings`` are
    the thresholds and switches a study holds, in the order the form and the report show them;
    ``rules`` the reasons to exclude a listener, in the order they are checked and reported."""

    name: str
    settings: tuple[Setting, ...]
    rules: tuple[Rule, ...]

    @cached_property
    def settings_by_name(self) -> dict[str, Setting]:
        return {s.name: s for s in self.settings}

    @property
    def rule_names(self) -> list[str]:
        return [r.name for r in self.rules]

    @property
    def labels(self) -> dict[str, str]:
        """{rule: the label a report shows}."""
        return {r.name: r.label for r in self.rules}

    @property
    def descriptions(self) -> dict[str, str]:
        """{rule: what it checks}."""
        return {r.name: r.description for r in self.rules}

    def defaults(self) -> dict[str, Any]:
        """The settings when the researcher has changed nothing.

        Numbers come in their setting's type (3.0, not 3, for a float rule), as :meth:`clean`
        returns them: otherwise the same rules, once saved and read back, print differently in
        the report JSON and an imported recipe's report is not byte-identical to its original's.
        """
        return {
            s.name: float(s.default) if s.kind == "float" and s.default is not None else s.default
            for s in self.settings
        }

    def unknown(self, rules: Mapping[str, Any] | None) -> list[str]:
        """The names in ``rules`` that are no setting of this set, sorted."""
        return sorted(str(k) for k in (rules or {}) if k not in self.settings_by_name)

    def clean(self, rules: Any) -> dict[str, Any]:
        """Settings checked and completed with defaults.

        Raises :class:`ScreeningRulesError` naming the setting and the allowed values; unknown
        names are refused (a typo must not silently switch a rule back to its default)."""
        if rules in (None, ""):
            return self.defaults()
        if not isinstance(rules, Mapping):
            raise ScreeningRulesError(
                f"{_first_upper(self.name)} rules are an object of rule: value."
            )
        unknown = self.unknown(rules)
        if unknown:
            raise ScreeningRulesError(
                f"Unknown {self.name} rule(s): {', '.join(unknown)}. "
                f"Known rules: {', '.join(self.settings_by_name)}."
            )
        cleaned = self.defaults()
        for name, value in rules.items():
            cleaned[name] = _checked(self.settings_by_name[name], value)
        return cleaned

    def reasons(self, row: Any, rules: Any) -> list[str]:
        """The reasons for every rule that fired on ``row`` ("name: text", in rule order);
        ``row`` has a true ``rule_<name>`` attribute for each rule that fired."""
        return [
            rule.explain(row, rules) for rule in self.rules if getattr(row, f"rule_{rule.name}")
        ]


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _checked(setting: Setting, value: Any) -> Any:
    name = setting.name
    if setting.kind == "bool":
        if not isinstance(value, bool):
            raise ScreeningRulesError(f"Screening rule '{name}' must be true or false.")
        return value
    if value is None and setting.can_be_off:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        off = " (or null to switch it off)" if setting.can_be_off else ""
        raise ScreeningRulesError(f"Screening rule '{name}' must be a number{off}, got {value!r}.")
    if not math.isfinite(value) or not (setting.low <= value <= setting.high):
        raise ScreeningRulesError(
            f"Screening rule '{name}' must be between {setting.low:g} and {setting.high:g}, "
            f"got {value!r}."
        )
    if setting.kind == "int":
        if int(value) != value:
            raise ScreeningRulesError(f"Screening rule '{name}' must be a whole number.")
        return int(value)
    return float(value)


# --- ACR (and SMOS) -------------------------------------------------------------------------

#: Answer speed is judged alike in every test with a response time (ACR and the comparative).
FAST_ANSWERS = Rule(
    "fast_answers",
    "Answers too fast",
    "implausibly fast answers",
    lambda row, rules: (
        f"median response {row.median_response_seconds:.2f} s "
        f"(minimum {rules.min_median_response_seconds:g} s)"
    ),
)

ACR_SCREENING = RuleSet(
    "screening",
    settings=(
        Setting(
            "enabled",
            "bool",
            True,
            label="Screen listeners",
            help="Apply the rules below in the report.",
        ),
        Setting(
            "max_gold_failures",
            "int",
            0,
            0,
            100,
            can_be_off=True,
            label="Most gold-question failures allowed",
            help="A listener answering more gold questions wrongly is excluded.",
        ),
        Setting(
            "max_repeat_difference",
            "float",
            1,
            0,
            4,
            can_be_off=True,
            label="Largest difference between a clip and its repeat",
            help="In points of the 1-5 scale; a larger difference counts as inconsistent.",
        ),
        Setting(
            "max_inconsistent_repeats",
            "int",
            1,
            0,
            100,
            can_be_off=True,
            label="Most inconsistent repeats allowed",
        ),
        Setting(
            "flag_identical_scores",
            "bool",
            True,
            label="Exclude listeners who give one score throughout",
        ),
        Setting(
            "min_reference_score",
            "float",
            3,
            1,
            5,
            can_be_off=True,
            label="Lowest acceptable mean score for the reference",
            help="A listener rating natural speech lower than this is excluded.",
        ),
        Setting(
            "max_anchor_score",
            "float",
            4,
            1,
            5,
            can_be_off=True,
            label="Highest acceptable mean score for the low anchor",
        ),
        Setting(
            "min_median_response_seconds",
            "float",
            None,
            0,
            60,
            can_be_off=True,
            label="Shortest median answer time (seconds)",
            help=(
                "Measured from the end of the clip's first full play, the moment the listener "
                "could first answer. Listening to the end is enforced, so an attentive listener "
                "using the keyboard often answers within half a second: leave this empty (off) "
                "unless your ratings come from a test that did not enforce listening to the end."
            ),
        ),
        Setting(
            "correlation_alpha",
            "float",
            0.01,
            0.0001,
            0.5,
            can_be_off=True,
            label="Significance level for disagreeing with the crowd",
            help=(
                "A listener is flagged when the correlation of their scores with the other "
                "listeners' clip means is significantly below the crowd's median (one-sided Fisher "
                "z test at this level, allowing for the crowd's own spread). Empty switches it off."
            ),
        ),
        Setting(
            "min_correlation",
            "float",
            None,
            -1,
            1,
            can_be_off=True,
            label="Lowest correlation with the other listeners (optional floor)",
            help=(
                "If set, a listener is flagged for disagreeing only when their correlation is also "
                "below this value. Empty: significance against the crowd alone decides."
            ),
        ),
        Setting(
            "max_rule_share",
            "float",
            0.2,
            0,
            1,
            can_be_off=True,
            label="Largest share of listeners one rule may exclude",
            help=(
                "A rule that would exclude more listeners than this share is not applied; the "
                "report warns and shows what it would change. Empty: apply every rule whatever it "
                "excludes."
            ),
            in_form=False,
        ),
        # Tuning knobs: always set, changed through the API only.
        # gold_tolerance is in points of the full 1-5 scale; it is scaled to each listener's own
        # range of scores (see listening.analysis.stats.screening).
        Setting("gold_tolerance", "float", 1, 0, 4, in_form=False),
        Setting("min_ratings_for_identical", "int", 5, 1, 10000, in_form=False),
        Setting("min_items_for_correlation", "int", 8, 5, 10000, in_form=False),
    ),
    rules=(
        Rule(
            "gold_failures",
            "Gold questions failed",
            "gold questions answered wrongly (judged within the listener's own range of scores)",
            lambda row, rules: (
                f"{row.gold_failures} of {row.n_gold} gold questions answered further from the "
                f"expected score than {rules.gold_tolerance:g} point(s) of the 1-5 scale, scaled "
                f"to the listener's own range {row.score_low:g}-{row.score_high:g} "
                f"(allowed {rules.max_gold_failures})"
            ),
        ),
        Rule(
            "inconsistent_repeats",
            "Inconsistent repeats",
            "repeated clips rated inconsistently",
            lambda row, rules: (
                f"{row.inconsistent_repeats} of {row.n_repeats} repeated clips differ by more than "
                f"{rules.max_repeat_difference:g} (allowed {rules.max_inconsistent_repeats})"
            ),
        ),
        Rule(
            "identical_scores",
            "One score throughout",
            "the same score for every clip",
            lambda row, rules: f"all {row.n_test} ratings are {row.mean_score:g}",
        ),
        Rule(
            "reference_low",
            "Reference rated low",
            "natural reference rated low on average",
            lambda row, rules: (
                f"natural reference rated {row.reference_mean:.2f} on average "
                f"(minimum {rules.min_reference_score:g})"
            ),
        ),
        Rule(
            "anchor_high",
            "Low anchor rated high",
            "low anchor rated high on average",
            lambda row, rules: (
                f"low anchor rated {row.anchor_mean:.2f} on average "
                f"(maximum {rules.max_anchor_score:g})"
            ),
        ),
        FAST_ANSWERS,
        Rule(
            "low_correlation",
            "Disagrees with the crowd",
            "agreement with the other listeners significantly below the crowd's",
            lambda row, rules: (
                f"r = {row.correlation:.2f} with the other listeners' clip means over "
                f"{row.n_correlation_items} clips, significantly below the "
                f"r = {row.expected_correlation:.2f} the crowd would reach with this listener's "
                f"use of the scale (z = {row.correlation_z:.2f}, one-sided "
                f"p = {row.correlation_p:.4f} < {rules.correlation_alpha:g})"
                + (
                    f" and below the floor {rules.min_correlation:g}"
                    if rules.min_correlation is not None
                    else ""
                )
            ),
        ),
    ),
)
#: The ACR settings: the study's screening field, its form and the API take these names.
SETTINGS: tuple[Setting, ...] = ACR_SCREENING.settings
default_rules = ACR_SCREENING.defaults
screening_clean = ACR_SCREENING.clean


class ScreeningRules:
    """Screening settings with attribute access (``rules.min_correlation``), for the statistics.

    Built leniently from a stored or offline dict: missing settings take defaults and unknown
    ones are ignored (the report lists them), but a wrongly typed value raises."""

    __slots__ = ("_values",)

    def __init__(self, **values: Any) -> None:
        merged = default_rules()
        for name, value in values.items():
            if name not in ACR_SCREENING.settings_by_name:
                raise TypeError(f"unknown screening setting {name!r}")
            merged[name] = _checked_type(ACR_SCREENING.settings_by_name[name], value)
        object.__setattr__(self, "_values", merged)

    @classmethod
    def from_dict(cls, rules: Mapping[str, Any] | None) -> ScreeningRules:
        if rules is None:
            return cls()
        if not isinstance(rules, Mapping):
            raise ScreeningRulesError(
                f"Screening rules must be a dict, got {type(rules).__name__}."
            )
        return cls(**{k: v for k, v in rules.items() if k in ACR_SCREENING.settings_by_name})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ScreeningRules is read-only")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScreeningRules) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        return f"ScreeningRules({self._values!r})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def _checked_type(setting: Setting, value: Any) -> Any:
    """Type check only (the statistics accept any number a study could hold)."""
    if setting.kind == "bool":
        if not isinstance(value, bool):
            raise ScreeningRulesError(
                f"Screening rule {setting.name!r} must be true or false, got {value!r}."
            )
        return value
    if value is None and setting.can_be_off:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        off = " or null" if setting.can_be_off else ""
        raise ScreeningRulesError(
            f"Screening rule {setting.name!r} must be a number{off}, got {value!r}."
        )
    return value


# --- The comparative tests (CCR, AB, ABX) ------------------------------------------------------
# The same settings, judged on the answers these tests ask for. Gold questions have a known
# answer: an identical pair in CCR expects 0 ("About the same", ITU-T P.800 Annex E) within
# gold_tolerance points of the -3..+3 scale; an anchor against the reference in AB expects the
# reference (the expected choice, or the name of the system that should be chosen); in ABX the
# right answer is X itself. Repeats are compared with the listener's own answer to the same
# two clips, whatever their order (CCR: the score turned to one clip order, differing by more
# than max_repeat_difference; AB/ABX: a different clip chosen). One answer throughout (always
# "A", always 0) is straight-lining; answer speed is judged as for ACR. SMOS is rated on a 1-5
# scale and uses the ACR rules above.

COMPARATIVE_SCREENING = RuleSet(
    "screening",
    settings=ACR_SCREENING.settings,
    rules=(
        Rule(
            "gold_failures",
            "Gold questions failed",
            "gold questions (known answer: identical pair, anchor against the reference, X) "
            "answered wrongly",
            lambda row, rules: (
                f"{row.gold_failures} of {row.n_gold} gold questions answered wrongly "
                + (
                    f"(a CCR score counts as wrong further than {rules.gold_tolerance:g} point(s) "
                    "from the expected one) "
                    if row.test == "ccr"
                    else ""
                )
                + f"(allowed {rules.max_gold_failures})"
            ),
        ),
        Rule(
            "inconsistent_repeats",
            "Inconsistent repeats",
            "repeated pairs answered inconsistently",
            lambda row, rules: (
                f"{row.inconsistent_repeats} of {row.n_repeats} repeated pairs answered "
                + (
                    f"more than {rules.max_repeat_difference:g} point(s) apart "
                    if row.test == "ccr"
                    else "with the other clip "
                )
                + f"(allowed {rules.max_inconsistent_repeats})"
            ),
        ),
        Rule(
            "identical_answers",
            "One answer throughout",
            "the same answer to every trial",
            lambda row, rules: f"all {row.n_test} answers are {row.only_answer}",
        ),
        FAST_ANSWERS,
    ),
)


# --- MUSHRA post-screening (ITU-R BS.1534-3, section 4.1.2) ------------------------------------
#
# Kept apart from the ACR settings: those are an ACR study's rules (and every ACR report prints
# them), these apply to MUSHRA ratings on the 0-100 scale only. The same RuleSet shape and
# validation, so a MUSHRA study's settings form and report can draw on them alike. A rule's
# ``row`` has, per listener: n_hidden_reference_trials, hidden_reference_misses,
# n_mid_anchor_trials, mid_anchor_misses; its ``rules`` is a cleaned dict.


def _share(value: float) -> str:
    return f"{100 * value:.0f} %"


MUSHRA_SCREENING = RuleSet(
    "MUSHRA screening",
    settings=(
        Setting(
            "enabled",
            "bool",
            True,
            label="Post-screen listeners",
            help="Apply the BS.1534-3 rules below in the report.",
        ),
        Setting(
            "hidden_reference_below",
            "float",
            90,
            0,
            100,
            can_be_off=True,
            label="A hidden reference rated below this is a miss",
            help="On the 0-100 scale. ITU-R BS.1534-3 uses 90. Empty switches the rule off.",
        ),
        Setting(
            "max_hidden_reference_share",
            "float",
            0.15,
            0,
            1,
            label="Largest share of trials with a missed hidden reference",
            help="A listener missing the hidden reference in more trials than this is excluded "
            "(BS.1534-3: 15 %).",
        ),
        Setting(
            "mid_anchor_above",
            "float",
            90,
            0,
            100,
            can_be_off=True,
            label="A mid anchor rated above this is a miss",
            help="The 7 kHz anchor on the 0-100 scale. BS.1534-3 uses 90. Empty switches it off.",
        ),
        Setting(
            "max_mid_anchor_share",
            "float",
            0.15,
            0,
            1,
            label="Largest share of trials with the mid anchor rated too high",
            help="BS.1534-3: 15 %.",
        ),
    ),
    rules=(
        Rule(
            "hidden_reference_missed",
            "Hidden reference not found",
            "hidden reference rated below the threshold in too many trials (ITU-R BS.1534-3)",
            lambda row, rules: (
                f"hidden reference rated below {rules['hidden_reference_below']:g} in "
                f"{row['hidden_reference_misses']} of {row['n_hidden_reference_trials']} trials "
                f"({_share(row['hidden_reference_misses'] / row['n_hidden_reference_trials'])}; "
                f"allowed {_share(rules['max_hidden_reference_share'])})"
            ),
        ),
        Rule(
            "mid_anchor_high",
            "Mid anchor rated high",
            "7 kHz anchor rated above the threshold in too many trials (ITU-R BS.1534-3)",
            lambda row, rules: (
                f"mid anchor (7 kHz) rated above {rules['mid_anchor_above']:g} in "
                f"{row['mid_anchor_misses']} of {row['n_mid_anchor_trials']} trials "
                f"({_share(row['mid_anchor_misses'] / row['n_mid_anchor_trials'])}; "
                f"allowed {_share(rules['max_mid_anchor_share'])})"
            ),
        ),
    ),
)
MUSHRA_SETTINGS: tuple[Setting, ...] = MUSHRA_SCREENING.settings
mushra_default_rules = MUSHRA_SCREENING.defaults
mushra_screening_clean = MUSHRA_SCREENING.clean


#: The MUSHRA settings a study stores beside the ACR ones (``enabled`` is one switch for both).
MUSHRA_ONLY_SETTINGS: tuple[Setting, ...] = tuple(
    s for s in MUSHRA_SETTINGS if s.name not in {a.name for a in SETTINGS}
)


def study_screening_clean(rules: Any, *, test_type: str) -> dict[str, Any]:
    """A study's stored screening rules, checked and completed with defaults: the rules of
    :data:`SETTINGS` and, for a MUSHRA study, its BS.1534-3 post-screening thresholds
    (:data:`MUSHRA_ONLY_SETTINGS`), in one object. Raises :class:`ScreeningRulesError` naming
    the rule and the fix, also for a MUSHRA threshold given to a study of another type."""
    given = dict(rules) if isinstance(rules, Mapping) else rules
    mushra_names = {s.name for s in MUSHRA_ONLY_SETTINGS}
    thresholds = {}
    if isinstance(given, dict):
        thresholds = {k: given.pop(k) for k in list(given) if k in mushra_names}
    if thresholds and test_type != "mushra":
        raise ScreeningRulesError(
            f"Screening rule(s) {', '.join(sorted(thresholds))} are the MUSHRA post-screening "
            f"thresholds (ITU-R BS.1534-3); this study is {test_type.upper()}. Remove them, or "
            "make the study a MUSHRA study."
        )
    cleaned = screening_clean(given)
    if test_type == "mushra":
        defaults = mushra_default_rules()
        for setting in MUSHRA_ONLY_SETTINGS:
            value = thresholds.get(setting.name, defaults[setting.name])
            cleaned[setting.name] = _checked(setting, value)
    return cleaned


def without_mushra_thresholds(rules: Mapping[str, Any] | None) -> dict[str, Any]:
    """``rules`` without the MUSHRA post-screening thresholds (a study that stops being a
    MUSHRA study drops them)."""
    names = {s.name for s in MUSHRA_ONLY_SETTINGS}
    return {k: v for k, v in (rules or {}).items() if k not in names}
