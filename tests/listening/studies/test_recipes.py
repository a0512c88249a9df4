"""Study recipes (``listening.studies.recipes``) and ``manage.py study_export`` / ``study_import``.

Round trips through a real database and real audio files: export -> import gives the same
design (the same playlists for the same seed) and, given the same ratings CSV, the same report
JSON byte for byte apart from timestamps; a bundle with a changed file is refused, naming it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from listening.analysis.downloads import study_ratings_csv_rows
from listening.analysis.render import report_json
from listening.analysis.reports import study_report_compute
from listening.models import Clip, Listener, Playlist, Rating, Study, System
from listening.studies.lifecycle import study_open
from listening.studies.recipes import (
    RECIPE_FORMAT,
    RecipeError,
    recipe_bundle_zip,
    recipe_json,
    recipe_read,
    study_import,
    study_recipe,
)
from listening.studies.recordings import system_audio_import
from listening.studies.settings import study_update
from tests.conftest import purge_broker, start_worker, wait_for
from tests.factories import (
    EspeakVoiceFactory,
    ResearcherFactory,
    VoiceSystemFactory,
    espeak_study,
    open_study,
    rated_study,
    wav,
    zip_with_a_changed_member,
)

TIMESTAMP_KEYS = {"exported_at", "created_at", "generated_at", "computed_at", "built_at"}


def without_timestamps(value):
    if isinstance(value, dict):
        return {k: without_timestamps(v) for k, v in value.items() if k not in TIMESTAMP_KEYS}
    if isinstance(value, list):
        return [without_timestamps(v) for v in value]
    return value


def bundle_of(study: Study) -> bytes:
    with recipe_bundle_zip(study=study) as handle:
        return handle.read()


def design_of(study: Study) -> list[list[tuple]]:
    """Every playlist as (system name, sentence key, purpose, gold answer) per item."""
    return [
        [
            (i.clip.system.name, i.clip.sentence.key, i.purpose, i.expected_score)
            for i in playlist.items.select_related("clip__system", "clip__sentence")
        ]
        for playlist in Playlist.objects.filter(study=study).order_by("index")
    ]


def replay_ratings_csv(text: str, study: Study) -> int:
    """Load a downloaded ratings CSV into ``study``: each row becomes a rating of the clip of
    the same system and sentence, by a listener of the same platform id (and exclusion)."""
    clips = {
        (c.system.name, c.sentence.key): c
        for c in Clip.objects.filter(system__study=study).select_related("system", "sentence")
    }
    listeners: dict[str, Listener] = {}
    made = []
    for row in csv.DictReader(io.StringIO(text)):
        who = listeners.get(row["listener"])
        if who is None:
            who = listeners[row["listener"]] = Listener.objects.create(
                study=study,
                platform=row["platform"],
                external_id=row["platform_id"],
                excluded=row["listener_excluded"] == "true",
                exclusion_reason=row["exclusion_reason"],
            )
        made.append(
            Rating(
                listener=who,
                clip=clips[row["system"], row["sentence"]],
                score=int(row["score"]),
                purpose=row["purpose"],
                play_count=int(row["play_count"]),
                played_seconds=float(row["played_seconds"]),
                response_seconds=float(row["response_seconds"])
                if row["response_seconds"]
                else None,
            )
        )
    Rating.objects.bulk_create(made)
    return len(made)


def ratings_csv(study: Study) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(study_ratings_csv_rows(study=study))
    return out.getvalue()


@pytest.mark.django_db
def test_round_trip_builds_the_same_playlists_for_the_same_seed(ada):
    study = open_study(slug="origin", n_systems=3, ratings_per_clip=2, open_study=False)
    study = study_update(
        study=study,
        data={"recruitment_platforms": "Prolific", "pay_per_hour": "12.50", "pay_currency": "GBP"},
    )
    read = recipe_read(bundle_of(study), name="origin.zip")
    copy = study_import(owner=ada, recipe=read.recipe, audio=read.audio).study

    assert copy.slug == "origin-2"  # the recipe's slug is taken here
    assert copy.status == Study.Status.READY  # every clip came with the bundle
    assert copy.design_seed == study.design_seed
    assert (copy.recruitment_platforms, str(copy.pay_per_hour)) == ("Prolific", "12.50")
    assert copy.instructions == study.instructions and copy.screening == study.screening
    study_open(study=study)
    study_open(study=copy)
    assert design_of(study) and design_of(copy) == design_of(study)
    # The copy's recipe is the original's but for the study's name and the export time.
    again = without_timestamps(study_recipe(study=copy))
    first = without_timestamps(study_recipe(study=study))
    assert again.pop("study") != first.pop("study")
    assert again == first


@pytest.mark.django_db
def test_same_ratings_csv_gives_a_byte_identical_report_json(ada):
    study = rated_study(ada, slug="mos-study")
    # As the report's JSON download writes it (report_json keeps the keys' order).
    before = report_json(without_timestamps(study_report_compute(study=study)))
    read = recipe_read(bundle_of(study))
    text = ratings_csv(study)
    # Free the slug so the copy has the same name (the report names its study).
    Study.objects.filter(pk=study.pk).update(slug="mos-study-original")

    copy = study_import(owner=ada, recipe=read.recipe, audio=read.audio, slug="mos-study").study
    assert replay_ratings_csv(text, copy) == Rating.objects.filter(listener__study=study).count()
    after = report_json(without_timestamps(study_report_compute(study=copy)))
    assert after == before


@pytest.mark.django_db
def test_a_bundle_with_a_changed_audio_file_is_refused_naming_the_file(ada):
    study = rated_study(ada, slug="tampered")
    tampered, victim = zip_with_a_changed_member(
        bundle_of(study), "audio/tacotron2/", b"\x00\x01\x02\x03"
    )
    read = recipe_read(tampered)
    with pytest.raises(RecipeError, match=rf"{victim} was changed after the export"):
        study_import(owner=ada, recipe=read.recipe, audio=read.audio)
    assert not Study.objects.filter(slug="tampered-2").exists()  # nothing half-imported


@pytest.mark.django_db
def test_a_recipe_without_audio_leaves_systems_to_synthesise_and_upload(ada):
    study = espeak_study(slug="voices", anchors=(10,))
    recipe = json.loads(recipe_json(study_recipe(study=study)))
    assert recipe["format"] == RECIPE_FORMAT and recipe["version"] == 1
    voice = next(s for s in recipe["systems"] if s["kind"] == "voice")["voice"]
    assert voice["name"] == "espeak-test" and voice["engine"] == "espeak"
    result = study_import(owner=ada, recipe=recipe, slug="voices-copy")
    kinds = dict(result.study.systems.values_list("name", "kind"))
    assert kinds == {"espeak": "voice", "mnru10": "anchor"}
    assert result.study.status == Study.Status.DRAFT
    assert "To synthesise" in result.notes[0] and "espeak" in result.notes[0]
    # The same seeds per clip: a re-synthesis draws the same noise (VITS, MNRU).
    assert seeds_of(result.study) == seeds_of(study) and len(seeds_of(study)) == 8


def seeds_of(study: Study) -> dict:
    return {
        (c.system.name, c.sentence.key): c.seed
        for c in Clip.objects.filter(system__study=study).select_related("system", "sentence")
    }


@pytest.mark.django_db
def test_a_recipe_naming_a_voice_this_site_lacks_is_refused_naming_it(ada):
    study = espeak_study(slug="lacks")
    recipe = study_recipe(study=study)
    recipe["systems"][0]["voice"]["name"] = "tacotron2-lj"
    with pytest.raises(RecipeError, match="voice 'tacotron2-lj'.*does not have"):
        study_import(owner=ada, recipe=recipe)


@pytest.mark.django_db
def test_a_taken_slug_given_explicitly_is_refused(ada):
    study = espeak_study(slug="taken")
    with pytest.raises(Exception, match="slug is taken"):
        study_import(owner=ada, recipe=study_recipe(study=study), slug="taken")


def test_a_file_that_is_not_a_recipe_is_refused_saying_what_it_is():
    with pytest.raises(RecipeError, match="not valid JSON"):
        recipe_read(b"listener,sentence\n", name="ratings.csv")
    with pytest.raises(RecipeError, match="not a Harken study recipe"):
        recipe_read(b'{"systems": []}', name="x.json")
    newer = json.dumps({"format": RECIPE_FORMAT, "version": 99}).encode()
    with pytest.raises(RecipeError, match="version 99"):
        recipe_read(newer, name="new.json")


@pytest.mark.django_db
def test_export_and_import_commands_round_trip(ada, tmp_path, capsys):
    study = rated_study(ada, slug="cmd")
    VoiceSystemFactory(study=study, name="espeak-voice", position=9)
    call_command("study_export", "cmd", "--out", str(tmp_path / "r.json"))
    call_command("study_export", "cmd", "--with-audio", "--out", str(tmp_path / "r.zip"))
    recipe = json.loads((tmp_path / "r.json").read_text())
    assert [s["name"] for s in recipe["systems"]] == [
        "natural",
        "tacotron2",
        "espeak",
        "espeak-voice",
    ]
    call_command("study_import", str(tmp_path / "r.zip"), "--slug", "cmd-copy", "--owner", "ada")
    out = capsys.readouterr().out
    assert "Created study cmd-copy" in out
    copy = Study.objects.get(slug="cmd-copy")
    # The voice system's clips were never synthesised, so the bundle has no audio for them.
    assert copy.systems.get(name="espeak-voice").kind == System.Kind.VOICE
    assert Clip.objects.filter(system__study=copy, status=Clip.Status.READY).count() == 12
    with pytest.raises(CommandError, match="No such file"):
        call_command("study_import", str(tmp_path / "none.json"), "--owner", "ada")


@pytest.mark.django_db
def test_a_bundle_whose_voice_is_missing_here_imports_its_audio_as_recordings(ada):
    study = open_study(slug="voiced", n_systems=2, open_study=False)
    # system-1's clips were made by a voice; the site importing the bundle lacks that voice.
    voice = EspeakVoiceFactory(name="private-voice")
    System.objects.filter(study=study, name="system-1").update(kind=System.Kind.VOICE, voice=voice)
    read = recipe_read(bundle_of(study))
    read.recipe["systems"][1]["voice"]["name"] = "a-voice-elsewhere"
    result = study_import(owner=ada, recipe=read.recipe, audio=read.audio, slug="voiced-copy")
    assert result.study.systems.get(name="system-1").kind == System.Kind.UPLOADED
    assert "a-voice-elsewhere" in result.notes[0] and "uploaded recordings" in result.notes[0]
    assert result.study.status == Study.Status.READY
    # Without its audio the same recipe is refused, naming the voice.
    with pytest.raises(RecipeError, match="voice 'a-voice-elsewhere'"):
        study_import(owner=ada, recipe=read.recipe)


@pytest.mark.worker
def test_a_study_imported_with_all_its_audio_has_its_objective_metrics_measured(
    transactional_db, tmp_path, settings, monkeypatch
):
    # DIO instead of Harvest for F0, here and in the worker: the same numbers' kind, faster.
    settings.OBJECTIVE_F0_METHOD = "dio"
    monkeypatch.setenv("OBJECTIVE_F0_METHOD", "dio")
    owner = ResearcherFactory(username="importer")
    study = open_study(slug="measured", n_systems=2, n_sentences=2, gold=False, open_study=False)
    read = recipe_read(bundle_of(study))
    purge_broker()
    # Committed on return (no test transaction): the metrics task is on the broker now.
    copy = study_import(owner=owner, recipe=read.recipe, audio=read.audio).study
    assert copy.status == Study.Status.READY
    worker = start_worker(tmp_path / "worker.log")
    try:
        clips = Clip.objects.filter(system__study=copy)
        wait_for(
            lambda: all((c.objective or {}).get("key") for c in clips.all()),
            timeout=150,
            message="objective metrics of the imported study's 4 clips",
        )
    finally:
        worker.stop()
    assert [c.objective["error"] for c in clips] == [""] * 4, worker.log_text()[-3000:]
    # Only the import asked: the original study, never made ready by synthesis, was not measured.
    assert not any(c.objective for c in Clip.objects.filter(system__study=study))


def bundle_files(study: Study) -> dict[str, bytes]:
    """The audio of a study's bundle, path -> bytes."""
    with zipfile.ZipFile(io.BytesIO(bundle_of(study))) as zf:
        return {n: zf.read(n) for n in zf.namelist() if n.startswith("audio/")}


