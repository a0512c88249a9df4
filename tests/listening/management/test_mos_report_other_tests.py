"""``mos_report --ratings-csv FILE --test mushra|transcription``: real files in, reports out,
and each mistake answered with a CommandError that names the file and the line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from listening.analysis.stats.mushra import mushra_report, read_mushra_csv


def mos_report(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("mos_report", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def mushra_csv(tmp_path) -> Path:
    """Six listeners, four sentences; L0 rates the hidden reference like a system (excluded)."""
    lines = ["listener,sentence,system,score,followup_odd"]
    for j in range(6):
        for s in range(4):
            for system, base in (("natural", 95), ("tts", 60), ("lp70", 45), ("lp35", 15)):
                score = 50 if (j == 0 and system == "natural") else base + (j + s) % 5
                odd = "yes" if system == "tts" and (j + s) % 2 else "no"
                lines.append(f"L{j},s{s},{system},{score},{odd}")
    path = tmp_path / "mushra.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ROLES = ("--reference", "natural", "--anchor70", "lp70", "--anchor35", "lp35")


def test_mushra_json_is_the_analysis_of_the_file(mushra_csv):
    out, _ = mos_report("--ratings-csv", str(mushra_csv), "--test", "mushra", *ROLES)
    printed = json.loads(out)
    roles = {"reference": "natural", "anchor70": "lp70", "anchor35": "lp35"}
    expected = mushra_report(read_mushra_csv(mushra_csv, roles=roles), roles=roles)
    assert {k: v for k, v in printed.items() if k != "followups"} == expected
    assert printed["test"] == "mushra"
    assert [e["listener"] for e in printed["excluded_listeners"]] == ["L0"]
    tts = {s["system"]: s for s in printed["systems"]}["tts"]
    assert tts["role"] == "test" and tts["n"] == 5 * 4
    assert printed["followups"]["odd"]["systems"][1]["system"] == "tts"


def test_mushra_no_screening_and_csv_and_html_out(mushra_csv, tmp_path):
    out, _ = mos_report(
        "--ratings-csv", str(mushra_csv), "--test", "mushra", *ROLES, "--no-screening"
    )
    printed = json.loads(out)
    assert printed["screening"]["applied"] is False
    assert {s["system"]: s["n"] for s in printed["systems"]}["natural"] == 6 * 4
    target = tmp_path / "summary.csv"
    _, err = mos_report(
        "--ratings-csv",
        str(mushra_csv),
        "--test",
        "mushra",
        *ROLES,
        "--format",
        "csv",
        "--out",
        str(target),
    )
    assert "summary.csv" in err
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["system"] for r in rows] == ["natural", "tts", "lp70", "lp35"]
    page = tmp_path / "mushra.html"
    mos_report(
        "--ratings-csv",
        str(mushra_csv),
        "--test",
        "mushra",
        *ROLES,
        "--format",
        "html",
        "--out",
        str(page),
    )
    html = page.read_text(encoding="utf-8")
    assert "mushra.csv: MUSHRA report" in html and "<svg" in html


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b"listener,sentence,system,score\nL1,s1,A,101\n", (), r"0-100 at line 2"),
        (b"listener,sentence,system\nL1,s1,A\n", (), r"lacks column\(s\) score"),
        (b"listener,sentence,system,score\nL1,s1,A,50\n", ("--reference", "B"), "No ratings"),
    ],
)
def test_mushra_bad_input_names_file_and_line(tmp_path, content, extra, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message) as raised:
        mos_report("--ratings-csv", str(path), "--test", "mushra", *extra)
    assert str(path) in str(raised.value)


@pytest.fixture
def transcription_files(tmp_path) -> tuple[Path, Path]:
    sentences = tmp_path / "sentences.csv"
    sentences.write_text(
        'key,text\ns1,The birch canoe slid on the smooth planks.\ns2,"He paid $5, I think."\n',
        encoding="utf-8",
    )
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "listener,sentence,system,text\n"
        "L1,s1,a,the birch canoe slid on the smooth planks\n"
        "L1,s2,a,he paid five dollars i think\n"
        "L2,s1,a,the birch canoe slid on the smooth banks\n"
        'L2,s2,a,"=1+1 he paid five dollars"\n',
        encoding="utf-8",
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


def test_other_tests_read_csvs_not_studies():
    with pytest.raises(CommandError, match="--test mushra reads --ratings-csv FILE"):
        mos_report("some-study", "--test", "mushra")


def test_an_acr_csv_with_a_followup_column_gets_the_followups_section(tmp_path):
    path = tmp_path / "acr.csv"
    path.write_text(
        "listener,sentence,system,score,followup_mispronounced\n"
        + "".join(
            f"L{j},s{s},{system},{3 + (j + s) % 2},{'yes' if system == 'B' and j else 'no'}\n"
            for j in range(3)
            for s in range(3)
            for system in ("A", "B")
        ),
        encoding="utf-8",
    )
    printed = json.loads(mos_report("--ratings-csv", str(path))[0])
    a, b = printed["followups"]["mispronounced"]["systems"]
    assert (a["yes"], a["n"], b["yes"], b["n"]) == (0, 9, 6, 9)
    assert b["proportion"] == pytest.approx(6 / 9)


def test_a_recipe_is_refused_with_the_other_tests(mushra_csv, tmp_path):
    with pytest.raises(CommandError, match="--recipe holds an ACR study's screening rules"):
        mos_report("--ratings-csv", str(mushra_csv), "--test", "mushra", "--recipe", str(tmp_path))
