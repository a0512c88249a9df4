"""``mos_report --ratings-csv FILE --test mushra|transcription``: the offline reports of the
test types beyond ACR, one entry each in :data:`OFFLINE_TESTS`.

Where it sits: ``listening.management.commands.mos_report`` adds the options of
:func:`add_offline_arguments` and, for a test named here, hands the CSV to
:func:`offline_report`, which reads, validates, analyses (``listening.analysis.stats``) and
renders (``render_mushra``, ``render_transcription``). No database is touched. Every bad input
is a ``ValueError`` whose message names the file, the line and the fix; the command turns it
into a ``CommandError``.

    mos_report --ratings-csv mushra.csv --test mushra --reference natural --anchor35 lp35
    mos_report --ratings-csv answers.csv --test transcription --sentences sentences.csv \
        [--answers-out typed.csv]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .render import report_json
from .render_mushra import mushra_html, mushra_summary_csv
from .render_transcription import (
    answers_csv,
    transcription_html,
    transcription_summary_csv,
)
from .stats.followups import add_followups
from .stats.mushra import ROLE_NAMES, mushra_report, read_mushra_csv
from .stats.transcription import (
    read_sentences_csv,
    read_transcriptions_csv,
    scored_answers,
    transcription_report,
)


@dataclass(frozen=True)
class OfflineTest:
    """How one test type's CSV becomes a report: ``build(path, options)`` returns the report
    and a dict of extra files to write ({path: text}); ``render`` maps a format to a function
    ``(report, title) -> text``."""

    build: Callable[[str, dict[str, Any]], tuple[dict, dict[str, str]]]
    render: dict[str, Callable[[dict, str], str]]


def add_offline_arguments(parser: Any) -> None:
    """The options of the MUSHRA and transcription reports (ignored by the others). The
    reference system is mos_report's own ``--reference``, which CCR and AB read too."""
    for role in ROLE_NAMES:
        if role == "reference":
            continue
        parser.add_argument(
            f"--{role.replace('_', '-')}",
            metavar="SYSTEM",
            dest=f"role_{role}",
            help=f"With --test mushra: the system that is the {role.replace('_', ' ')} "
            "(or give a role column in the CSV).",
        )
    parser.add_argument(
        "--sentences",
        metavar="FILE",
        help="With --test transcription: a UTF-8 CSV key,text of the sentences' texts.",
    )
    parser.add_argument(
        "--answers-out",
        metavar="PATH",
        help="With --test transcription: also write the typed answers, normalised and scored, "
        "as CSV here.",
    )


def renderers(
    summary_csv: Callable[[dict], str], html: Callable[..., str]
) -> dict[str, Callable[[dict, str], str]]:
    """A report's ``--format`` renderings, each a function of (report, title): the JSON, the
    test type's summary CSV and its HTML page."""
    return {
        "json": lambda report, title: report_json(report),
        "csv": lambda report, title: summary_csv(report),
        "html": lambda report, title: html(report, title=title),
    }


def read_input(reader: Callable[[], Any], path: str, what: str) -> Any:
    """``reader()``, with a missing file, a folder or bad content turned into a ``ValueError``
    that names ``path`` (``what`` says what the file should be: "ratings CSV")."""
    try:
        return reader()
    except FileNotFoundError:
        raise ValueError(f"No such {what}: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory; give the {what} file.") from None
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _build_mushra(path: str, options: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    roles = {
        role: options.get("reference" if role == "reference" else f"role_{role}")
        for role in ROLE_NAMES
    }
    frame = read_input(lambda: read_mushra_csv(path, roles=roles), path, "MUSHRA ratings CSV")
    rules = {"enabled": False} if options.get("no_screening") else None
    report = mushra_report(frame, roles=roles, rules=rules)
    return add_followups(report, frame), {}


def _build_transcription(path: str, options: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    sentences_path = options.get("sentences")
    if not sentences_path:
        raise ValueError(
            "--test transcription needs --sentences FILE, a CSV key,text of the sentences."
        )
    sentences = read_input(
        lambda: read_sentences_csv(sentences_path), sentences_path, "sentence file"
    )
    frame = read_input(lambda: read_transcriptions_csv(path, sentences), path, "transcription CSV")
    report = add_followups(transcription_report(frame, sentences), frame)
    extra = {}
    if options.get("answers_out"):
        scored, _ = scored_answers(frame)
        extra[options["answers_out"]] = answers_csv(scored)
    return report, extra


OFFLINE_TESTS: dict[str, OfflineTest] = {
    "mushra": OfflineTest(build=_build_mushra, render=renderers(mushra_summary_csv, mushra_html)),
    "transcription": OfflineTest(
        build=_build_transcription,
        render=renderers(transcription_summary_csv, transcription_html),
    ),
}


def offline_report(
    test: str, path: str, *, fmt: str, title: str | None, options: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    """(the report as ``fmt`` text, {path: text} of extra files) for ``test``'s CSV at
    ``path``. Raises ``ValueError`` with a message for the user."""
    entry = OFFLINE_TESTS[test]
    report, extra = entry.build(path, options)
    return entry.render[fmt](report, title or Path(path).name), extra
