"""A study's test type and the settings that go with it: what each type is for, which settings
it reads, the checks on them, and what a study of that type still lacks before it can open.

Where it sits: :func:`test_type_clean` is called by ``listening.studies.settings`` (so the
settings page, the API and recipes refuse the same values with the same messages);
:func:`test_type_problems` feeds the study page's readiness checklist (and any caller that wants
the same sentences, such as opening). The types (``listening.models.TestType``): ACR and CCR are
ITU-T P.800 Annex B and Annex E; AB / ABX preference and speaker-similarity MOS (SMOS) as TTS
papers run them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from listening.models import Study, System, TestType

#: The settings that only some test types read, in the form's order.
TYPE_FIELDS = (
    "test_type",
    "reference_system",
    "comparison",
    "allow_tie",
    "reference_text",
    "scale_labels",
    "mushra_reference_free",
    "mushra_mid_anchor",
    "mushra_keep_position",
    "mushra_conditions_per_page",
    "transcription_max_plays",
)

#: One line per type for the researcher: what the listener does, and when to choose it.
TYPE_HELP = {
    TestType.ACR: gettext_lazy(
        "One clip at a time rated Bad … Excellent (MOS, ITU-T P.800 ACR). For systems of "
        "clearly different quality, and for numbers comparable with other MOS studies."
    ),
    TestType.CCR: gettext_lazy(
        "Two clips, A then B; the listener rates B against A from Much worse to Much better "
        "(CMOS, ITU-T P.800 CCR). For systems close to each other or to natural speech."
    ),
    TestType.AB: gettext_lazy(
        "Two clips; the listener says which is better (or no preference). For close systems "
        "and a ranking of several, when a scale is more than you need."
    ),
    TestType.ABX: gettext_lazy(
        "Clips A, B and X; the listener says whether X is A or B. To find out whether "
        "listeners can hear a difference at all (e.g. codec or vocoder changes)."
    ),
    TestType.SMOS: gettext_lazy(
        "A reference recording and a test clip; the listener rates how similar the two voices "
        "are (1 Not at all … 5 Extremely similar). For voice cloning and multi-speaker work."
    ),
    TestType.MUSHRA: gettext_lazy(
        "All conditions of a sentence side by side, each on a 0–100 slider, with a hidden "
        "reference and low-pass anchors (ITU-R BS.1534-3). For fine grading of several "
        "systems by attentive listeners; reference-free for speech with no recording."
    ),
    TestType.TRANSCRIPTION: gettext_lazy(
        "One clip, heard once (or a few times); the listener types what was said. Word and "
        "character error rates per system: intelligibility, e.g. with semantically "
        "unpredictable sentences."
    ),
}

#: How many labels the study's own scale needs (best first), per type that has a scale.
SCALE_SIZES = {TestType.ACR: 5, TestType.SMOS: 5, TestType.CCR: 7}
MAX_LABEL_LENGTH = 60


def needs_reference(test_type: str, comparison: str, reference_free: bool = False) -> bool:
    """Whether a study of this type (and CCR comparison mode, MUSHRA variant) compares with a
    reference."""
    return (
        test_type == TestType.SMOS
        or (test_type == TestType.CCR and comparison == Study.Comparison.REFERENCE)
        or (test_type == TestType.MUSHRA and not reference_free)
    )


def reference_system_resolve(study: Study | None, value: Any) -> System | None:
    """``value`` (a System, its id, or its name, as pages, the API and recipes give it) as one
    of ``study``'s systems; None for an empty value. Refuses a system of another study."""
    if value in (None, ""):
        return None
    systems = System.objects.filter(study=study) if study is not None and study.pk else None
    if systems is None:
        raise ValidationError(
            {
                "reference_system": _(
                    "A new study has no systems yet: create it, add the natural recordings as a "
                    "system (kind 'reference'), then choose it as the reference system."
                )
            }
        )
    if isinstance(value, System):
        found = systems.filter(pk=value.pk).first()
    elif isinstance(value, int):
        found = systems.filter(pk=value).first()
    else:
        # By name first (a recipe's, the API's); a string of digits may also be an id.
        found = systems.filter(name=str(value)).first()
        if found is None and str(value).isdigit():
            found = systems.filter(pk=int(value)).first()
    if found is None:
        names = ", ".join(systems.values_list("name", flat=True)) or _("none yet")
        raise ValidationError(
            {
                "reference_system": _(
                    "%(value)s is not a system of this study; choose one of its systems "
                    "(%(names)s)."
                )
                % {"value": value, "names": names}
            }
        )
    return found


