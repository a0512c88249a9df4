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

# MUSHRA, ITU-R BS.1534-3: every condition of a sentence on one page, each on the 0-100
# continuous quality scale of five equal labelled bands.
MUSHRA_TEST = {
    "type": "mushra",
    "name": "MUSHRA (multiple stimuli with hidden reference and anchor)",
    "standard": "ITU-R BS.1534-3 (2015); without a reference as in ITU-R BS.2132",
    "question": "Rate each sound: 100 means as good as the Reference.",
    "question_reference_free": "Rate each sound from 0 (Bad) to 100 (Excellent).",
    "scale": [
        {"value": "80-100", "label": "Excellent"},
        {"value": "60-80", "label": "Good"},
        {"value": "40-60", "label": "Fair"},
        {"value": "20-40", "label": "Poor"},
        {"value": "0-20", "label": "Bad"},
    ],
    "increment": 1,
    "presentation": (
        "all conditions of a sentence on one page in a random order per trial, each played to "
        "its end before its slider can be set; only the sound playing can be rated"
    ),
}

# Intelligibility: the listener types what was said (no rating scale).
TRANSCRIPTION_TEST = {
    "type": "transcription",
    "name": "Transcription (intelligibility)",
    "standard": "word and character error rate against the sentence text",
    "question": "Play the clip and type the words you hear.",
    "presentation": "one clip at a time, typed answer",
}
