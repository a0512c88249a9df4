"""Services: every write to Harken's domain goes through one function here.

Views, API endpoints, management commands and tasks parse input, call one of these and render
the result (HackSoftware's Django styleguide). Modules: ``studies`` (a study's life),
``listeners`` (the listener path: joining, playlists, ratings), ``uploads`` (sentence sets and
recordings).
"""

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
]
