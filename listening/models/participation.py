"""Who takes part and what they answer: listeners, their playlists of trials, the clips each
trial presents, and the responses."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .studies import Clip, Study, TestType, choice_field, new_token


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
    platform = choice_field(Platform, default=Platform.NONE)
    external_id = models.CharField(max_length=128, blank=True)
    #: The platform's id of this attempt (Prolific SESSION_ID, MTurk assignmentId): with the
    #: external id it proves a returning listener is the same person; alone the id does not.
    attempt_id = models.CharField(max_length=200, blank=True)
    platform_params = models.JSONField(default=dict, blank=True)
    stage = choice_field(Stage, default=Stage.CONSENT)
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
    platform = choice_field(Listener.Platform)
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
    status = choice_field(Status, default=Status.FREE)
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
    """One trial of a playlist: a page shows one or more trials, a trial presents its clips
    (``TrialClip``, each with a role: one clip in ACR, A and B in CCR and AB, A, B and X in
    ABX, reference and test in SMOS) and gets one response (``Rating``) from its listener."""

    class Purpose(models.TextChoices):
        TRAINING = "training", _("Training (not counted)")
        TEST = "test", _("Test")
        GOLD = "gold", _("Gold attention check")
        REPEAT = "repeat", _("Repeated clip (consistency check)")

    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    clip = models.ForeignKey(
        Clip,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="playlist_items",
        help_text=_(
            "The rated clip of a trial that rates one clip (ACR; SMOS's test clip); empty for "
            "a comparison, whose clips are its trial clips."
        ),
    )
    purpose = choice_field(Purpose, default=Purpose.TEST)
    expected_score = models.SmallIntegerField(
        null=True,
        blank=True,
        help_text=_("Gold items: the score an attentive listener gives (CCR: −3…+3)."),
    )
    expected_choice = models.CharField(
        max_length=8,
        blank=True,
        help_text=_("Gold items of AB and ABX: the answer an attentive listener gives."),
    )

    class Meta:
        ordering = ["playlist", "position"]
        constraints = [
            models.UniqueConstraint(fields=["playlist", "position"], name="item_position_unique"),
            models.CheckConstraint(
                condition=Q(expected_score__isnull=True)
                | (Q(expected_score__gte=-3) & Q(expected_score__lte=5)),
                name="item_expected_score_range",
            ),
            models.CheckConstraint(
                condition=Q(expected_choice__in=["", "a", "b", "tie"]),
                name="item_expected_choice_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.playlist_id}#{self.position} {self.purpose}"


class TrialClip(models.Model):
    """A clip as one trial presents it: its place on the page and its role."""

    class Role(models.TextChoices):
        TEST = "test", _("Test clip")
        REFERENCE = "reference", _("Reference")
        A = "a", _("A")
        B = "b", _("B")
        X = "x", _("X")
        HIDDEN_REFERENCE = "hidden_reference", _("Hidden reference")
        ANCHOR = "anchor", _("Anchor")

    trial = models.ForeignKey(PlaylistItem, on_delete=models.CASCADE, related_name="trial_clips")
    position = models.PositiveSmallIntegerField(help_text=_("Order of play on the page."))
    role = choice_field(Role)
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="trial_clips")

    class Meta:
        ordering = ["trial", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "position"], name="trial_clip_position_unique"
            ),
            # A trial has at most one A, B, X, reference and hidden reference; several test
            # clips and anchors are a multi-stimulus trial's conditions.
            models.UniqueConstraint(
                fields=["trial", "role"],
                condition=Q(role__in=["a", "b", "x", "reference", "hidden_reference"]),
                name="trial_clip_role_unique",
            ),
            models.CheckConstraint(
                condition=Q(
                    role__in=["test", "reference", "a", "b", "x", "hidden_reference", "anchor"]
                ),
                name="trial_clip_role_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trial_id}.{self.position} {self.role}"


class Rating(models.Model):
    """A listener's response to one trial: what the study's test type asks (a score, or a
    choice), with the database holding each type to its range.

    ``followups`` holds the answers to the study's yes/no follow-up questions "per clip
    answered": for ACR and transcription that is the response's one clip. A comparison trial
    (CCR, AB, ABX, SMOS) is answered once, about the pair, because the listener judges the
    pair and cannot say which of two clips a mispronunciation was in without a second
    question per clip; the report counts the answer for each system of the trial. MUSHRA
    rates every condition on its own, so its answers sit on each ConditionScore: a
    proportion per system needs an answer per system, and the page shows the questions
    beside each condition's slider."""

    class Choice(models.TextChoices):
        A = "a", _("A")
        B = "b", _("B")
        TIE = "tie", _("No preference")

    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="ratings")
    clip = models.ForeignKey(
        Clip,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ratings",
        help_text=_("The rated clip, for a test type that rates one (ACR, SMOS)."),
    )
    item = models.ForeignKey(
        PlaylistItem, on_delete=models.PROTECT, null=True, blank=True, related_name="ratings"
    )
    purpose = choice_field(PlaylistItem.Purpose, default=PlaylistItem.Purpose.TEST)
    test_type = choice_field(TestType, default=TestType.ACR)
    score = models.SmallIntegerField(
        null=True,
        blank=True,
        help_text=_("ACR and SMOS: 1–5; CCR: −3…+3, the second clip against the first."),
    )
    choice = models.CharField(
        max_length=8,
        choices=Choice.choices,
        blank=True,
        help_text=_("AB: a, b or tie; ABX: a or b, what the listener says X is."),
    )
    text = models.TextField(
        blank=True,
        help_text=_(
            "Transcription: what the listener typed, as typed (the analysis normalises it)."
        ),
    )
    play_counts = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Plays of each of the trial's clips, in their order on the page."),
    )
    play_count = models.PositiveSmallIntegerField(default=1)
    played_seconds = models.FloatField(default=0.0)
    followups = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "The study's follow-up questions answered for this response: {key: yes|no}. ACR and "
            "transcription: about its one clip; CCR, AB, ABX, SMOS: about the trial (one "
            "answer for the pair). MUSHRA's are on its ConditionScore rows, one per condition."
        ),
    )
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
            # Each test type's answer and nothing else: the ACR scale of ITU-T P.800 (1 Bad …
            # 5 Excellent) and SMOS's five similarity grades; CCR's seven categories of P.800
            # Annex E (−3 Much worse … +3 Much better); AB's A, B or no preference; ABX's A or B.
            models.CheckConstraint(
                condition=(
                    Q(
                        test_type__in=["acr", "smos"],
                        score__isnull=False,
                        score__gte=1,
                        score__lte=5,
                        choice="",
                    )
                    | Q(
                        test_type="ccr", score__isnull=False, score__gte=-3, score__lte=3, choice=""
                    )
                    | Q(test_type="ab", score__isnull=True, choice__in=["a", "b", "tie"])
                    | Q(test_type="abx", score__isnull=True, choice__in=["a", "b"])
                    # MUSHRA (BS.1534-3): the 0–100 scores are its ConditionScore rows.
                    | Q(test_type="mushra", score__isnull=True, choice="")
                    # Transcription: what the listener typed, never empty.
                    | (Q(test_type="transcription", score__isnull=True, choice="") & ~Q(text=""))
                )
                # Only a transcription holds text.
                & (Q(test_type="transcription") | Q(text="")),
                name="rating_answer_fits_test_type",
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
        answer = self.choice or self.score or self.text[:20]
        return f"{self.listener_id} answered trial {self.item_id}: {answer}"


class ConditionScore(models.Model):
    """One condition's score in a MUSHRA response: 0–100 on the continuous quality scale of
    ITU-R BS.1534-3 (Bad 0–20, Poor, Fair, Good, Excellent 80–100), for one trial clip."""

    response = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="condition_scores")
    trial_clip = models.ForeignKey(
        TrialClip, on_delete=models.PROTECT, related_name="condition_scores"
    )
    score = models.SmallIntegerField()
    followups = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("The follow-up questions answered about this condition: {key: yes|no}."),
    )
    play_count = models.PositiveSmallIntegerField(default=0)
    played_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["response", "trial_clip__position"]
        constraints = [
            models.UniqueConstraint(
                fields=["response", "trial_clip"], name="one_score_per_response_and_condition"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=100), name="condition_score_range"
            ),
            models.CheckConstraint(
                condition=Q(played_seconds__gte=0), name="condition_score_played_seconds"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.response_id}/{self.trial_clip_id}: {self.score}"
