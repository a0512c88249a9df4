"""The researcher pages through Django's test client: each step of a study, and that nobody
but the owner (or an admin) sees or changes it."""

from __future__ import annotations

import itertools

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from rest_framework.authtoken.models import Token

from listening.models import Clip, Sentence, Study, System
from listening.studies import urls as researcher_urls
from listening.studies.recordings import system_audio_import
from listening.studies.systems import system_add
from synthesis.models import Voice
from tests.factories import ResearcherFactory, SentenceFactory, StudyFactory, wav, zip_of


def recording(seconds: float = 0.8) -> bytes:
    return wav(seconds, 22050, freq=220)


@pytest.fixture
def study(ada):
    return StudyFactory(owner=ada, slug="ada-study", title="Ada's study")


@pytest.fixture
def ready_study(study):
    """Two sentences and a reference system whose recordings are all uploaded."""
    for i, text in enumerate(["The birch canoe slid.", "Glue the sheet."], start=1):
        SentenceFactory(study=study, key=f"s{i}", text=text, position=i)
    system = system_add(study=study, name="natural", kind="reference")
    archive = zip_of({"s1.wav": recording(), "s2.wav": recording(1.0)})
    system_audio_import(system=system, files=[SimpleUploadedFile("refs.zip", archive)])
    return study


def text_of(response) -> str:
    return response.content.decode()


# --- Access ------------------------------------------------------------------------------------


