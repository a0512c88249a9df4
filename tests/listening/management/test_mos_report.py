"""``manage.py mos_report`` end to end, by test type: an ACR study in the database, then ratings
CSVs on disk (which need no database) for ACR, CCR, AB, ABX, SMOS, MUSHRA and transcription, and
the mistakes people make in CSVs, each answered with a CommandError that names the file and the
line.

The ACR study is ``tests.factories.rated_study`` (known scores, a straight-liner the screening
excludes, a listener excluded by hand); expected MOS are computed by hand.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from listening.analysis import stats
from listening.analysis.stats.mushra import mushra_report, read_mushra_csv
from listening.management.commands.mos_report import TEST_TYPES
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
    """Run the command as a shell would; returns (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("mos_report", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def report_json(*args: str) -> dict:
    return json.loads(mos_report(*args)[0])


def report_to(target: Path, source: Path, *args: str, fmt: str) -> str:
    """Write the report of the CSV ``source`` to ``target`` in ``fmt``; returns stderr."""
    return mos_report("--ratings-csv", str(source), *args, "--format", fmt, "--out", str(target))[1]


def write(path: Path, header: str, rows: Iterable[str]) -> Path:
    path.write_text(header + "\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def grid(listeners: int, sentences: int, row: Callable[[int, int], object]) -> list:
    """``row(listener, sentence)`` for every listener and sentence, listener-major: the rows of
    a CSV, or the scores they hold."""
    return [row(i, s) for i in range(listeners) for s in range(sentences)]


# --- ACR from a study in the database -----------------------------------------------------------


@pytest.fixture
def study(ada):
    return rated_study(ada, slug="cli-study")


def test_study_json_to_stdout_has_the_hand_computed_mos(study):
    report = report_json("cli-study")
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
    printed = report_json("cli-study")
    client = Client()
    client.force_login(study.owner)
    site = json.loads(client.get(f"/studies/{study.slug}/report/report.json").content)
    for key in ("systems", "systems_after_exclusion", "pairs", "excluded_listeners"):
        assert printed[key] == site[key]


def test_no_screening_keeps_the_straight_liner_but_not_the_hand_excluded(study):
    report = report_json("cli-study", "--no-screening")
    assert [e["listener"] for e in report["excluded_listeners"]] == [f"prolific:{MANUAL}"]
    after = {s["system"]: s["mos"] for s in report["systems_after_exclusion"]}
    assert after["espeak"] == pytest.approx(expected_mos("espeak", straight_liner=True))


def test_raw_ratings_download_reads_back_into_the_same_numbers(study, tmp_path):
    client = Client()
    client.force_login(study.owner)
    response = client.get(f"/studies/{study.slug}/report/ratings.csv")
    path = tmp_path / "ratings.csv"
    path.write_bytes(b"".join(response.streaming_content))
    from_csv = report_json("--ratings-csv", str(path))
    from_db = report_json("cli-study")
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


def test_other_tests_read_csvs_not_studies():
    with pytest.raises(CommandError, match="--test mushra reads --ratings-csv FILE"):
        mos_report("some-study", "--test", "mushra")


# --- ACR from a CSV: no database ----------------------------------------------------------------


@pytest.fixture
def ratings_csv(tmp_path) -> Path:
    path = tmp_path / "ratings.csv"
    rated_ratings_table().assign(note="kept").to_csv(path, index=False)
    return path


def test_ratings_csv_to_out_as_csv(tmp_path):
    rows = [
        f"L{j},s{s},{system},{score},lab"
        for j in range(3)
        for s in range(3)
        for system, score in (("A", 4 + (j + s) % 2), ("B", 2 + (j * s) % 2))
    ]
    path = write(tmp_path / "elsewhere.csv", "listener,sentence,system,score,site", rows)
    target = tmp_path / "summary.csv"
    report_to(target, path, fmt="csv")
    summary = {r["system"]: r for r in csv.DictReader(target.open(encoding="utf-8"))}
    a = grid(3, 3, lambda j, s: 4 + (j + s) % 2)
    b = grid(3, 3, lambda j, s: 2 + (j * s) % 2)
    assert float(summary["A"]["mos"]) == pytest.approx(sum(a) / 9)
    assert float(summary["B"]["mos"]) == pytest.approx(sum(b) / 9)


def test_command_prints_the_json_report_of_a_csv(ratings_csv):
    printed = report_json("--ratings-csv", str(ratings_csv))
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
    report_to(page, ratings_csv, fmt="html")
    assert "ratings.csv" in page.read_text()  # default title: the CSV's name


def test_command_no_screening_excludes_nobody(ratings_csv):
    printed = report_json("--ratings-csv", str(ratings_csv), "--no-screening")
    assert printed["excluded_listeners"] == []
    assert printed["screening"]["fired"]["identical_scores"] == 1


def test_command_needs_exactly_one_source(tmp_path):
    with pytest.raises(CommandError, match="exactly one source"):
        mos_report()
    with pytest.raises(CommandError, match="No such ratings CSV"):
        mos_report("--ratings-csv", str(tmp_path / "missing.csv"))


def test_an_acr_csv_with_a_followup_column_gets_the_followups_section(tmp_path):
    rows = [
        f"L{j},s{s},{system},{3 + (j + s) % 2},{'yes' if system == 'B' and j else 'no'}"
        for j in range(3)
        for s in range(3)
        for system in ("A", "B")
    ]
    path = write(
        tmp_path / "acr.csv", "listener,sentence,system,score,followup_mispronounced", rows
    )
    printed = report_json("--ratings-csv", str(path))
    a, b = printed["followups"]["mispronounced"]["systems"]
    assert (a["yes"], a["n"], b["yes"], b["n"]) == (0, 9, 6, 9)
    assert b["proportion"] == pytest.approx(6 / 9)


def test_the_acr_default_is_unchanged_and_every_test_has_a_reader_builder_and_renderers(tmp_path):
    path = write(
        tmp_path / "acr.csv",
        "listener,sentence,system,score",
        grid(4, 4, lambda i, s: f"L{i},s{s},{'AB'[(i + s) % 2]},{1 + (i * s) % 5}"),
    )
    assert mos_report("--ratings-csv", str(path)) == mos_report(
        "--ratings-csv", str(path), "--test", "acr"
    )
    assert "test" not in report_json("--ratings-csv", str(path))
    for kind in TEST_TYPES.values():
        assert set(kind.render) == {"json", "csv", "html"}


# --- CCR, AB, ABX and SMOS from a CSV -----------------------------------------------------------


@pytest.fixture
def ccr_csv(tmp_path) -> Path:
    rows = []
    for i in range(4):
        for s in range(4):
            first = (i + s) % 2 == 0
            # X is one point worse than ref, whatever the order.
            rows.append(f"L{i},s{s},ref,X,-1" if first else f"L{i},s{s},X,ref,1")
            rows.append(f"L{i},t{s},ref,Y,0" if first else f"L{i},t{s},Y,ref,0")
    return write(tmp_path / "ccr.csv", "listener,sentence,a,b,score", rows)


def test_ccr_json_has_the_cmos_of_each_system_against_the_inferred_reference(ccr_csv):
    report = report_json("--ratings-csv", str(ccr_csv), "--test", "ccr")
    assert report["test"] == "ccr"
    assert report["reference"] == "ref"
    cmos = {e["system"]: e["cmos"] for e in report["systems"]}
    assert cmos == pytest.approx({"X": -1.0, "Y": 0.0})
    assert report["order_effect"]["mean_score_as_presented"] == pytest.approx(0.0)


def test_ccr_reference_option_and_its_errors(ccr_csv):
    with pytest.raises(CommandError, match="not in every pair"):
        mos_report("--ratings-csv", str(ccr_csv), "--test", "ccr", "--reference", "X")
    with pytest.raises(CommandError, match="applies to --test ccr, ab or mushra"):
        mos_report("--ratings-csv", str(ccr_csv), "--test", "abx", "--reference", "X")


@pytest.mark.parametrize("fmt", ["csv", "html"])
def test_every_type_writes_csv_and_html(tmp_path, ccr_csv, fmt):
    files = {
        "ccr": ccr_csv,
        "ab": write(
            tmp_path / "ab.csv",
            "listener,sentence,a,b,choice",
            grid(4, 3, lambda i, s: f"L{i},s{s},A,B,{'abt'[(i + s) % 3].replace('t', 'tie')}"),
        ),
        "abx": write(
            tmp_path / "abx.csv",
            "listener,sentence,a,b,x,choice",
            grid(4, 4, lambda i, s: f"L{i},s{s},A,B,{'AB'[s % 2]},{'ab'[(i + s) % 2]}"),
        ),
        "smos": write(
            tmp_path / "smos.csv",
            "listener,sentence,system,score,reference",
            grid(4, 4, lambda i, s: f"L{i},s{s},X,{1 + (i + s) % 5},r{s}"),
        ),
    }
    for test, path in files.items():
        out = tmp_path / f"{test}.{fmt}"
        report_to(out, path, "--test", test, fmt=fmt)
        text = out.read_text(encoding="utf-8")
        if fmt == "csv":
            assert list(csv.reader(io.StringIO(text)))[1]
        else:
            assert text.startswith("<!doctype html>") and "<script" not in text
        if test == "smos" and fmt == "html":
            assert "different-text" in text


def test_a_bad_comparative_csv_names_the_line(tmp_path):
    path = write(
        tmp_path / "ab.csv", "listener,sentence,a,b,choice", ["L1,s1,A,B,a", "L1,s2,A,B,x"]
    )
    with pytest.raises(CommandError, match="line 3"):
        mos_report("--ratings-csv", str(path), "--test", "ab")
    with pytest.raises(CommandError, match="lacks column"):
        mos_report("--ratings-csv", str(path), "--test", "ccr")


# --- MUSHRA from a CSV --------------------------------------------------------------------------

ROLES = ("--reference", "natural", "--anchor70", "lp70", "--anchor35", "lp35")


@pytest.fixture
def mushra_csv(tmp_path) -> Path:
    """Six listeners, four sentences; L0 rates the hidden reference like a system (excluded)."""
    lines = []
    for j in range(6):
        for s in range(4):
            for system, base in (("natural", 95), ("tts", 60), ("lp70", 45), ("lp35", 15)):
                score = 50 if (j == 0 and system == "natural") else base + (j + s) % 5
                odd = "yes" if system == "tts" and (j + s) % 2 else "no"
                lines.append(f"L{j},s{s},{system},{score},{odd}")
    return write(tmp_path / "mushra.csv", "listener,sentence,system,score,followup_odd", lines)


def test_mushra_json_is_the_analysis_of_the_file(mushra_csv):
    printed = report_json("--ratings-csv", str(mushra_csv), "--test", "mushra", *ROLES)
    roles = {"reference": "natural", "anchor70": "lp70", "anchor35": "lp35"}
    expected = mushra_report(read_mushra_csv(mushra_csv, roles=roles), roles=roles)
    assert {k: v for k, v in printed.items() if k != "followups"} == expected
    assert printed["test"] == "mushra"
    assert [e["listener"] for e in printed["excluded_listeners"]] == ["L0"]
    tts = {s["system"]: s for s in printed["systems"]}["tts"]
    assert tts["role"] == "test" and tts["n"] == 5 * 4
    assert printed["followups"]["odd"]["systems"][1]["system"] == "tts"


def test_mushra_no_screening_and_csv_and_html_out(mushra_csv, tmp_path):
    printed = report_json(
        "--ratings-csv", str(mushra_csv), "--test", "mushra", *ROLES, "--no-screening"
    )
    assert printed["screening"]["applied"] is False
    assert {s["system"]: s["n"] for s in printed["systems"]}["natural"] == 6 * 4
    target = tmp_path / "summary.csv"
    err = report_to(target, mushra_csv, "--test", "mushra", *ROLES, fmt="csv")
    assert "summary.csv" in err
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["system"] for r in rows] == ["natural", "tts", "lp70", "lp35"]
    page = tmp_path / "mushra.html"
    report_to(page, mushra_csv, "--test", "mushra", *ROLES, fmt="html")
    html = page.read_text(encoding="utf-8")
    assert "mushra.csv: MUSHRA report" in html and "<svg" in html


def test_a_recipe_is_refused_with_the_other_tests(mushra_csv, tmp_path):
    with pytest.raises(CommandError, match="--recipe holds an ACR study's screening rules"):
        mos_report("--ratings-csv", str(mushra_csv), "--test", "mushra", "--recipe", str(tmp_path))


# --- Transcription from a CSV -------------------------------------------------------------------


@pytest.fixture
def transcription_files(tmp_path) -> tuple[Path, Path]:
    sentences = write(
        tmp_path / "sentences.csv",
        "key,text",
        ["s1,The birch canoe slid on the smooth planks.", 's2,"He paid $5, I think."'],
    )
    answers = write(
        tmp_path / "answers.csv",
        "listener,sentence,system,text",
        [
            "L1,s1,a,the birch canoe slid on the smooth planks",
            "L1,s2,a,he paid five dollars i think",
            "L2,s1,a,the birch canoe slid on the smooth banks",
            'L2,s2,a,"=1+1 he paid five dollars"',
        ],
    )
    return answers, sentences


def test_transcription_json_and_answers_out(transcription_files, tmp_path):
    answers, sentences = transcription_files
    typed = tmp_path / "typed.csv"
    out, err = mos_report(
        "--ratings-csv",
        str(answers),
        "--test",
        "transcription",
        "--sentences",
        str(sentences),
        "--answers-out",
        str(typed),
    )
    printed = json.loads(out)
    (system,) = printed["systems"]
    # Words: 8 + 6 ("$5" is "five dollars") + 8 + 6. Errors: "banks" for "planks" (1); "=1+1"
    # is read as spoken, "equals one plus one" (4 insertions), and "i think" missed (2).
    assert printed["test"] == "transcription"
    assert system["words"] == 28
    assert system["wer"] == pytest.approx(7 / 28)
    assert str(typed) in err
    rows = list(csv.DictReader(typed.open(encoding="utf-8")))
    assert rows[3]["text"] == "'=1+1 he paid five dollars"


def test_transcription_needs_its_sentence_file(transcription_files, tmp_path):
    answers, _ = transcription_files
    with pytest.raises(CommandError, match="needs --sentences FILE"):
        mos_report("--ratings-csv", str(answers), "--test", "transcription")
    with pytest.raises(CommandError, match="No such sentence file"):
        mos_report(
            "--ratings-csv",
            str(answers),
            "--test",
            "transcription",
            "--sentences",
            str(tmp_path / "none.csv"),
        )


# --- Bad CSVs, every type: the message names the file and the line -----------------------------

ACR = b"listener,sentence,system,score\n"
MUSHRA = ("--test", "mushra")


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"listener,sentence,score\nL1,s1,4\n", (), r"lacks column\(s\) system"),
        (b"listener,sentence,system\na,s,x\n", (), "lacks column.*score"),
        (ACR + b"L1,s1,A,4\nL2,s1,A,6\n", (), r"1 to 5 at line 3 .*'6'"),
        (ACR + b"L1,s1,A,4\nL2,s1,A,good\n", (), r"not a number at line 3"),
        (ACR + b"a,s,x,4\nb,s,x,4.5\n", (), "line 3"),
        (ACR + b"L1,s1,A,4\nL\xe9a,s1,A,3\n", (), r"not UTF-8.*line 3"),
        (ACR + b"a,s,x,4\nb,\xff,x,4\n", (), "not UTF-8.*line 3"),
        (ACR + b"a,s,x,4\n,s,x,3\n", (), "'listener' is empty at line 3"),
        (
            b"listener,sentence,system,score,listener_excluded\nL1,s1,A,4,no\nL2,s1,A,3,maybe\n",
            (),
            r"listener_excluded.*'maybe' at line 3",
        ),
        (ACR + b"L1,s1,A,101\n", MUSHRA, r"0-100 at line 2"),
        (b"listener,sentence,system\nL1,s1,A\n", MUSHRA, r"lacks column\(s\) score"),
        (ACR + b"L1,s1,A,50\n", (*MUSHRA, "--reference", "B"), "No ratings"),
    ],
    ids=[
        "acr missing system",
        "acr missing score",
        "acr score out of range",
        "acr score not a number",
        "acr score not whole",
        "acr latin-1",
        "acr not utf-8",
        "acr empty listener",
        "acr bad flag",
        "mushra score out of range",
        "mushra missing score",
        "mushra no ratings for the reference",
    ],
)
def test_bad_csv_is_a_command_error_naming_the_file_and_line(tmp_path, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message) as raised:
        mos_report("--ratings-csv", str(path), *args)
    assert str(path) in str(raised.value)
