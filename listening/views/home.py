"""The front page: public demo studies for everyone, the researcher's studies when logged in."""

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from listening.models import Study
from listening.selectors import is_researcher, studies_for


def home(request: HttpRequest) -> HttpResponse:
    public = Study.objects.filter(listed_publicly=True).order_by("title")
    mine = studies_for(request.user).annotate(
        n_ratings=Count("listeners__ratings", filter=Q(listeners__ratings__purpose="test"))
    )
    context = {
        "public_studies": public,
        "my_studies": mine,
        "is_researcher": is_researcher(request.user),
    }
    return render(request, "listening/home.html", context)
