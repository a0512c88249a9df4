"""``manage.py mos_report``: the MOS report of a study or of a ratings CSV, as JSON, CSV or HTML.

    python manage.py mos_report --ratings-csv FILE [--test acr|ccr|ab|abx|smos] [--reference NAME]
        [--recipe recipe.json] [--format json|csv|html] [--out PATH]
    python manage.py mos_report STUDY_SLUG [--format json|csv|html] [--out PATH]
      (any test type: the report and its renderings follow the study's own test)
    python manage.py mos_report --ratings-csv FILE --test mushra|transcription [...]
      (see listening.analysis.offline_tests for their options)

An interface only: for a study it calls ``listening.analysis.reports.study_report_compute``
(the function behind the site's report page, so both give the same numbers, listeners excluded
by hand included); for a CSV it reads the table with
``listening.analysis.stats.read_ratings_csv`` and calls ``listening.analysis.stats.build_report``
through ``build_report_without`` (rows of listeners
marked in a ``listener_excluded`` column are left out, as on the site). It renders with
``listening.analysis.render``. Output goes to stdout unless ``--out`` is given; a file is written
under a temporary name and renamed into place, so a failed run never leaves half a report.

``--test`` picks the test type of a ratings CSV from :data:`TEST_TYPES`, a table of test name ->
reader, report builder and renderers (``acr``, the default, is the path above, unchanged; the
comparative tests read with ``stats.read_comparison_csv``, build with
``stats.build_test_report`` and render with ``listening.analysis.render_comparative``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from listening.analysis.offline_tests import (
    OFFLINE_TESTS,
    add_offline_arguments,
    offline_report,
    read_input,
    renderers,
)
from listening.analysis.render import report_html, report_summary_csv
from listening.analysis.render_comparative import comparison_html, comparison_summary_csv
from listening.analysis.reports import build_report_without, study_report_compute
from listening.analysis.stats import build_test_report, read_comparison_csv, read_ratings_csv
from listening.analysis.stats.followups import add_counted_followups, followup_columns
from listening.models import Study
from listening.studies.recipes import RecipeError, recipe_read


@dataclass(frozen=True)
class TestType:
    """How ``--ratings-csv`` is handled for one ``--test``: ``read(path)`` gives the checked
    table, ``build(table, manual=..., rules=..., options=...)`` the report dict, ``render`` maps
    each --format to a function of (report, title)."""

    columns: str
    read: Callable
    build: Callable
    render: dict[str, Callable]


def _build_acr(ratings, *, manual, rules, options):
    return build_report_without(
        ratings,
        manual=manual,
        rules=rules,
        seed=options["seed"],
        target_half_width=options["target_half_width"],
    )


def _build_comparison(test, ratings, *, manual, rules, options):
    return build_test_report(
        ratings, test, rules=rules, reference=options.get("reference"), manual_exclusions=manual
    )


def _comparison(test: str, columns: str) -> TestType:
    return TestType(
        columns=columns,
        read=partial(read_comparison_csv, test=test),
        build=partial(_build_comparison, test),
        render=renderers(comparison_summary_csv, comparison_html),
    )


TEST_TYPES: dict[str, TestType] = {
    "acr": TestType(
        columns="listener,sentence,system,score",
        read=read_ratings_csv,
        build=_build_acr,
        render=renderers(report_summary_csv, report_html),
    ),
    "ccr": _comparison("ccr", "listener,sentence,a,b,score (-3..+3, b relative to a)"),
    "ab": _comparison("ab", "listener,sentence,a,b,choice (a, b or tie)"),
    "abx": _comparison("abx", "listener,sentence,a,b,x,choice (a or b)"),
    "smos": _comparison("smos", "listener,sentence,system,score (1-5) [,reference]"),
}


def study_renderers(test_type: str) -> dict[str, Callable]:
    """The ``--format`` renderings of a study's report, by the study's own test type: the
    renderers of the site's downloads, so the command prints what the report page offers."""
    if test_type in OFFLINE_TESTS:
        return OFFLINE_TESTS[test_type].render
    return TEST_TYPES[test_type].render


