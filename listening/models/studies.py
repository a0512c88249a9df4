"""Studies and what they are made of: sentences, systems, clips, and the built reports."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from listening.screening import default_rules


def new_token() -> str:
    """A random, URL-safe, unguessable token (128 bits): clip URLs and listener cookies carry
    these instead of any id that would reveal a system or sentence. It starts with a letter or
    digit: downloads neutralise a cell that begins with "-" (a spreadsheet formula, OWASP), and
    a token must read back as itself from the manifest and the ratings CSV."""
    while True:
        token = secrets.token_urlsafe(16)
        if token[0].isalnum():
            return token


def new_seed() -> int:
    return secrets.randbits(31)


def default_screening() -> dict:
    """A new study's listener screening settings (defined in ``listening.screening``)."""
    return default_rules()


def choice_field(
    choices: type[models.TextChoices], *, default=models.NOT_PROVIDED, help_text=""
) -> models.CharField:
    """A field holding one value of ``choices``: 16 characters fit every value list of the
    domain, so the width is said here once."""
    return models.CharField(
        max_length=16, choices=choices.choices, default=default, help_text=help_text
    )


def _bounded(field: type[models.Field], *, default, within, help_text="") -> models.Field:
    """A study setting of ``field``'s type that forms and the API keep ``within`` (low, high),
    either end open when None."""
    low, high = within
    validators = [MinValueValidator(low)] if low is not None else []
    validators += [MaxValueValidator(high)] if high is not None else []
    return field(default=default, validators=validators, help_text=help_text)


class WorkStatus(models.TextChoices):
    """Where a piece of background work stands: a clip's synthesis or a report's build. One
    list, so the pages, the API and the sweep speak of both in the same words."""

    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class TestType(models.TextChoices):
    """What a trial presents and what its listener answers: ITU-T P.800 Annex B (ACR) and
    Annex E (CCR); AB / ABX preference and speaker similarity as TTS papers run them."""

    ACR = "acr", _("ACR: rate each clip (MOS)")
    CCR = "ccr", _("CCR: rate the second clip against the first (CMOS)")
    AB = "ab", _("AB: which of two clips is better (preference)")
    ABX = "abx", _("ABX: is X the same as A or as B (discrimination)")
    SMOS = "smos", _("SMOS: how similar are two voices (speaker similarity)")
    MUSHRA = "mushra", _("MUSHRA: rate all conditions of a sentence side by side, 0–100")
    TRANSCRIPTION = "transcription", _("Transcription: type what was said (intelligibility)")


