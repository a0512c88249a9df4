"""Celery tasks of the listening app (Celery's autodiscovery imports this module).

The tasks live beside the services they wrap: objective metrics in ``tasks_metrics`` and
report builds in ``tasks_reports``, both on the CPU queue ``metrics``.
"""

import contextlib

# Each module registers its tasks when imported; one may not exist yet in a partial checkout.
with contextlib.suppress(ImportError):
    from listening import tasks_metrics  # noqa: F401
with contextlib.suppress(ImportError):
    from listening import tasks_reports  # noqa: F401
