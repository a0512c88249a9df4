"""API URLs under /api/: the v1 endpoints, the OpenAPI schema and a docs page."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from . import recipes, views
from .docs import api_docs

app_name = "api"

study = "v1/studies/<slug:slug>/"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", api_docs, name="docs"),
    path("v1/voices/", views.VoiceListView.as_view(), name="voices"),
    path("v1/studies/", views.StudyListView.as_view(), name="studies"),
    path(study, views.StudyDetailView.as_view(), name="study"),
    path(study + "sentences/", views.SentencesView.as_view(), name="sentences"),
    path(study + "systems/", views.SystemsView.as_view(), name="systems"),
    path(study + "systems/<int:system_id>/", views.SystemDetailView.as_view(), name="system"),
    path(
        study + "systems/<int:system_id>/audio/",
        views.SystemAudioView.as_view(),
        name="system-audio",
    ),
    path(study + "synthesis/", views.SynthesisView.as_view(), name="synthesis"),
    path(study + "status/", views.StatusView.as_view(), name="status"),
    *(
        path(f"{study}{name}/", view.as_view(), name=name)
        for name, view in views.STUDY_ACTIONS.items()
    ),
    path(study + "clips/", views.ClipsView.as_view(), name="clips"),
    path(study + "clips/<str:token>/retry/", views.ClipRetryView.as_view(), name="clip-retry"),
    path(study + "clips/<str:token>/audio/", views.ClipAudioView.as_view(), name="clip-audio"),
    path(study + "report/", views.ReportView.as_view(), name="report"),
    path(study + "ratings.csv", views.RatingsCsvView.as_view(), name="ratings-csv"),
    path(study + "recipe/", recipes.RecipeView.as_view(), name="recipe"),
    path(study + "replication.zip", recipes.ReplicationView.as_view(), name="replication"),
    path("v1/study-imports/", recipes.RecipeImportView.as_view(), name="study-import"),
]
