"""The ratings download of a comparison study has the issue's columns of its type first (what
``mos_report --ratings-csv FILE --test TYPE`` reads), is safe to open in a spreadsheet, and the
audio ZIP lists every trial's clips with their roles."""

import csv
import io
import zipfile

import pandas as pd
import pytest
from django.urls import reverse

from listening.analysis.downloads import (
    comparison_csv_columns,
    study_audio_zip,
    study_ratings_csv_rows,
)
from listening.analysis.replication import replication_bundle_zip
from listening.analysis.selectors import TEST_COLUMNS, study_comparison_frame
from listening.models import PlaylistItem, System
from tests.factories import (
    TypedRatingFactory,
    comparison_study,
    listener_with_playlist,
    trial_with,
)
from tests.trial_factories import ratings_download


def _responses(test_type: str):
    """Two listeners' responses of ``test_type``: a test trial each, a training trial."""
    study, clips = comparison_study(test_type)
    one, first = listener_with_playlist(study, "p1")
    two, second = listener_with_playlist(study, "p2")
    if test_type == "smos":
        shapes = [
            [("reference", clips["natural", "s0"]), ("test", clips["alpha", "s0"])],
            [("reference", clips["natural", "s1"]), ("test", clips["beta", "s1"])],
        ]
    elif test_type == "abx":
        shapes = [
            [("a", clips["alpha", "s0"]), ("b", clips["beta", "s0"]), ("x", clips["alpha", "s0"])],
            [("a", clips["beta", "s1"]), ("b", clips["alpha", "s1"]), ("x", clips["alpha", "s1"])],
        ]
    else:
        shapes = [
            [("a", clips["natural", "s0"]), ("b", clips["alpha", "s0"])],
            [("a", clips["beta", "s1"]), ("b", clips["natural", "s1"])],
        ]
    answers = {
        "ccr": [{"score": -2}, {"score": 3}],
        "smos": [{"score": 4}, {"score": 2}],
        "ab": [{"choice": "tie"}, {"choice": "a"}],
        "abx": [{"choice": "a"}, {"choice": "a"}],
    }[test_type]
    for listener, playlist, shape, answer in zip(
        (one, two), (first, second), shapes, answers, strict=True
    ):
        TypedRatingFactory(item=trial_with(playlist, shape), listener=listener, **answer)
    practice = trial_with(first, shapes[1], purpose=PlaylistItem.Purpose.TRAINING)
    TypedRatingFactory(item=practice, listener=one, **answers[0])
    return study, clips


@pytest.mark.django_db
@pytest.mark.parametrize("test_type", ["ccr", "ab", "abx", "smos"])
def test_download_reads_back_as_the_sites_table(test_type):
    study, _ = _responses(test_type)
    table = pd.read_csv(io.StringIO(ratings_download(study)), keep_default_na=False)

    columns = TEST_COLUMNS[test_type]
    assert list(table.columns[: len(columns)]) == columns
    assert list(table.columns) == comparison_csv_columns(test_type)
    # Training is in the download (purpose says so) and never in the site's table.
    assert table["purpose"].tolist() == ["test", "test", "training"]
    counted = table[table["purpose"] != "training"].reset_index(drop=True)
    site = study_comparison_frame(study)
    assert counted[columns].astype(str).values.tolist() == site[columns].astype(str).values.tolist()
    assert table["play_counts"].astype(str).tolist()[0] == ";".join(
        ["1"] * (3 if test_type == "abx" else 2)
    )


@pytest.mark.django_db
def test_ccr_download_keeps_negative_scores_numbers_and_neutralises_formula_names():
    study, clips = comparison_study("ccr")
    System.objects.filter(study=study, name="alpha").update(name="=HYPERLINK(1)")
    listener, playlist = listener_with_playlist(study, "@evil")
    trial = trial_with(playlist, [("a", clips["natural", "s0"]), ("b", clips["alpha", "s0"])])
    TypedRatingFactory(item=trial, listener=listener, score=-3)

    header, row = list(csv.reader(io.StringIO(ratings_download(study))))
    values = dict(zip(header, row, strict=True))
    assert values["b"] == "'=HYPERLINK(1)"
    assert values["listener"] == "prolific:@evil"
    assert values["platform_id"] == "'@evil"
    assert values["score"] == "-3"


@pytest.mark.django_db
def test_acr_download_is_unchanged():
    study, _ = comparison_study("acr")
    header = next(iter(study_ratings_csv_rows(study=study)))
    assert header[:5] == ["listener", "platform", "platform_id", "sentence", "sentence_text"]
    assert "score" in header and "choice" not in header


@pytest.mark.django_db
def test_audio_zip_lists_each_trials_clips_and_roles():
    study, clips = _responses("abx")
    handle, _ = study_audio_zip(study=study)
    with handle, zipfile.ZipFile(handle) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("trials.csv").decode())))
    # Three trials (two test, one training), three clips each, in play order.
    assert [(r["playlist"], r["trial"], r["clip_position"], r["role"]) for r in rows][:3] == [
        (rows[0]["playlist"], rows[0]["trial"], "0", "a"),
        (rows[0]["playlist"], rows[0]["trial"], "1", "b"),
        (rows[0]["playlist"], rows[0]["trial"], "2", "x"),
    ]
    assert len(rows) == 9
    assert {r["purpose"] for r in rows} == {"test", "training"}
    first = rows[:3]
    assert [r["system"] for r in first] == ["alpha", "beta", "alpha"]
    assert [r["token"] for r in first] == [
        clips["alpha", "s0"].token,
        clips["beta", "s0"].token,
        clips["alpha", "s0"].token,
    ]
    # These clip rows have no file in storage: the manifest says so with an empty name.
    assert {r["file_name"] for r in rows} == {""}


@pytest.mark.django_db
def test_the_report_pages_download_is_the_typed_one(client):
    study, _ = _responses("ab")
    client.force_login(study.owner)
    response = client.get(reverse("study_report_ratings_csv", args=[study.slug]))
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[0].startswith("listener,sentence,a,b,choice,purpose,expected")


@pytest.mark.django_db
def test_replication_bundle_of_a_pair_study_names_its_type_in_the_command():
    study, _ = _responses("ab")
    handle = replication_bundle_zip(study=study, report={"n_ratings": 2}, recipe_text="{}")
    with handle, zipfile.ZipFile(handle) as archive:
        readme = archive.read("README.txt").decode()
        ratings = archive.read("ratings.csv").decode()
    assert "mos_report --test ab --ratings-csv ratings.csv --recipe recipe.json" in readme
    assert ratings.splitlines()[0].startswith("listener,sentence,a,b,choice,")
    assert len(ratings.splitlines()) == 4  # header, two test responses, one training
