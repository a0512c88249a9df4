"""The site's report of a MUSHRA and of a transcription study: the counterpart of
``offline_tests`` (``mos_report --ratings-csv FILE --test mushra|transcription``).

Where it sits: ``listening.analysis.reports.study_report_compute`` hands a study of either type
here, with the screening rules and the listeners excluded by hand. The study's answers are read
as the statistics' table (``selectors.study_mushra_frame``: one row per listener, sentence and
rated condition, the role from the trial clip; ``selectors.study_transcription_frame`` with the
sentences' texts) and analysed by the functions the offline command calls
(``offline_tests.mushra_analysis`` / ``transcription_analysis``), so the report page and the
command run on the study's ratings download give the same numbers. The accompanying information
(ITU-T P.800.2) is added as for every site report, in the words of the study's type
(``accompanying_scored``).

A MUSHRA study's post-screening thresholds (ITU-R BS.1534-3, section 4.1.2) are stored with its
other screening rules in ``Study.screening`` (``listening.screening.MUSHRA_SETTINGS``' names;
``enabled`` is the one switch of all the rules).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from listening.analysis.accompanying import report_accompanied
from listening.analysis.offline_tests import (
    counted_rows,
    mushra_analysis,
    transcription_analysis,
)
from listening.analysis.render_transcription import answers_csv
from listening.analysis.selectors import (
    study_mushra_frame,
    study_sentence_texts,
    study_transcription_frame,
)
from listening.analysis.stats.mushra import screening_counts
from listening.analysis.stats.transcription import scored_answers, validate_transcriptions
from listening.models import Study, TestType
from listening.screening import MUSHRA_SETTINGS

Progress = Callable[[float, str], None]


def mushra_rules(rules: Mapping[str, Any] | None) -> dict[str, Any]:
    """The MUSHRA post-screening settings among a study's screening rules (``enabled`` and the
    BS.1534-3 thresholds); the statistics complete and check them."""
    return {k: v for k, v in (rules or {}).items() if k in {s.name for s in MUSHRA_SETTINGS}}


def mushra_screening_counts(report: dict) -> dict:
    """``report`` with its post-screening's counts (``stats.mushra.screening_counts``) and the
    listeners excluded by hand added to its screening section, as every site report has them."""
    screening = report["screening"]
    screening.update(screening_counts(screening))
    screening["n_manually_excluded"] = len(report.get("manual_exclusions", []))
    return report


def _finished(study: Study, report: dict, frame: pd.DataFrame) -> dict:
    # The follow-up shares come from the analysis itself (``offline_tests``), over the rows it
    # counts, so the command on the ratings download gives the same ones.
    n_rows = int(len(frame))
    # The site's reports always say how listeners excluded by hand are treated.
    report.setdefault("manual_exclusions", [])
    report["study"] = {"slug": study.slug, "title": study.title, "n_rows_read": n_rows}
    return report_accompanied(study=study, report=report)


def study_mushra_report_compute(
    *, study: Study, rules: Mapping[str, Any] | None, manual: Mapping[str, str], progress: Progress
) -> dict:
    """The MUSHRA report of ``study``: ``offline_tests.mushra_analysis`` on its condition
    scores with its post-screening thresholds (``rules``) and the listeners excluded by hand
    (``manual``: listener label -> reason). Raises ``ValueError`` when nothing is rated yet."""
    progress(0.05, "Reading the condition scores")
    frame = study_mushra_frame(study)
    if frame.empty:
        raise ValueError(
            "This study has no MUSHRA ratings yet. The report appears once listeners have "
            "rated a page of conditions."
        )
    progress(0.3, f"Computing statistics over {len(frame):,} condition scores")
    report = mushra_screening_counts(
        mushra_analysis(
            frame,
            rules=mushra_rules(rules),
            manual=manual,
            order=list(study.systems.order_by("position", "id").values_list("name", flat=True)),
            questions=study.followup_questions,
        )
    )
    progress(0.9, "Adding the accompanying information")
    return _finished(study, report, frame)


def study_transcription_report_compute(
    *, study: Study, manual: Mapping[str, str], progress: Progress
) -> dict:
    """The transcription report of ``study``: ``offline_tests.transcription_analysis`` on its
    typed answers against its sentences' texts, without the listeners excluded by hand."""
    progress(0.05, "Reading the typed answers")
    frame = study_transcription_frame(study)
    if frame.empty:
        raise ValueError(
            "This study has no transcriptions yet. The report appears once listeners have "
            "typed what they heard."
        )
    progress(0.3, f"Scoring {len(frame):,} answers")
    report = transcription_analysis(
        frame, study_sentence_texts(study), manual=manual, questions=study.followup_questions
    )
    progress(0.9, "Adding the accompanying information")
    return _finished(study, report, frame)


def study_scored_report_compute(
    *, study: Study, rules: Mapping[str, Any] | None, manual: Mapping[str, str], progress: Progress
) -> dict:
    """The report of a MUSHRA or transcription ``study`` (see the two functions above)."""
    if study.test_type == TestType.MUSHRA:
        return study_mushra_report_compute(
            study=study, rules=rules, manual=manual, progress=progress
        )
    return study_transcription_report_compute(study=study, manual=manual, progress=progress)


#: The test types whose site report is built here.
SCORED_TESTS = frozenset({TestType.MUSHRA, TestType.TRANSCRIPTION})


def study_transcription_answers_csv(*, study: Study) -> str:
    """A transcription study's counted answers, normalised and scored against their sentences
    (``render_transcription.answers_csv``: one row per answer with both texts as normalised and
    the error counts). Raises ``ValueError`` when the study is of another type or has none."""
    if study.test_type != TestType.TRANSCRIPTION:
        raise ValueError("Only a transcription study has typed answers to download.")
    frame = study_transcription_frame(study)
    if frame.empty:
        raise ValueError("This study has no transcriptions yet.")
    checked = validate_transcriptions(counted_rows(frame), study_sentence_texts(study))
    scored, _ = scored_answers(checked)
    return answers_csv(scored)
