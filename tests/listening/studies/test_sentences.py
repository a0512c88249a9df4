"""Sentence-set uploads: decoding, parsing, the problems listed on the preview, and an import
that is all or nothing (listening.studies.sentences)."""

from __future__ import annotations

import codecs

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from rest_framework.authtoken.models import Token

from listening.errors import ServiceError, UploadError
from listening.models import Sentence, Study, System
from listening.studies.lifecycle import study_open
from listening.studies.sentences import (
    SentenceDecodeError,
    sentence_file_decode,
    sentences_import,
    sentences_preview,
    sentences_preview_from_items,
    sentences_unreadable_by,
    study_text_readers,
    unreadable_warning,
)
from synthesis.models import Voice
from tests.factories import StudyFactory
from tests.synthesis.engine.conftest import Builders


@pytest.fixture
def study(ada):
    return StudyFactory(owner=ada, slug="voices", title="Voices")


def preview_of(study, data: bytes, filename: str = "set.txt", replace: bool = False):
    text, encoding = sentence_file_decode(data, filename)
    return sentences_preview(
        study=study, text=text, filename=filename, encoding=encoding, replace=replace
    )


def tacotron2_voice(symbol_set: str) -> Voice:
    return Voice.objects.create(
        name=f"taco-{symbol_set}",
        engine=Voice.Engine.TACOTRON2,
        acoustic_path="/nowhere/tacotron2.pt",
        symbol_set=symbol_set,
    )


def saved_tacotron2_voice(tmp_path, name: str) -> Voice:
    """A Tacotron2 voice (torchaudio's symbols) whose small, random checkpoint is on disk."""
    build = Builders(tmp_path)
    return Voice.objects.create(
        name=name,
        engine=Voice.Engine.TACOTRON2,
        acoustic_path=str(build.save(build.tacotron2().state_dict(), "t.pt")),
        symbol_set=Voice.SymbolSet.TORCHAUDIO,
    )


# --- Decoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (b"Hello there.\nGood night.\n", "UTF-8"),
        (codecs.BOM_UTF8 + b"Hello there.\nGood night.\n", "UTF-8 (with BOM)"),
        ("\ufeffHello there.\nGood night.\n".encode("utf-16-le"), "UTF-16 LE"),
        ("\ufeffHello there.\nGood night.\n".encode("utf-16-be"), "UTF-16 BE"),
        (b"Hello there.\r\nGood night.\r\n", "UTF-8"),
    ],
)
def test_utf8_and_utf16_with_bom_decode_to_the_same_sentences(study, data, label):
    text, encoding = sentence_file_decode(data, "set.txt")
    assert encoding == label
    assert text == "Hello there.\nGood night.\n"
    preview = preview_of(study, data)
    assert [r.text for r in preview.rows] == ["Hello there.", "Good night."]
    assert [r.key for r in preview.rows] == ["s001", "s002"]
    assert preview.ok


def test_latin1_file_is_refused_naming_the_line(study):
    data = "First line.\nSecond line.\nCaf\u00e9 au lait.\n".encode("latin-1")
    with pytest.raises(UploadError, match=r"Line 3 .* not valid UTF-8 \(byte 0xE9"):
        sentence_file_decode(data, "set.txt")


def test_utf16_without_bom_is_refused_with_the_reason(study):
    with pytest.raises(UploadError, match="UTF-16 without a byte-order mark"):
        sentence_file_decode("Hello.\nBye.\n".encode("utf-16-le"), "set.txt")


def test_truncated_utf16_is_refused_naming_the_line(study):
    data = codecs.BOM_UTF16_LE + "One.\nTwo.\n".encode("utf-16-le")[:-1]
    with pytest.raises(UploadError, match=r"Line 2 .* not valid UTF-16 LE"):
        sentence_file_decode(data, "set.txt")


