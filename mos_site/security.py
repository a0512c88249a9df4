"""Security headers on every response: a Content-Security-Policy, and ``no-store`` on pages
shown to a signed-in user (researcher pages, the admin, the API).

The policy lets a page load only the site's own scripts, styles, images, audio and fetches
(``default-src 'self'``): no inline ``<script>``, ``<style>``, ``style=`` or ``on...=``, which
the templates do not use (their scripts and styles are files under ``static/``). So an HTML
injection that slipped past escaping cannot run script, and an image in a study's instructions
that points elsewhere (a tracking pixel on listeners) is not fetched. ``CONTENT_SECURITY_POLICY``
replaces the policy; empty turns the header off.

Two exceptions keep working pages working: DRF's browsable API (its own templates carry inline
script and styles) gets ``'unsafe-inline'`` for those two, on its pages only; and a response
that sets its own policy keeps it.

Signed-in pages hold a researcher's studies, ratings and API token: ``Cache-Control:
no-store`` keeps them out of shared and back-button caches. A response that already says how
it may be cached (a clip with its ETag, a static file) keeps its own header.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

_BROWSABLE_API_EXTRA = "; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            renderer = getattr(response, "accepted_renderer", None)
            if getattr(renderer, "format", "") == "api":
                policy += _BROWSABLE_API_EXTRA
            response["Content-Security-Policy"] = policy
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response
