from django.apps import AppConfig


class ListeningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "listening"
    verbose_name = "Listening tests"

    def ready(self) -> None:
        # Imported here, as Django asks of code that reads models. Synthesis announces clips
        # that changed state; the study's lifecycle decides what that means for the study, so
        # synthesis never calls a listening service.
        from listening.studies.lifecycle import clips_changed_received
        from synthesis.signals import clips_changed

        clips_changed.connect(clips_changed_received, dispatch_uid="listening.study_sync_status")
