"""Tests for synthesis.engine.text: symbol sets, normalisation, mapping, checking, splitting."""

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthesis.engine.text import (
    MAX_PIECE_CHARS,
    PAUSE_SECONDS_BETWEEN_PIECES,
    EmptyTextError,
    SymbolSet,
    UnsupportedCharactersError,
    arpabet_symbols,
    check_text,
    normalize_text,
    split_text,
    symbols,
    text_to_sequence,
)

# CMUdict's phone set as listed in keithito/tacotron and NVIDIA/tacotron2 text/cmudict.py.
CMUDICT_VALID_SYMBOLS = """
AA AA0 AA1 AA2 AE AE0 AE1 AE2 AH AH0 AH1 AH2 AO AO0 AO1 AO2 AW AW0 AW1 AW2 AY AY0 AY1 AY2
B CH D DH EH EH0 EH1 EH2 ER ER0 ER1 ER2 EY EY0 EY1 EY2 F G HH IH IH0 IH1 IH2 IY IY0 IY1 IY2
JH K L M N NG OW OW0 OW1 OW2 OY OY0 OY1 OY2 P R S SH T TH UH UH0 UH1 UH2 UW UW0 UW1 UW2
V W Y Z ZH
""".split()  # noqa: SIM905 - kept in the shape the reference file prints it


# --- symbol sets ------------------------------------------------------------------------------


def test_nvidia_symbol_set_has_tacotron2_rows_in_order():
    table = symbols(SymbolSet.NVIDIA)
    assert len(table) == 148
    assert table[0] == "_"
    assert table[1] == "-"
    assert table[2:12] == list("!'(),.:;? ")
    assert table[12:38] == list(string.ascii_uppercase)
    assert table[38:64] == list(string.ascii_lowercase)
    assert table[64:] == ["@" + s for s in CMUDICT_VALID_SYMBOLS]


def test_arpabet_symbols_are_cmudicts_84():
    assert arpabet_symbols() == CMUDICT_VALID_SYMBOLS
    assert len(arpabet_symbols()) == 84


def test_torchaudio_symbol_set_matches_installed_torchaudio():
    from torchaudio.pipelines._tts import utils

    assert symbols(SymbolSet.TORCHAUDIO) == list(utils._get_chars())
    assert len(symbols(SymbolSet.TORCHAUDIO)) == 38


def test_torchaudio_ids_match_torchaudios_own_char_processor():
    from torchaudio.pipelines._tts.impl import _EnglishCharProcessor

    text = "Hello world, it's a test: (really) fine; isn't it? yes-no!"
    tokens, lengths = _EnglishCharProcessor()(text)
    assert text_to_sequence(text, SymbolSet.TORCHAUDIO) == tokens[0, : lengths[0]].tolist()


def test_symbol_set_accepts_its_string_value():
    assert symbols("nvidia") == symbols(SymbolSet.NVIDIA)
    assert text_to_sequence("abc", "torchaudio") == text_to_sequence("abc", SymbolSet.TORCHAUDIO)


# --- text_to_sequence -------------------------------------------------------------------------


def test_nvidia_sequence_is_lower_cased_like_english_cleaners():
    table = symbols(SymbolSet.NVIDIA)
    sequence = text_to_sequence("Hi, Bob!", SymbolSet.NVIDIA)
    assert [table[i] for i in sequence] == list("hi, bob!")


def test_arpabet_in_braces_maps_to_at_symbols():
    table = symbols(SymbolSet.NVIDIA)
    sequence = text_to_sequence("Say {HH AH0 L OW1} now.", SymbolSet.NVIDIA)
    assert [table[i] for i in sequence] == [
        *"say ",
        "@HH",
        "@AH0",
        "@L",
        "@OW1",
        *" now.",
    ]


def test_unknown_arpabet_symbol_is_refused_by_name():
    with pytest.raises(UnsupportedCharactersError) as caught:
        text_to_sequence("{HH AH7 L XX}", SymbolSet.NVIDIA)
    assert caught.value.characters == ["AH7", "XX"]
    assert "AH7" in str(caught.value)


def test_arpabet_is_refused_for_the_torchaudio_character_set():
    with pytest.raises(UnsupportedCharactersError, match="nvidia"):
        text_to_sequence("{HH AH0 L OW1}", SymbolSet.TORCHAUDIO)