@override_settings(MAX_SENTENCE_FILE_KB=1)
def test_file_over_the_size_limit_is_refused_before_decoding(study):
    with pytest.raises(UploadError, match="limited to 1 KB"):
        sentence_file_decode(b"A sentence.\n" * 200, "set.txt")


def test_unknown_extension_is_refused(study):
    with pytest.raises(UploadError, match=r"upload a \.txt"):
        preview_of(study, b"Hello.\n", filename="set.docx")


# --- Parsing and problems ----------------------------------------------------------------------


def test_blank_lines_are_listed_and_skipped(study):
    preview = preview_of(study, b"One fish.\n\nTwo fish.\n   \nRed fish.\n")
    assert preview.blank_lines == [2, 4]
    assert [r.line for r in preview.rows] == [1, 3, 5]
    assert preview.ok


def test_csv_with_header_and_attention_checks(study):
    data = b"key,text,expected_score\na1,The birch canoe slid.,\ngold1,Please select Poor.,2\n"
    preview = preview_of(study, data, filename="set.csv")
    assert preview.header
    assert [(r.key, r.text, r.expected_score) for r in preview.rows] == [
        ("a1", "The birch canoe slid.", None),
        ("gold1", "Please select Poor.", 2),
    ]
    assert preview.ok


def test_csv_without_header_and_quoted_commas(study):
    data = b'a1,"Well, that was easy."\na2,Glue the sheet.\n'
    preview = preview_of(study, data, filename="set.csv")
    assert not preview.header
    assert preview.rows[0].text == "Well, that was easy."
    assert preview.ok


def test_tsv_is_split_on_tabs(study):
    preview = preview_of(study, b"k1\tRice is served, hot.\nk2\tKick the ball.\n", "set.tsv")
    assert [r.key for r in preview.rows] == ["k1", "k2"]
    assert preview.rows[0].text == "Rice is served, hot."


def test_duplicate_keys_and_texts_are_problems_on_their_lines(study):
    data = b"a,The cat sat.\nb,The dog ran.\na,A bird sang.\nc,the  cat SAT.\n"
    preview = preview_of(study, data, filename="set.csv")
    assert not preview.ok
    by_line = {r.line: r.problems for r in preview.rows}
    assert by_line[1] == [] and by_line[2] == []
    assert any("Duplicate key 'a' (first on line 1)" in p for p in by_line[3])
    assert any("Duplicate text (same as line 1)" in p for p in by_line[4])


def test_rows_clashing_with_the_studys_sentences_are_problems_unless_replacing(study):
    Sentence.objects.create(study=study, key="a", text="Already here.")
    preview = preview_of(study, b"a,Something new.\nb,Already here.\n", filename="set.csv")
    assert "already has a sentence with key 'a'" in preview.rows[0].problems[0]
    assert "already has this text (key 'a')" in preview.rows[1].problems[0]
    replacing = preview_of(study, b"a,Something new.\nb,Already here.\n", "set.csv", True)
    assert replacing.ok


def test_txt_keys_skip_the_studys_existing_keys(study):
    Sentence.objects.create(study=study, key="s001", text="Already here.")
    preview = preview_of(study, b"New one.\nAnother.\n")
    assert [r.key for r in preview.rows] == ["s002", "s003"]


def test_bad_keys_scores_and_columns_are_problems(study):
    data = b"bad key,Hello there.\nk2,Fine text.,7\nk3\nk4,\n"
    preview = preview_of(study, data, filename="set.csv")
    problems = {r.line: " ".join(r.problems) for r in preview.rows}
    assert "only letters, digits" in problems[1]
    assert "expected_score '7' is not a score" in problems[2]
    assert "1 column(s)" in problems[3]
    assert "text is empty" in problems[4]