def test_pages_need_a_login(client, study):
    response = client.get(reverse("researcher:dashboard"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def study_pages() -> list[tuple[str, str, dict]]:
    """Every page under a study's address, read from the URLconf (so a page added later is held
    to the rule below too), with both methods and each value its other parts take."""
    values = {
        "system_id": ["SYSTEM"],
        "token": ["CLIP"],
        "action": ["open", "pause", "resume", "close"],
    }
    patterns = [(p, "") for p in researcher_urls.study if not hasattr(p, "url_patterns")]
    patterns += [(p, "system_id") for p in researcher_urls.system]
    pages = []
    for pattern, outer in patterns:
        names = [outer] if outer else list(pattern.pattern.regex.groupindex)
        choices = [
            dict(zip(names, combo)) for combo in itertools.product(*(values[n] for n in names))
        ]
        for method in ("get", "post"):
            pages += [(method, f"researcher:{pattern.name}", kwargs) for kwargs in choices]
    return pages


def test_the_page_list_covers_every_study_page():
    names = {name for _, name, _ in study_pages()}
    assert {"researcher:study", "researcher:system_upload", "researcher:clip_retry"} <= names
    assert ("post", "researcher:study_action", {"action": "pause"}) in study_pages()


@pytest.mark.parametrize(("method", "name", "kwargs"), study_pages(), ids=str)
def test_another_researchers_study_is_a_404_everywhere(client, ready_study, method, name, kwargs):
    """Another researcher's study answers exactly as a study that does not exist: 404, or 405
    where the page does not take the method, and nothing changes."""
    system = ready_study.systems.get()
    clip = Clip.objects.filter(system=system).first()
    values = {"SYSTEM": system.id, "CLIP": clip.token}
    kwargs = {k: values.get(v, v) for k, v in kwargs.items()}
    client.force_login(ResearcherFactory(username="bob"))
    send = getattr(client, method)
    response = send(reverse(name, kwargs={"slug": ready_study.slug, **kwargs}))
    missing = send(reverse(name, kwargs={"slug": "no-such-study", **kwargs}))
    assert response.status_code == missing.status_code
    assert response.status_code in (404, 405)
    # And nothing changed.
    assert Study.objects.get(pk=ready_study.pk).status == ready_study.status
    assert System.objects.filter(pk=system.pk).exists()


def test_admin_sees_and_manages_every_study(client, ready_study):
    admin = ResearcherFactory(username="root", is_superuser=True)
    client.force_login(admin)
    dashboard = text_of(client.get(reverse("researcher:dashboard")))
    assert "Ada&#x27;s study" in dashboard and "All studies" in dashboard
    assert client.get(reverse("researcher:clips", args=[ready_study.slug])).status_code == 200


def test_dashboard_lists_own_studies_with_status_and_progress(client_ada, ready_study, ada):
    bob = ResearcherFactory(username="bob")
    StudyFactory(owner=bob, slug="bobs", title="Bob's secret study")
    page = text_of(client_ada.get(reverse("researcher:dashboard")))
    assert "Ada&#x27;s study" in page
    assert "Bob" not in page
    assert "2 / 2" in page  # clips ready
    assert "0 / 16" in page  # ratings so far / target (2 clips x 8 ratings)


def test_home_page_links_to_the_dashboard(client_ada, study):
    page = text_of(client_ada.get("/"))
    assert reverse("researcher:dashboard") in page
    assert reverse("researcher:study", args=[study.slug]) in page


# --- Study settings ----------------------------------------------------------------------------


def study_form(**overrides) -> dict:
    data = {
        "title": "Tacotron2 vs eSpeak",
        "slug": "taco-vs-espeak",
        "instructions": "Rate naturalness.",
        "ratings_per_clip": 6,
        "clips_per_listener": 10,
        "training_clips": 2,
        "attention_check_rate": 0.1,
        "max_attention_failures": 1,
        "listener_timeout_minutes": 45,
        "questionnaire_enabled": "on",
        "completion_code": "ABC123",
        "screening_enabled": "on",
        "screening_max_gold_failures": 1,
        "screening_max_repeat_difference": 2,
        "screening_max_inconsistent_repeats": 1,
        "screening_min_reference_score": 3.5,
        "screening_max_anchor_score": "",
        "screening_min_median_response_seconds": 1.5,
        "screening_min_correlation": 0.2,
    }
    data.update(overrides)
    return data


def test_create_a_study_from_the_form(client_ada, ada):
    response = client_ada.post(reverse("researcher:study_new"), study_form())
    assert response.status_code == 302
    study = Study.objects.get(slug="taco-vs-espeak")
    assert response["Location"] == reverse("researcher:sentences", args=[study.slug])
    assert study.owner == ada
    assert (study.ratings_per_clip, study.listener_timeout_minutes) == (6, 45)
    assert study.questionnaire_enabled and not study.headphone_check_enabled
    assert study.screening["min_reference_score"] == 3.5
    assert study.screening["max_anchor_score"] is None  # empty: rule switched off
    assert study.screening["flag_identical_scores"] is False


def test_invalid_study_form_shows_the_errors(client_ada, study):
    response = client_ada.post(
        reverse("researcher:study_new"),
        study_form(slug=study.slug, ratings_per_clip=0, screening_min_correlation=3),
    )
    assert response.status_code == 200
    page = text_of(response)
    assert "is taken" in page
    assert "greater than or equal to 1" in page
    assert 'aria-invalid="true"' in page
    assert Study.objects.count() == 1


def test_settings_of_an_open_study_fix_the_design_fields(client_ada, ready_study):
    Study.objects.filter(pk=ready_study.pk).update(status=Study.Status.OPEN)
    url = reverse("researcher:study_edit", args=[ready_study.slug])
    page = text_of(client_ada.get(url))
    assert "Fixed: the test has been opened." in page
    response = client_ada.post(
        url, study_form(slug=ready_study.slug, title="New title", ratings_per_clip=99)
    )
    assert response.status_code == 302
    study = Study.objects.get(pk=ready_study.pk)
    assert study.title == "New title"
    assert study.ratings_per_clip == 8  # disabled field: the posted value is ignored


# --- Sentences ---------------------------------------------------------------------------------


def upload_sentences(client, study, name: str, data: bytes, **extra):
    return client.post(
        reverse("researcher:sentences", args=[study.slug]),
        {"file": SimpleUploadedFile(name, data), **extra},
    )


def test_sentence_upload_previews_problems_and_saves_nothing(client_ada, study):
    # A Tacotron2 system that detects its symbol set: the text is checked against both.
    voice = Voice.objects.create(name="t", engine=Voice.Engine.TACOTRON2, acoustic_path="/t.pt")
    System.objects.create(study=study, name="t", kind=System.Kind.VOICE, voice=voice)
    response = upload_sentences(
        client_ada, study, "set.csv", b"key,text\na,The cat sat.\na,The dog ran.\n\nb,x * y\n"
    )
    assert response.status_code == 302
    preview = client_ada.get(response["Location"])
    page = text_of(preview)
    assert "2 sentences have problems" in page
    assert "Duplicate key &#x27;a&#x27; (first on line 2)" in page
    assert "cannot encode &#x27;*&#x27;" in page
    assert "Blank line (skipped): 4" in page
    assert "disabled" in page.split('value="confirm"')[1].split(">")[0]
    # Confirming anyway is refused: nothing is half-imported.
    confirm = client_ada.post(response["Location"], {"action": "confirm"}, follow=True)
    assert "Nothing was imported" in text_of(confirm)
    assert not study.sentences.exists()


def test_the_preview_shows_a_page_of_rows_at_a_time(client_ada, study):
    data = "".join(f"Sentence number {i}.\n" for i in range(1, 451)).encode()
    response = upload_sentences(client_ada, study, "set.txt", data)
    url = response["Location"]
    first = text_of(client_ada.get(url))
    assert "No problems found." in first and "Page 1 of 3" in first
    assert "Sentence number 200." in first and "Sentence number 201." not in first
    third = text_of(client_ada.get(url + "?show=all&page=3"))
    assert "Sentence number 450." in third and "Sentence number 400." not in third
    done = client_ada.post(url, {"action": "confirm"}, follow=True)
    assert "450 sentences imported" in text_of(done)


def test_the_preview_of_a_file_with_problems_lists_only_them_first(client_ada, study):
    lines = [f"s{i},Sentence number {i}." for i in range(1, 301)] + ["s1,Again."]
    response = upload_sentences(client_ada, study, "set.csv", "\n".join(lines).encode())
    page = text_of(client_ada.get(response["Location"]))
    assert "Duplicate key &#x27;s1&#x27; (first on line 1)" in page
    assert "Sentence number 5." not in page and "Page 1 of" not in page
    every = text_of(client_ada.get(response["Location"] + "?show=all"))
    assert "Sentence number 5." in every and "Page 1 of 2" in every


@override_settings(MAX_SENTENCES=100)
def test_a_file_over_the_sentence_cap_is_refused_on_the_upload_page(client_ada, study):
    response = upload_sentences(client_ada, study, "set.txt", b"x\n" * 101)
    assert response.status_code == 200
    assert "holds 101 sentences; a study takes at most 100 (MAX_SENTENCES)" in text_of(response)


def test_a_csv_with_an_open_quote_is_refused_on_the_upload_page(client_ada, study):
    data = b'key,text\ns1,"The dog ran.\ns2,A bird sang.\n'
    response = upload_sentences(client_ada, study, "set.csv", data)
    assert response.status_code == 200
    assert "Line 2 opens a quote that is not closed" in text_of(response)


def test_fixed_file_is_imported_on_confirm(client_ada, study):
    upload_sentences(client_ada, study, "set.txt", b"The cat sat.\nThe cat sat.\n")
    response = upload_sentences(
        client_ada, study, "set.txt", "The cat sat.\nThe dog ran.\n".encode("utf-16")
    )
    preview = text_of(client_ada.get(response["Location"]))
    assert "No problems found." in preview and "UTF-16 LE" in preview
    done = client_ada.post(response["Location"], {"action": "confirm"}, follow=True)
    assert "2 sentences imported from set.txt" in text_of(done)
    assert list(study.sentences.values_list("key", "text")) == [
        ("s001", "The cat sat."),
        ("s002", "The dog ran."),
    ]
    # The pending upload is gone once imported.
    again = client_ada.get(reverse("researcher:sentences_preview", args=[study.slug]))
    assert again.status_code == 302


def test_undecodable_file_is_refused_on_the_upload_page(client_ada, study):
    response = upload_sentences(client_ada, study, "set.txt", "One.\nDéjà vu.\n".encode("cp1252"))
    assert response.status_code == 200
    assert "Line 2 of &#x27;set.txt&#x27; is not valid UTF-8" in text_of(response)


@override_settings(MAX_SENTENCE_FILE_KB=1)
def test_sentence_file_over_the_limit_is_refused(client_ada, study):
    response = upload_sentences(client_ada, study, "set.txt", b"A line.\n" * 300)
    assert "limited to 1 KB" in text_of(response)


@override_settings(MAX_SENTENCE_FILE_KB=1)
def test_sentence_request_far_over_the_limit_is_refused_before_it_is_read(client_ada, study):
    response = upload_sentences(client_ada, study, "set.txt", b"A line.\n" * 20_000)
    page = text_of(client_ada.get(response["Location"]))
    assert "sentence files are limited to 1 KB (MAX_SENTENCE_FILE_KB)" in page


def test_discarding_a_preview_saves_nothing(client_ada, study):
    response = upload_sentences(client_ada, study, "set.txt", b"One.\n")
    client_ada.post(response["Location"], {"action": "discard"})
    assert not study.sentences.exists()


# --- Systems, recordings, clips ----------------------------------------------------------------


def test_add_voice_reference_and_anchor_systems(client_ada, study):
    Sentence.objects.create(study=study, key="s1", text="One.")
    voice = Voice.objects.create(name="espeak", engine=Voice.Engine.ESPEAK)
    url = reverse("researcher:systems", args=[study.slug])
    client_ada.post(
        url,
        {
            "form": "system",
            "system-name": "espeak",
            "system-kind": "voice",
            "system-voice": voice.id,
        },
    )
    client_ada.post(url, {"form": "system", "system-name": "natural", "system-kind": "reference"})
    source = study.systems.get(name="espeak")
    client_ada.post(
        url,
        {
            "form": "anchor",
            "anchor-source": source.id,
            "anchor-q_db": 10,
            "anchor-is_low_anchor": "on",
        },
    )
    kinds = dict(study.systems.values_list("name", "kind"))
    assert kinds == {"espeak": "voice", "natural": "reference", "mnru-q10-espeak": "anchor"}
    missing_voice = client_ada.post(
        url, {"form": "system", "system-name": "v2", "system-kind": "voice"}
    )
    assert "Choose the voice that synthesises this system." in text_of(missing_voice)


def test_mark_an_uploaded_system_as_reference_and_low_anchor(client_ada, study):
    system = system_add(study=study, name="theirs", kind="uploaded")
    url = reverse("researcher:system_edit", args=[study.slug, system.id])
    assert 'name="kind"' in text_of(client_ada.get(url))
    response = client_ada.post(url, {"name": "vocoded", "kind": "reference", "is_low_anchor": "on"})
    assert response.status_code == 302
    system.refresh_from_db()
    assert (system.name, system.kind, system.is_low_anchor) == ("vocoded", "reference", True)


def test_zip_upload_reports_every_file(client_ada, study):
    for key in ("s1", "s2", "s3"):
        Sentence.objects.create(study=study, key=key, text=f"Sentence {key}.")
    system = system_add(study=study, name="natural", kind="reference")
    archive = zip_of({"s1.wav": recording(), "s2.wav": b"garbage", "zz.wav": recording()})
    response = client_ada.post(
        reverse("researcher:system_upload", args=[study.slug, system.id]),
        {"files": [SimpleUploadedFile("refs.zip", archive)]},
        follow=True,
    )
    page = text_of(response)
    assert "1 recordings stored for &#x27;natural&#x27;; 4 problem(s)" in page
    assert "Files that match no sentence" in page and "zz.wav" in page
    assert "Unreadable files" in page and "s2.wav" in page
    assert "Sentences still without a recording" in page


@override_settings(MAX_UPLOAD_MB=1)
def test_upload_over_the_limit_is_refused_before_it_is_read(client_ada, study):
    system = system_add(study=study, name="natural", kind="reference")
    response = client_ada.post(
        reverse("researcher:system_upload", args=[study.slug, system.id]),
        {"files": [SimpleUploadedFile("big.zip", bytes(3 * 1024 * 1024))]},
        follow=True,
    )
    assert "the limit is 1 MB (MAX_UPLOAD_MB)" in text_of(response)


def test_clips_table_plays_audio_for_the_owner(client_ada, ready_study):
    page = text_of(client_ada.get(reverse("researcher:clips", args=[ready_study.slug])))
    clip = Clip.objects.filter(system__study=ready_study).first()
    audio_url = reverse("researcher:clip_audio", args=[ready_study.slug, clip.token])
    assert audio_url in page
    assert "LUFS" in page
    response = client_ada.get(audio_url)
    assert response.status_code == 200 and response["Content-Type"] == "audio/flac"
    assert b"".join(response.streaming_content)[:4] == b"fLaC"


def test_status_json_reports_clip_counts(client_ada, ready_study):
    data = client_ada.get(reverse("researcher:status_json", args=[ready_study.slug])).json()
    assert data["clips"]["ready"] == 2 and data["clips"]["total"] == 2
    assert data["status"] == "draft" and data["status_display"] == "Draft"
    assert data["failures"] == []


def test_regenerating_an_uploaded_clip_is_refused_with_the_reason(client_ada, ready_study):
    clip = Clip.objects.filter(system__study=ready_study).first()
    response = client_ada.post(
        reverse("researcher:clip_retry", args=[ready_study.slug, clip.token]), follow=True
    )
    assert "upload a new file instead" in text_of(response)


def test_synthesis_start_without_systems_says_what_to_do(client_ada, study):
    response = client_ada.post(
        reverse("researcher:synthesis_start", args=[study.slug]), follow=True
    )
    assert "Add sentences and at least one system" in text_of(response)


# --- Opening and sharing -----------------------------------------------------------------------


def test_open_pause_resume_close(client_ada, ready_study):
    def act(action):
        url = reverse("researcher:study_action", args=[ready_study.slug, action])
        return text_of(client_ada.post(url, follow=True))

    assert "The test is open" in act("open")
    assert Study.objects.get(pk=ready_study.pk).playlists.exists()
    assert "paused" in act("pause")
    assert "open again" in act("resume")
    assert "closed" in act("close")
    assert "Only an open or paused test can be closed." in act("close")
    assert Study.objects.get(pk=ready_study.pk).status == Study.Status.CLOSED


def test_opening_with_missing_clips_is_refused(client_ada, study):
    Sentence.objects.create(study=study, key="s1", text="One.")
    system_add(study=study, name="natural", kind="reference")
    url = reverse("researcher:study_action", args=[study.slug, "open"])
    page = text_of(client_ada.post(url, follow=True))
    assert "1 of 1 clips are not ready" in page


@override_settings(SITE_URL="https://mos.example.org")
def test_overview_offers_listener_links_with_platform_templates(client_ada, study):
    page = text_of(client_ada.get(reverse("researcher:study", args=[study.slug])))
    assert 'value="https://mos.example.org/t/ada-study/"' in page
    assert (
        "https://mos.example.org/t/ada-study/?PROLIFIC_PID={{%PROLIFIC_PID%}}"
        "&amp;STUDY_ID={{%STUDY_ID%}}&amp;SESSION_ID={{%SESSION_ID%}}"
    ) in page
    assert 'data-copy="link-prolific"' in page


def test_api_token_page_shows_and_renews_the_token(client_ada, ada):
    url = reverse("researcher:api_token")
    first = Token.objects.get(user=ada).key if client_ada.get(url) else None
    assert first in text_of(client_ada.get(url))
    client_ada.post(url)
    second = Token.objects.get(user=ada).key
    assert second != first
    assert second in text_of(client_ada.get(url))


# --- Form pages end in their submit button and a way back ----------------------------------------


@pytest.mark.parametrize("page", ["new study", "import", "settings", "system"])
def test_a_form_page_ends_in_its_submit_button_and_a_cancel_link_back(client, ready_study, page):
    client.force_login(ready_study.owner)
    study = {"slug": ready_study.slug}
    system = {**study, "system_id": ready_study.systems.get().pk}
    dashboard = reverse("researcher:dashboard")
    url, label, back = {
        "new study": (reverse("researcher:study_new"), "Create study", dashboard),
        "import": (reverse("researcher:study_import"), "Import the study", dashboard),
        "settings": (
            reverse("researcher:study_edit", kwargs=study),
            "Save settings",
            reverse("researcher:study", kwargs=study),
        ),
        "system": (
            reverse("researcher:system_edit", kwargs=system),
            "Save",
            reverse("researcher:systems", kwargs=study),
        ),
    }[page]
    html = text_of(client.get(url))
    assert f'<button type="submit" class="button">{label}</button>' in html
    assert f'<a href="{back}">Cancel</a>' in html
