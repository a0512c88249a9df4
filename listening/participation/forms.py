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
