"""Text front-end: turn a researcher's sentence into the symbol ids a Tacotron2 model expects.

Where it sits: ``sentences.txt`` -> ``check_text`` (upload preview) -> ``split_text`` (long
sentences become pieces) -> ``text_to_sequence`` (per piece) -> Tacotron2 encoder embedding.
The synthesizer joins the pieces' waveforms with ``PAUSE_SECONDS_BETWEEN_PIECES`` of silence.

Two symbol sets are supported because the two public kinds of Tacotron2 weights were trained on
different ones, and a symbol's position in the list is its row in the embedding table:

- ``SymbolSet.NVIDIA``: the 148 symbols of NVIDIA/tacotron2 ``text/symbols.py`` (itself from
  keithito/tacotron): pad ``_``, ``-``, the punctuation ``!'(),.:;?`` and space, ``A-Z``,
  ``a-z``, then ``@`` + each of the 84 CMUdict ARPAbet symbols. Its ``english_cleaners``
  lower-case the text, so upper-case rows exist but are never used by our front-end; ARPAbet in
  curly braces (``{HH AH0 L OW1}``) maps to the ``@`` rows.
- ``SymbolSet.TORCHAUDIO``: the 38 characters of torchaudio's ``*_CHAR_LJSPEECH`` bundles
  (``torchaudio/pipelines/_tts/utils.py``, ``_get_chars``): ``_``, ``-``, the same punctuation
  and space, ``a-z``. Text is lower-cased.

Unlike both reference recipes, characters a symbol set cannot encode are never dropped silently:
``text_to_sequence`` raises ``UnsupportedCharactersError`` naming them, so a researcher learns at
upload time that "naïve ½" would not have been read the way they wrote it.

Normalisation follows keithito's ``english_cleaners`` (the text the public checkpoints were
trained on): Unidecode to ASCII, numbers spelled out with ``inflect`` (hyphenated compounds such
as "eighty-four" as inflect writes them, four-digit numbers between 1000 and 3000 read as years),
abbreviations expanded. It adds currencies (``$ £ € ¥``), decimals read digit by digit, percent,
clock times, decades, number ranges and typographic punctuation, and it keeps letter case so the
caller (``text_to_sequence``) decides it per symbol set.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata

from unidecode import unidecode

__all__ = [
    "MAX_PIECE_CHARS",
    "PAUSE_SECONDS_BETWEEN_PIECES",
    "EmptyTextError",
    "SymbolSet",
    "UnsupportedCharactersError",
    "WORD_CHARACTERS",
    "arpabet_symbols",
    "check_text",
    "describe_characters",
    "length_problems",
    "normalize_text",
    "request_pieces",
    "split_text",
    "symbol_set_of_size",
    "symbol_set_sizes",
    "symbols",
    "text_to_sequence",
    "unsupported_word_characters",
]

# Silence the synthesizer puts between the waveforms of consecutive pieces of one sentence.
PAUSE_SECONDS_BETWEEN_PIECES = 0.25

# Default piece length for split_text: Tacotron2 checkpoints trained on LJSpeech (utterances of
# at most ~190 characters) lose attention on much longer inputs.
MAX_PIECE_CHARS = 180


class SymbolSet(enum.StrEnum):
    """Which embedding table a Tacotron2 checkpoint was trained with."""

    NVIDIA = "nvidia"
    TORCHAUDIO = "torchaudio"


class UnsupportedCharactersError(ValueError):
    """The text contains characters (or ARPAbet symbols) the symbol set cannot encode.

    ``characters`` is the sorted list of the offending characters or ARPAbet symbols.
    """

    def __init__(self, message: str, characters: list[str]) -> None:
        super().__init__(message)
        self.characters = characters


class EmptyTextError(ValueError):
    """Nothing is left to synthesise after normalisation."""


# --- Symbol sets ------------------------------------------------------------------------------

_PAD = "_"
_SPECIAL = "-"
_PUNCTUATION = "!'(),.:;? "
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()

# CMUdict's phone set: 15 vowels carry lexical stress 0/1/2 (and may appear unstressed), the
# 24 consonants never do. Sorted, this is exactly keithito's/NVIDIA's ``valid_symbols`` order.
_ARPABET_VOWELS = [
    "AA",
    "AE",
    "AH",
    "AO",
    "AW",
    "AY",
    "EH",
    "ER",
    "EY",
    "IH",
    "IY",
    "OW",
    "OY",
    "UH",
    "UW",
]
_ARPABET_CONSONANTS = [
    "B",
    "CH",
    "D",
    "DH",
    "F",
    "G",
    "HH",
    "JH",
    "K",
    "L",
    "M",
    "N",
    "NG",
    "P",
    "R",
    "S",
    "SH",
    "T",
    "TH",
    "V",
    "W",
    "Y",
    "Z",
    "ZH",
]
_ARPABET = tuple(
    sorted(
        [v + s for v in _ARPABET_VOWELS for s in ("", "0", "1", "2")] + _ARPABET_CONSONANTS,
    )
)

_SYMBOLS: dict[SymbolSet, tuple[str, ...]] = {
    SymbolSet.NVIDIA: (
        _PAD,
        *_SPECIAL,
        *_PUNCTUATION,
        *_UPPER,
        *_LOWER,
        *("@" + s for s in _ARPABET),
    ),
    SymbolSet.TORCHAUDIO: (_PAD, *_SPECIAL, *_PUNCTUATION, *_LOWER),
}

# Both recipes train on lower-cased text (NVIDIA's english_cleaners lower-case; torchaudio's
# char processor calls .lower()). Kept as a per-set table so a cased set can be added.
_LOWERCASE: dict[SymbolSet, bool] = {SymbolSet.NVIDIA: True, SymbolSet.TORCHAUDIO: True}


def symbols(symbol_set: SymbolSet) -> list[str]:
    """The symbols of ``symbol_set`` in embedding-row order."""
    return list(_SYMBOLS[SymbolSet(symbol_set)])


def symbol_set_of_size(n_symbols: int) -> SymbolSet | None:
    """The symbol set a Tacotron2 whose embedding has ``n_symbols`` rows was trained on (148:
    NVIDIA, 38: torchaudio's characters), or None (a phoneme model, say)."""
    return next((s for s in SymbolSet if len(_SYMBOLS[s]) == n_symbols), None)


def symbol_set_sizes() -> str:
    """The symbol sets and their sizes, for messages: "nvidia (148), torchaudio (38)"."""
    return ", ".join(f"{s.value} ({len(_SYMBOLS[s])})" for s in SymbolSet)


def arpabet_symbols() -> list[str]:
    """The 84 CMUdict ARPAbet symbols (without the ``@`` prefix), in NVIDIA's order."""
    return list(_ARPABET)


@functools.cache
def _symbol_to_id(symbol_set: SymbolSet) -> dict[str, int]:
    table = {s: i for i, s in enumerate(_SYMBOLS[symbol_set])}
    # The pad row is padding, never text (NVIDIA's _should_keep_symbol excludes it too).
    del table[_PAD]
    return table


# --- Normalisation ----------------------------------------------------------------------------


@functools.cache
def _inflect():
    """inflect's engine, made on first use. Imported here, not at the top: importing inflect
    costs seconds of CPU (typeguard instruments the whole module), which every worker, the web
    process (the sentence checks import this module) and each ``synthesize_text`` would pay,
    although only texts with numbers need it."""
    import inflect

    return inflect.engine()


# A brace group is ARPAbet and must reach text_to_sequence untouched.
_BRACES_RE = re.compile(r"(\{[^{}]*\})")
_WHITESPACE_RE = re.compile(r"\s+")

_CURRENCIES = {
    # symbol: (singular, plural, minor singular, minor plural)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_SCALES = "thousand|million|billion|trillion"
_CURRENCY_RE = re.compile(
    r"([$£€¥])\s?(\d[\d,]*(?:\.\d+)?)(?:\s?(" + _SCALES + r")\b)?", re.IGNORECASE
)
_TIME_RE = re.compile(
    r"\b(\d{1,2}):(\d{2})(?:\s?([ap])\.?\s?m\b\.?)?|\b(\d{1,2})\s?([ap])\.?\s?m\b\.?",
    re.IGNORECASE,
)
_PERCENT_RE = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?%")
_RANGE_RE = re.compile(r"(?<=\d)\s?[-\u2013]\s?(?=\d)")
_NEGATIVE_RE = re.compile(r"(?<![\w).])-(?=\d)")
_COMMA_NUMBER_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_DECADE_RE = re.compile(r"(?<![\w'])'?(\d0|\d{3}0)s\b")
_ORDINAL_RE = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_DECIMAL_RE = re.compile(r"(?<![\w.])(\d*)\.(\d+)\b")
_NUMBER_RE = re.compile(r"\d+")

_DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# keithito's english_cleaners list plus a few common ones. "St." is handled separately below.
_ABBREVIATIONS = {
    "mrs": "missus",
    "mr": "mister",
    "ms": "miz",
    "dr": "doctor",
    "drs": "doctors",
    "co": "company",
    "corp": "corporation",
    "jr": "junior",
    "sr": "senior",
    "ltd": "limited",
    "inc": "incorporated",
    "maj": "major",
    "gen": "general",
    "rev": "reverend",
    "lt": "lieutenant",
    "hon": "honorable",
    "sgt": "sergeant",
    "capt": "captain",
    "esq": "esquire",
    "col": "colonel",
    "ft": "fort",
    "prof": "professor",
    "vs": "versus",
    "etc": "et cetera",
}
_ABBREVIATION_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.", re.IGNORECASE)
_LATIN_RE = re.compile(r"\b(e\.g|i\.e)\.", re.IGNORECASE)
_SAINT_STREET_RE = re.compile(r"\b(st)\.", re.IGNORECASE)

# Typographic characters that Unidecode leaves outside both symbol sets, mapped on purpose.
_PUNCTUATION_MAP = [
    ('"', ""),  # quotation marks carry no sound
    ("`", "'"),
    ("[", "("),
    ("]", ")"),
    ("_", " "),
    ("&", " and "),
    ("+", " plus "),
    ("=", " equals "),
    ("@", " at "),
]
_HASH_NUMBER_RE = re.compile(r"#\s?(?=\d)")


def _cardinal(number: int) -> str:
    words = _inflect().number_to_words(number, andword="")
    # inflect separates thousands groups with commas; read aloud they would become pauses.
    return words.replace(", ", " ")


def _digits(digits: str) -> str:
    return " ".join(_DIGIT_WORDS[int(d)] for d in digits)


def _integer(digits: str) -> str:
    """Spell an integer written without separators; very long strings digit by digit."""
    if len(digits) > 9:
        return _digits(digits)
    number = int(digits)
    if 1000 < number < 3000:
        return _year(number)
    return _cardinal(number)


def _year(number: int) -> str:
    # keithito's rule: four-digit numbers in 1001..2999 are read as years.
    if number % 1000 == 0:
        return _cardinal(number)
    if 2000 < number < 2010:
        return "two thousand " + _cardinal(number % 100)
    if number % 100 == 0:
        return _cardinal(number // 100) + " hundred"
    return _inflect().number_to_words(number, andword="", zero="oh", group=2).replace(", ", " ")


def _amount(text: str) -> str:
    """Spell a plain amount such as ``1,500`` or ``3.25`` (no currency)."""
    whole, _, fraction = text.replace(",", "").partition(".")
    words = _integer_cardinal(whole or "0")
    if fraction:
        words += " point " + _digits(fraction)
    return words


def _integer_cardinal(digits: str) -> str:
    return _digits(digits) if len(digits) > 15 else _cardinal(int(digits))


def _expand_currency(match: re.Match[str]) -> str:
    symbol, amount, scale = match.group(1), match.group(2), match.group(3)
    one, many, minor_one, minor_many = _CURRENCIES[symbol]
    if scale:
        return f"{_amount(amount)} {scale.lower()} {many}"
    whole, _, fraction = amount.replace(",", "").partition(".")
    units = int(whole) if whole else 0
    if fraction and len(fraction) != 2:
        # "$3.5" or "$1.234" is not a cents amount: read it as a decimal.
        return f"{_amount(amount)} {many}"
    minor = int(fraction) if fraction else 0
    parts = []
    if units or not minor:
        parts.append(f"{_integer_cardinal(str(units))} {one if units == 1 else many}")
    if minor:
        parts.append(f"{_cardinal(minor)} {minor_one if minor == 1 else minor_many}")
    return ", ".join(parts)


def _expand_time(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        hours, minutes, meridiem = int(match.group(1)), int(match.group(2)), match.group(3)
    else:
        hours, minutes, meridiem = int(match.group(4)), 0, match.group(5)
    if hours > 24 or minutes > 59:
        return match.group(0)  # not a clock time (a score, a ratio): leave it to the rules below
    words = _cardinal(hours)
    if minutes == 0:
        words += "" if meridiem else " o'clock"
    elif minutes < 10:
        words += " oh " + _cardinal(minutes)
    else:
        words += " " + _cardinal(minutes)
    if meridiem:
        # Spelled the way the letters sound: character models read "a m" as the article "a".
        words += " ay em" if meridiem.lower() == "a" else " pee em"
        if match.group(0).endswith("."):
            # "at 3 p.m." ends a sentence: keep the full stop the abbreviation absorbed.
            following = match.string[match.end() :]
            if not following.strip() or re.match(r"\s+[A-Z]", following):
                words += "."
    return words


def _expand_decade(match: re.Match[str]) -> str:
    digits = match.group(1)
    words = _integer(digits) if len(digits) == 4 else _cardinal(int(digits))
    head, _, last = words.rpartition(" ")
    plural = _inflect().plural(last)
    return f"{head} {plural}" if head else plural


def _expand_ordinal(match: re.Match[str]) -> str:
    return (
        _inflect()
        .number_to_words(_inflect().ordinal(int(match.group(1))), andword="")
        .replace(", ", " ")
    )


def _expand_decimal(match: re.Match[str]) -> str:
    whole, fraction = match.group(1), match.group(2)
    return f"{_integer_cardinal(whole or '0')} point {_digits(fraction)}"


def _match_case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def _keep_final_stop(match: re.Match[str]) -> str:
    # An abbreviation that ends the text also ends its last sentence: keep that full stop.
    return "." if not match.string[match.end() :].strip() else ""


def _expand_abbreviation(match: re.Match[str]) -> str:
    word = _ABBREVIATIONS[match.group(1).lower()]
    return _match_case(word, match.group(1)) + _keep_final_stop(match)


def _expand_latin(match: re.Match[str]) -> str:
    word = "for example" if match.group(1).lower() == "e.g" else "that is"
    return _match_case(word, match.group(1)) + _keep_final_stop(match)


def _expand_saint_street(match: re.Match[str]) -> str:
    # "St. Louis" is a saint; "Baker St." (end of phrase, or before a lower-case word) a street.
    following = re.match(r"\s+([A-Z])", match.string[match.end() :])
    word = "saint" if following else "street"
    return _match_case(word, match.group(1)) + _keep_final_stop(match)


def _transliterate(text: str) -> str:
    """Unidecode to ASCII, except that characters it knows no spelling for are kept.

    Unidecode maps unknown characters (emoji, most symbols) to "", which would drop them
    silently; keeping them lets ``text_to_sequence`` name them. Invisible format characters
    (zero-width space, soft hyphen, byte-order mark) are dropped on purpose.
    """
    out = []
    for char in text:
        if char.isascii():
            out.append(char)
        elif unicodedata.category(char) == "Cf":
            continue
        else:
            out.append(unidecode(char) or char)
    return "".join(out)


def _normalize_plain(text: str) -> str:
    """Normalise a stretch of text that holds no ARPAbet braces; keeps surrounding spaces."""
    # Currency first: Unidecode would turn "£" into "PS" and "€" into "EUR".
    text = _CURRENCY_RE.sub(_expand_currency, text)
    text = _transliterate(text)
    text = _CURRENCY_RE.sub(_expand_currency, text)  # "$" written after transliteration
    for old, new in _PUNCTUATION_MAP:
        text = text.replace(old, new)
    text = _HASH_NUMBER_RE.sub("number ", text)
    text = _TIME_RE.sub(_expand_time, text)
    text = _PERCENT_RE.sub(lambda m: _amount(m.group(1)) + " percent", text)
    text = _COMMA_NUMBER_RE.sub(lambda m: _integer_cardinal(m.group(0).replace(",", "")), text)
    text = _RANGE_RE.sub(" to ", text)
    text = _NEGATIVE_RE.sub("minus ", text)
    text = _DECADE_RE.sub(_expand_decade, text)
    text = _ORDINAL_RE.sub(_expand_ordinal, text)
    text = _DECIMAL_RE.sub(_expand_decimal, text)
    text = _NUMBER_RE.sub(lambda m: _integer(m.group(0)), text)
    text = _LATIN_RE.sub(_expand_latin, text)
    text = _ABBREVIATION_RE.sub(_expand_abbreviation, text)
    text = _SAINT_STREET_RE.sub(_expand_saint_street, text)
    return _WHITESPACE_RE.sub(" ", text)


def normalize_text(text: str) -> str:
    """English text normalisation in the spirit of keithito/NVIDIA ``english_cleaners``.

    Keeps letter case (``text_to_sequence`` lower-cases per symbol set) and passes ARPAbet in
    curly braces through untouched. Idempotent: normalising twice gives the same text, so a
    caller may normalise before ``split_text`` and still hand pieces to ``text_to_sequence``.

    >>> normalize_text("Dr. Smith paid $3.50 on May 21st, 1984.")
    'Doctor Smith paid three dollars, fifty cents on May twenty-first, nineteen eighty-four.'
    """
    parts = _BRACES_RE.split(text)
    out = []
    for index, part in enumerate(parts):
        # re.split with one capturing group: odd indices are the brace groups.
        out.append(part if index % 2 else _normalize_plain(part))
    # _normalize_plain collapsed whitespace outside braces; groups stay byte-for-byte as written.
    return "".join(out).strip()


# --- Symbol mapping ---------------------------------------------------------------------------


# What a voice that reads words (not symbol ids) is given: letters, the punctuation the symbol
# sets share, and spaces. Piper voices phonemise with eSpeak NG, which would read anything else
# by name ("tilde") or skip it; both surprise a listener, so such characters are reported.
WORD_CHARACTERS = frozenset(_LOWER + _UPPER + _PUNCTUATION + _SPECIAL)


def unsupported_word_characters(normalized: str) -> list[str]:
    """Sorted characters of normalised text outside ``WORD_CHARACTERS`` (braces included)."""
    return sorted(set(normalized) - WORD_CHARACTERS)


def describe_characters(characters: list[str]) -> str:
    """``'|', '~', U+00A0``: printable characters quoted, the others as code points."""
    return ", ".join(
        repr(c) if c.isprintable() and c != " " else f"U+{ord(c):04X}" for c in characters
    )


def text_to_sequence(text: str, symbol_set: SymbolSet) -> list[int]:
    """Normalise ``text`` and map it to symbol ids (embedding rows) of ``symbol_set``.

    No end-of-sequence id is appended (neither recipe uses one). Raises
    ``UnsupportedCharactersError`` for characters or ARPAbet symbols the set cannot encode,
    ``EmptyTextError`` when nothing is left to say.
    """
    symbol_set = SymbolSet(symbol_set)
    table = _symbol_to_id(symbol_set)
    normalized = normalize_text(text)
    parts = _BRACES_RE.split(normalized)
    sequence: list[int] = []
    unsupported: set[str] = set()
    unknown_arpabet: set[str] = set()
    for index, part in enumerate(parts):
        if index % 2:
            if symbol_set is not SymbolSet.NVIDIA:
                raise UnsupportedCharactersError(
                    f"ARPAbet in curly braces ({part}) needs the '{SymbolSet.NVIDIA.value}' "
                    f"symbol set; the '{symbol_set.value}' set has letters only. "
                    "Write the word in letters instead.",
                    ["{", "}"],
                )
            for phone in part[1:-1].split():
                if "@" + phone in table:
                    sequence.append(table["@" + phone])
                else:
                    unknown_arpabet.add(phone)
            continue
        if _LOWERCASE[symbol_set]:
            part = part.lower()
        for char in part:
            if char in table:
                sequence.append(table[char])
            else:
                unsupported.add(char)
    if unknown_arpabet:
        found = sorted(unknown_arpabet)
        raise UnsupportedCharactersError(
            f"Unknown ARPAbet symbol(s) {', '.join(found)}: use CMUdict phones such as "
            "HH AH0 L OW1 (vowels take stress 0, 1 or 2).",
            found,
        )
    if unsupported:
        found = sorted(unsupported)
        raise UnsupportedCharactersError(
            f"The '{symbol_set.value}' symbol set cannot encode {describe_characters(found)}; "
            "rewrite or remove them (letters, digits and . , ! ? ' ( ) : ; - are fine).",
            found,
        )
    if not sequence:
        raise EmptyTextError(
            f"Nothing to synthesise: {text!r} is empty after normalisation; add words."
        )
    return sequence


# --- Checking and splitting -------------------------------------------------------------------


def check_text(
    text: str,
    symbol_set: SymbolSet,
    max_chars: int = 300,
    *,
    piece_chars: int = MAX_PIECE_CHARS,
) -> list[str]:
    """Human-readable problems with ``text`` for an upload preview; ``[]`` when it is fine.

    Reports: nothing left after normalisation; characters the symbol set cannot encode; a
    normalised text longer than ``max_chars`` (one listening-test stimulus should be a sentence
    or two); a word or ARPAbet group longer than ``piece_chars``, which ``split_text`` cannot
    cut into pieces the synthesizer accepts.
    """
    problems: list[str] = []
    normalized = normalize_text(text)
    if not normalized:
        return ["The text is empty after normalisation; add words or remove the line."]
    try:
        text_to_sequence(normalized, symbol_set)
    except EmptyTextError as error:
        problems.append(str(error))
    except UnsupportedCharactersError as error:
        problems.append(str(error))
    return problems + length_problems(normalized, max_chars, piece_chars)


def length_problems(
    normalized: str, max_chars: int = 300, piece_chars: int = MAX_PIECE_CHARS
) -> list[str]:
    """The length checks of ``check_text``, for any engine: too long a stimulus, or a word too
    long to cut into pieces."""
    problems = []
    if len(normalized) > max_chars:
        problems.append(
            f"The text is {len(normalized)} characters long after normalisation; the limit is "
            f"{max_chars}. Split it into shorter sentences."
        )
    try:
        split_text(normalized, piece_chars)
    except ValueError as error:
        problems.append(f"Too long to synthesise even after splitting into pieces: {error}")
    return problems


def request_pieces(text: str, max_text_chars: int = 1000) -> list[str]:
    """The normalised pieces an engine synthesises for one request's text, in order.

    Raises ``EmptyTextError`` (nothing to say) or ``ValueError`` (longer than
    ``max_text_chars``, or a word longer than a piece) with the message a researcher reads.
    """
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise EmptyTextError("empty text: there is nothing to synthesise; give a sentence.")
    if len(text) > max_text_chars:
        raise ValueError(
            f"text too long: {len(text)} characters, the limit is {max_text_chars}; "
            "split it into several sentences."
        )
    pieces = split_text(normalize_text(text), MAX_PIECE_CHARS)
    if not pieces:
        raise EmptyTextError(f"Nothing to synthesise: {text!r} is empty after normalisation.")
    return pieces


# A token is a run of non-space characters in which brace groups count as one character, so a
# split never lands inside {HH AH0 L OW1}.
_TOKEN_RE = re.compile(r"(?:\{[^{}]*\}|\S)+")
_SENTENCE_END_RE = re.compile(r"[.!?]+[\"')\]]*$")
_CLAUSE_END_RE = re.compile(r"(?:[,;:]|[\u2014\u2013]|--)[\"')\]]*$")
_DASH_TOKENS = {"-", "--", "\u2013", "\u2014"}
_NOT_SENTENCE_ENDS = {a + "." for a in _ABBREVIATIONS} | {"st.", "e.g.", "i.e."}


def _is_sentence_end(token: str) -> bool:
    return bool(_SENTENCE_END_RE.search(token)) and token.lower() not in _NOT_SENTENCE_ENDS


def _is_clause_end(token: str) -> bool:
    return token in _DASH_TOKENS or bool(_CLAUSE_END_RE.search(token))


_BOUNDARIES = (_is_sentence_end, _is_clause_end, lambda token: True)


def _groups(tokens: list[str], is_end) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for token in tokens:
        groups[-1].append(token)
        if is_end(token):
            groups.append([])
    return [group for group in groups if group]


def _merge(pieces: list[str], max_chars: int) -> list[str]:
    merged: list[str] = []
    for piece in pieces:
        if merged and len(merged[-1]) + 1 + len(piece) <= max_chars:
            merged[-1] += " " + piece
        else:
            merged.append(piece)
    return merged


def _split_tokens(tokens: list[str], max_chars: int, level: int) -> list[str]:
    joined = " ".join(tokens)
    if len(joined) <= max_chars:
        return [joined]
    if level == len(_BOUNDARIES) - 1 and len(tokens) == 1:
        raise ValueError(
            f"the word {tokens[0][:40]!r}{'...' if len(tokens[0]) > 40 else ''} is "
            f"{len(tokens[0])} characters long, more than the {max_chars}-character piece limit; "
            "add spaces or shorten it."
        )
    groups = _groups(tokens, _BOUNDARIES[level])
    if len(groups) == 1:
        return _split_tokens(tokens, max_chars, level + 1)
    pieces: list[str] = []
    for group in groups:
        pieces.extend(_split_tokens(group, max_chars, min(level + 1, len(_BOUNDARIES) - 1)))
    return _merge(pieces, max_chars)


def split_text(text: str, max_chars: int = MAX_PIECE_CHARS) -> list[str]:
    """Split ``text`` into pieces of at most ``max_chars`` characters for separate synthesis.

    Cuts at sentence ends first, then at clause boundaries (``, ; :`` and dashes), then at
    spaces; never inside ``{...}``. Adjacent pieces are packed together while they fit.
    ``" ".join(pieces)`` has the same words as ``text`` (whitespace collapsed). Raises
    ``ValueError`` when a single word is longer than ``max_chars``. Text that already fits comes
    back as one piece; empty text gives ``[]``.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    tokens = _TOKEN_RE.findall(text)
    if not tokens:
        return []
    return _split_tokens(tokens, max_chars, 0)
