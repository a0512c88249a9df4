"""Pages drawn once per process and filled per request: the template runs the first time a key
is asked for, with marked slots where a visitor's own values go; later requests get that HTML
split at its slots, with their own values put in (escaped as the template would escape them).

Where it sits: the listener's welcome, questionnaire and headphone-check pages and the ACR
rating page (``listening.participation``). In an arrival burst every new listener opens the same
three pages, and a rating page is the same for every listener of a study but for its clips'
tokens and URLs: rendering the templates was the largest share of those requests' CPU.

The caller's promise: ``key`` names everything the frame's context holds (the study's version,
the platform, the page's shape...; the template and the language are added here). A context
that differs under one key would show one visitor another's page.

The CSRF token is always a slot: each response gets ``get_token(request)`` (which also makes the
CSRF middleware set its cookie, as the ``{% csrf_token %}`` tag does). A visitor with messages
waiting (``django.contrib.messages``, a signed-in researcher opening a listener link) gets the
page rendered in full: those messages are theirs alone.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.translation import get_language

#: Frames kept per process, least recently used first out (a frame is some kilobytes).
FRAMES_MAX = 512

# Private-use characters around a number drawn per process: HTML escaping leaves them as they
# are, and a study's own text (instructions, consent, questions) cannot guess the number, so
# nothing a researcher writes is taken for a slot.
_NONCE = secrets.token_hex(8)
_SLOT = re.compile(f"\ue000{_NONCE}:([a-z_0-9]+)\ue001")
_FRAMES: OrderedDict[tuple, list[str]] = OrderedDict()
_LOCK = threading.Lock()  # gthread workers share the frames between threads


def slot(name: str) -> str:
    """The mark that stands for the visitor's ``name`` value in a frame's context."""
    return f"\ue000{_NONCE}:{name}\ue001"


def framed_html(
    request: HttpRequest,
    template_name: str,
    context: Mapping,
    key: Hashable,
    *,
    values: Mapping[str, str] | None = None,
    frame_context: Callable[[], Mapping] | None = None,
) -> str:
    """``template_name`` rendered with ``context`` for this request, from this process's frame
    for ``key``. ``frame_context()`` builds the context the frame is drawn from, with
    :func:`slot` marks where ``values`` go (default: ``context`` itself, when the CSRF token is
    the only per-visitor value)."""
    if get_messages(request):
        return render_to_string(template_name, context, request)
    full_key = (template_name, get_language(), key)
    with _LOCK:
        pieces = _FRAMES.get(full_key)
        if pieces is not None:
            _FRAMES.move_to_end(full_key)
    if pieces is None:
        drawn = frame_context() if frame_context else context
        html = render_to_string(template_name, {**drawn, "csrf_token": slot("csrf")}, request)
        pieces = _SLOT.split(html)
        with _LOCK:
            _FRAMES[full_key] = pieces
            while len(_FRAMES) > FRAMES_MAX:
                _FRAMES.popitem(last=False)
    filled = {**(values or {}), "csrf": get_token(request)}
    out = pieces[:]
    for i in range(1, len(out), 2):
        out[i] = escape(filled[out[i]])
    return "".join(out)


def shared_page(
    request: HttpRequest,
    template_name: str,
    context: Mapping,
    key: Hashable,
    status: int = 200,
) -> HttpResponse:
    """A page every visitor whose request gives ``key`` sees alike but for the CSRF token."""
    return HttpResponse(framed_html(request, template_name, context, key), status=status)