def test_unsupported_characters_are_named_not_dropped():
    with pytest.raises(UnsupportedCharactersError) as caught:
        text_to_sequence("I \u2764 a/b * c", SymbolSet.NVIDIA)
    assert caught.value.characters == ["*", "/", "\u2764"]
    message = str(caught.value)
    assert "'nvidia'" in message and "'/'" in message and "'*'" in message


def test_unbalanced_brace_is_an_unsupported_character():
    with pytest.raises(UnsupportedCharactersError) as caught:
        text_to_sequence("a {HH AH0", SymbolSet.NVIDIA)
    assert caught.value.characters == ["{"]


def test_invisible_format_characters_are_dropped_and_accents_transliterated():
    table = symbols(SymbolSet.TORCHAUDIO)
    sequence = text_to_sequence("na\u00efve\u200b caf\u00e9", SymbolSet.TORCHAUDIO)
    assert "".join(table[i] for i in sequence) == "naive cafe"


def test_pad_symbol_is_never_produced_from_text():
    sequence = text_to_sequence("snake_case_name", SymbolSet.NVIDIA)
    assert 0 not in sequence


@pytest.mark.parametrize("text", ["", "   ", '""', "\u200b"])
def test_text_with_nothing_to_say_is_refused(text):
    with pytest.raises(EmptyTextError):
        text_to_sequence(text, SymbolSet.NVIDIA)


# --- normalize_text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("I have 1,000 cats.", "I have one thousand cats."),
        (
            "It is 1,234,567.",
            "It is one million two hundred thirty-four thousand five hundred sixty-seven.",
        ),
        ("the 21st century", "the twenty-first century"),
        ("pi is 3.14", "pi is three point one four"),
        ("$3.50", "three dollars, fifty cents"),
        ("$1", "one dollar"),
        ("$0.01", "one cent"),
        ("\u00a32.05", "two pounds, five pence"),
        ("\u20ac3.50", "three euros, fifty cents"),
        ("$1.5 million", "one point five million dollars"),
        ("in 1984", "in nineteen eighty-four"),
        ("in 2005", "in two thousand five"),
        ("in 2000", "in two thousand"),
        ("in 1900", "in nineteen hundred"),
        ("the 1990s", "the nineteen nineties"),
        ("at 10:30", "at ten thirty"),
        ("at 10:05", "at ten oh five"),
        ("at 10:00", "at ten o'clock"),
        ("at 3pm", "at three pee em"),
        ("at 3 p.m. Then", "at three pee em. Then"),
        ("at 7 a.m.", "at seven ay em."),
        ("50% off", "fifty percent off"),
        ("pages 3-7", "pages three to seven"),
        ("-5 degrees", "minus five degrees"),
        ("Mr. and Mrs. Smith", "Mister and Missus Smith"),
        ("Dr. Jones, Jr.", "Doctor Jones, Junior."),
        ("Acme Co. Ltd. etc.", "Acme Company Limited et cetera."),
        ("St. Louis is on Main St.", "Saint Louis is on Main Street."),
        ("e.g. this", "for example this"),
        ("Tom & Jerry", "Tom and Jerry"),
        ("  lots   of\n\tspace  ", "lots of space"),
        ("\u201cquoted\u201d", "quoted"),
    ],
)
def test_normalize_text_examples(raw, expected):
    assert normalize_text(raw) == expected


def test_arpabet_passes_through_normalisation_untouched():
    raw = "Turn at 3pm on {HH  AW1 S T AH0 N} St. Then stop."
    normalized = normalize_text(raw)
    assert "{HH  AW1 S T AH0 N}" in normalized
    assert normalized.startswith("Turn at three pee em on ")


_TRICKY_TOKENS = [
    "Mr.",
    "Dr.",
    "St.",
    "Louis",
    "$3.50",
    "\u00a35",
    "1,000",
    "21st",
    "3.14",
    "1984",
    "2005",
    "10:30",
    "3pm",
    "7 a.m.",
    "50%",
    "1990s",
    "3-7",
    "-5",
    "{HH AH0 L OW1}",
    "e.g.",
    "etc.",
    "&",
    "na\u00efve",
    "word",
    "Word.",
    "again,",
    "\u201cquote\u201d",
    "#1",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_TRICKY_TOKENS), min_size=1, max_size=12))