def test_over_long_and_unsupported_sentences_are_problems(study):
    auto = Voice.objects.create(
        name="auto", engine=Voice.Engine.TACOTRON2, acoustic_path="/nowhere/t.pt"
    )
    System.objects.create(study=study, name="t", kind=System.Kind.VOICE, voice=auto)
    long = " ".join(["word"] * 80)
    preview = preview_of(study, f"Fine.\n{long}\nFive * three | two.\n".encode())
    problems = {r.line: " ".join(r.problems) for r in preview.rows}
    assert problems[1] == ""
    assert "limit is 300" in problems[2]
    assert "cannot encode '*', '|'" in problems[3]
    # Checked against both symbol sets, the same characters are reported once.
    assert len(preview.rows[2].problems) == 1


def test_symbol_sets_follow_the_studys_voices(study):
    assert study_text_readers(study) == []
    espeak = Voice.objects.create(name="espeak", engine=Voice.Engine.ESPEAK)
    System.objects.create(study=study, name="e", kind=System.Kind.VOICE, voice=espeak)
    assert study_text_readers(study) == []
    # eSpeak reads anything: only lengths are checked.
    assert preview_of(study, b"Five * three | two.\n").ok
    System.objects.create(
        study=study, name="t", kind=System.Kind.VOICE, voice=tacotron2_voice("nvidia")
    )
    assert study_text_readers(study) == ["nvidia"]
    # ARPAbet in braces is fine for NVIDIA's symbols, not for torchaudio's.
    assert preview_of(study, b"Say {HH AH0 L OW1} now.\n").ok
    System.objects.create(
        study=study, name="u", kind=System.Kind.VOICE, voice=tacotron2_voice("torchaudio")
    )
    preview = preview_of(study, b"Say {HH AH0 L OW1} now.\n")
    assert "needs the 'nvidia' symbol set" in preview.rows[0].problems[0]


def test_a_voice_that_detects_its_set_is_checked_against_its_checkpoints(study, tmp_path):
    build = Builders(tmp_path)
    nvidia = Voice.objects.create(
        name="taco-auto",
        engine=Voice.Engine.TACOTRON2,
        acoustic_path=str(build.nvidia_checkpoint(build.nvidia_tacotron2())),
    )
    assert nvidia.symbol_set == Voice.SymbolSet.AUTO
    System.objects.create(study=study, name="t", kind=System.Kind.VOICE, voice=nvidia)
    # The checkpoint embeds 148 symbols: NVIDIA's set, which reads ARPAbet in braces.
    assert study_text_readers(study) == ["nvidia"]
    assert preview_of(study, b"Say {HH AH0 L OW1} now.\n").ok
    chars = Voice.objects.create(
        name="chars-auto",
        engine=Voice.Engine.TACOTRON2,
        acoustic_path=str(build.save(build.tacotron2().state_dict(), "chars.pt")),
    )
    System.objects.create(study=study, name="c", kind=System.Kind.VOICE, voice=chars)
    assert study_text_readers(study) == ["nvidia", "torchaudio"]
    preview = preview_of(study, b"Say {HH AH0 L OW1} now.\n")
    assert "needs the 'nvidia' symbol set" in preview.rows[0].problems[0]


def test_a_detecting_voice_whose_file_is_not_here_is_checked_against_both(study):
    System.objects.create(
        study=study, name="t", kind=System.Kind.VOICE, voice=tacotron2_voice("auto")
    )
    assert study_text_readers(study) == ["nvidia", "torchaudio"]


def test_empty_file_is_a_problem(study):
    preview = preview_of(study, b"\n\n")
    assert not preview.ok
    assert "contains no sentences" in preview.problems[0]


# --- Import ------------------------------------------------------------------------------------


def test_confirmed_preview_imports_every_sentence_in_order(study):
    preview = preview_of(study, b"key,text\nb2,Second.\na1,First.\n", filename="set.csv")
    assert sentences_import(study=study, preview=preview) == 2
    assert list(study.sentences.values_list("key", "position")) == [("b2", 1), ("a1", 2)]


