"""Celery tasks of the listening app (Celery's autodiscovery imports this module).

The tasks live beside the services they wrap: objective metrics in ``tasks_metrics`` and
report builds in ``tasks_reports``, both on the CPU queue ``metrics``.
"""

from listening import tasks_metrics, tasks_reports  # noqa: F401 - importing registers the tasks
