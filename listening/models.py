"""Harken's domain: studies, their sentences and systems, clips, listeners, playlists, ratings.

The database guards what must never happen (one rating per listener and clip, scores 1–5, one
clip per system and sentence, one playlist per listener, one listener per external id and
study); the services of each room (``listening.studies``, ``listening.participation``,
``listening.analysis``, ``listening.objective``) change state, views only call them.
"""

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


class Study(models.Model):
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
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    listed_publicly = models.BooleanField(
        default=False, help_text=_("List the test link on the public home page (demo studies).")
    )
    open_when_ready = models.BooleanField(
        default=False, help_text=_("Open the test as soon as every clip is synthesised.")
    )

    ratings_per_clip = models.PositiveSmallIntegerField(
        default=8, validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    clips_per_listener = models.PositiveSmallIntegerField(
        default=20, validators=[MinValueValidator(1), MaxValueValidator(500)]
    )
    clips_per_page = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    training_clips = models.PositiveSmallIntegerField(default=3, validators=[MaxValueValidator(20)])
    attention_check_rate = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text=_("Share of extra pages that are gold or repeated clips (P.808 practice)."),
    )
    max_attention_failures = models.PositiveSmallIntegerField(
        default=1, help_text=_("A listener failing more attention checks than this is flagged.")
    )
    questionnaire_enabled = models.BooleanField(default=True)
    headphone_check_enabled = models.BooleanField(default=True)
    listener_timeout_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5)]
    )
    claim_idle_minutes = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(2), MaxValueValidator(120)],
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
    loudness_target_lufs = models.FloatField(
        default=-26.0, validators=[MinValueValidator(-60.0), MaxValueValidator(-5.0)]
    )
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
    kind = models.CharField(max_length=16, choices=Kind.choices)
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
    anchor_kind = models.CharField(
        max_length=16,
        choices=AnchorKind.choices,
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
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="clips")
    sentence = models.ForeignKey(Sentence, on_delete=models.CASCADE, related_name="clips")
    token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
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


class Listener(models.Model):
    class Platform(models.TextChoices):
        NONE = "none", _("Direct link")
        PROLIFIC = "prolific", _("Prolific")
        MTURK = "mturk", _("Amazon Mechanical Turk")

    class Stage(models.TextChoices):
        CONSENT = "consent", _("Consent")
        QUESTIONNAIRE = "questionnaire", _("Questionnaire")
        HEADPHONES = "headphones", _("Headphone check")
        TRAINING = "training", _("Training")
        RATING = "rating", _("Rating")
        COMPLETED = "completed", _("Completed")
        FAILED_CHECK = "failed_check", _("Failed the headphone check")
        NO_PLAYLIST = "no_playlist", _("No playlist left")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="listeners")
    token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.NONE)
    external_id = models.CharField(max_length=128, blank=True)
    #: The platform's id of this attempt (Prolific SESSION_ID, MTurk assignmentId): with the
    #: external id it proves a returning listener is the same person; alone the id does not.
    attempt_id = models.CharField(max_length=200, blank=True)
    platform_params = models.JSONField(default=dict, blank=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.CONSENT)
    questionnaire = models.JSONField(default=dict, blank=True)
    headphone_check = models.JSONField(default=dict, blank=True)
    #: The rating page last served: its nonce, items and when it was served (single use).
    current_page = models.JSONField(default=dict, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    attention_failures = models.PositiveSmallIntegerField(default=0)
    flagged = models.BooleanField(default=False)
    excluded = models.BooleanField(default=False)
    exclusion_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "created_at"]
        constraints = [
            # One listener per platform attempt. The same Prolific PID / MTurk worker never
            # gets a second playlist in one study: the claim checks that (see playlists).
            models.UniqueConstraint(
                fields=["study", "platform", "external_id", "attempt_id"],
                condition=~Q(external_id="") & ~Q(attempt_id=""),
                name="one_listener_per_attempt_and_study",
            )
        ]

    def __str__(self) -> str:
        who = self.external_id or self.token[:8]
        return f"{self.platform}:{who}"


