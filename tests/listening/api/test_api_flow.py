"""The API end to end, as a researcher's script drives it: the Python example of docs/api.md is
run as written against a live server and a real Celery worker, then the report, the ratings
CSV and closing are checked through the same API."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile
from django.conf import settings
from rest_framework.authtoken.models import Token

from listening.models import Clip, Study
from tests.factories import EspeakVoiceFactory, ResearcherFactory

DOC = Path(settings.BASE_DIR) / "docs" / "api.md"

pytestmark = [pytest.mark.worker]


def doc_example() -> str:
    """The first ```python block of docs/api.md: the script researchers paste."""
    match = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "docs/api.md has no Python example"
    return match.group(1)


def recording(seconds: float, rate: int = 44100) -> bytes:
    rng = np.random.default_rng(int(seconds * 100))
    t = np.arange(int(seconds * rate)) / rate
    voice = 0.25 * np.sin(2 * np.pi * 150 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    samples = (voice + 0.005 * rng.standard_normal(t.size)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_documented_python_example_runs_a_study_to_an_open_test(
    live_server, celery_worker, tmp_path
):
    user = ResearcherFactory(username="scripted")
    token = Token.objects.create(user=user).key
    EspeakVoiceFactory(name="eSpeak NG")
    keys = ["s001", "s002", "s003"]
    texts = ["The birch canoe slid.", "Glue the sheet.", "Rice is served in bowls."]
    (tmp_path / "sentences.csv").write_text(
        "key,text\n" + "".join(f"{k},{t}\n" for k, t in zip(keys, texts, strict=True))
    )
    with zipfile.ZipFile(tmp_path / "recordings.zip", "w") as archive:
        for i, key in enumerate(keys):
            archive.writestr(f"natural/{key}.wav", recording(0.8 + 0.2 * i))
    (tmp_path / "example.py").write_text(doc_example())

    env = {**os.environ, "HARKEN_URL": live_server.url, "HARKEN_TOKEN": token}
    run = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output + "\n--- worker ---\n" + celery_worker.log_text()[-3000:]
    assert "3 sentences imported" in output
    assert "3 recordings stored" in output
    assert f"Listener link: {live_server.url}/t/tacotron2-vs-espeak/" in output
    assert "PROLIFIC_PID={{%PROLIFIC_PID%}}" in output

    study = Study.objects.get(slug="tacotron2-vs-espeak")
    assert study.owner == user and study.status == Study.Status.OPEN
    assert study.screening["correlation_alpha"] == 0.01  # the default
    clips = Clip.objects.filter(system__study=study)
    assert clips.count() == 9  # tts, natural, MNRU anchor x 3 sentences
    assert set(clips.values_list("status", flat=True)) == {Clip.Status.READY}
    assert study.playlists.exists()

    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    base = f"{live_server.url}/api/v1/studies/{study.slug}"
    listed = api.get(f"{base}/clips/", timeout=30).json()
    audio = api.get(listed[0]["audio_url"], timeout=30)
    assert audio.status_code == 200 and audio.content[:4] == b"fLaC"
    report = api.get(f"{base}/report/", timeout=30)
    assert report.status_code == 409 and "no test ratings" in report.json()["detail"]
    ratings = api.get(f"{base}/ratings.csv", timeout=30)
    assert ratings.status_code == 200
    header = next(csv.reader(io.StringIO(ratings.text)))
    assert {"listener", "sentence", "system", "score"} <= set(header)
    closed = api.post(f"{base}/close/", timeout=30)
    assert closed.json() == {"status": "closed", "detail": "The test is closed."}
    frozen = api.post(f"{base}/sentences/", json={"sentences": [{"text": "More."}]}, timeout=30)
    assert frozen.status_code == 409
