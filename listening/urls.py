"""The listening app's URLs: the front page and each room's URLconf, all at the site root."""

from django.urls import include, path

from listening.studies.views import home

urlpatterns = [
    path("", home, name="home"),
    # The listener path (/t/<slug>/...), the researcher pages (/studies/...) and the report pages
    # (/studies/<slug>/report/...) live with the code they serve.
    path("", include("listening.participation.urls")),
    path("", include("listening.studies.urls")),
    path("", include("listening.analysis.urls")),
]
