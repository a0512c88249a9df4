"""What ``/metrics`` shows: the samples the processes recorded, plus numbers computed at scrape
time, and who may read them.

Where it sits: ``observability.views.metrics`` (the web's /metrics) and
``observability.worker`` (a worker's own endpoint) call :func:`exposition`; both ask
:func:`request_allowed` first. The recorded collectors are in ``observability.metrics``.

Computed at scrape time, one aggregate query or broker call each, by the web's /metrics only
(:class:`DatabaseCollector`, :class:`BrokerCollector`): clips by state, listeners seen in the last
:data:`ACTIVE_LISTENER_MINUTES` minutes, messages waiting per Celery queue, and
``harken_database_up`` / ``harken_broker_up``, which turn 0 (instead of the scrape failing) when
the database or the broker cannot be reached.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from listening.models import Clip, Listener
from observability.metrics import MULTIPROC_ENV, process_writes_to_multiproc_dir

log = logging.getLogger(__name__)

ACTIVE_LISTENER_MINUTES = 5
"""A listener counts as active when the site saw them (Listener.last_seen_at) this recently."""


# --- Computed at scrape time --------------------------------------------------------------------


class DatabaseCollector:
    """Clips by state and active listeners, one aggregate query each; database_up says whether
    those numbers could be read. An unreachable database gives ``harken_database_up 0`` and no
    other family from here: the rest of /metrics is still served."""

    def describe(self) -> list:
        return []  # nothing is queried when the collector is registered

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("harken_database_up", "1 when /metrics could query the database")
        try:
            by_state = dict.fromkeys(Clip.Status.values, 0)
            for row in Clip.objects.order_by().values("status").annotate(n=Count("id")):
                by_state[row["status"]] = row["n"]
            since = timezone.now() - timedelta(minutes=ACTIVE_LISTENER_MINUTES)
            active = Listener.objects.filter(last_seen_at__gte=since).count()
        except Exception as exc:  # any driver error: report down, keep serving the rest
            log.warning("metrics: database unavailable", extra={"error": str(exc)[:300]})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        clips = GaugeMetricFamily("harken_clips", "Clips by state", labels=["state"])
        for state, n in by_state.items():
            clips.add_metric([state], n)
        yield clips
        yield GaugeMetricFamily(
            "harken_listeners_active",
            f"Listeners seen in the last {ACTIVE_LISTENER_MINUTES} minutes",
            value=active,
        )


def celery_queues() -> list[str]:
    """The queues Harken routes tasks to: the default queue and every routed one."""
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    queues.update(route["queue"] for route in settings.CELERY_TASK_ROUTES.values())
    return sorted(queues)


class BrokerCollector:
    """Messages waiting in each Celery queue: LLEN on Redis (every priority sub-queue kombu
    uses), the message files of a queue on the filesystem broker. Other brokers report nothing.
    ``harken_broker_up`` is 0 when the broker cannot be read; the scrape still succeeds."""

    TIMEOUT_S = 2.0

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        url = settings.CELERY_BROKER_URL
        options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {})
        queues = celery_queues()
        try:
            if url.startswith(("redis://", "rediss://")):
                depths = self._redis(url, queues, options)
            elif url.startswith("filesystem://"):
                depths = self._filesystem(queues, options)
            else:
                return
        except Exception as exc:
            log.warning("metrics: broker unavailable", extra={"error": str(exc)[:300]})
            yield GaugeMetricFamily("harken_broker_up", "1 when /metrics could read the broker", 0)
            return
        yield GaugeMetricFamily("harken_broker_up", "1 when /metrics could read the broker", 1)
        depth = GaugeMetricFamily(
            "harken_queue_depth", "Messages waiting in a Celery queue", labels=["queue"]
        )
        for queue in queues:
            depth.add_metric([queue], depths[queue])
        yield depth

    def _redis(self, url: str, queues: list[str], options: dict) -> dict[str, int]:
        # kombu keeps priority p > 0 of queue q in the list "q<sep>p" (see kombu's
        # Channel._q_for_pri), under the optional global key prefix.
        steps = options.get("priority_steps", PRIORITY_STEPS)
        sep = options.get("sep", Channel.sep)
        prefix = options.get("global_keyprefix", "")
        client = redis.Redis.from_url(
            url, socket_timeout=self.TIMEOUT_S, socket_connect_timeout=self.TIMEOUT_S
        )
        try:
            pipe = client.pipeline(transaction=False)
            keys = [
                (q, f"{prefix}{q}{sep}{p}" if p else f"{prefix}{q}") for q in queues for p in steps
            ]
            for _, key in keys:
                pipe.llen(key)
            counts = pipe.execute()
        finally:
            client.close()
        depths = dict.fromkeys(queues, 0)
        for (queue, _), n in zip(keys, counts):
            depths[queue] += int(n)
        return depths

    def _filesystem(self, queues: list[str], options: dict) -> dict[str, int]:
        # kombu's filesystem transport names a message "<ms>_<uuid>.<queue>.msg" in its
        # data_folder_in and moves it away when a worker takes it.
        folder = options["data_folder_in"]
        depths = dict.fromkeys(queues, 0)
        suffix = {f"{q}.msg": q for q in queues}
        with os.scandir(folder) as entries:
            for entry in entries:
                queue = suffix.get(entry.name.partition(".")[2])
                if queue is not None:
                    depths[queue] += 1
        return depths


# --- Exposition ---------------------------------------------------------------------------------


class _ThisProcess:
    """Forwards the default registry: this process's own samples when not in multiprocess mode."""

    def describe(self) -> list:
        return []

    def collect(self):
        yield from REGISTRY.collect()


_warned_late_env = False


def _registry(*, site: bool):
    global _warned_late_env
    registry = CollectorRegistry()
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        if not process_writes_to_multiproc_dir() and not _warned_late_env:
            _warned_late_env = True
            log.warning(
                "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported in this "
                "process, so this process's own samples are missing from /metrics; set it in the "
                "environment before the process starts.",
                extra={"dir": folder},
            )
        MultiProcessCollector(registry, path=folder)
    else:
        registry.register(_ThisProcess())
    if site:
        registry.register(DatabaseCollector())
        registry.register(BrokerCollector())
    return registry


def exposition(*, site: bool = True) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type.

    Samples come from every process sharing PROMETHEUS_MULTIPROC_DIR when it is set (gunicorn
    and Celery processes), else from this process. ``site=True`` (the web's /metrics) adds the
    scrape-time database and broker collectors; a worker's own endpoint leaves them out so the
    same numbers are not scraped twice.
    """
    return generate_latest(_registry(site=site)), CONTENT_TYPE_LATEST


# --- Who may read metrics -----------------------------------------------------------------------


def request_allowed(
    *, remote_addr: str, authorization: str, token: str, allowed_networks: Iterable[str]
) -> bool:
    """True for ``Authorization: Bearer <token>`` (when a token is configured) or a client
    address inside one of ``allowed_networks`` (addresses or CIDR networks)."""
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    for allowed in allowed_networks:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False
