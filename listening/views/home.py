"""The front page: public demo studies for everyone, the researcher's studies when logged in."""

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from listening.models import Study


def home(request: HttpRequest) -> HttpResponse:
    public = Study.objects.filter(listed_publicly=True).order_by("title")
    mine = Study.objects.none()
    if request.user.is_authenticated:
        mine = Study.objects.all() if request.user.is_superuser else request.user.studies.all()
        mine = mine.annotate(
            n_ratings=Count("listeners__ratings", filter=Q(listeners__ratings__purpose="test"))
        )
    return render(request, "listening/home.html", {"public_studies": public, "my_studies": mine})
