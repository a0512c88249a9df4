"""Observability: Prometheus metrics for the web process and the Celery workers.

A small app without models. ``metrics`` holds the collectors every process records into (it
imports nothing of the project, so any module may import it); ``exposition`` computes what
``/metrics`` shows; ``middleware`` times requests; ``views`` and ``urls`` serve ``/metrics``;
``worker`` serves a worker's own endpoint. Logs are the project's (``mos_site.logs``).
"""