def scale_labels_clean(test_type: str, labels: Any) -> list[str]:
    """The study's own labels, best first: empty (the standard ones), or exactly as many short
    texts as the type's scale has points."""
    if labels in (None, "", []):
        return []
    if isinstance(labels, str):
        labels = [line for line in labels.splitlines()]
    if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
        raise ValidationError({"scale_labels": _("Give the labels as a list of texts.")})
    labels = [label.strip() for label in labels if label.strip()]
    if not labels:
        return []
    size = SCALE_SIZES.get(test_type)
    if size is None:
        raise ValidationError(
            {
                "scale_labels": _("%(type)s studies have no rating scale: leave the labels empty.")
                % {"type": test_type.upper()}
            }
        )
    if len(labels) != size:
        raise ValidationError(
            {
                "scale_labels": _(
                    "%(type)s needs %(size)d labels, best first, one per line (%(n)d given); "
                    "or leave them empty for the standard ones."
                )
                % {"type": test_type.upper(), "size": size, "n": len(labels)}
            }
        )
    long = [label for label in labels if len(label) > MAX_LABEL_LENGTH]
    if long:
        raise ValidationError(
            {
                "scale_labels": _("Labels are at most %(n)d characters: shorten '%(label)s'.")
                % {"n": MAX_LABEL_LENGTH, "label": long[0][:80]}
            }
        )
    return labels


def test_type_clean(study: Study | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (a study's settings, maybe partial) with the type's settings checked against
    ``study`` (None for a new one): the reference system resolved among its systems, the scale
    labels fitting the type. Raises ValidationError naming the field and the fix."""
    out = dict(values)
    test_type = out.get("test_type", getattr(study, "test_type", TestType.ACR))
    if "reference_system" in out:
        out["reference_system"] = reference_system_resolve(study, out["reference_system"])
    if "scale_labels" in out or ("test_type" in out and study is not None):
        labels = out.get("scale_labels", getattr(study, "scale_labels", []))
        out["scale_labels"] = scale_labels_clean(test_type, labels)
    return out


def _counted_systems(study: Study) -> list[System]:
    """The systems a comparison pairs: all but the MNRU anchors (attention checks)."""
    return [s for s in study.systems.all() if s.kind != System.Kind.ANCHOR]


def test_type_problems(study: Study) -> list[str]:
    """What keeps ``study`` from running as its type, each sentence naming the fix; empty when
    nothing does. The readiness checklist shows them; opening refuses with them."""
    problems: list[str] = []
    systems = _counted_systems(study)
    reference = study.reference_system
    kind = TestType(study.test_type)
    wants_reference = needs_reference(
        study.test_type, study.comparison, study.mushra_reference_free
    )
    if wants_reference and reference is None:
        problems.append(
            _(
                "%(type)s compares with the natural recordings: add them as a system "
                "(Systems: Upload natural reference recordings; in the API kind 'reference'), "
                "then choose it as the reference system in Settings."
            )
            % {"type": study.test_type.upper()}
        )
    if reference is not None and reference.study_id != study.pk:
        problems.append(_("The reference system is not one of this study's: choose another."))
    others = [s for s in systems if reference is None or s.pk != reference.pk]
    if wants_reference:
        if reference is not None and not others:
            problems.append(_("Add at least one system to compare with the reference (Systems)."))
    elif kind in (TestType.AB, TestType.ABX, TestType.CCR) and len(systems) < 2:
        problems.append(
            _(
                "%(type)s compares systems in pairs: add at least two systems besides MNRU "
                "anchors (%(n)d so far)."
            )
            % {"type": study.test_type.upper(), "n": len(systems)}
        )
    if (
        kind == TestType.SMOS
        and study.reference_text == Study.ReferenceText.DIFFERENT
        and study.sentences.filter(expected_score__isnull=True).count() < 2
    ):
        problems.append(
            _(
                "A different-text reference needs at least two test sentences: add sentences, "
                "or let the reference speak the same sentence (Settings)."
            )
        )
    if kind == TestType.MUSHRA and not study.mushra_reference_free and reference is not None:
        lowpass = {s.anchor_kind for s in study.systems.filter(anchor_source=reference)}
        if System.AnchorKind.LOWPASS_3500 not in lowpass:
            problems.append(
                _(
                    "MUSHRA needs its 3.5 kHz low anchor (ITU-R BS.1534-3): add the MUSHRA "
                    "anchors from the reference on the Systems page."
                )
            )
    return problems
