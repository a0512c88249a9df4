"""``manage.py study_export SLUG [--out FILE] [--with-audio]``: a study's recipe as JSON, or a
ZIP bundle of the recipe and every ready clip's audio (``listening.studies.recipes``).

Without ``--out`` the JSON goes to stdout (a bundle needs ``--out``). Files are written under a
temporary name and renamed into place, so a failed export leaves no half a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from listening.models import Study
from listening.studies.recipes import recipe_bundle_zip, recipe_json, study_recipe


class Command(BaseCommand):
    help = "Export a study as a recipe (JSON), or with --with-audio as a ZIP with its audio."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Slug of the study to export.")
        parser.add_argument("--out", metavar="FILE", help="Write here instead of to stdout.")
        parser.add_argument(
            "--with-audio",
            action="store_true",
            help="A ZIP holding recipe.json and every ready clip's audio (needs --out).",
        )

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["slug"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['slug']!r}.")
        out = options["out"]
        if options["with_audio"]:
            if not out:
                raise CommandError("A bundle with audio is a ZIP: give --out FILE.zip.")
            with recipe_bundle_zip(study=study) as bundle:
                _write(Path(out), lambda handle: shutil.copyfileobj(bundle, handle, 1 << 20))
            self.stderr.write(f"Wrote the recipe of {study.slug} with its audio to {out}.")
            return
        text = recipe_json(study_recipe(study=study))
        if not out:
            self.stdout.write(text, ending="")
            return
        _write(Path(out), lambda handle: handle.write(text.encode("utf-8")))
        self.stderr.write(f"Wrote the recipe of {study.slug} to {out}.")


def _write(path: Path, fill) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise CommandError(f"Cannot write {path}: folder {directory} does not exist.")
    with tempfile.NamedTemporaryFile(
        "wb", dir=directory, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        temporary = Path(handle.name)
        try:
            fill(handle)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
    os.replace(temporary, path)
