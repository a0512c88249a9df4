"""Who may open the researcher pages: staff accounts (DESIGN.md's researchers) and admins."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from listening.selectors import is_researcher


def researcher_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first; then a non-staff account gets a 403 page that says how to become a
    researcher instead of an empty or broken page."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_researcher(request.user):
            return render(request, "listening/researcher/not_researcher.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped
