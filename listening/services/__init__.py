"""Services: every write to Harken's domain goes through one function here.

Views, API endpoints, management commands and tasks parse input, call one of these and render
the result (HackSoftware's Django styleguide). Modules: ``studies`` (a study's life),
``listeners`` (the listener path: joining, playlists, ratings), ``uploads`` (sentence sets and
recordings).
"""

from .listeners import (
    ListenerError,
    RatingRefusedError,
    headphone_check_answer,
    headphone_check_start,
    listener_consent,
    listener_join,
    listener_next_item,
    listener_questionnaire_save,
    playlist_claim,
    playlist_release_abandoned,
    rating_submit,
)
from .studies import (
    ServiceError,
    clip_counts,
    clip_retry,
    study_clips_ensure,
    study_close,
    study_open,
    study_pause,
    study_progress,
    study_resume,
    study_start_synthesis,
    study_sync_status,
)

__all__ = [
    "ServiceError",
    "clip_counts",
    "clip_retry",
    "study_clips_ensure",
    "study_close",
    "study_open",
    "study_pause",
    "study_progress",
    "study_resume",
    "study_start_synthesis",
    "study_sync_status",
    # listeners: the listener's path (joining, checks, playlists, ratings)
    "ListenerError",
    "RatingRefusedError",
    "headphone_check_answer",
    "headphone_check_start",
    "listener_consent",
    "listener_join",
    "listener_next_item",
    "listener_questionnaire_save",
    "playlist_claim",
    "playlist_release_abandoned",
    "rating_submit",
]
