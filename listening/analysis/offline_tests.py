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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .render import report_json
from .render_mushra import mushra_html, mushra_summary_csv
from .render_transcription import (
    answers_csv,
    transcription_html,
    transcription_summary_csv,
)
from .stats.followups import add_counted_followups
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


# --- What the site and the offline command share -------------------------------------------------
# The site's report of a MUSHRA or transcription study (``listening.analysis.site_tests``) and
# this command on the study's ratings download call the same two functions, so both give the
# same numbers: training rows left out, listeners excluded by hand removed before anything is
# computed and listed with their reason.

MANUAL_EXCLUSION_TEXT = (
    "Listeners the researcher excluded by hand (on the site: Listener.excluded with a reason; "
    "in a CSV: the listener_excluded column) are left out before any number is computed, "
    "post-screening included, and listed in excluded_listeners with the rule 'manual'."
)
_TRUE = {"true", "1", "yes", "y", "t"}


def manual_from_columns(frame: pd.DataFrame) -> dict[str, str]:
    """{listener: reason} of the rows a ``listener_excluded`` column marks true (the site's
    ratings download writes it, with ``exclusion_reason``); empty without the column."""
    if "listener_excluded" not in frame:
        return {}
    marked = frame["listener_excluded"].astype(str).str.strip().str.lower().isin(_TRUE)
    reasons = (
        frame["exclusion_reason"] if "exclusion_reason" in frame else pd.Series("", frame.index)
    )
    rows = frame.loc[marked.to_numpy(), ["listener"]].assign(reason=reasons[marked].fillna(""))
    return {str(r.listener): str(r.reason) for r in rows.drop_duplicates("listener").itertuples()}


def counted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without training rows (a ``purpose`` column of ``training``), which no report
    counts; the site's ratings download includes them, marked."""
    if "purpose" not in frame:
        return frame
    training = frame["purpose"].astype(str).str.strip().str.lower().eq("training")
    return frame[~training.to_numpy()].reset_index(drop=True)


def _without_manual(frame: pd.DataFrame, manual: Mapping[str, str]) -> tuple[pd.DataFrame, list]:
    listeners = frame["listener"].astype(str).str.strip()
    dropped = listeners.isin(list(manual)).to_numpy()
    if dropped.all():
        raise ValueError(
            "Every listener with answers has been excluded by hand; clear 'excluded' on some "
            "listeners (in the admin, or the listener_excluded column) or wait for more answers."
        )
    counts = listeners[dropped].value_counts().to_dict()
    rows = [
        {"listener": name, "reason": reason, "n_ratings": int(counts.get(name, 0))}
        for name, reason in manual.items()
    ]
    return frame[~dropped].reset_index(drop=True), rows


def _with_manual(report: dict, rows: list[dict]) -> dict:
    """``report`` with the listeners excluded by hand listed; unchanged when there are none
    (the statistics' report as it is)."""
    if not rows:
        return report
    report["manual_exclusions"] = rows
    report["excluded_listeners"] = [
        {
            "listener": row["listener"],
            "rules": ["manual"],
            "reason": f"manual: excluded by the researcher ({row['reason'] or 'no reason given'})",
        }
        for row in rows
    ] + report.get("excluded_listeners", [])
    report["method"] = {**report["method"], "manual_exclusion": MANUAL_EXCLUSION_TEXT}
    return report


def mushra_analysis(
    frame: pd.DataFrame,
    *,
    roles: Mapping[str, str | None] | None = None,
    rules: Mapping[str, Any] | None = None,
    manual: Mapping[str, str] | None = None,
    order: Sequence[str] | None = None,
    questions: list[dict] | None = None,
) -> dict:
    """The MUSHRA report (``stats.mushra.mushra_report``) of a table's counted rows, minus the
    listeners excluded by hand (``manual``: listener -> reason), with its follow-ups counted
    over the listeners the BS.1534-3 post-screening keeps (``add_counted_followups``; the
    site passes its ``questions`` for their texts). ``order`` is the systems' order between
    the hidden reference and the anchors (the site: ``System.position``; offline: by name)."""
    kept, rows = _without_manual(counted_rows(frame), manual or {})
    report = mushra_report(kept, roles=roles, rules=rules, order=order)
    return _with_manual(add_counted_followups(report, kept, questions), rows)


def transcription_analysis(
    frame: pd.DataFrame,
    sentences: Mapping[str, str],
    *,
    manual: Mapping[str, str] | None = None,
    questions: list[dict] | None = None,
) -> dict:
    """The transcription report (``stats.transcription.transcription_report``) of a table's
    counted rows, minus the listeners excluded by hand, with its follow-ups over the same
    rows (``add_counted_followups``; ``questions`` give the texts on the site)."""
    kept, rows = _without_manual(counted_rows(frame), manual or {})
    report = transcription_report(kept, sentences)
    return _with_manual(add_counted_followups(report, kept, questions), rows)


def _build_mushra(path: str, options: dict[str, Any]) -> tuple[dict, dict[str, str]]:
    roles = {
        role: options.get("reference" if role == "reference" else f"role_{role}")
        for role in ROLE_NAMES
    }
    frame = read_input(lambda: read_mushra_csv(path, roles=roles), path, "MUSHRA ratings CSV")
    rules = {"enabled": False} if options.get("no_screening") else None
    manual = manual_from_columns(frame)
    return mushra_analysis(frame, roles=roles, rules=rules, manual=manual), {}


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
    report = transcription_analysis(frame, sentences, manual=manual_from_columns(frame))
    extra = {}
    if options.get("answers_out"):
        scored, _ = scored_answers(counted_rows(frame))
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
