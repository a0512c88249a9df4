"""The MUSHRA report's renderers: formula-safe CSV, a CSP-safe box plot, the standalone page."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from listening.analysis.render_mushra import mushra_html, mushra_summary_csv, svg_mushra_boxplot
from listening.analysis.stats.mushra import mushra_report


def report(careless: int = 1) -> dict:
    rng = np.random.default_rng(0)
    quality = {"ref": 96, "=HYPERLINK(1)": 70, "<b>tts</b>": 55, "lp35": 20}
    rows = []
    for listener in range(8):
        for sentence in range(6):
            for system, q in quality.items():
                if listener < careless:
                    score = rng.uniform(20, 80)
                elif system == "ref":
                    score = rng.uniform(92, 100)
                else:
                    score = np.clip(q + rng.normal(0, 8), 0, 100)
                rows.append((f"L{listener}", f"S{sentence}", system, float(score)))
    frame = pd.DataFrame(rows, columns=["listener", "sentence", "system", "score"])
    return mushra_report(
        frame, roles={"reference": "ref", "anchor35": "lp35"}, order=["=HYPERLINK(1)", "<b>tts</b>"]
    )


def test_summary_csv_has_a_row_per_condition_and_neutralises_formulas():
    rows = list(csv.DictReader(io.StringIO(mushra_summary_csv(report()))))
    assert [r["system"] for r in rows] == ["ref", "'=HYPERLINK(1)", "<b>tts</b>", "lp35"]
    ref = rows[0]
    assert ref["role"] == "hidden_reference"
    assert int(ref["n"]) == 7 * 6 and int(ref["n_all_listeners"]) == 8 * 6
    assert float(ref["mean"]) > float(ref["mean_all_listeners"])


def test_box_plot_is_valid_svg_without_style_attributes_and_escapes_names():
    r = report()
    svg = svg_mushra_boxplot(r["systems"])
    root = ET.fromstring(svg)  # well-formed, so every name was escaped
    assert not any("style" in el.attrib for el in root.iter())
    assert "<b>" not in svg and "&lt;b&gt;tts&lt;/b&gt;" in svg
    boxes = [el for el in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert len(boxes) == len(r["systems"])
    for band in ("Bad", "Poor", "Fair", "Good", "Excellent"):
        assert f">{band}</text>" in svg
    # The box of the hidden reference sits above the anchor's (smaller y is higher).
    y = {float(b.attrib["y"]) for b in boxes}
    assert min(y) == float(boxes[0].attrib["y"]) and max(y) == float(boxes[-1].attrib["y"])


def test_html_page_names_the_excluded_listener_with_the_reason():
    page = mushra_html(report(), title="Demo <study>")
    assert "Demo &lt;study&gt;: MUSHRA report" in page
    assert "L0" in page and "hidden reference rated below 90" in page
    assert "<script" not in page and not re.search(r"\sstyle=", page)
