"""Celery's autodiscovery imports ``<app>.tasks``: this module only imports the modules whose
tasks the listening app has, each beside the service it wraps.

- ``listening.analysis.reports``: ``build_study_report`` (queue ``metrics``);
- ``listening.objective.cache``: ``compute_study_objective``, ``compute_clips_objective``,
  ``compute_clip_objective`` (queue ``metrics``).
"""

from listening.analysis import reports  # noqa: F401 - importing registers the tasks
from listening.objective import cache  # noqa: F401 - importing registers the tasks
