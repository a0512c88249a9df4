"""`python manage.py synthesize STUDY_SLUG [--wait] [--failed-only]` with a progress bar."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from listening.errors import ServiceError
from listening.models import Study
from listening.studies.launch import study_start_synthesis
from listening.studies.lifecycle import clip_counts


def progress_line(counts: dict[str, int], width: int = 30) -> str:
    total = counts["total"] or 1
    finished = counts["ready"] + counts["failed"]
    filled = int(width * finished / total)
    bar = "#" * filled + "-" * (width - filled)
    return (
        f"[{bar}] {finished}/{counts['total']}  ready {counts['ready']}  "
        f"failed {counts['failed']}  running {counts['running']}  pending {counts['pending']}"
    )


class Command(BaseCommand):
    help = "Queue synthesis of a study's clips; with --wait, show progress until it finishes."

    def add_arguments(self, parser):
        parser.add_argument("study_slug")
        parser.add_argument("--wait", action="store_true", help="Wait and show progress.")
        parser.add_argument("--failed-only", action="store_true", help="Retry failed clips only.")
        parser.add_argument("--timeout", type=float, default=0, help="Give up after N seconds.")

    def handle(self, *args, study_slug: str, wait: bool, failed_only: bool, timeout: float, **_):
        study = Study.objects.filter(slug=study_slug).first()
        if study is None:
            raise CommandError(f"No study with slug '{study_slug}'.")
        try:
            queued = study_start_synthesis(study=study, only_failed=failed_only)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Queued {queued} clips of '{study.slug}'.")
        if not wait:
            return
        start = time.monotonic()
        tty = sys.stderr.isatty()
        last = ""
        while True:
            counts = clip_counts(study=study)
            line = progress_line(counts)
            if line != last:
                sys.stderr.write(("\r" if tty else "") + line + ("" if tty else "\n"))
                sys.stderr.flush()
                last = line
            if counts["pending"] == 0 and counts["running"] == 0:
                break
            if timeout and time.monotonic() - start > timeout:
                raise CommandError(f"Still running after {timeout:.0f} s; is a worker running?")
            time.sleep(1)
        if tty:
            sys.stderr.write("\n")
        failed = counts["failed"]
        study.refresh_from_db()
        self.stdout.write(
            f"Done: {counts['ready']} ready, {failed} failed; study is {study.status}."
        )
        if failed:
            raise CommandError(f"{failed} clips failed; see the study page for their errors.")