def test_preview_with_problems_imports_nothing(study):
    preview = preview_of(study, b"a,One.\na,Two.\nb,Three.\n", filename="set.csv")
    with pytest.raises(ServiceError, match="Nothing was imported"):
        sentences_import(study=study, preview=preview)
    assert not study.sentences.exists()


def test_key_taken_after_the_preview_fails_the_whole_import(study):
    preview = preview_of(study, b"a,One.\nb,Two.\n", filename="set.csv")
    Sentence.objects.create(study=study, key="b", text="Sneaked in.")
    with pytest.raises(ServiceError, match="added since the preview: b"):
        sentences_import(study=study, preview=preview)
    assert list(study.sentences.values_list("key", flat=True)) == ["b"]


def test_replace_deletes_the_old_sentences(study):
    sentences_import(study=study, preview=preview_of(study, b"Old one.\nOld two.\n"))
    preview = preview_of(study, b"New one.\n", replace=True)
    sentences_import(study=study, preview=preview)
    assert list(study.sentences.values_list("key", "text")) == [("s001", "New one.")]


def test_frozen_study_refuses_sentences(study):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    preview = preview_of(study, b"One more.\n")
    with pytest.raises(ServiceError, match="design is frozen"):
        sentences_import(study=study, preview=preview)
    with pytest.raises(ServiceError):
        study_open(study=study)


def test_json_items_get_the_same_checks(study):
    preview = sentences_preview_from_items(
        study=study,
        items=[
            {"text": "One."},
            {"key": "g", "text": "Please select Bad.", "expected_score": 1},
            {"text": "one."},
            {"key": "x", "text": "", "expected_score": 9},
        ],
    )
    assert [r.key for r in preview.rows] == ["s001", "g", "s002", "x"]
    assert preview.rows[1].expected_score == 1
    assert "Duplicate text" in preview.rows[2].problems[0]
    assert {"The text is empty."} <= set(preview.rows[3].problems)
    assert any("not a score" in p for p in preview.rows[3].problems)


# --- Checked against the study's actual systems ------------------------------------------------

TACOTRON2_ONLY = "Five * three | two.\n"


def test_a_study_without_voices_gets_no_tacotron2_complaint(study):
    # Uploaded and reference systems only: the text is never synthesised.
    System.objects.create(study=study, name="natural", kind=System.Kind.REFERENCE)
    preview = preview_of(study, TACOTRON2_ONLY.encode())
    assert preview.ok, preview.rows[0].problems
    long = preview_of(study, (" ".join(["word"] * 80) + "\n").encode())
    assert "limit is 300" in long.rows[0].problems[0]


def test_a_piper_study_is_checked_as_piper_reads_not_as_tacotron2(study):
    joe = Voice.objects.create(
        name="joe", engine=Voice.Engine.PIPER, piper_bundle=Voice.PiperBundle.JOE
    )
    System.objects.create(study=study, name="joe", kind=System.Kind.VOICE, voice=joe)
    assert study_text_readers(study) == ["piper"]
    preview = preview_of(study, b"Say {HH AH0 L OW1} now.\nA plain sentence, with 3 words.\n")
    (problem,) = preview.rows[0].problems
    assert "ARPAbet in curly braces is read by Tacotron2 voices only" in problem
    assert "symbol set" not in problem
    assert not preview.rows[1].problems


def test_adding_a_tacotron2_system_rechecks_the_sentences_already_there(
    study, client_ada, tmp_path
):
    preview = preview_of(study, f"A plain sentence.\n{TACOTRON2_ONLY}".encode())
    assert preview.ok  # no voice yet: nothing reads the text
    sentences_import(study=study, preview=preview)
    voice = saved_tacotron2_voice(tmp_path, "Tacotron2 chars")
    found = sentences_unreadable_by(study=study, voice=voice)
    assert [(s.key, s.position) for s, _ in found] == [("s002", 2)]

    url = reverse("researcher:systems", kwargs={"slug": study.slug})
    form = {"form": "system", "system-name": "taco", "system-kind": "voice"}
    page = client_ada.post(url, {**form, "system-voice": voice.pk}, follow=True)
    html = page.content.decode()
    assert "System &#x27;taco&#x27; added." in html
    assert "cannot read 1 of the study&#x27;s sentences" in html
    assert "sentence 2 (s002)" in html and "&#x27;*&#x27;, &#x27;|&#x27;" in html
    assert unreadable_warning(voice, []) == ""


