"""``manage.py study_import FILE [--slug S] [--owner USERNAME]``: create the study a recipe
(``recipe.json``) or a bundle (ZIP with audio) describes (``listening.studies.recipes``).

The new study belongs to ``--owner`` (default: the only superuser, else refused). Its slug is
``--slug`` or the recipe's, with ``-2``, ``-3`` ... when that one is taken. A bundle's audio is
checked against the recipe's sha256s first: a changed file refuses the import, naming it.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from listening.errors import ServiceError
from listening.studies.recipes import recipe_read, study_import


class Command(BaseCommand):
    help = "Create a study from a recipe (recipe.json) or a recipe bundle (ZIP with audio)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="recipe.json or the ZIP of study_export --with-audio.")
        parser.add_argument("--slug", help="Slug of the new study (default: the recipe's).")
        parser.add_argument("--owner", help="Username of the researcher who will own it.")

    def handle(self, *args, **options) -> None:
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}") from None
        except IsADirectoryError:
            raise CommandError(f"{path} is a directory; give the recipe file.") from None
        owner = self._owner(options["owner"])
        try:
            read = recipe_read(data, name=path.name)
            result = study_import(
                owner=owner, recipe=read.recipe, audio=read.audio, slug=options["slug"]
            )
        except ValidationError as exc:
            raise CommandError(f"{path}: {'; '.join(exc.messages)}") from None
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created study {result.study.slug} ({result.study.status}).")
        for note in result.notes:
            self.stdout.write(f"  {note}")

    def _owner(self, username: str | None):
        users = get_user_model().objects
        if username:
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
            return user
        admins = list(users.filter(is_superuser=True)[:2])
        if len(admins) != 1:
            raise CommandError("Say who owns the new study: --owner USERNAME.")
        return admins[0]