class Study(models.Model):
    TestType = TestType

    class Comparison(models.TextChoices):
        REFERENCE = "reference", _("Each system against the reference")
        SYSTEMS = "systems", _("Every pair of systems")

    class ReferenceText(models.TextChoices):
        SAME = "same", _("The reference speaks the same sentence")
        DIFFERENT = "different", _("The reference speaks a different sentence")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SYNTHESIZING = "synthesizing", _("Synthesising")
        READY = "ready", _("Ready")
        OPEN = "open", _("Open")
        PAUSED = "paused", _("Paused")
        CLOSED = "closed", _("Closed")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,  # a researcher's account is not deleted under their data
        related_name="studies",
    )
    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    instructions = models.TextField(
        blank=True, help_text=_("Markdown, shown to listeners with the consent form.")
    )
    consent_text = models.TextField(blank=True, help_text=_("Markdown."))
    question = models.CharField(
        max_length=200,
        blank=True,
        help_text=_(
            "What listeners rate, shown on every rating page (e.g. How natural does the speech "
            "sound?). Empty: the quality question of ITU-T P.808."
        ),
    )
    status = choice_field(Status, default=Status.DRAFT)
    test_type = choice_field(
        TestType,
        default=TestType.ACR,
        help_text=_("What a trial presents and what the listener answers."),
    )
    reference_system = models.ForeignKey(
        "System",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "The natural recordings of the target speaker: what CCR compares against and "
            "the voice SMOS compares with."
        ),
    )
    comparison = choice_field(
        Comparison,
        default=Comparison.REFERENCE,
        help_text=_("CCR: each system against the reference, or every pair of systems."),
    )
    allow_tie = models.BooleanField(
        default=True, help_text=_("AB: offer 'No preference' beside A and B.")
    )
    reference_text = choice_field(
        ReferenceText,
        default=ReferenceText.SAME,
        help_text=_("SMOS: whether the reference clip speaks the test clip's sentence."),
    )
    scale_labels = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            "The study's own labels of the answer scale, best first (empty: the standard ones)."
        ),
    )
    # MUSHRA (ITU-R BS.1534-3) and its reference-free variant (ITU-R BS.2132 style).
    mushra_keep_position = models.BooleanField(
        default=True,
        help_text=_(
            "MUSHRA: switching to another condition keeps the playback position (off: each "
            "condition starts again from its beginning)."
        ),
    )
    mushra_mid_anchor = models.BooleanField(
        default=True,
        help_text=_("MUSHRA: present the 7 kHz mid anchor beside the 3.5 kHz low anchor."),
    )
    mushra_reference_free = models.BooleanField(
        default=False,
        help_text=_(
            "MUSHRA without an open or hidden reference (ITU-R BS.2132 style), for speech that "
            "has no natural recording."
        ),
    )
    mushra_conditions_per_page = _bounded(
        models.PositiveSmallIntegerField,
        default=12,
        within=(2, 12),
        help_text=_(
            "MUSHRA: conditions rated on one page, at most 12 (BS.1534-3); with fewer than the "
            "study's conditions each listener gets a balanced subset of the systems."
        ),
    )
    transcription_max_plays = _bounded(
        models.PositiveSmallIntegerField,
        default=1,
        within=(1, 10),
        help_text=_("Transcription: how many times a listener may play each clip."),
    )
    followup_questions = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            "Yes/no questions asked about every clip answered, on any test type: "
            '[{"key": "mispronounced", "text": "Did you hear any mispronounced word?"}], at '
            "most 5 (listening.followups). Fixed once the study has ratings."
        ),
    )
    listed_publicly = models.BooleanField(
        default=False, help_text=_("List the test link on the public home page (demo studies).")
    )
    open_when_ready = models.BooleanField(
        default=False, help_text=_("Open the test as soon as every clip is synthesised.")
    )

    ratings_per_clip = _bounded(models.PositiveSmallIntegerField, default=8, within=(1, 200))
    clips_per_listener = _bounded(models.PositiveSmallIntegerField, default=20, within=(1, 500))
    clips_per_page = _bounded(models.PositiveSmallIntegerField, default=1, within=(1, 10))
    training_clips = _bounded(models.PositiveSmallIntegerField, default=3, within=(None, 20))
    attention_check_rate = _bounded(
        models.FloatField,
        default=0.1,
        within=(0.0, 0.5),
        help_text=_("Share of extra pages that are gold or repeated clips (P.808 practice)."),
    )
    max_attention_failures = models.PositiveSmallIntegerField(
        default=1, help_text=_("A listener failing more attention checks than this is flagged.")
    )
    questionnaire_enabled = models.BooleanField(default=True)
    headphone_check_enabled = models.BooleanField(default=True)
    listener_timeout_minutes = _bounded(models.PositiveIntegerField, default=60, within=(5, None))
    claim_idle_minutes = _bounded(
        models.PositiveSmallIntegerField,
        default=10,
        within=(2, 120),
        help_text=_(
            "A place claimed by a listener who rates nothing for this many minutes goes back "
            "to the pool."
        ),
    )
    screening = models.JSONField(default=default_screening, blank=True)

    completion_code = models.CharField(max_length=64, blank=True)
    completion_url = models.URLField(
        blank=True, help_text=_("e.g. https://app.prolific.com/submissions/complete?cc=CODE")
    )
    # P.808 screens listeners out before the rating job: the platform is told with its own code.
    screenout_code = models.CharField(
        max_length=64,
        blank=True,
        help_text=_("Shown to a listener who fails the headphone check (Prolific: screen-out)."),
    )
    screenout_url = models.URLField(
        blank=True,
        help_text=_("Where a listener who fails the headphone check is sent to, if anywhere."),
    )

    # How listeners were found and paid: ITU-T P.800.2 asks for it beside every MOS, and Harken
    # cannot know it from the ratings (the accompanying-information section reports it).
    recruitment_platforms = models.CharField(
        max_length=200, blank=True, help_text=_("Where listeners were recruited, e.g. Prolific.")
    )
    recruitment_filters = models.TextField(
        blank=True,
        help_text=_(
            "The platform's screeners, e.g. first language English, UK/US, approval ≥ 95%."
        ),
    )
    pay_per_hour = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("What listeners were paid per hour of work."),
    )
    pay_currency = models.CharField(
        max_length=3, blank=True, help_text=_("ISO 4217 code of the pay, e.g. GBP, USD, EUR.")
    )

    sample_rate = models.PositiveIntegerField(default=22050)
    loudness_target_lufs = _bounded(models.FloatField, default=-26.0, within=(-60.0, -5.0))
    design_seed = models.BigIntegerField(default=new_seed)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(
                condition=Q(ratings_per_clip__gte=1), name="study_ratings_per_clip_positive"
            ),
            models.CheckConstraint(
                condition=Q(clips_per_listener__gte=1), name="study_clips_per_listener_positive"
            ),
            models.CheckConstraint(
                condition=Q(attention_check_rate__gte=0) & Q(attention_check_rate__lte=0.5),
                name="study_attention_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(test_type__in=TestType.values),
                name="study_test_type_known",
            ),
            models.CheckConstraint(
                condition=Q(mushra_conditions_per_page__gte=2)
                & Q(mushra_conditions_per_page__lte=12),
                name="study_mushra_conditions_per_page_range",
            ),
            models.CheckConstraint(
                condition=Q(transcription_max_plays__gte=1) & Q(transcription_max_plays__lte=10),
                name="study_transcription_max_plays_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.slug})"

    @property
    def design_frozen(self) -> bool:
        """Once a test has been open, sentences, systems and clips no longer change."""
        return self.status in {self.Status.OPEN, self.Status.PAUSED, self.Status.CLOSED}


class Sentence(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="sentences")
    key = models.CharField(
        max_length=64,
        validators=[RegexValidator(r"^[A-Za-z0-9_.\-]+$", _("Letters, digits, _ . - only."))],
    )
    text = models.TextField()
    position = models.PositiveIntegerField(default=0)
    expected_score = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Set only for attention-check sentences: a spoken instruction such as "
            "'Please select Poor' whose correct answer is this score. They are never test items."
        ),
    )

    class Meta:
        ordering = ["study", "position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="sentence_key_unique_per_study"),
            models.CheckConstraint(
                condition=Q(expected_score__isnull=True)
                | (Q(expected_score__gte=1) & Q(expected_score__lte=5)),
                name="sentence_expected_score_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.text[:60]}"

    @property
    def is_attention_check(self) -> bool:
        return self.expected_score is not None


class System(models.Model):
    """One condition under test. Its name is for the researcher only: listeners never see it."""

    class Kind(models.TextChoices):
        VOICE = "voice", _("Synthesised with a voice")
        UPLOADED = "uploaded", _("Uploaded audio")
        REFERENCE = "reference", _("Natural reference")
        ANCHOR = "anchor", _("Anchor (MNRU or low-pass)")

    class AnchorKind(models.TextChoices):
        """How an anchor is derived from its source's clips."""

        MNRU = "mnru", _("MNRU noise (ITU-T P.810)")
        LOWPASS_3500 = "lowpass3500", _("Low-pass 3.5 kHz (MUSHRA low anchor, ITU-R BS.1534-3)")
        LOWPASS_7000 = "lowpass7000", _("Low-pass 7 kHz (MUSHRA mid anchor, ITU-R BS.1534-3)")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="systems")
    name = models.CharField(max_length=100)
    kind = choice_field(Kind)
    voice = models.ForeignKey(
        "synthesis.Voice",
        on_delete=models.PROTECT,  # a voice in use cannot be deleted from under a study
        null=True,
        blank=True,
        related_name="systems",
    )
    anchor_source = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="anchors",
        help_text=_("Anchors are derived from this system's clips."),
    )
    anchor_kind = choice_field(
        AnchorKind,
        default=AnchorKind.MNRU,
        help_text=_("For an anchor: MNRU noise at anchor_q_db, or a MUSHRA low-pass filter."),
    )
    anchor_q_db = models.FloatField(
        null=True, blank=True, help_text=_("MNRU Q in dB (ITU-T P.810).")
    )
    is_low_anchor = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="system_name_unique_per_study"),
            models.CheckConstraint(
                condition=~Q(kind="voice") | Q(voice__isnull=False),
                name="system_voice_kind_has_voice",
            ),
            # An anchor has a source; an MNRU anchor has Q, a low-pass anchor none.
            models.CheckConstraint(
                condition=~Q(kind="anchor")
                | (
                    Q(anchor_source__isnull=False)
                    & (
                        (Q(anchor_kind="mnru") & Q(anchor_q_db__isnull=False))
                        | (
                            Q(anchor_kind__in=["lowpass3500", "lowpass7000"])
                            & Q(anchor_q_db__isnull=True)
                        )
                    )
                ),
                name="system_anchor_has_source_and_setting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.kind}]"


def clip_upload_to(instance: Clip, filename: str) -> str:
    # Opaque name: only the random token, never system or sentence ids.
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "flac"
    return f"clips/{instance.token[:2]}/{instance.token}.{ext}"


class Clip(models.Model):
    Status = WorkStatus

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="clips")
    sentence = models.ForeignKey(Sentence, on_delete=models.CASCADE, related_name="clips")
    token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    status = choice_field(Status, default=Status.PENDING)
    audio = models.FileField(upload_to=clip_upload_to, blank=True, max_length=255)
    duration_s = models.FloatField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    loudness_lufs = models.FloatField(null=True, blank=True)
    peak_dbfs = models.FloatField(null=True, blank=True)
    clipped = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    seed = models.BigIntegerField(default=new_seed)
    expected_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text=_(
            "For a study made from a recipe: the sha256 the recipe gives for this recorded "
            "clip's file. An upload must match it (listening.studies.recordings)."
        ),
    )
    synthesis_seconds = models.FloatField(null=True, blank=True)
    real_time_factor = models.FloatField(null=True, blank=True)
    device = models.CharField(max_length=32, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The claim on a clip being synthesised (synthesis/clips.py): which worker process holds it
    # ("host/pid") and until when; the worker renews the lease while it works, and the sweep
    # queues again a clip whose lease ran out (its worker died). After
    # SYNTHESIS_MAX_LEASE_EXPIRIES expiries the clip fails instead of looping.
    worker = models.CharField(max_length=255, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_expiries = models.PositiveSmallIntegerField(default=0)
    # When the clip's task was last sent, and its id: a pending clip whose task was sent long
    # ago and never picked up (a broker that lost it) is sent again by the sweep.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    provenance = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "What produced the clip, written when it becomes ready: seed, engine, voice and "
            "its file digests, speaker, noise and length scales, vocoder, sample rates, "
            "package versions (synthesis.provenance)."
        ),
    )
    objective = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "Cached objective metrics (listening.objective): against the reference clip of the "
            "same sentence when the study has one, plus reference-free descriptors and the "
            "automatic MOS estimates (DistillMOS, DNSMOS)."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["system", "sentence"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "sentence"], name="one_clip_per_system_and_sentence"
            ),
            models.CheckConstraint(
                condition=~Q(status="ready") | ~Q(audio=""), name="ready_clip_has_audio"
            ),
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"clip {self.token} ({self.status})"


class StudyReport(models.Model):
    """A built report, cached until new ratings arrive (or the screening rules change).

    ``key`` fingerprints what the report was built from (ratings count, newest rating, rules);
    a request whose fingerprint matches a ready report gets it without rebuilding."""

    Status = WorkStatus

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reports")
    key = models.CharField(max_length=64)
    status = choice_field(Status, default=Status.PENDING)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=200, blank=True)
    data = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="one_report_per_fingerprint"),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="report_progress_range"
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.key[:8]} of {self.study.slug} ({self.status})"
