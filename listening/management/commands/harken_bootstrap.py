"""`make run`'s set-up step: an admin account and the demo study, then where to go.

Safe to run again: an existing admin keeps its password, the demo study is created only once.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from listening.models import Clip
from listening.studies.demo import demo_study_ensure
from listening.studies.launch import study_start_synthesis


class Command(BaseCommand):
    help = "Create the admin account and the demo study (idempotent) and print the URLs."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--username", default="admin")

    def handle(self, *args, port: int, username: str, **options):
        User = get_user_model()
        password_file = settings.VAR_DIR / "admin-password.txt"
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            password_note = password
        elif password_file.exists():
            password_note = password_file.read_text().strip()
        else:
            password_note = f"(unchanged; reset with: python manage.py changepassword {username})"

        study, _created = demo_study_ensure(owner=user)
        if study.status == study.Status.DRAFT:
            study_start_synthesis(study=study, user=user)
            study.refresh_from_db()
        study.clips_count = Clip.objects.filter(system__study=study).count()

        base = f"http://127.0.0.1:{port}"
        if study.status == study.Status.SYNTHESIZING:
            demo_note = (
                f"the worker is synthesising its {study.clips_count} clips; "
                "the test opens by itself in about a minute"
            )
        else:
            demo_note = f"status: {study.get_status_display().lower()}"
        lines = [
            "",
            self.style.SUCCESS("Harken is starting."),
            f"  Researcher pages: {base}/            (log in as below)",
            f"  Listener link:    {base}/t/{study.slug}/   (demo study: {demo_note})",
            f"  Admin:            {base}/admin/",
            f"  Log in as:        {username} / {password_note}",
            f"  (password kept in {password_file})",
            "  Stop with Ctrl-C.",
            "",
        ]
        self.stdout.write("\n".join(lines))
