"""CSV that a spreadsheet opens without running anything in it (CSV or formula injection).

Every CSV Harken writes (the ratings download and its API twin, the report's summary and
objective CSVs, the audio ZIP's manifest) goes through :func:`csv_writer`. Text a participant or
a researcher typed (an external id, a sentence, a system name) could begin with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return, which Excel, LibreOffice and Google Sheets read as the
start of a formula (``=HYPERLINK(...)`` leaks data on a click). OWASP's rule
(https://owasp.org/www-community/attacks/CSV_Injection): prefix such a cell with a single quote,
so it shows as the text it is.

The choice for numbers: only text is neutralised. Python ints and floats are written as they
are, and so is a string that is nothing but a decimal number (``-0.5``, ``+3``, ``-1e-3``),
because a negative score or loudness must stay a number for the statistics reading the file;
such a string cannot be a formula. ``-1+2`` or ``-A1`` is not a plain number and is prefixed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet runs: formula-like text gets a leading quote."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


class SpreadsheetSafeWriter:
    """``csv.writer`` whose rows pass through :func:`spreadsheet_cell`; ``writerow`` returns
    what the stream's write returns (so a streaming response can yield it)."""

    def __init__(self, stream: Any) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([spreadsheet_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: Any) -> SpreadsheetSafeWriter:
    """The one CSV writer of every download: ``\\n`` line ends, formula-like text neutralised."""
    return SpreadsheetSafeWriter(stream)