class StudyArrival(models.Model):
    """How many times the study's welcome page was opened, per platform (the report's funnel
    starts here: listeners exist only from their consent on)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arrivals")
    platform = models.CharField(max_length=16, choices=Listener.Platform.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "platform"], name="one_arrival_row_per_platform"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study_id} {self.platform}: {self.count}"


class Playlist(models.Model):
    """A precomputed, balanced unit of work (a crowd "HIT"): claimed by one listener at a time."""

    class Status(models.TextChoices):
        FREE = "free", _("Free")
        CLAIMED = "claimed", _("Claimed")
        COMPLETED = "completed", _("Completed")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="playlists")
    index = models.PositiveIntegerField()
    seed = models.BigIntegerField(help_text=_("Seed of this playlist's order; reproducible."))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FREE)
    listener = models.OneToOneField(
        Listener, on_delete=models.SET_NULL, null=True, blank=True, related_name="playlist"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    times_released = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["study", "index"]
        constraints = [
            models.UniqueConstraint(fields=["study", "index"], name="playlist_index_unique"),
            models.CheckConstraint(
                condition=Q(status="free", listener__isnull=True) | ~Q(status="free"),
                name="free_playlist_has_no_listener",
            ),
        ]
        indexes = [models.Index(fields=["study", "status"])]

    def __str__(self) -> str:
        return f"playlist {self.index} of {self.study.slug} ({self.status})"


class PlaylistItem(models.Model):
    class Purpose(models.TextChoices):
        TRAINING = "training", _("Training (not counted)")
        TEST = "test", _("Test")
        GOLD = "gold", _("Gold attention check")
        REPEAT = "repeat", _("Repeated clip (consistency check)")

    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="playlist_items")
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.TEST)
    expected_score = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Gold items: the answer an attentive listener gives.")
    )

    class Meta:
        ordering = ["playlist", "position"]
        constraints = [
            models.UniqueConstraint(fields=["playlist", "position"], name="item_position_unique"),
            models.CheckConstraint(
                condition=Q(expected_score__isnull=True)
                | (Q(expected_score__gte=1) & Q(expected_score__lte=5)),
                name="item_expected_score_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.playlist_id}#{self.position} {self.purpose}"


class Rating(models.Model):
    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="ratings")
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="ratings")
    item = models.ForeignKey(
        PlaylistItem, on_delete=models.PROTECT, null=True, blank=True, related_name="ratings"
    )
    purpose = models.CharField(
        max_length=16, choices=PlaylistItem.Purpose.choices, default=PlaylistItem.Purpose.TEST
    )
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    play_count = models.PositiveSmallIntegerField(default=1)
    played_seconds = models.FloatField(default=0.0)
    response_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text=_(
            "Server facts: from the earliest moment the clip could have ended to the answer."
        ),
    )
    served_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the server served the page with this clip.")
    )
    earliest_answer_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("served_at plus the clip's duration: the first moment it could have ended."),
    )
    client_response_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text=_("The browser's own timing, end of first play to answer: information only."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # ACR scale of ITU-T P.800: 1 Bad … 5 Excellent; nothing else is a score.
            models.CheckConstraint(
                condition=Q(score__gte=1) & Q(score__lte=5), name="rating_score_1_to_5"
            ),
            # One counted rating per listener and clip. Training and attention-check items may
            # show a clip again (a repeat exists to be rated twice), so they are excluded here
            # and guarded per item below.
            models.UniqueConstraint(
                fields=["listener", "clip"],
                condition=Q(purpose="test"),
                name="one_rating_per_listener_and_clip",
            ),
            models.UniqueConstraint(fields=["listener", "item"], name="one_rating_per_item"),
            models.CheckConstraint(condition=Q(play_count__gte=0), name="rating_play_count"),
            models.CheckConstraint(
                condition=Q(played_seconds__gte=0),
                name="rating_played_seconds",
            ),
        ]
        indexes = [models.Index(fields=["clip", "purpose"])]

    def __str__(self) -> str:
        return f"{self.listener_id} rated {self.clip_id}: {self.score}"


class StudyReport(models.Model):
    """A built report, cached until new ratings arrive (or the screening rules change).

    ``key`` fingerprints what the report was built from (ratings count, newest rating, rules);
    a request whose fingerprint matches a ready report gets it without rebuilding."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reports")
    key = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
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
