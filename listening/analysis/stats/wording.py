"""Normalising typed transcriptions and sentence texts before counting word errors.

Where it sits: ``transcription`` compares what a listener typed with the sentence text; both
go through :func:`normalise_words` first, so that only differences in the words heard count as
errors, not how they were written. The steps, in order (docs/statistics.md repeats the list):

1. **Spoken forms** (``synthesis.engine.text.normalize_text``, the text front-end the voices
   read with): Unicode to ASCII, numbers written out with ``inflect`` ("21st" -> "twenty-first",
   "1984" -> "nineteen eighty-four", "$3.50" -> "three dollars, fifty cents"), percent, clock
   times, decades, ranges, and common abbreviations ("Dr." -> "doctor", "Mr." -> "mister").
   A listener who types "5" and one who types "five" both match a sentence saying "5".
2. **Case**: everything lower case.
3. **Hyphens and dashes** separate words: "eighty-four" = "eighty four", "well-known" =
   "well known".
4. **Contractions** are expanded: n't -> not (can't and cannot -> can not, won't -> will not,
   shan't -> shall not, ain't -> is not), 're -> are, 've -> have, 'll -> will, 'm -> am, 'd -> would, and 's after
   it/that/there/here/what/where/who/how/he/she -> is; let's -> let us. Other 's (possessives)
   stay part of the word.
5. **Punctuation** is removed (every character but letters, digits and the apostrophe of a
   possessive), and whitespace collapsed.
6. **"and" inside a number** is dropped: "one hundred and five" = "one hundred five" (inflect
   writes the latter; British readers type the former).
7. **British and American spellings** are made one: -our -> -or after at least two letters
   (colour, honour, favourite, neighbours; not four, hour, your, tour, pour, nor scour, whose
   -or form "scored" is another word), -ise/-ised/-ises/
   -ising/-isation -> -ize... after at least three letters (realise, organisation; the one
   merged pair of distinct words is prise/prize), -yse -> -yze (analyse), and the words of
   :data:`SPELLING_VARIANTS` (centre, theatre, metre, litre, fibre, grey, programme, catalogue,
   dialogue, travelled, cancelled, jewellery, aluminium, defence, offence, licence, tyre,
   plough, mould, cheque, ageing, judgement, ...).

Both sides get the same steps, so a rule that also rewrites a word it was not meant for
("devour" -> "devor") does no harm unless it merges two different words, which the limits above
avoid for common English. Steps 1-6 are language-independent in code but English in content.
"""

from __future__ import annotations

import re

from synthesis.engine.text import normalize_text

__all__ = ["SPELLING_VARIANTS", "normalise_words"]

SPELLING_VARIANTS: dict[str, str] = {
    "centre": "center",
    "centres": "centers",
    "centred": "centered",
    "theatre": "theater",
    "theatres": "theaters",
    "metre": "meter",
    "metres": "meters",
    "litre": "liter",
    "litres": "liters",
    "fibre": "fiber",
    "fibres": "fibers",
    "calibre": "caliber",
    "sabre": "saber",
    "sombre": "somber",
    "spectre": "specter",
    "lustre": "luster",
    "meagre": "meager",
    "manoeuvre": "maneuver",
    "manoeuvres": "maneuvers",
    "grey": "gray",
    "greys": "grays",
    "programme": "program",
    "programmes": "programs",
    "catalogue": "catalog",
    "catalogues": "catalogs",
    "dialogue": "dialog",
    "dialogues": "dialogs",
    "analogue": "analog",
    "travelled": "traveled",
    "travelling": "traveling",
    "traveller": "traveler",
    "travellers": "travelers",
    "cancelled": "canceled",
    "cancelling": "canceling",
    "labelled": "labeled",
    "labelling": "labeling",
    "modelled": "modeled",
    "modelling": "modeling",
    "fuelled": "fueled",
    "jewellery": "jewelry",
    "aluminium": "aluminum",
    "defence": "defense",
    "offence": "offense",
    "licence": "license",
    "pretence": "pretense",
    "tyre": "tire",
    "tyres": "tires",
    "plough": "plow",
    "mould": "mold",
    "cheque": "check",
    "cheques": "checks",
    "kerb": "curb",
    "ageing": "aging",
    "judgement": "judgment",
    "enrol": "enroll",
    "fulfil": "fulfill",
    "skilful": "skillful",
    "practise": "practice",
    "practised": "practiced",
    "mum": "mom",
    "pyjamas": "pajamas",
    "sceptical": "skeptical",
    "moustache": "mustache",
    "doughnut": "donut",
    "storey": "story",
}

# Contractions spelled out (pattern: spoken form), tried in this order.
_CONTRACTIONS = tuple(
    (re.compile(pattern), spoken)
    for pattern, spoken in {
        r"\bcan't\b": "can not",
        r"\bcannot\b": "can not",
        r"\bwon't\b": "will not",
        r"\bshan't\b": "shall not",
        r"\bain't\b": "is not",
        r"n't\b": " not",
        r"'re\b": " are",
        r"'ve\b": " have",
        r"'ll\b": " will",
        r"'m\b": " am",
        r"'d\b": " would",
        r"\blet's\b": "let us",
        r"\b(it|that|there|here|what|where|who|how|he|she)'s\b": r"\1 is",
    }.items()
)
_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc`´]")
_DASHES = re.compile(r"[-\u2010-\u2015]")
_NOT_WORD = re.compile(r"[^a-z0-9' ]+")
_LOOSE_APOSTROPHE = re.compile(r"(?<![a-z0-9])'|'(?![a-z0-9])")
# The "and" of "hundred and five" (and the like) is dropped: the number reads the same without it.
_NUMBER_AND = re.compile(
    r"\b(hundred|thousand|million|billion|trillion) and (?=("
    r"zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty"
    r"|forty|fifty|sixty|seventy|eighty|ninety|first|second|third|fourth|fifth"
    r"|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth"
    r"|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth"
    r"|fortieth|fiftieth|sixtieth|seventieth|eightieth|ninetieth"
    r")\b)"
)
_OUR = re.compile(r"^([a-z]{2,})our(s|ed|ing|ite|ites|ful|able|ably|less)?$")
# -our words whose -or form is another word ("scoured" would become "scored").
_OUR_KEPT = frozenset({"scour", "scours", "scoured", "scouring"})
_ISE = re.compile(r"^([a-z]{3,})is(e|ed|es|ing|er|ers|ation|ations)$")
_YSE = re.compile(r"^([a-z]+)ys(e|ed|es|ing)$")


def _spelling(word: str) -> str:
    if word in SPELLING_VARIANTS:
        return SPELLING_VARIANTS[word]
    match = _OUR.match(word)
    if match and word not in _OUR_KEPT:
        return f"{match.group(1)}or{match.group(2) or ''}"
    match = _ISE.match(word)
    if match:
        return f"{match.group(1)}iz{match.group(2)}"
    match = _YSE.match(word)
    if match and match.group(1).endswith(("anal", "paral", "catal", "dial", "electrol")):
        return f"{match.group(1)}yz{match.group(2)}"
    return word


def normalise_words(text: str) -> list[str]:
    """The words of ``text`` after the normalisation of the module docstring."""
    text = _APOSTROPHES.sub("'", str(text))
    text = normalize_text(text).lower()
    text = _DASHES.sub(" ", text)
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = _NOT_WORD.sub(" ", text)
    text = _LOOSE_APOSTROPHE.sub(" ", text)
    text = _NUMBER_AND.sub(r"\1 ", " ".join(text.split()))
    return [_spelling(word) for word in text.split()]
