"""A clip's provenance (Clip.provenance) is shown on the clips page and shipped in the audio
ZIP's manifest, so a researcher can say how each clip was made."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from django.urls import reverse

from listening.models import Clip, System
from synthesis.clips import anchor_clips_derive, voice_clips_synthesize
from tests.factories import clips_of, espeak_study


def synthesised(ada):
    study = espeak_study(n_sentences=2, anchors=(15,))
    study.owner = ada
    study.save()
    voice = study.systems.get(kind=System.Kind.VOICE)
    voice_clips_synthesize(
        system_id=voice.id, clip_ids=list(voice.clips.values_list("id", flat=True))
    )
    anchor = study.systems.get(kind=System.Kind.ANCHOR)
    anchor_clips_derive(
        system_id=anchor.id, clip_ids=list(anchor.clips.values_list("id", flat=True))
    )
    return study


def test_the_clips_page_tells_how_each_clip_was_made(client_ada, ada):
    study = synthesised(ada)
    html = client_ada.get(reverse("researcher:clips", args=[study.slug])).content.decode()
    assert html.count('<details class="provenance">') == 4
    clip = clips_of(study, System.Kind.VOICE).first()
    assert f"<dd>{clip.seed}</dd>" in html
    assert "<dd>espeak</dd>" in html and "<dd>mnru</dd>" in html
    assert "How it was made" in html and "Full record (JSON)" in html


def test_a_clip_with_no_record_shows_no_detail(client_ada, ada):
    study = espeak_study(n_sentences=1)
    study.owner = ada
    study.save()
    html = client_ada.get(reverse("researcher:clips", args=[study.slug])).content.decode()
    assert "provenance" not in html.split("<table", 1)[1]


def test_the_audio_zip_manifest_carries_seed_engine_and_the_record(client_ada, ada, tmp_path):
    study = synthesised(ada)
    response = client_ada.get(reverse("study_report_audio_zip", args=[study.slug]))
    assert response.status_code == 200
    path = tmp_path / "audio.zip"
    path.write_bytes(b"".join(response.streaming_content))
    with zipfile.ZipFile(path) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert len(rows) == 4
    for row in rows:
        clip = Clip.objects.get(token=row["token"])
        assert int(row["seed"]) == clip.seed
        assert json.loads(row["provenance"]) == clip.provenance
        assert row["engine"] == ("mnru" if clip.system.kind == System.Kind.ANCHOR else "espeak")
