"""Logs: JSON lines in production, readable lines in development, extras kept in both."""

import json
import logging

from mos_site.logs import JsonFormatter, TextFormatter


def record(**extra) -> logging.LogRecord:
    rec = logging.LogRecord("harken.test", logging.INFO, __file__, 1, "built %s", ("report",), None)
    rec.__dict__.update(extra)
    return rec


def test_json_formatter_writes_one_parseable_line_with_extras():
    line = JsonFormatter().format(record(study="demo", seconds=1.5))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "built report"
    assert entry["level"] == "info"
    assert entry["study"] == "demo" and entry["seconds"] == 1.5


def test_text_formatter_is_readable_and_keeps_extras():
    line = TextFormatter().format(record(study="demo"))
    assert "INFO" in line and "harken.test: built report" in line and "study=demo" in line
