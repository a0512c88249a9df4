"""The replication bundle: a study's recipe, every rating, the report and the exact command
that rebuilds the report offline, in one ZIP a reviewer can check without the site.

Where it sits: the API's ``replication.zip`` endpoint (which the study and report pages link
to) composes it. The recipe comes from ``listening.studies.recipes`` and is handed in as text:
the studies room builds on analysis, never the other way (``docs/architecture.md``), so this
module takes the recipe rather than importing the room that makes it.

The files: ``recipe.json``; ``ratings.csv`` (the raw ratings download, its rows ordered so the
systems first appear in the study's order, which is the order the report lists them in);
``report.json`` (the site's report, as the report page's JSON download); ``README.txt`` with
:data:`REBUILD_COMMAND`. ``mos_report --ratings-csv`` on that CSV with the recipe's screening
rules gives the same numbers (``tests/listening/analysis/test_replication.py`` checks it).
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from typing import IO

from listening.analysis.downloads import study_ratings_csv_rows
from listening.analysis.render import report_json
from listening.models import Study, System

REBUILD_COMMAND = (
    "python manage.py mos_report --ratings-csv ratings.csv --recipe recipe.json "
    "--format json --out report-rebuilt.json"
)


def rebuild_command(test_type: str) -> str:
    """The offline command of a study of ``test_type``: a comparison type names itself, as
    ``mos_report --test`` reads that type's columns of ratings.csv."""
    if test_type == Study.TestType.ACR:
        return REBUILD_COMMAND
    return REBUILD_COMMAND.replace("--ratings-csv", f"--test {test_type} --ratings-csv")


README = """Replication bundle of the Harken study "{title}" ({slug})

recipe.json   the study: settings, test type and scale, sentences, systems with their voices
              or the sha256 of each recording, anchors, design seed, screening rules, texts.
              python manage.py study_import recipe.json   creates the same study again.
ratings.csv   every rating (training and attention checks marked in the column "purpose";
              listeners the researcher excluded by hand in "listener_excluded").
report.json   the report as the site built it ({n_ratings} ratings).

To rebuild the report offline from the ratings, in a Harken checkout (no database content
needed), run:

    {command}

The numbers in report-rebuilt.json (MOS, intervals, tests, screening) are those of
report.json; the site's report also holds the study's name and the objective metrics, which
need the audio. --recipe takes the study's screening rules from recipe.json; without it the
default rules apply.
"""


def _ordered_ratings_csv(study: Study) -> str:
    """The raw ratings CSV with its rows stably sorted by the study's system order: the
    offline report lists systems in order of first appearance, the site in the study's order."""
    rows = study_ratings_csv_rows(study=study)
    header = next(rows)
    order = {
        name: i
        for i, name in enumerate(
            System.objects.filter(study=study)
            .order_by("position", "id")
            .values_list("name", flat=True)
        )
    }
    if "system" not in header:
        # A pair type's rows name two systems each: the statistics take the study's order
        # of systems from the recipe, so the rows stay in the database's order.
        body = list(rows)
    else:
        column = header.index("system")
        body = sorted(rows, key=lambda row: order.get(row[column], len(order)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue()


def replication_bundle_zip(*, study: Study, report: dict, recipe_text: str) -> IO[bytes]:
    """The bundle of ``study`` (its built ``report`` data and its recipe as text) as a ZIP in
    an open temporary file positioned at 0, deleted when closed."""
    ratings = _ordered_ratings_csv(study)
    readme = README.format(
        title=study.title,
        slug=study.slug,
        n_ratings=report.get("n_ratings", ""),
        command=rebuild_command(study.test_type),
    )
    handle = tempfile.TemporaryFile(prefix="harken-replication-", suffix=".zip")  # noqa: SIM115
    try:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("README.txt", readme)
            zf.writestr("recipe.json", recipe_text)
            zf.writestr("ratings.csv", ratings)
            zf.writestr("report.json", report_json(report))
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle
