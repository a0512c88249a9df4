"""The listener's path, included at the site root: /t/<study slug>/..."""

from django.urls import path

from .views import listener

urlpatterns = [
    path("t/<slug:slug>/", listener.entry, name="listener-entry"),
    path("t/<slug:slug>/about-you/", listener.questionnaire, name="listener-questionnaire"),
    path("t/<slug:slug>/headphones/", listener.headphone_check, name="listener-headphones"),
    path(
        "t/<slug:slug>/headphones/volume/",
        listener.headphone_volume,
        name="listener-headphone-volume",
    ),
    path(
        "t/<slug:slug>/headphones/sound/<int:index>/",
        listener.headphone_trial,
        name="listener-headphone-trial",
    ),
    path("t/<slug:slug>/rate/", listener.rate, name="listener-rate"),
    path("t/<slug:slug>/clip/<str:token>/", listener.clip_audio, name="listener-clip"),
    path("t/<slug:slug>/done/", listener.done, name="listener-done"),
    path("t/<slug:slug>/ended/", listener.ended, name="listener-ended"),
    path("t/<slug:slug>/full/", listener.full, name="listener-full"),
]
