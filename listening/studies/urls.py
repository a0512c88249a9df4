"""Researcher URLs: the pages under /studies/ and the JSON API under /api/.

Names live in the ``researcher`` namespace (``reverse("researcher:study", kwargs={"slug": s})``);
the API's are ``researcher:api:…``, which is why its URLconf is included here. The report pages
under /studies/<slug>/report/ are ``listening.analysis.urls``'s.
"""

from django.urls import include, path, re_path

from . import views

app_name = "researcher"

urlpatterns = [
    path("studies/", views.dashboard, name="dashboard"),
    path("studies/new/", views.study_new, name="study_new"),
    path("studies/api-token/", views.api_token, name="api_token"),
    path("studies/<slug:slug>/", views.study_detail, name="study"),
    path("studies/<slug:slug>/settings/", views.study_edit, name="study_edit"),
    path("studies/<slug:slug>/sentences/", views.sentences, name="sentences"),
    path(
        "studies/<slug:slug>/sentences/preview/",
        views.sentences_preview,
        name="sentences_preview",
    ),
    path(
        "studies/<slug:slug>/sentences/delete/",
        views.sentences_delete,
        name="sentences_delete",
    ),
    path("studies/<slug:slug>/systems/", views.systems, name="systems"),
    path("studies/<slug:slug>/systems/<int:system_id>/", views.system_edit, name="system_edit"),
    path(
        "studies/<slug:slug>/systems/<int:system_id>/delete/",
        views.system_delete,
        name="system_delete",
    ),
    path(
        "studies/<slug:slug>/systems/<int:system_id>/upload/",
        views.system_upload,
        name="system_upload",
    ),
    path("studies/<slug:slug>/synthesis/", views.synthesis_start, name="synthesis_start"),
    path("studies/<slug:slug>/clips/", views.clips, name="clips"),
    path("studies/<slug:slug>/status.json", views.status_json, name="status_json"),
    path("studies/<slug:slug>/clips/<str:token>/audio", views.clip_audio, name="clip_audio"),
    path("studies/<slug:slug>/clips/<str:token>/retry", views.clip_retry, name="clip_retry"),
    re_path(
        r"^studies/(?P<slug>[-a-zA-Z0-9_]+)/(?P<action>open|pause|resume|close)/$",
        views.study_action,
        name="study_action",
    ),
    path("api/", include("listening.api.urls")),
]
