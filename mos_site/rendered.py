"""Pages that are the same for every visitor but for their CSRF token, rendered once per
process: the template runs the first time a key is asked for, later requests get its HTML with
their own token put in.

Where it sits: the listener's welcome, questionnaire and headphone-check pages
(``listening.participation.views``) ask for one with a key that names everything their context
holds (the study's version, the platform, the language is added here); in an arrival burst
every new listener opens the same three pages, and rendering them was most of their CPU.
A page is rendered in full, not kept, while the visitor has messages waiting to be shown
(``django.contrib.messages``): those are the visitor's own.

The CSRF token is the one per-visitor part: the page is rendered with a marker in its place,
and each response gets ``get_token(request)`` there (which also makes the CSRF middleware set
its cookie, as the ``{% csrf_token %}`` tag does).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.translation import get_language

#: Kept pages per process, least recently used first out (a page is some kilobytes).
SHARED_PAGES_MAX = 256

# Letters and digits only, so HTML escaping leaves it as it is.
_CSRF_MARK = "csrfmark" + secrets.token_hex(16)
_PAGES: OrderedDict[tuple, str] = OrderedDict()
_LOCK = threading.Lock()  # gthread workers share the dict between threads


def shared_page(
    request: HttpRequest,
    template_name: str,
    context: Mapping,
    key: Hashable,
    status: int = 200,
) -> HttpResponse:
    """``template_name`` rendered with ``context``, once per ``key`` and language in this
    process, with this request's CSRF token. ``key`` must change whenever the context would
    (the caller's promise: a context that differs under one key shows one visitor another's
    page)."""
    if get_messages(request):
        return HttpResponse(render_to_string(template_name, context, request), status=status)
    full_key = (template_name, get_language(), key)
    with _LOCK:
        html = _PAGES.get(full_key)
        if html is not None:
            _PAGES.move_to_end(full_key)
    if html is None:
        html = render_to_string(template_name, {**context, "csrf_token": _CSRF_MARK}, request)
        with _LOCK:
            _PAGES[full_key] = html
            while len(_PAGES) > SHARED_PAGES_MAX:
                _PAGES.popitem(last=False)
    return HttpResponse(html.replace(_CSRF_MARK, get_token(request)), status=status)
