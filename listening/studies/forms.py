"""Forms of the researcher pages: they parse and label input; the services decide.

Where it sits: ``listening.studies.views`` binds these to a request, then hands
``cleaned_data`` to the services of this room (the same functions the API calls), so a value
the API would refuse is refused here with the same message.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from listening.followups import followup_questions_text
from listening.models import Study, System
from listening.screening import (
    MUSHRA_ONLY_SETTINGS,
    SETTINGS,
    default_rules,
    mushra_default_rules,
)
from listening.studies.settings import DESIGN_FIELDS, SLUG_TAKEN, STUDY_FIELDS
from listening.studies.study_types import SCALE_SIZES, TYPE_HELP
from synthesis.models import Voice


def lines_field(label: str, rows: int, help_text: str) -> forms.CharField:
    """An optional box of one entry a line; the service reads the lines (labels, questions)."""
    return forms.CharField(
        required=False,
        label=label,
        widget=forms.Textarea(attrs={"rows": rows}),
        help_text=help_text,
    )


class StudyForm(forms.ModelForm):
    """A study's settings; the screening rules (``Study.screening`` JSON) appear as fields."""

    # The screening settings the form shows, as fields named screening_<setting>.
    SCREENING_SETTINGS = tuple(setting for setting in SETTINGS if setting.in_form)

    # The study's own scale labels, one per line (the service reads the lines as a list).
    scale_labels = lines_field(
        _("Own scale labels (ACR, CCR, SMOS)"),
        5,
        _(
            "Best first, one per line: 5 for ACR and SMOS, 7 for CCR. Empty: the standard "
            "labels (ITU-T P.800; SMOS 5 Extremely similar … 1 Not at all similar)."
        ),
    )

    # The yes/no follow-up questions, one a line as "key: question" (the service parses them).
    followup_questions = lines_field(
        _("Follow-up questions (yes/no, every test type)"),
        3,
        _(
            "Asked about every clip, at most 5, one a line as key: question, for example "
            "“mispronounced: Did you hear any mispronounced word?”. The report gives the share "
            "of Yes per system. Fixed once listeners have answered."
        ),
    )

    class Meta:
        model = Study
        # The same fields as the API and the study_create/study_update services; the screening
        # thresholds are edited as separate fields below.
        fields = [name for name in STUDY_FIELDS if name != "screening"]
        widgets = {
            "instructions": forms.Textarea(attrs={"rows": 5}),
            "consent_text": forms.Textarea(attrs={"rows": 4}),
            "recruitment_filters": forms.Textarea(attrs={"rows": 2}),
            "attention_check_rate": forms.NumberInput(attrs={"step": "0.01", "min": 0, "max": 0.5}),
            "test_type": forms.RadioSelect,
            "comparison": forms.RadioSelect,
            "reference_text": forms.RadioSelect,
        }
        error_messages = {"slug": {"unique": SLUG_TAKEN}}
        labels = {
            "completion_url": _("Completion URL"),
            "listener_timeout_minutes": _("Listener timeout (minutes)"),
            "claim_idle_minutes": _("Idle place released after (minutes)"),
            "screenout_code": _("Screen-out code"),
            "screenout_url": _("Screen-out URL"),
            "attention_check_rate": _("Attention-check rate"),
            "test_type": _("Test type"),
            "reference_system": _("Reference system (CCR against the reference, SMOS)"),
            "comparison": _("CCR: what is compared"),
            "allow_tie": _("AB: offer “No preference”"),
            "reference_text": _("SMOS: the reference clip’s sentence"),
        }
        help_texts = {
            "slug": _("Letters, digits and hyphens; part of the listener link /t/<slug>/."),
            "ratings_per_clip": _("How many listeners rate each clip."),
            "clips_per_listener": _("Test clips in one listener's playlist."),
            "training_clips": _("Clips rated first and not counted, spanning the scale."),
            "listener_timeout_minutes": _(
                "A playlist unfinished after this long goes to another listener."
            ),
            "completion_code": _("Shown to listeners at the end (Prolific completion code)."),
            "allow_tie": _("Switch it off to force a choice between A and B."),
            "reference_text": _(
                "A different sentence tests the voice, not the words; the report says which."
            ),
        }

    # A choice left out (an older form, a script) keeps the study's value: a new study's default.
    KEEP_WHEN_EMPTY = (
        "test_type",
        "comparison",
        "reference_text",
        "mushra_conditions_per_page",
        "transcription_max_plays",
    )

    def _kept(self, name: str) -> str:
        value = self.cleaned_data.get(name)
        return value or getattr(self.instance, name) or Study._meta.get_field(name).default

    def clean_test_type(self) -> str:
        return self._kept("test_type")

    def clean_comparison(self) -> str:
        return self._kept("comparison")

    def clean_reference_text(self) -> str:
        return self._kept("reference_text")

    def clean_mushra_conditions_per_page(self) -> int:
        return self._kept("mushra_conditions_per_page")

    def clean_transcription_max_plays(self) -> int:
        return self._kept("transcription_max_plays")

    def clean(self) -> dict:
        data = super().clean()
        # The labels box is hidden for a type without a scale (AB, ABX): labels typed for
        # another type are dropped rather than refused where the researcher cannot see them.
        if data.get("test_type") not in SCALE_SIZES:
            data["scale_labels"] = ""
        self._clean_mushra_thresholds(data)
        return data

    def _clean_mushra_thresholds(self, data: dict) -> None:
        """A MUSHRA study's shares cannot be switched off: an empty one is refused here, by
        its field (for other types the fields are hidden and ignored)."""
        if data.get("test_type") != Study.TestType.MUSHRA:
            return
        for setting in MUSHRA_ONLY_SETTINGS:
            name = f"screening_{setting.name}"
            if not setting.can_be_off and data.get(name) is None and name not in self.errors:
                self.add_error(
                    name,
                    _("Give a fraction from 0 to 1 (ITU-R BS.1534-3 uses 0.15, that is 15 %)."),
                )

    def clean_claim_idle_minutes(self) -> int:
        value = self.cleaned_data.get("claim_idle_minutes")
        return value if value is not None else self.fields["claim_idle_minutes"].initial

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rules = {**default_rules(), **mushra_default_rules(), **(self.instance.screening or {})}
        # Numeric rules left empty are switched off (the settings' ``can_be_off``).
        for setting in (*self.SCREENING_SETTINGS, *MUSHRA_ONLY_SETTINGS):
            label = setting.label
            low, high = setting.low, setting.high
            if setting.kind == "bool":
                field: forms.Field = forms.BooleanField(required=False, label=label)
            elif setting.kind == "int":
                field = forms.IntegerField(
                    required=False, label=label, min_value=low, max_value=high
                )
            else:
                field = forms.FloatField(required=False, label=label, min_value=low, max_value=high)
                field.widget.attrs["step"] = "any"
            field.help_text = setting.help
            field.initial = rules.get(setting.name)
            self.fields[f"screening_{setting.name}"] = field
        # Keep any extra rules set through the API (tuning knobs the form does not show).
        shown = {setting.name for setting in (*self.SCREENING_SETTINGS, *MUSHRA_ONLY_SETTINGS)}
        self._extra_rules = {k: v for k, v in rules.items() if k not in shown}
        # Left empty (or absent from an older form), the idle window keeps its default.
        idle = self.fields["claim_idle_minutes"]
        idle.required = False
        idle.initial = (
            self.instance.claim_idle_minutes or Study._meta.get_field("claim_idle_minutes").default
        )
        self._type_fields_init()
        if self.instance.pk and self.instance.design_frozen:
            for name in DESIGN_FIELDS & set(self.fields):
                self.fields[name].disabled = True
                self.fields[name].help_text = _("Fixed: the test has been opened.")

    def _type_fields_init(self) -> None:
        """The reference system is chosen among the study's own systems (a new study has none
        yet); the scale labels are edited as lines."""
        study = self.instance
        reference = self.fields["reference_system"]
        reference.empty_label = _("(none)")
        reference.label_from_instance = lambda system: (
            f"{system.name} ({system.get_kind_display()})"
        )
        if study.pk:
            reference.queryset = System.objects.filter(study=study).order_by("position", "id")
            natural = [s for s in reference.queryset if s.kind == System.Kind.REFERENCE]
            if study.reference_system_id is None and len(natural) == 1 and not study.design_frozen:
                # Normally the one system of natural recordings: offered, saved on "Save".
                self.initial["reference_system"] = natural[0].pk
            reference.help_text = _(
                "Normally the system of natural recordings of the target speaker (kind "
                "'Natural reference'): what CCR compares against, the voice SMOS compares with."
            )
        else:
            reference.queryset = System.objects.none()
            reference.disabled = True
            reference.help_text = _(
                "Chosen in Settings once the study has its systems: add the natural recordings "
                "as a system of kind 'Natural reference'."
            )
        # The instance's list would show as "[]": the box shows one label per line.
        self.initial["scale_labels"] = "\n".join(study.scale_labels or [])
        self.initial["followup_questions"] = followup_questions_text(study.followup_questions)
        for name in self.KEEP_WHEN_EMPTY:
            self.fields[name].required = False
            self.fields[name].initial = getattr(study, name)

    @property
    def test_type_options(self) -> list[tuple[forms.BoundField, str]]:
        """Each test type's radio button with its one-line explanation."""
        return [(radio, TYPE_HELP[radio.data["value"]]) for radio in self["test_type"]]

    #: The type-specific settings, and the types that read each (``static/js/studies/test_type.js``
    #: hides the others).
    TYPE_SETTING_TYPES = {
        "reference_system": "ccr smos mushra",
        "comparison": "ccr",
        "allow_tie": "ab",
        "reference_text": "smos",
        "scale_labels": "acr ccr smos",
        "mushra_reference_free": "mushra",
        "mushra_mid_anchor": "mushra",
        "mushra_keep_position": "mushra",
        "mushra_conditions_per_page": "mushra",
        "transcription_max_plays": "transcription",
        # The post-screening thresholds of ITU-R BS.1534-3, stored with the screening rules.
        **{f"screening_{setting.name}": "mushra" for setting in MUSHRA_ONLY_SETTINGS},
    }

    @property
    def type_settings(self) -> list[tuple[forms.BoundField, str]]:
        return [(self[name], types) for name, types in self.TYPE_SETTING_TYPES.items()]

    @property
    def screening_field_names(self) -> list[str]:
        return [f"screening_{setting.name}" for setting in self.SCREENING_SETTINGS]

    # The settings page draws these full width (long text).
    WIDE_FIELDS = frozenset(
        {"instructions", "consent_text", "question", "followup_questions", "recruitment_filters"}
    )

    @property
    def fieldsets(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """The settings page's groups, in order: (legend, hint or "", bound fields)."""
        groups = [
            (
                _("The study"),
                "",
                ["title", "slug", "instructions", "consent_text", "question", "followup_questions"],
            ),
            (
                _("Design"),
                "",
                [
                    "ratings_per_clip",
                    "clips_per_listener",
                    "training_clips",
                    "attention_check_rate",
                    "max_attention_failures",
                    "listener_timeout_minutes",
                    "claim_idle_minutes",
                    "questionnaire_enabled",
                    "headphone_check_enabled",
                ],
            ),
            (
                _("Listener screening"),
                _(
                    "Used by the report (ITU-T P.808 practice). Leave a number empty to switch "
                    "its rule off."
                ),
                self.screening_field_names,
            ),
            (
                _("Recruitment and pay"),
                _(
                    "Reported beside the results, as ITU-T P.800.2 asks: where listeners came "
                    "from, the platform's filters, and what they were paid per hour."
                ),
                ["recruitment_platforms", "recruitment_filters", "pay_per_hour", "pay_currency"],
            ),
            (
                _("Completion"),
                "",
                ["completion_code", "completion_url", "screenout_code", "screenout_url"],
            ),
        ]
        return [(legend, hint, [self[name] for name in names]) for legend, hint, names in groups]

    def service_data(self) -> dict:
        """``cleaned_data`` in the shape of ``study_create``/``study_update``."""
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("screening_")}
        # A MUSHRA study's BS.1534-3 thresholds go with its rules; another type has none.
        shown = self.SCREENING_SETTINGS
        if data.get("test_type") == Study.TestType.MUSHRA:
            shown = (*shown, *MUSHRA_ONLY_SETTINGS)
        data["screening"] = {
            **self._extra_rules,
            **{
                setting.name: self.cleaned_data.get(f"screening_{setting.name}")
                for setting in shown
            },
        }
        return data


class SentenceUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Sentence file"),
        help_text=_(
            ".txt: one sentence per line. .csv or .tsv: key,text[,expected_score], header "
            "optional. UTF-8 or UTF-16; Windows-1252 (Excel) or Latin-1 when chosen below."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".txt,.csv,.tsv,text/plain,text/csv"}),
    )
    read_as = forms.ChoiceField(
        required=False,
        label=_("Encoding"),
        choices=[
            ("", _("Detect (UTF-8 or UTF-16)")),
            ("cp1252", _("Windows-1252 (Excel's “CSV” on Windows)")),
            ("latin-1", _("Latin-1 (ISO-8859-1)")),
        ],
    )
    replace = forms.BooleanField(
        required=False,
        label=_("Replace the study's current sentences"),
        help_text=_("Otherwise the new sentences are added to the current ones."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.MAX_SENTENCE_FILE_KB * 1024
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is %(kb)d KB; sentence files are limited to %(limit)d KB.")
                % {"kb": upload.size // 1024, "limit": settings.MAX_SENTENCE_FILE_KB}
            )
        return upload


class VoiceSelect(forms.Select):
    """A voice menu whose voices that cannot work here are shown but cannot be chosen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unavailable: set[int] = set()

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value and getattr(value, "value", value) in self.unavailable:
            option["attrs"]["disabled"] = True
        return option


class SystemForm(forms.Form):
    """A system synthesised with a voice, or one whose recordings are uploaded.

    ``availability`` (voice id -> ``synthesis.availability.Availability``) marks the voices
    that cannot work on this machine: listed as unavailable, not selectable."""

    KIND_CHOICES = [
        (System.Kind.VOICE, _("Synthesise with a voice")),
        (System.Kind.REFERENCE, _("Upload natural reference recordings")),
        (System.Kind.UPLOADED, _("Upload another system's output")),
    ]
    name = forms.CharField(max_length=100, label=_("Name (never shown to listeners)"))
    kind = forms.ChoiceField(choices=KIND_CHOICES, initial=System.Kind.VOICE, label=_("Audio"))
    voice = forms.ModelChoiceField(
        queryset=Voice.objects.filter(is_active=True),
        required=False,
        label=_("Voice"),
        help_text=_("For synthesised systems. Voices that cannot work here are listed below."),
        widget=VoiceSelect,
    )
    is_low_anchor = forms.BooleanField(required=False, label=_("Low anchor"))

    def __init__(self, *args: Any, availability: dict | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["voice"]
        unavailable = {pk for pk, a in (availability or {}).items() if not a.ok}
        field.widget.unavailable = unavailable
        field.label_from_instance = lambda voice: (
            _("%(name)s (unavailable)") % {"name": voice.name}
            if voice.pk in unavailable
            else voice.name
        )

    def clean(self):
        data = super().clean()
        if data.get("kind") == System.Kind.VOICE and not data.get("voice"):
            self.add_error("voice", _("Choose the voice that synthesises this system."))
        if data.get("kind") != System.Kind.VOICE:
            data["voice"] = None
        return data


class AnchorForm(forms.Form):
    """An MNRU anchor (ITU-T P.810) derived from one of the study's systems."""

    source = forms.ModelChoiceField(queryset=System.objects.none(), label=_("Derived from"))
    q_db = forms.FloatField(
        label=_("Q (dB)"),
        min_value=-10,
        max_value=60,
        initial=5,
        help_text=_("Lower is noisier: 5 dB is clearly Bad, 25-35 dB near Good (P.810)."),
    )
    name = forms.CharField(max_length=100, required=False, label=_("Name (optional)"))
    is_low_anchor = forms.BooleanField(required=False, initial=True, label=_("Low anchor"))

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = study.systems.exclude(kind=System.Kind.ANCHOR)
        self.fields["source"].label_from_instance = lambda system: system.name


class MushraAnchorsForm(forms.Form):
    """The MUSHRA low-pass anchors (ITU-R BS.1534-3) of one of the study's systems, by default
    its natural reference."""

    source = forms.ModelChoiceField(queryset=System.objects.none(), label=_("Derived from"))
    which = forms.ChoiceField(
        choices=[
            ("both", _("Low anchor (3.5 kHz) and mid anchor (7 kHz)")),
            ("low", _("Low anchor (3.5 kHz) only")),
        ],
        initial="both",
        label=_("Anchors"),
    )

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sources = study.systems.exclude(kind=System.Kind.ANCHOR)
        self.fields["source"].queryset = sources
        self.fields["source"].label_from_instance = lambda system: system.name
        reference = sources.filter(kind=System.Kind.REFERENCE).first()
        if reference is not None:
            self.fields["source"].initial = reference.pk


class SystemEditForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    kind = forms.ChoiceField(
        choices=[
            (System.Kind.REFERENCE, _("Natural reference")),
            (System.Kind.UPLOADED, _("Uploaded audio (not a reference)")),
        ],
        required=False,
        label=_("Kind"),
    )
    is_low_anchor = forms.BooleanField(required=False, label=_("Low anchor"))

    def __init__(self, *args: Any, system: System, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {"name": system.name, "kind": system.kind, "is_low_anchor": system.is_low_anchor},
        )
        super().__init__(*args, **kwargs)
        if system.kind not in (System.Kind.UPLOADED, System.Kind.REFERENCE):
            del self.fields["kind"]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class AudioUploadForm(forms.Form):
    files = MultipleFileField(
        label=_("Recordings"),
        help_text=_(
            "A ZIP, or several files, each named by sentence key (s001.wav). "
            "WAV, FLAC, MP3 or OGG; at most %(mb)s MB in all."
        )
        % {"mb": settings.MAX_UPLOAD_MB},
        widget=MultipleFileInput(attrs={"accept": ".zip,.wav,.flac,.mp3,.ogg,audio/*"}),
    )


class RecipeImportForm(forms.Form):
    """A recipe (``recipe.json``) or a recipe bundle (ZIP with audio) to make a new study from;
    ``listening.studies.recipes`` reads and checks it."""

    file = forms.FileField(
        label=_("Recipe or bundle"),
        help_text=_(
            "The study recipe (.json) or the recipe with audio (.zip) from a study's page, or "
            "from python manage.py study_export. At most %(mb)s MB."
        )
        % {"mb": settings.MAX_UPLOAD_MB},
        widget=forms.FileInput(attrs={"accept": ".json,.zip,application/json,application/zip"}),
    )
    slug = forms.SlugField(
        label=_("Slug of the new study"),
        required=False,
        help_text=_("Leave empty to use the recipe's (with -2, -3 … when it is taken here)."),
    )
