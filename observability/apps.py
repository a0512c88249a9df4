from celery.signals import worker_ready
from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        # Imported here, as Django asks of code that reads models: the worker endpoint serves
        # the exposition, which queries listening's models at scrape time.
        from observability.worker import serve_on_worker_ready

        worker_ready.connect(serve_on_worker_ready, dispatch_uid="harken.worker_metrics_server")
