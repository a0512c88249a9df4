"""Request latency per route, for ``harken_request_seconds``."""

from __future__ import annotations

import time

from observability import metrics


class RequestMetricsMiddleware:
    """Observes request latency per view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The view name, not the raw path: tokens in paths would explode the label space.
        route = match.view_name if match else "unmatched"
        metrics.REQUEST_LATENCY.labels(
            method=request.method, route=route, status=str(response.status_code)
        ).observe(time.perf_counter() - start)
        return response
