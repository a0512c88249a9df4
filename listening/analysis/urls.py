"""Report URLs: a study's MOS report page, its build status and its downloads.

Included at the site root without a namespace: ``{% url 'study_report' study.slug %}``.
"""

from django.urls import path

from . import views

report = "studies/<slug:slug>/report/"

urlpatterns = [
    path(report, views.study_report, name="study_report"),
    path(report + "status.json", views.report_status, name="study_report_status"),
    path(report + "rebuild", views.report_rebuild, name="study_report_rebuild"),
    path(report + "ratings.csv", views.ratings_csv, name="study_report_ratings_csv"),
    path(report + "summary.csv", views.report_summary_csv, name="study_report_summary_csv"),
    path(report + "objective.csv", views.report_objective_csv, name="study_report_objective_csv"),
    path(report + "report.json", views.report_json, name="study_report_json"),
    path(report + "report.html", views.report_html, name="study_report_html"),
    path(report + "answers.csv", views.transcription_answers_csv, name="study_report_answers_csv"),
    path(
        report + "word-errors.csv",
        views.report_word_errors_csv,
        name="study_report_word_errors_csv",
    ),
    path(report + "audio.zip", views.audio_zip, name="study_report_audio_zip"),
]