def test_normalize_text_is_idempotent(tokens):
    once = normalize_text(" ".join(tokens))
    assert normalize_text(once) == once


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_TRICKY_TOKENS), min_size=1, max_size=12))
def test_normalized_tricky_text_always_maps_for_nvidia(tokens):
    sequence = text_to_sequence(" ".join(tokens), SymbolSet.NVIDIA)
    assert sequence and all(0 < i < 148 for i in sequence)


# --- check_text -------------------------------------------------------------------------------


def test_check_text_accepts_a_normal_sentence():
    assert check_text("The birch canoe slid on the smooth planks.", SymbolSet.NVIDIA) == []


def test_check_text_reports_empty_text():
    problems = check_text('  ""  ', SymbolSet.NVIDIA)
    assert len(problems) == 1 and "empty" in problems[0]


def test_check_text_reports_unsupported_characters():
    problems = check_text("Tea ~ coffee", SymbolSet.TORCHAUDIO)
    assert len(problems) == 1
    assert "'~'" in problems[0] and "torchaudio" in problems[0]


def test_check_text_reports_text_longer_than_the_limit():
    problems = check_text("word " * 80, SymbolSet.NVIDIA, max_chars=300)
    assert len(problems) == 1 and "399" in problems[0] and "300" in problems[0]


def test_check_text_reports_a_word_too_long_to_split():
    problems = check_text("a" * 200 + " end", SymbolSet.NVIDIA, max_chars=1000)
    assert len(problems) == 1 and "splitting" in problems[0]


# --- split_text -------------------------------------------------------------------------------


def test_short_text_is_one_piece():
    assert split_text("Hello there.") == ["Hello there."]


def test_empty_text_has_no_pieces():
    assert split_text("   ") == []


def test_split_prefers_sentence_boundaries():
    text = "The first sentence is here. The second sentence is here."
    assert split_text(text, max_chars=30) == [
        "The first sentence is here.",
        "The second sentence is here.",
    ]


def test_split_packs_short_sentences_together():
    text = "One. Two. Three. Four is longer."
    assert split_text(text, max_chars=16) == ["One. Two. Three.", "Four is longer."]


def test_split_uses_clause_boundaries_inside_a_long_sentence():
    text = "When the sun rose over the hills, the birds began to sing; nobody else woke up."
    assert split_text(text, max_chars=40) == [
        "When the sun rose over the hills,",
        "the birds began to sing;",
        "nobody else woke up.",
    ]


def test_split_falls_back_to_spaces():
    text = "alpha beta gamma delta epsilon zeta eta theta"
    pieces = split_text(text, max_chars=12)
    assert pieces == ["alpha beta", "gamma delta", "epsilon zeta", "eta theta"]


def test_split_does_not_break_after_abbreviations():
    text = "We met Dr. Smith today. He was late."
    assert split_text(text, max_chars=24) == ["We met Dr. Smith today.", "He was late."]


def test_split_never_cuts_inside_arpabet():
    text = "say {HH AH0 L OW1 W ER1 L D} to everyone here"
    pieces = split_text(text, max_chars=30)
    assert "{HH AH0 L OW1 W ER1 L D}" in " ".join(pieces)
    assert all(piece.count("{") == piece.count("}") for piece in pieces)


def test_split_refuses_a_word_longer_than_the_limit():
    with pytest.raises(ValueError, match="longer than|more than"):
        split_text("short " + "x" * 50, max_chars=20)


_WORDS = st.one_of(
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=12),
    st.sampled_from(["Dr.", "end.", "stop!", "why?", "and,", "so;", "thus:", "\u2014", "--"]),
    st.builds(
        lambda phones: "{" + " ".join(phones) + "}",
        st.lists(st.sampled_from(CMUDICT_VALID_SYMBOLS), min_size=1, max_size=4),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, min_size=0, max_size=60), st.integers(min_value=30, max_value=120))
def test_split_pieces_fit_and_keep_every_word(words, max_chars):
    text = " ".join(words)
    pieces = split_text(text, max_chars=max_chars)
    assert all(0 < len(piece) <= max_chars for piece in pieces)
    assert " ".join(pieces).split() == text.split()
    for piece in pieces:
        assert re.sub(r"\{[^{}]*\}", "", piece).count("{") == 0
        assert piece == piece.strip()


def test_module_constants():
    assert PAUSE_SECONDS_BETWEEN_PIECES == 0.25
    assert MAX_PIECE_CHARS == 180
