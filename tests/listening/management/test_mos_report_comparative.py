"""``manage.py mos_report --ratings-csv FILE --test ccr|ab|abx|smos``: each type end to end from a
CSV on disk (no database), the reference option, and mistakes answered with a CommandError."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from listening.management.commands.mos_report import TEST_TYPES


def mos_report(*args: str) -> str:
    out = io.StringIO()
    call_command("mos_report", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


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
    report = json.loads(mos_report("--ratings-csv", str(ccr_csv), "--test", "ccr"))
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
            [
                f"L{i},s{s},A,B,{'abt'[(i + s) % 3].replace('t', 'tie')}"
                for i in range(4)
                for s in range(3)
            ],
        ),
        "abx": write(
            tmp_path / "abx.csv",
            "listener,sentence,a,b,x,choice",
            [
                f"L{i},s{s},A,B,{'AB'[s % 2]},{'ab'[(i + s) % 2]}"
                for i in range(4)
                for s in range(4)
            ],
        ),
        "smos": write(
            tmp_path / "smos.csv",
            "listener,sentence,system,score,reference",
            [f"L{i},s{s},X,{1 + (i + s) % 5},r{s}" for i in range(4) for s in range(4)],
        ),
    }
    for test, path in files.items():
        out = tmp_path / f"{test}.{fmt}"
        call_command(
            "mos_report",
            "--ratings-csv",
            str(path),
            "--test",
            test,
            "--format",
            fmt,
            "--out",
            str(out),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
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


def test_the_acr_default_is_unchanged_and_every_test_has_a_reader_builder_and_renderers(tmp_path):
    path = write(
        tmp_path / "acr.csv",
        "listener,sentence,system,score",
        [f"L{i},s{s},{'AB'[(i + s) % 2]},{1 + (i * s) % 5}" for i in range(4) for s in range(4)],
    )
    assert mos_report("--ratings-csv", str(path)) == mos_report(
        "--ratings-csv", str(path), "--test", "acr"
    )
    assert "test" not in json.loads(mos_report("--ratings-csv", str(path)))
    for kind in TEST_TYPES.values():
        assert set(kind.render) == {"json", "csv", "html"}