def test_the_api_warns_too_when_a_system_cannot_read_the_sentences(study, ada, client, tmp_path):
    sentences_import(study=study, preview=preview_of(study, TACOTRON2_ONLY.encode()))
    voice = saved_tacotron2_voice(tmp_path, "taco")
    token = Token.objects.create(user=ada)
    response = client.post(
        f"/api/v1/studies/{study.slug}/systems/",
        {"name": "taco", "kind": "voice", "voice": voice.pk},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 201
    (warning,) = response.json()["warnings"]
    assert "sentence 1 (s001)" in warning


# --- Files that are not UTF-8 (Excel's Windows-1252) -----------------------------------------

EXCEL = (
    "key,text\r\n"
    "s1,Caf\u00e9 au lait.\r\n"
    "s2,A plain line.\r\n"
    "s3,Don\u2019t stop.\r\n"
    "s4,It costs \u20ac5.\r\n"
).encode("cp1252")


def test_every_bad_line_is_listed_with_a_preview_in_each_encoding():
    with pytest.raises(SentenceDecodeError) as refused:
        sentence_file_decode(EXCEL, "excel.csv")
    error = refused.value
    assert [b.line for b in error.bad_lines] == [2, 4, 5]
    assert "3 lines of 'excel.csv' are not valid UTF-8: line 2 (byte 0xE9 near column 7)" in str(
        error
    )
    assert "line 4 (byte 0x92 near column 7), line 5 (byte 0x80 near column 13)" in str(error)
    by_encoding = {alt["encoding"]: alt for alt in error.alternatives}
    assert by_encoding["cp1252"]["ok"] and by_encoding["latin-1"]["ok"]
    assert by_encoding["cp1252"]["lines"] == [
        (2, "s1,Caf\u00e9 au lait."),
        (4, "s3,Don\u2019t stop."),
        (5, "s4,It costs \u20ac5."),
    ]
    # Latin-1 reads Windows-1252's quote and euro as control characters: the preview shows it.
    assert by_encoding["latin-1"]["lines"][1] == (4, "s3,Don\x92t stop.")
    assert "probably not Latin-1" in by_encoding["latin-1"]["warning"]
    assert by_encoding["cp1252"]["warning"] == ""


def test_read_as_windows_1252_decodes_what_excel_wrote(study):
    text, label = sentence_file_decode(EXCEL, "excel.csv", read_as="cp1252")
    assert label == "Windows-1252"
    preview = sentences_preview(study=study, text=text, filename="excel.csv", encoding=label)
    assert [r.text for r in preview.rows][2] == "Don\u2019t stop."


def test_a_byte_windows_1252_lacks_leaves_only_latin_1():
    data = b"ok\n" + b"bad \x81 byte\n"
    with pytest.raises(SentenceDecodeError) as refused:
        sentence_file_decode(data, "set.txt")
    by_encoding = {alt["encoding"]: alt for alt in refused.value.alternatives}
    assert not by_encoding["cp1252"]["ok"]
    assert "line 2 (byte 0x81" in by_encoding["cp1252"]["problem"]
    assert by_encoding["latin-1"]["ok"]
    with pytest.raises(UploadError, match="Read it as Latin-1"):
        sentence_file_decode(data, "set.txt", read_as="cp1252")


def test_the_page_offers_to_read_the_file_as_windows_1252(study, client_ada):
    url = reverse("researcher:sentences", kwargs={"slug": study.slug})
    upload = SimpleUploadedFile("excel.csv", EXCEL)
    page = client_ada.post(url, {"file": upload})
    html = page.content.decode()
    assert page.status_code == 200
    assert "3 lines of &#x27;excel.csv&#x27; are not valid UTF-8" in html
    assert "Don\u2019t stop." in html and "Read it as Windows-1252" in html
    chosen = client_ada.post(url, {"action": "read_as", "read_as": "cp1252"})
    assert chosen.status_code == 302 and chosen.url.endswith("/sentences/preview/")
    preview = client_ada.get(chosen.url).content.decode()
    assert "4 sentences read (csv, Windows-1252)." in preview
    assert "No problems found." in preview and "Don\u2019t stop." in preview


def test_the_api_lists_bad_lines_and_reads_as_windows_1252(study, ada, client):
    token = Token.objects.create(user=ada)
    url = f"/api/v1/studies/{study.slug}/sentences/"
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    refused = client.post(url, {"file": SimpleUploadedFile("excel.csv", EXCEL)}, **auth)
    assert refused.status_code == 400
    body = refused.json()
    assert [b["line"] for b in body["bad_lines"]] == [2, 4, 5]
    assert {alt["encoding"] for alt in body["read_as"]} == {"cp1252", "latin-1"}
    files = {"file": SimpleUploadedFile("excel.csv", EXCEL), "read_as": "cp1252"}
    accepted = client.post(url, files, **auth)
    assert accepted.status_code == 201, accepted.json()
    assert study.sentences.get(key="s3").text == "Don\u2019t stop."


# --- The sentence cap and malformed quoting ----------------------------------------------------


def test_a_million_one_letter_lines_are_refused_before_parsing(study):
    data = b"a\n" * 1_000_000  # under 2 MB, a million sentences
    text, encoding = sentence_file_decode(data, "many.txt")
    with pytest.raises(UploadError, match=r"holds 1000000 sentences; a study takes at most 20000"):
        sentences_preview(study=study, text=text, filename="many.txt", encoding=encoding)


@override_settings(MAX_SENTENCES=3)
def test_the_cap_counts_the_studys_current_sentences_unless_replacing(study):
    sentences_import(study=study, preview=preview_of(study, b"One.\nTwo.\n"))
    with pytest.raises(UploadError, match=r"holds 2 sentences \(with the study's 2 current"):
        preview_of(study, b"Three.\nFour.\n")
    assert preview_of(study, b"Three.\nFour.\n", replace=True).ok
    with pytest.raises(UploadError, match="at most 3 .MAX_SENTENCES."):
        sentences_preview_from_items(study=study, items=[{"text": f"S {i}."} for i in range(4)])


@override_settings(MAX_SENTENCES=3)
def test_a_csv_with_a_header_and_as_many_rows_as_the_cap_is_accepted(study):
    assert preview_of(study, b"key,text\na,One.\nb,Two.\nc,Three.\n", "set.csv").ok


def test_an_unbalanced_quote_is_refused_with_its_line(study):
    data = b'key,text\ns1,The cat sat.\ns2,"The dog ran.\ns3,A bird sang.\ns4,The end.\n'
    with pytest.raises(UploadError, match="Line 3 opens a quote that is not closed") as caught:
        preview_of(study, data, "set.csv")
    assert "ran on to line" in str(caught.value)


def test_a_stray_quote_inside_a_field_is_refused_with_its_line(study):
    data = b'key,text\ns1,The cat sat.\ns2,"The dog" ran.\ns3,A bird sang.\n'
    with pytest.raises(UploadError, match="Line 3 could not be read as CSV"):
        preview_of(study, data, "set.csv")


def test_doubled_quotes_inside_a_quoted_text_are_fine(study):
    preview = preview_of(study, b'key,text\ns1,"She said ""hello"", twice."\n', "set.csv")
    assert preview.ok and preview.rows[0].text == 'She said "hello", twice.'
