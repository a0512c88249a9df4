"""The listener's path, included at the site root: /t/<study slug>/..."""

from django.urls import path

from listening.models import Listener

from . import views, views_headphones, views_mushra, views_trials

# The sounds of a MUSHRA or transcription page, for a listener at the rating step only.
_on_trial = views.listener_view(Listener.Stage.TRAINING, Listener.Stage.RATING)

urlpatterns = [
    path("t/<slug:slug>/", views.entry, name="listener-entry"),
    path("t/<slug:slug>/about-you/", views.questionnaire, name="listener-questionnaire"),
    path("t/<slug:slug>/headphones/", views_headphones.headphone_check, name="listener-headphones"),
    path(
        "t/<slug:slug>/headphones/volume/",
        views_headphones.headphone_volume,
        name="listener-headphone-volume",
    ),
    path(
        "t/<slug:slug>/headphones/progress/",
        views_headphones.headphone_progress,
        name="listener-headphone-progress",
    ),
    path(
        "t/<slug:slug>/headphones/sound/<int:index>/",
        views_headphones.headphone_trial,
        name="listener-headphone-trial",
    ),
    path("t/<slug:slug>/rate/", views.rate, name="listener-rate"),
    path("t/<slug:slug>/clip/<str:token>/", views.clip_audio, name="listener-clip"),
    path("t/<slug:slug>/sound/<str:token>/", views_trials.trial_sound, name="listener-trial-sound"),
    path(
        "t/<slug:slug>/hear/<str:token>/",
        _on_trial(views_mushra.trial_audio),
        name="listener-trial-audio",
    ),
    path(
        "t/<slug:slug>/hear/<str:token>/play/",
        _on_trial(views_mushra.trial_play),
        name="listener-trial-play",
    ),
    path("t/<slug:slug>/done/", views.done, name="listener-done"),
    path("t/<slug:slug>/ended/", views.ended, name="listener-ended"),
    path("t/<slug:slug>/full/", views.full, name="listener-full"),
]