@pytest.mark.django_db
def test_later_uploads_after_a_recipe_only_import_are_checked_against_its_sha256s(ada):
    study = open_study(slug="recorded", n_systems=2, n_sentences=2, gold=False, open_study=False)
    files = bundle_files(study)
    copy = study_import(owner=ada, recipe=study_recipe(study=study), slug="recorded-copy").study
    assert copy.status == Study.Status.DRAFT  # recipe only: the recordings are still to come
    system = copy.systems.get(name="system-1")
    good, changed = files["audio/system-1/s0.flac"], files["audio/system-1/s1.flac"]
    changed = changed[:-2] + b"\x00\x01"
    report = system_audio_import(
        system=system,
        files=[SimpleUploadedFile("s0.flac", good), SimpleUploadedFile("s1.flac", changed)],
    )
    assert report.stored == ["s0"] and report.missing == ["s1"] and report.problems == 2
    [refused] = report.mismatched
    assert refused["file"] == "s1.flac" and refused["key"] == "s1"
    assert "system 'system-1', sentence 's1'" in refused["error"]
    assert hashlib.sha256(changed).hexdigest() in refused["error"]
    assert "not stored" in refused["error"]
    # The matching file is kept byte for byte, so the copy's recipe gives the original's sha256.
    clip = Clip.objects.get(system=system, sentence__key="s0")
    assert clip.status == Clip.Status.READY and clip.audio.read() == good
    assert clip.duration_s == pytest.approx(0.6, abs=0.01) and clip.sample_rate == 16000
    mine, theirs = study_recipe(study=copy)["systems"][1], study_recipe(study=study)["systems"][1]
    assert [c["sha256"] for c in mine["clips"]] == [c["sha256"] for c in theirs["clips"]]
    # A file recorded again (same name, other bytes) is refused too; nothing replaced s0.
    again = system_audio_import(system=system, files=[SimpleUploadedFile("s0.flac", changed)])
    assert [m["key"] for m in again.mismatched] == ["s0"]
    assert Clip.objects.get(pk=clip.pk).audio.read() == good


@pytest.mark.django_db
def test_a_system_added_after_the_import_takes_any_recordings(ada):
    study = open_study(slug="fresh", n_systems=2, n_sentences=1, gold=False, open_study=False)
    copy = study_import(owner=ada, recipe=study_recipe(study=study), slug="fresh-copy").study
    System.objects.filter(study=copy, name="system-1").delete()
    system = System.objects.create(study=copy, name="system-1", kind=System.Kind.UPLOADED)
    report = system_audio_import(system=system, files=[SimpleUploadedFile("s0.wav", wav(0.5))])
    assert report.stored == ["s0"] and not report.mismatched
