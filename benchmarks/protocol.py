"""What the benchmarks share: the protocol a listener's browser follows (the forms it posts,
how it answers the headphone check), the large study they run on, and that protocol walked in
this process through Django's test client to count, per request type, the SQL statements and
the CPU time one request costs the server (``request_cost.py`` prints them; ``listeners.py``
prints the statements after its levels)."""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import random
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import numpy as np
import soundfile

FORM_URLENCODED = "application/x-www-form-urlencoded"
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
AUDIO_RE = re.compile(r'<audio src="([^"]+)"')
TRIAL_RE = re.compile(r'id="trial-audio-(\d+)" src="([^"]+)"')

#: Request types, in the order of the protocol (the table's rows).
KINDS = [
    "welcome",
    "consent",
    "questionnaire",
    "questionnaire POST",
    "headphones",
    "volume tone",
    "headphone sound",
    "headphone progress",
    "headphone answers",
    "rating page",
    "clip audio",
    "rating POST",
    "done",
]


# --- The studies (in this process, with the same settings as the site) ---------------------------


def clip_wav(seconds: float, freq: float, rate: int = 22050) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(
        buffer, 0.1 * np.sin(2 * np.pi * freq * t), rate, format="WAV", subtype="PCM_16"
    )
    return buffer.getvalue()


def build_study(args: argparse.Namespace, slug: str) -> int:
    """A large open study; returns how many playlists it has."""
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.utils import timezone

    from listening.models import Clip, Sentence, Study, System
    from listening.studies.lifecycle import study_open

    owner, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    # ratings_per_clip from the playlists wanted: clips x ratings = playlists x clips each.
    n_clips = args.systems * args.sentences
    ratings = max(1, round(args.playlists * args.clips_per_listener / n_clips))
    study = Study.objects.create(
        owner=owner,
        slug=slug,
        title=f"Benchmark {slug}",
        status=Study.Status.READY,
        consent_text="You agree to take part.",
        ratings_per_clip=ratings,
        clips_per_listener=args.clips_per_listener,
        clips_per_page=1,
        training_clips=2,
        attention_check_rate=0.05,
        questionnaire_enabled=True,
        headphone_check_enabled=True,
        completion_code="BENCH",
    )
    systems = [
        System.objects.create(
            study=study,
            name=f"system-{k}",
            kind=System.Kind.REFERENCE if k == 0 else System.Kind.UPLOADED,
            position=k,
        )
        for k in range(args.systems)
    ]
    sentences = Sentence.objects.bulk_create(
        Sentence(study=study, key=f"s{j:03d}", text=f"Sentence {j}.", position=j)
        for j in range(args.sentences)
    )
    for k, system in enumerate(systems):
        audio = clip_wav(args.clip_seconds, 200 + 50 * k)
        for sentence in sentences:
            clip = Clip(
                system=system,
                sentence=sentence,
                duration_s=args.clip_seconds,
                sample_rate=22050,
                ready_at=timezone.now(),
                status=Clip.Status.READY,
            )
            clip.audio.save("clip.wav", ContentFile(audio), save=False)
            clip.save()
    return study_open(study=study)


# --- A simulated listener ----------------------------------------------------------------------

QUESTIONNAIRE = {"native_language": "English", "age_band": "25-34", "device": "headphones"}
_ANSWERS: dict[str, int] = {}


def quietest(wav: bytes) -> int:
    """Which of the check's three tones is the quietest, as a listener on headphones hears it
    (the mean of the two channels: the anti-phase tone is as loud as the reference in each
    ear). Only six different sounds exist, so each is worked out once."""
    key = hashlib.blake2b(wav, digest_size=16).hexdigest()
    if key not in _ANSWERS:
        samples, rate = soundfile.read(io.BytesIO(wav))
        tone, gap = rate, rate // 2
        levels = [
            float(np.sqrt(np.mean(samples[k * (tone + gap) : k * (tone + gap) + tone, 0] ** 2)))
            for k in range(3)
        ]
        _ANSWERS[key] = int(np.argmin(levels)) + 1
    return _ANSWERS[key]


def rating_form(fields: dict[str, str], seconds: float) -> dict[str, str]:
    data = {k: v for k, v in fields.items() if k.startswith(("item_", "clip_", "page", "csrf"))}
    for key in [k for k in fields if k.startswith("item_")]:
        n = key[5:]
        data.update(
            {
                f"score_{n}": str(random.randint(1, 5)),
                f"plays_{n}": "1",
                f"played_{n}": f"{seconds:.3f}",
                f"ended_{n}": str(int(seconds * 1000) + 200),
            }
        )
    return data


