"""The one error kind that crosses layers: a service says "try again later", the task base
(``mos_site.celery.HarkenTask``) retries it. Kept apart from the Celery module so services that
raise it import no Celery."""


class TemporaryFailure(Exception):
    """Worth retrying later (a checkpoint server down, storage briefly unavailable); the task
    that called the service retries on the fixed back-off of ``mos_site.celery``."""
