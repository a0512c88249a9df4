from django.urls import include, path

from .views import home

urlpatterns = [
    path("", home.home, name="home"),
    # The listener path (/t/<slug>/...) and the researcher pages (/studies/...) live in their
    # own URLconfs so each stays readable.
    path("", include("listening.urls_listener")),
    path("", include("listening.urls_researcher")),
    path("", include("listening.urls_reports")),
]
