"""The test a listener answers, as a report and a recipe state it: the type, the standard, the
exact question on the rating page and every label of the scale with its increment.

Pure and in English: these are the words of the paper's method section (ITU-T P.800.2 asks for
the exact question and labels). The rating page shows the same words through gettext
(``templates/listening/participation/rate.html``, ``participation.pages_acr.ACR_SCALE``); a test
checks the page still asks this question.
"""

from __future__ import annotations

# The ACR listening-quality test of ITU-T P.800 (1996), Annex B.
ACR_TEST = {
    "type": "acr",
    "name": "Absolute Category Rating (ACR), listening quality",
    "standard": "ITU-T P.800 (1996), Annex B; crowdsourced as in ITU-T P.808 (2021)",
    "question": "How does it sound?",
    "scale": [
        {"value": 5, "label": "Excellent"},
        {"value": 4, "label": "Good"},
        {"value": 3, "label": "Fair"},
        {"value": 2, "label": "Poor"},
        {"value": 1, "label": "Bad"},
    ],
    "increment": 1,
    "presentation": "one clip at a time, played to its end before it can be rated",
}
