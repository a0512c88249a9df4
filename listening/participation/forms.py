"""The listener's questionnaire form: it labels the fields; ``checks.questionnaire_clean``
decides (the same rules for any other caller)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from listening.participation import checks


class QuestionnaireForm(forms.Form):
    native_language = forms.CharField(
        label=gettext_lazy("What is your native language?"),
        max_length=checks.NATIVE_LANGUAGE_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "words"}),
    )
    age_band = forms.ChoiceField(
        label=gettext_lazy("How old are you?"), choices=checks.AGE_BANDS, widget=forms.RadioSelect
    )
    device = forms.ChoiceField(
        label=gettext_lazy("What will you listen with?"),
        choices=checks.DEVICES,
        widget=forms.RadioSelect,
    )


def bounded_number(raw: str | None, kind: type, default, upper: float):
    """A posted number as ``kind``, capped at ``upper``; ``default`` for a missing, malformed,
    NaN or negative value (the browser's counts and timings are information, never refused)."""
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        return default
    if value != value or value < 0:  # NaN or negative
        return default
    return min(value, kind(upper))
