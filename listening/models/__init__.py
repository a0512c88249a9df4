"""Harken's domain: studies, their sentences and systems, clips, listeners, playlists of
trials, and responses.

The database guards what must never happen (one response per listener and trial, each test
type's answer in its range, one clip per system and sentence, one playlist per listener, one
listener per external id and study); the services of each room (``listening.studies``,
``listening.participation``, ``listening.analysis``, ``listening.objective``) change state,
views only call them.

``studies`` holds the study and its material, ``participation`` the listener's side: a
playlist is an ordered list of trials (``PlaylistItem``), a trial presents clips in roles
(``TrialClip``), and a listener's response to a trial is a ``Rating``.
"""

from .participation import (
    ConditionScore,
    Listener,
    Playlist,
    PlaylistItem,
    Rating,
    StudyArrival,
    TrialClip,
)
from .studies import (
    Clip,
    Sentence,
    Study,
    StudyReport,
    System,
    TestType,
    clip_upload_to,
    default_screening,
    new_seed,
    new_token,
)

__all__ = [
    "Clip",
    "ConditionScore",
    "Listener",
    "Playlist",
    "PlaylistItem",
    "Rating",
    "Sentence",
    "Study",
    "StudyArrival",
    "StudyReport",
    "System",
    "TestType",
    "TrialClip",
    "clip_upload_to",
    "default_screening",
    "new_seed",
    "new_token",
]
