"""Who may see what: the one rule behind every researcher page, report download and API call.

Researchers are staff accounts (DESIGN.md); an admin (superuser) sees every study; any other
account may log in but sees no study. Another researcher's study is a 404, never a 403, so a
slug's existence is not revealed. Listeners never log in: their access is the signed cookie and
the playlist they hold (``listening.participation``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from listening.models import Study


def is_researcher(user: Any) -> bool:
    """Researchers are staff accounts (DESIGN.md); an admin marks an account staff to let it
    run studies. Any other account may log in but sees no study."""
    return bool(user.is_authenticated and (user.is_staff or user.is_superuser))


def studies_for(user: Any) -> QuerySet[Study]:
    """The studies ``user`` may see and change: a researcher's own; every study for a
    superuser; none for anyone else."""
    if not is_researcher(user):
        return Study.objects.none()
    return Study.objects.all() if user.is_superuser else Study.objects.filter(owner=user)


def study_for(user: Any, slug: str) -> Study:
    """The study ``slug`` if ``user`` may see it; Http404 otherwise (pages and API alike)."""
    return get_object_or_404(studies_for(user), slug=slug)


def researcher_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first; then a non-staff account gets a 403 page that says how to become a
    researcher instead of an empty or broken page."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_researcher(request.user):
            return render(request, "listening/studies/not_researcher.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped
