"""``manage.py mos_report`` end to end: a study in the database, a ratings CSV on disk (which
needs no database), and the mistakes people make in CSVs, each answered with a CommandError
that names the line.

The study is ``tests.factories.rated_study`` (known scores, a straight-liner the screening
excludes, a listener excluded by hand); expected MOS are computed by hand.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from listening.analysis import stats
from tests.factories import (
    BASE,
    MANUAL,
    MANUAL_REASON,
    STRAIGHT,
    expected_mos,
    rated_ratings_table,
    rated_study,
)


def mos_report(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("mos_report", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def study(ada):
    return rated_study(ada, slug="cli-study")


@pytest.fixture
def ratings_csv(tmp_path) -> Path:
    path = tmp_path / "ratings.csv"
    rated_ratings_table().assign(note="kept").to_csv(path, index=False)
    return path


def test_study_json_to_stdout_has_the_hand_computed_mos(study):
    out, _ = mos_report("cli-study")
    report = json.loads(out)
    after = {s["system"]: s["mos"] for s in report["systems_after_exclusion"]}
    everyone = {s["system"]: s["mos"] for s in report["systems"]}
    for name in BASE:
        assert after[name] == pytest.approx(expected_mos(name, straight_liner=False))
        assert everyone[name] == pytest.approx(expected_mos(name, straight_liner=True))
    reasons = {e["listener"]: e["rules"] for e in report["excluded_listeners"]}
    assert reasons == {
        f"prolific:{MANUAL}": ["manual"],
        f"prolific:{STRAIGHT}": ["identical_scores"],
    }


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_study_report_written_to_out(study, tmp_path, fmt):
    target = tmp_path / f"report.{fmt}"
    out, err = mos_report("cli-study", "--format", fmt, "--out", str(target))
    assert out == "" and str(target) in err
    text = target.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary left
    natural = expected_mos("natural", straight_liner=False)
    if fmt == "json":
        assert json.loads(text)["systems_after_exclusion"][0]["mos"] == pytest.approx(natural)
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["system"] for r in rows] == ["natural", "tacotron2", "espeak"]
        assert float(rows[0]["mos_after_exclusion"]) == pytest.approx(natural)
    else:
        assert "<title>Tacotron2 vs eSpeak" in text and f"{natural:.3f}" in text
        assert MANUAL_REASON in text


def test_study_report_matches_the_sites_json(study, django_user_model):
    out, _ = mos_report("cli-study")
    client = Client()
    client.force_login(study.owner)
    site = json.loads(client.get(f"/studies/{study.slug}/report/report.json").content)
    printed = json.loads(out)
    for key in ("systems", "systems_after_exclusion", "pairs", "excluded_listeners"):
        assert printed[key] == site[key]


def test_no_screening_keeps_the_straight_liner_but_not_the_hand_excluded(study):
    report = json.loads(mos_report("cli-study", "--no-screening")[0])
    assert [e["listener"] for e in report["excluded_listeners"]] == [f"prolific:{MANUAL}"]
    after = {s["system"]: s["mos"] for s in report["systems_after_exclusion"]}
    assert after["espeak"] == pytest.approx(expected_mos("espeak", straight_liner=True))


def test_raw_ratings_download_reads_back_into_the_same_numbers(study, tmp_path):
    client = Client()
    client.force_login(study.owner)
    response = client.get(f"/studies/{study.slug}/report/ratings.csv")
    path = tmp_path / "ratings.csv"
    path.write_bytes(b"".join(response.streaming_content))
    from_csv = json.loads(mos_report("--ratings-csv", str(path))[0])
    from_db = json.loads(mos_report("cli-study")[0])
    for key in ("systems", "systems_after_exclusion", "excluded_listeners", "manual_exclusions"):
        assert from_csv[key] == from_db[key], key


def test_unknown_study_lists_the_known_ones(study):
    with pytest.raises(CommandError, match="No study with slug 'nope'. Known studies: cli-study"):
        mos_report("nope")


def test_a_study_and_a_csv_at_once_is_refused(study, tmp_path):
    with pytest.raises(CommandError, match="exactly one source.*Both were given"):
        mos_report("cli-study", "--ratings-csv", str(tmp_path / "x.csv"))


def test_out_into_a_missing_folder_is_refused(study, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        mos_report("cli-study", "--out", str(tmp_path / "nowhere" / "r.json"))


# --- CSV mode: no database ---------------------------------------------------------------------


def test_ratings_csv_to_out_as_csv(tmp_path):
    path = tmp_path / "elsewhere.csv"
    path.write_text(
        "listener,sentence,system,score,site\n"
        + "".join(
            f"L{j},s{s},{system},{score},lab\n"
            for j in range(3)
            for s in range(3)
            for system, score in (("A", 4 + (j + s) % 2), ("B", 2 + (j * s) % 2))
        ),
        encoding="utf-8",
    )
    target = tmp_path / "summary.csv"
    mos_report("--ratings-csv", str(path), "--format", "csv", "--out", str(target))
    rows = {r["system"]: r for r in csv.DictReader(target.open(encoding="utf-8"))}
    a = [4 + (j + s) % 2 for j in range(3) for s in range(3)]
    b = [2 + (j * s) % 2 for j in range(3) for s in range(3)]
    assert float(rows["A"]["mos"]) == pytest.approx(sum(a) / 9)
    assert float(rows["B"]["mos"]) == pytest.approx(sum(b) / 9)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"listener,sentence,score\nL1,s1,4\n", r"lacks column\(s\) system"),
        (b"listener,sentence,system,score\nL1,s1,A,4\nL2,s1,A,6\n", r"1 to 5 at line 3 .*'6'"),
        (b"listener,sentence,system,score\nL1,s1,A,4\nL2,s1,A,good\n", r"not a number at line 3"),
        (b"listener,sentence,system,score\nL1,s1,A,4\nL\xe9a,s1,A,3\n", r"not UTF-8.*line 3"),
        (
            b"listener,sentence,system,score,listener_excluded\nL1,s1,A,4,no\nL2,s1,A,3,maybe\n",
            r"listener_excluded.*'maybe' at line 3",
        ),
    ],
    ids=["missing column", "score out of range", "score not a number", "latin-1", "bad flag"],
)
def test_bad_csv_is_a_command_error_naming_the_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message) as raised:
        mos_report("--ratings-csv", str(path))
    assert str(path) in str(raised.value)


def test_command_prints_the_json_report_of_a_csv(ratings_csv):
    out, _ = mos_report("--ratings-csv", str(ratings_csv))
    printed = json.loads(out)
    expected = stats.build_report(stats.read_ratings_csv(ratings_csv))
    assert printed == expected
    assert printed["systems"][0]["system"] == "natural"


def test_command_writes_csv_and_html_to_out(ratings_csv, tmp_path):
    target = tmp_path / "summary.csv"
    out, err = mos_report(
        "--ratings-csv", str(ratings_csv), "--format", "csv", "--out", str(target)
    )
    assert out == "" and "summary.csv" in err
    assert target.read_text().splitlines()[0].startswith("system,kind,n,")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    page = tmp_path / "report.html"
    mos_report("--ratings-csv", str(ratings_csv), "--format", "html", "--out", str(page))
    assert "ratings.csv" in page.read_text()  # default title: the CSV's name


def test_command_no_screening_excludes_nobody(ratings_csv):
    out, _ = mos_report("--ratings-csv", str(ratings_csv), "--no-screening")
    printed = json.loads(out)
    assert printed["excluded_listeners"] == []
    assert printed["screening"]["fired"]["identical_scores"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"listener,sentence,system\na,s,x\n", "lacks column.*score"),
        (b"listener,sentence,system,score\na,s,x,4\nb,s,x,4.5\n", "line 3"),
        (b"listener,sentence,system,score\na,s,x,4\nb,\xff,x,4\n", "not UTF-8.*line 3"),
        (b"listener,sentence,system,score\na,s,x,4\n,s,x,3\n", "'listener' is empty at line 3"),
    ],
)
def test_command_names_the_problem_in_a_bad_csv(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        mos_report("--ratings-csv", str(path))


def test_command_needs_exactly_one_source(tmp_path):
    with pytest.raises(CommandError, match="exactly one source"):
        mos_report()
    with pytest.raises(CommandError, match="No such ratings CSV"):
        mos_report("--ratings-csv", str(tmp_path / "missing.csv"))