# --- One listener through the protocol, in this process -------------------------------------

#: ``call(kind, method, url, data)`` -> (HTTP status, body)
Call = Callable[..., tuple[int, bytes]]


def walk(slug: str, pid: str, call: Call, pages: int = 6) -> None:
    """One listener through the protocol (``pages`` rating pages), each request through
    ``call``. The rating page's served time is moved back on the server between the page
    and its POST, instead of waiting for the clip to play."""
    from listening.models import Listener as ListenerRow

    base = f"/t/{slug}/"
    entry = base + f"?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID={pid}-1"
    call("welcome", "get", entry)
    call("consent", "post", entry, {"consent": "yes"})
    call("questionnaire", "get", base + "about-you/")
    call("questionnaire POST", "post", base + "about-you/", QUESTIONNAIRE)
    html = call("headphones", "get", base + "headphones/")[1].decode()
    call("volume tone", "get", base + "headphones/volume/")
    call("headphone progress", "post", base + "headphones/progress/", {"volume_done": "1"})
    answers = {}
    for index, url in TRIAL_RE.findall(html):
        answer = quietest(call("headphone sound", "get", url)[1])
        answers[f"trial_{index}"] = answer
        call(
            "headphone progress",
            "post",
            base + "headphones/progress/",
            {"trial": index, "answer": answer},
        )
    call("headphone answers", "post", base + "headphones/", answers)
    listener = ListenerRow.objects.get(study__slug=slug, external_id=pid)
    for _page in range(pages):
        status, body = call("rating page", "get", base + "rate/")
        if status != 200:
            break
        html = body.decode()
        for src in AUDIO_RE.findall(html):
            call("clip audio", "get", src)
        listener.refresh_from_db()
        page = dict(listener.current_page)
        served = datetime.fromisoformat(page["served_at"]) - timedelta(seconds=60)
        page["served_at"] = served.isoformat()
        ListenerRow.objects.filter(pk=listener.pk).update(current_page=page)
        call("rating POST", "post", base + "rate/", rating_form(dict(HIDDEN_RE.findall(html)), 1.0))


def _client_call(client, kind: str, method: str, url: str, data=None) -> tuple[int, bytes]:
    if method == "post":
        # Forms as a browser sends them (the pages' forms name no enctype; listeners.py's
        # client does the same): the test client's own default, multipart, costs the server
        # a parse that no listener's request needs.
        response = client.post(url, urlencode(data or {}), content_type=FORM_URLENCODED)
    else:
        response = getattr(client, method)(url, data or {})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body


def sql_per_request(slug: str, pid: str = "sqlcount") -> dict[str, float]:
    """SQL statements per request type for one listener, as ``connection.queries`` counts
    them (BEGIN/COMMIT included)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts: dict[str, list[int]] = defaultdict(list)
    client = Client()

    def call(kind: str, method: str, url: str, data=None) -> tuple[int, bytes]:
        with CaptureQueriesContext(connection) as captured:
            answer = _client_call(client, kind, method, url, data)
        counts[kind].append(len(captured))
        return answer

    walk(slug, pid, call)
    return {kind: statistics.mean(values) for kind, values in counts.items()}


def cpu_per_request(
    slug: str, listeners: int, profiles: dict[str, cProfile.Profile] | None = None
) -> dict[str, list[float]]:
    """CPU seconds (``time.process_time``: this process only, so PostgreSQL's own work is
    not in it) of every request, per type, for ``listeners`` listeners one after the other.
    With ``profiles`` (kind -> profiler), each request of that kind runs under its profiler.
    The first listener warms the code up and is not counted."""
    from django.test import Client

    seconds: dict[str, list[float]] = defaultdict(list)
    tag = f"cpu{int(time.time() * 1000) % 10**6:06d}-"

    def measured(client, counted: bool) -> Call:
        def call(kind: str, method: str, url: str, data=None) -> tuple[int, bytes]:
            profiler = (profiles or {}).get(kind) if counted else None
            if profiler is not None:
                profiler.enable()
            started = time.process_time()
            answer = _client_call(client, kind, method, url, data)
            spent = time.process_time() - started
            if profiler is not None:
                profiler.disable()
            if counted:
                seconds[kind].append(spent)
            return answer

        return call

    # One client (its handler loads the middleware once, as a worker process does), with
    # the cookies of one listener at a time.
    client = Client()
    for n in range(listeners + 1):
        client.cookies = SimpleCookie()
        walk(slug, f"{tag}{n:04d}", measured(client, counted=n > 0))
    return seconds
