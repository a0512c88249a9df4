"""Researcher URLs: the pages under /studies/ and the JSON API under /api/.

Names live in the ``researcher`` namespace (``reverse("researcher:study", kwargs={"slug": s})``);
the API's are ``researcher:api:…``, which is why its URLconf is included here. The report pages
under /studies/<slug>/report/ are ``listening.analysis.urls``'s.
"""

from django.urls import include, path, re_path

from . import views

app_name = "researcher"

# One system's pages, under studies/<slug>/systems/<id>/.
system = [
    path("", views.system_edit, name="system_edit"),
    path("delete/", views.system_delete, name="system_delete"),
    path("upload/", views.system_upload, name="system_upload"),
]
# One study's pages, under studies/<slug>/.
study = [
    path("", views.study_detail, name="study"),
    path("settings/", views.study_edit, name="study_edit"),
    path("sentences/", views.sentences, name="sentences"),
    path("sentences/preview/", views.sentences_preview, name="sentences_preview"),
    path("sentences/delete/", views.sentences_delete, name="sentences_delete"),
    path("systems/", views.systems, name="systems"),
    path("systems/<int:system_id>/", include(system)),
    path("synthesis/", views.synthesis_start, name="synthesis_start"),
    path("clips/", views.clips, name="clips"),
    path("status.json", views.status_json, name="status_json"),
    path("clips/<str:token>/audio", views.clip_audio, name="clip_audio"),
    path("clips/<str:token>/retry", views.clip_retry, name="clip_retry"),
    re_path(r"^(?P<action>open|pause|resume|close)/$", views.study_action, name="study_action"),
]

urlpatterns = [
    path("studies/", views.dashboard, name="dashboard"),
    path("studies/new/", views.study_new, name="study_new"),
    path("studies/new/from-recipe/", views.study_new_from_recipe, name="study_import"),
    path("studies/api-token/", views.api_token, name="api_token"),
    path("studies/<slug:slug>/", include(study)),
    path("api/", include("listening.api.urls")),
]
