"""The report service of a comparison study: its responses go as the type's table, with the
reference and the systems' order, to the one place the type's statistics are called
(``stats.build_test_report``), and the numbers are those of the offline analysis of the
study's own ratings download (``mos_report --ratings-csv FILE --test TYPE``)."""

import pytest

from listening.analysis import reports
from listening.analysis.stats import build_test_report, read_comparison_csv
from tests.factories import (
    TypedRatingFactory,
    comparison_study,
    listener_with_playlist,
    trial_with,
)
from tests.trial_factories import ratings_download, report_page


def _crowd(test_type: str, answer) -> object:
    """A study of ``test_type`` answered by six listeners on both sentences, each pair of
    natural and alpha in both orders: ``answer(listener_index, first, second)`` gives the
    response's fields."""
    study, clips = comparison_study(test_type)
    for index in range(6):
        listener, playlist = listener_with_playlist(study, f"p{index}")
        for position, sentence in enumerate(("s0", "s1")):
            first, second = ("natural", "alpha") if (index + position) % 2 else ("alpha", "natural")
            trial = trial_with(
                playlist,
                [("a", clips[first, sentence]), ("b", clips[second, sentence])],
                position=position,
            )
            TypedRatingFactory(item=trial, listener=listener, **answer(index, first, second))
    return study


@pytest.mark.django_db
def test_a_ccr_report_is_the_offline_report_of_its_own_download():
    # alpha is one point worse than the reference for every listener: +1 when alpha comes
    # first (the reference, heard second, is better), -1 when it comes second; listener 0
    # hears no difference.
    study = _crowd(
        "ccr",
        lambda i, first, second: {"score": 0 if i == 0 else (1 if first == "alpha" else -1)},
    )
    report = reports.study_report_compute(study=study)
    offline = build_test_report(
        read_comparison_csv(ratings_download(study).encode(), "ccr"),
        "ccr",
        reference="natural",
        system_order=["natural", "alpha"],
    )
    (alpha,) = [row for row in report["systems"] if row["system"] == "alpha"]
    assert report["test"] == "ccr"
    assert alpha["reference"] == "natural"
    assert alpha["n"] == 12
    assert alpha["cmos"] == pytest.approx(-10 / 12)
    assert alpha["ci95_clustered"][1] < 0
    assert report["systems"] == offline["systems"]
    assert report["order_effect"]["mean_score_as_presented"] == pytest.approx(0.0)
    assert report["study"]["n_rows_read"] == 12
    assert "accompanying_information" in report


@pytest.mark.django_db
def test_an_ab_report_counts_wins_and_ties_as_the_download_does():
    # Listeners 0-3 prefer the reference, 4 prefers alpha, 5 hears no difference.
    def answer(i, first, second):
        if i == 5:
            return {"choice": "tie"}
        wanted = "natural" if i < 4 else "alpha"
        return {"choice": "a" if first == wanted else "b"}

    study = _crowd("ab", answer)
    report = reports.study_report_compute(study=study)
    (pair,) = report["pairs"]
    wins = {pair["a"]: pair["wins_a"], pair["b"]: pair["wins_b"]}
    assert wins == {"natural": 8, "alpha": 2}
    assert pair["ties"] == 2
    offline = build_test_report(
        read_comparison_csv(ratings_download(study).encode(), "ab"),
        "ab",
        system_order=["natural", "alpha"],
    )
    assert report["pairs"] == offline["pairs"]
    assert [row["system"] for row in report["ranking"]][0] == "natural"


@pytest.mark.django_db
def test_the_report_page_of_a_comparison_study_shows_its_numbers(client):
    study = _crowd(
        "ccr",
        lambda i, first, second: {"score": 0 if i == 0 else (1 if first == "alpha" else -1)},
    )
    page, _ = report_page(client, study)
    assert "CMOS" in page
    assert "−0.83" in page or "-0.83" in page


@pytest.mark.django_db
def test_a_comparison_study_without_responses_has_nothing_to_report():
    study, _ = comparison_study("ab")
    with pytest.raises(ValueError, match="no test responses yet"):
        reports.study_report_compute(study=study)
