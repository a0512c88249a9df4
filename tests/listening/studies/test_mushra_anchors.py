"""The MUSHRA anchors (ITU-R BS.1534-3) as systems of a study: added from the reference by the
service, the researcher's page and the API; derived on the server into loudness-normalised,
band-limited clips with their provenance; kept by a recipe; refused by the database when
malformed."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from scipy import signal

from listening.models import Clip, System
from listening.studies.recipes import study_import, study_recipe
from listening.studies.systems import system_add_lowpass_anchor, system_add_mushra_anchors
from synthesis.clips import anchor_clips_derive, voice_clips_synthesize
from synthesis.engine.lowpass import LOWPASS_ANCHORS
from tests.factories import espeak_study
from tests.synthesis.engine.spectra import band_energy, energy_above_db


def read_clip(clip: Clip) -> tuple[np.ndarray, int]:
    with clip.audio.open("rb") as fh:
        return sf.read(io.BytesIO(fh.read()), dtype="float32")


@pytest.fixture
def study(db):
    # The test's sentences are the factory's; eSpeak NG speaks them at 22.05 kHz.
    return espeak_study(n_sentences=2, sample_rate=22050)


def test_the_mushra_anchors_are_added_from_the_reference_with_their_roles(study):
    source = study.systems.get(kind="voice")
    mid, low = system_add_mushra_anchors(study=study, source=source)
    assert (mid.name, mid.anchor_kind, mid.is_low_anchor) == (
        f"mushra-lp70-{source.name}",
        "lowpass7000",
        False,
    )
    assert (low.name, low.anchor_kind, low.is_low_anchor) == (
        f"mushra-lp35-{source.name}",
        "lowpass3500",
        True,
    )
    assert mid.anchor_q_db is None and mid.anchor_source == source
    # Their clip rows exist, one per sentence, so the study waits for them.
    assert low.clips.count() == mid.clips.count() == 2


def test_anchor_clips_are_band_limited_loudness_normalised_and_aligned(study, record_property):
    source = study.systems.get(kind="voice")
    voice_clips_synthesize(
        system_id=source.id, clip_ids=list(source.clips.values_list("id", flat=True))
    )
    for anchor in system_add_mushra_anchors(study=study, source=source):
        ids = list(anchor.clips.values_list("id", flat=True))
        assert anchor_clips_derive(system_id=anchor.id, clip_ids=ids) == 2
        cutoff = 3500.0 if anchor.anchor_kind == "lowpass3500" else 7000.0
        stop = LOWPASS_ANCHORS[cutoff]
        for clip in anchor.clips.all():
            assert clip.status == Clip.Status.READY, clip.error
            src = source.clips.get(sentence=clip.sentence)
            filtered, rate = read_clip(clip)
            original, _ = read_clip(src)
            assert rate == 22050 and filtered.shape == original.shape
            assert abs(clip.loudness_lufs - study.loudness_target_lufs) < 1.0

            def ratio(x, cutoff=cutoff, stop=stop, rate=rate):
                return band_energy(x, rate, stop, rate / 2, nperseg=2048) / band_energy(
                    x, rate, 0, cutoff, nperseg=2048
                )

            # The stored clips are 16-bit FLAC: their quantisation noise (about -100 dBFS,
            # white) is the floor, so the stored anchor is measured at 50 dB; the filter itself
            # reaches 80 dB (tests/synthesis/engine/test_lowpass.py).
            assert 10 * np.log10(ratio(filtered) / ratio(original)) < -50
            # Measured against the stored anchor's own total, the energy above its cut-off
            # (where the stopband starts) is at least 60 dB down, FLAC floor included.
            above_db = energy_above_db(filtered, rate, cutoff, nperseg=2048)
            record_property(f"energy_above_{cutoff:g}_hz_db_{clip.token[:8]}", round(above_db, 1))
            print(f"stored {cutoff:g} Hz anchor: energy above {cutoff:g} Hz {above_db:.1f} dB")
            assert above_db <= -60
            # Same utterance, same timing: the cross-correlation peaks at lag 0.
            xcorr = signal.correlate(filtered, original)
            lags = signal.correlation_lags(filtered.size, original.size)
            assert lags[np.argmax(xcorr)] == 0
            record = clip.provenance
            assert record["engine"] == "lowpass"
            assert record["settings"]["cutoff_hz"] == cutoff
            assert record["settings"]["filter"].startswith("elliptic, order ")
            assert record["source_clip"] == src.token


def test_a_source_too_narrow_for_the_anchor_fails_its_clips_with_the_reason(db):
    study = espeak_study(slug="narrow", n_sentences=1, sample_rate=8000)
    source = study.systems.get(kind="voice")
    voice_clips_synthesize(
        system_id=source.id, clip_ids=list(source.clips.values_list("id", flat=True))
    )
    anchor = system_add_lowpass_anchor(study=study, source=source, anchor_kind="lowpass7000")
    ids = list(anchor.clips.values_list("id", flat=True))
    assert anchor_clips_derive(system_id=anchor.id, clip_ids=ids) == 0
    clip = anchor.clips.get()
    assert clip.status == Clip.Status.FAILED
    assert "needs a sample rate above 14000 Hz" in clip.error


def test_a_recipe_keeps_the_anchor_kind_and_mnru_recipes_are_unchanged(study, ada):
    source = study.systems.get(kind="voice")
    system_add_mushra_anchors(study=study, source=source)
    recipe = study_recipe(study=study)
    anchors = {s["name"]: s["anchor"] for s in recipe["systems"] if s["kind"] == "anchor"}
    assert anchors[f"mushra-lp35-{source.name}"] == {
        "source": source.name,
        "q_db": None,
        "kind": "lowpass3500",
    }
    copy = study_import(owner=ada, recipe=recipe).study
    kinds = dict(copy.systems.filter(kind="anchor").values_list("name", "anchor_kind"))
    assert kinds == {
        f"mushra-lp70-{source.name}": "lowpass7000",
        f"mushra-lp35-{source.name}": "lowpass3500",
    }
    lows = dict(copy.systems.filter(kind="anchor").values_list("anchor_kind", "is_low_anchor"))
    assert lows == {"lowpass7000": False, "lowpass3500": True}
    mnru = espeak_study(slug="mnru", n_sentences=1, anchors=[5])
    (spec,) = [s["anchor"] for s in study_recipe(study=mnru)["systems"] if s["anchor"]]
    assert spec == {"source": mnru.systems.get(kind="voice").name, "q_db": 5.0}


def test_the_database_refuses_a_low_pass_anchor_with_q_and_an_mnru_anchor_without(study):
    source = study.systems.get(kind="voice")
    for fields in (
        {"anchor_kind": "lowpass3500", "anchor_q_db": 5.0},
        {"anchor_kind": "mnru", "anchor_q_db": None},
        {"anchor_kind": "lowpass7000", "anchor_q_db": None, "anchor_source": None},
    ):
        values = {"anchor_source": source, **fields}
        with pytest.raises(IntegrityError), transaction.atomic():
            System.objects.create(study=study, name="bad", kind="anchor", **values)


def test_the_researcher_adds_the_mushra_anchors_on_the_systems_page(client, ada, db):
    study = espeak_study(slug="page", n_sentences=1)
    study.owner = ada
    study.save()
    client.force_login(ada)
    url = reverse("researcher:systems", args=[study.slug])
    page = client.get(url).content.decode()
    assert "Add the MUSHRA anchors" in page
    source = study.systems.get(kind="voice")
    response = client.post(
        url, {"form": "mushra", "mushra-source": source.id, "mushra-which": "low"}, follow=True
    )
    assert f"MUSHRA anchors &#x27;mushra-lp35-{source.name}&#x27; added." in (
        response.content.decode()
    )
    assert list(study.systems.filter(kind="anchor").values_list("anchor_kind", flat=True)) == [
        "lowpass3500"
    ]
    page = client.get(url).content.decode()
    assert "Low-pass 3.5 kHz (MUSHRA low anchor, ITU-R BS.1534-3) from" in page


def test_the_api_adds_a_low_pass_anchor_and_refuses_q_with_it(ada, db):
    study = espeak_study(slug="api", n_sentences=1)
    study.owner = ada
    study.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=ada)[0].key}")
    url = f"/api/v1/studies/{study.slug}/systems/"
    source = study.systems.get(kind="voice")
    made = api.post(
        url,
        {"kind": "anchor", "anchor_source": source.id, "anchor_kind": "lowpass7000"},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["anchor_kind"] == "lowpass7000" and made.json()["anchor_q_db"] is None
    refused = api.post(
        url,
        {
            "kind": "anchor",
            "anchor_source": source.id,
            "anchor_kind": "lowpass3500",
            "anchor_q_db": 5,
        },
        format="json",
    )
    assert refused.status_code == 400
    assert "A low-pass anchor has no Q" in refused.content.decode()