class Command(BaseCommand):
    help = (
        "Build the MOS report (MOS with t and clustered 95% intervals, pairwise tests, listener "
        "screening) for a study in the database or for a ratings CSV with columns "
        "listener,sentence,system,score."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study_slug", nargs="?", help="Slug of a study in the database.")
        parser.add_argument(
            "--ratings-csv",
            metavar="FILE",
            help="A UTF-8 CSV with columns listener,sentence,system,score (extra columns kept).",
        )
        parser.add_argument(
            "--test",
            choices=(*TEST_TYPES, *OFFLINE_TESTS),
            default="acr",
            help="Test type of the ratings CSV: "
            + "; ".join(f"{name}: {t.columns}" for name, t in TEST_TYPES.items())
            + "; mushra: listener,sentence,system,score (0-100); transcription: "
            "listener,sentence,system,text with --sentences FILE. Default acr.",
        )
        parser.add_argument(
            "--reference",
            metavar="NAME",
            help="CCR: the reference system (default: the one system in every pair, else every "
            "pair of systems is compared); AB: also give the ranking against this system; MUSHRA: "
            "the open reference (or give a role column in the CSV).",
        )
        parser.add_argument("--format", choices=("json", "csv", "html"), default="json")
        add_offline_arguments(parser)
        parser.add_argument("--out", metavar="PATH", help="Write here instead of to stdout.")
        parser.add_argument("--title", help="Title of the HTML report (default: study title).")
        parser.add_argument(
            "--no-screening",
            action="store_true",
            help="Report the screening's findings but exclude no listener.",
        )
        parser.add_argument(
            "--target-half-width",
            type=float,
            default=0.1,
            help="Half-width of the clustered 95%% interval to plan further ratings for.",
        )
        parser.add_argument("--seed", type=int, default=0, help="Recorded in the report.")
        parser.add_argument(
            "--recipe",
            metavar="FILE",
            help="With --ratings-csv: take the screening rules from this study recipe "
            "(recipe.json of study_export or of a replication bundle).",
        )

    def handle(self, *args, **options) -> None:
        slug, csv_path = options["study_slug"], options["ratings_csv"]
        if bool(slug) == bool(csv_path):
            raise CommandError(
                "Give exactly one source: a STUDY_SLUG or --ratings-csv FILE."
                + (" Both were given." if slug else "")
            )
        study = None
        if options["recipe"] and not csv_path:
            raise CommandError("--recipe goes with --ratings-csv; a study has its own rules.")
        if options["reference"] and options["test"] not in ("ccr", "ab", "mushra"):
            raise CommandError("--reference applies to --test ccr, ab or mushra.")
        if options["test"] in OFFLINE_TESTS:
            self._offline(csv_path, options)
            return
        kind = TEST_TYPES[options["test"]]
        if slug and (options["test"] != "acr" or options["reference"]):
            raise CommandError(
                "--test and --reference go with --ratings-csv; a study's report follows the "
                "study's own test."
            )
        if csv_path:
            ratings, manual, title = self._from_csv(csv_path, kind)
            rules = self._recipe_rules(options["recipe"]) if options["recipe"] else None
            render = kind.render
        else:
            study = self._study(slug)
            rules, title = study.screening, study.title
            render = study_renderers(study.test_type)
        if options["no_screening"]:
            rules = dict(rules or {}, enabled=False)
        # Listeners excluded by hand stay excluded with --no-screening: that switch is about
        # the automatic rules, a manual exclusion is the researcher's decision.
        try:
            if study is not None:
                # The same function the report page uses, so the numbers agree with the site.
                report = study_report_compute(
                    study=study,
                    rules=rules,
                    seed=options["seed"],
                    target_half_width=options["target_half_width"],
                )
            else:
                report = kind.build(ratings, manual=manual, rules=rules, options=options)
                if followup_columns(ratings):
                    # Yes/no follow-up questions (followup_<name> columns), in the JSON:
                    # over the rows the report counts, as the site's report does.
                    add_counted_followups(report, ratings)
        except ValueError as error:
            raise CommandError(str(error)) from None

        self._emit(render[options["format"]](report, options["title"] or title), options)

    def _offline(self, csv_path: str | None, options: dict) -> None:
        """A MUSHRA or transcription report of a CSV (listening.analysis.offline_tests)."""
        test = options["test"]
        if not csv_path:
            raise CommandError(
                f"--test {test} reads --ratings-csv FILE; for a study give its slug alone "
                "(its report follows the study's own test)."
            )
        if options["recipe"]:
            raise CommandError(
                f"--recipe holds an ACR study's screening rules; --test {test} takes none."
            )
        try:
            text, extra = offline_report(
                test, csv_path, fmt=options["format"], title=options["title"], options=options
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        for path, content in extra.items():
            _write_atomically(Path(path), content)
            self.stderr.write(f"Wrote {path}.")
        self._emit(text, options)

    def _emit(self, text: str, options: dict) -> None:
        """The report to ``--out`` (written atomically) or to stdout."""
        if options["out"]:
            _write_atomically(Path(options["out"]), text)
            self.stderr.write(f"Wrote the {options['format']} report to {options['out']}.")
        else:
            self.stdout.write(text, ending="")

    def _from_csv(self, path: str, kind: TestType):
        def read():
            ratings = kind.read(path)
            return ratings, manual_exclusions_from_csv(ratings)

        try:
            ratings, manual = read_input(read, path, "ratings CSV")
        except ValueError as error:
            raise CommandError(str(error)) from None
        return ratings, manual, Path(path).name

    def _recipe_rules(self, path: str) -> dict:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read the recipe {path}: {error.strerror}.") from None
        try:
            return recipe_read(data, name=path).recipe.get("screening") or {}
        except RecipeError as error:
            raise CommandError(str(error)) from None

    def _study(self, slug: str):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            known = ", ".join(Study.objects.order_by("slug").values_list("slug", flat=True)[:20])
            raise CommandError(
                f"No study with slug {slug!r}." + (f" Known studies: {known}." if known else "")
            )
        return study


def manual_exclusions_from_csv(ratings) -> dict[str, str]:
    """Listeners marked in a ``listener_excluded`` column (the site's raw ratings CSV has one):
    listener -> ``exclusion_reason``. They are left out as the site leaves them out, so the
    downloaded CSV reads back into the site's numbers. Raises ValueError naming the line of a
    value that is not true/false."""
    if "listener_excluded" not in ratings.columns:
        return {}
    flag = ratings["listener_excluded"].astype("string").str.strip().str.lower().fillna("")
    truthy, falsy = {"1", "true", "t", "yes", "y"}, {"0", "false", "f", "no", "n", ""}
    bad = ~(flag.isin(truthy) | flag.isin(falsy))
    if bad.any():
        line = ratings.index[bad.to_numpy()][0]
        raise ValueError(
            f"Column 'listener_excluded' must be true or false; it is "
            f"{ratings['listener_excluded'][bad].iloc[0]!r} at {ratings.index.name or 'row'} "
            f"{line}."
        )
    marked = ratings[flag.isin(truthy).to_numpy()]
    reasons = (
        marked["exclusion_reason"].astype(str)
        if "exclusion_reason" in marked.columns
        else marked["listener"].map(lambda _: "")
    )
    return {str(name): str(reason) for name, reason in zip(marked["listener"], reasons)}


def _write_atomically(path: Path, text: str) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise CommandError(f"Cannot write {path}: folder {directory} does not exist.")
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=directory, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        temporary = Path(handle.name)
        try:
            handle.write(text)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
    try:
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise CommandError(f"Cannot write {path}: {error.strerror}.") from None
