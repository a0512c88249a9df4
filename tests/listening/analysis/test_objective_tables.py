"""The objective section's two tables, on the report page and in the standalone report file,
hold the report's objective numbers: the listeners' MOS first, then each metric's row with each
system's mean ± half-width under that system's head and the correlations under theirs; the
automatic estimates' agreement with MOS, one row per estimate and scope.

The study is ``tests.factories.rated_study`` with its clips measured; the expected cells are
formatted here from the built report's numbers, not by ``listening.analysis.render``.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from listening.models import Clip, StudyReport
from listening.objective.cache import clips_objective_compute
from tests.factories import rated_study, response_body


class _Tables(HTMLParser):
    """Every table of a page as its caption and rows of cell texts (``<br>`` read as " / ")."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"id": dict(attrs).get("id"), "caption": "", "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th", "caption") and self.tables:
            self._text = []
        elif tag == "br" and self._text is not None:
            self._text.append(" / ")

    def handle_endtag(self, tag):
        if tag in ("td", "th", "caption") and self._text is not None:
            text = " ".join("".join(self._text).split())
            if tag == "caption":
                self.tables[-1]["caption"] = text
            else:
                self.tables[-1]["rows"][-1].append(text)
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def table(html: str, caption: str) -> list[dict[str, str]]:
    """The rows of the table captioned ``caption``, each as {column head: cell text}."""
    parser = _Tables()
    parser.feed(html)
    (found,) = [t for t in parser.tables if t["caption"] == caption]
    heads, *rows = found["rows"]
    assert all(len(row) == len(heads) for row in rows), found
    return [dict(zip(heads, row, strict=True)) for row in rows]


def mean_text(summary: dict) -> str:
    """A system's mean of a metric as the section shows it: 3 decimals (1 from 10 up), ± the
    half-width of its 95 % interval, a dash when no clip of the system has the metric."""
    if not summary.get("n"):
        return "–"
    digits = 3 if abs(summary["mean"]) < 10 else 1
    lo, hi = summary["ci95"] or (None, None)
    text = f"{summary['mean']:.{digits}f}"
    return text if lo is None else f"{text} ± {(hi - lo) / 2:.{digits}f}"


def r_text(stats: dict | None) -> str:
    if not stats or stats.get("pearson") is None:
        return "n/a"
    return f"{stats['pearson']:+.2f} (n = {stats['n']})"


def fixed(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


@pytest.fixture
def pages(client_ada, ada):
    """The report page, the standalone report file and the built report's objective section."""
    study = rated_study(ada)
    clips_objective_compute(clip_ids=list(Clip.objects.values_list("id", flat=True)))
    site = client_ada.get(reverse("study_report", args=[study.slug])).content.decode()
    standalone = response_body(client_ada.get(reverse("study_report_html", args=[study.slug])))
    section = StudyReport.objects.get(study=study).data["objective"]
    return {"site": site, "standalone": standalone.decode()}, section


METRICS_CAPTION = "Objective metrics per system"
ESTIMATES_CAPTION = "Automatic MOS estimates against the listeners"


# The file draws the page's section (_objective.html): the same tables, the same captions.
@pytest.mark.parametrize("page", ["site", "standalone"])
def test_each_number_of_the_objective_section_is_in_its_row_under_its_head(pages, page):
    htmls, section = pages
    systems = section["systems"]
    rows = table(htmls[page], METRICS_CAPTION)
    mos, *metric_rows = rows
    assert mos["Metric"] == "MOS"
    assert [mos[s["system"]] for s in systems] == [f"{s['mos']:.3f}" for s in systems]

    # The automatic estimates first, then the other metrics in the section's order; a metric
    # no system has is left out.
    metrics = sorted(section["metrics"], key=lambda m: m.get("group") != "estimate")
    shown = [m for m in metrics if any(s["metrics"].get(m["key"], {}).get("n") for s in systems)]
    assert len(metric_rows) == len(shown) and "duration_s" in {m["key"] for m in shown}
    correlations = section["correlations"]
    for metric, row in zip(shown, metric_rows, strict=True):
        assert row["Metric"].startswith(metric["label"])
        for s in systems:
            assert row[s["system"]] == mean_text(s["metrics"].get(metric["key"]) or {}), metric
        assert row["r with MOS, systems"] == r_text(correlations["systems"].get(metric["key"]))
        assert row["r with MOS, clips"] == r_text(correlations["clips"].get(metric["key"]))

    expected = [
        (key, scope, stats)
        for key, scopes in section["agreement"].items()
        for scope in ("systems", "clips")
        if (stats := scopes.get(scope) or {}).get("n")
    ]
    assert expected, "the measured clips give the automatic estimates an agreement with MOS"
    labels = {m["key"]: m["label"] for m in metrics}
    estimates = table(htmls[page], ESTIMATES_CAPTION)
    assert len(estimates) == len(expected)
    for (key, scope, stats), row in zip(expected, estimates, strict=True):
        assert (row["Estimate"], row["Across"], row["n"]) == (labels[key], scope, str(stats["n"]))
        assert row["r"] == fixed(stats.get("pearson"), 2)
        assert row["ρ"] == fixed(stats.get("spearman"), 2)
        assert row["RMSE"] == fixed(stats.get("rmse"), 3)
        assert row["RMSE*"] == (fixed(stats.get("rmse_star"), 3) if scope == "systems" else "")
        assert row["Mean error"] == fixed(stats.get("mean_error"), 3)
