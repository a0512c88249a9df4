"""Test data, in one place: factory_boy factories for the models, short real audio, and builders
of whole studies the way a researcher's would be. This module holds no tests.

Factories make one row with plausible defaults (``StudyFactory(slug="x")``); the builders below
them make a study at a known stage:

- :func:`espeak_study`: a draft study whose systems need no weights (eSpeak NG and MNRU
  anchors), its clip rows made, for synthesis tests;
- :func:`open_study`: systems, sentences (one a spoken attention check), ready clips with
  short real FLAC files in the default storage, then ``study_open`` builds the playlists;
- :func:`rated_study`: three systems x four sentences with ratings whose numbers the report
  tests compute by hand (:func:`expected_mos`);
- the listener's path through the services: :func:`join`, :func:`pass_checks`,
  :func:`rating_listener`, :func:`rate`, :func:`rate_everything`.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta

import factory
import numpy as np
import pandas as pd
import soundfile
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone
from factory.django import DjangoModelFactory, Password

from listening.models import (
    Clip,
    Listener,
    Playlist,
    PlaylistItem,
    Rating,
    Sentence,
    Study,
    System,
    TrialClip,
)
from listening.participation import checks, ratings, selectors
from listening.studies.harvard import HARVARD_SENTENCES
from listening.studies.lifecycle import study_clips_ensure, study_open
from listening.studies.settings import study_create
from synthesis.models import Voice

SAMPLE_RATE = 16000

# The usual material of listening tests: the first Harvard sentences (those of the demo).
SENTENCES = HARVARD_SENTENCES[:6]


# --- Audio -------------------------------------------------------------------------------------


def sine(seconds: float, rate: int = SAMPLE_RATE, *, freq: float = 200.0, level: float = 0.3):
    """A sine tone as float32 samples."""
    t = np.arange(round(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def audio_bytes(samples, rate: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    """Samples encoded as a file a browser (or ``decode_audio``) reads."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def wav(seconds: float = 0.6, rate: int = SAMPLE_RATE, **tone) -> bytes:
    """A short sine tone as WAV: real audio for uploads."""
    return audio_bytes(sine(seconds, rate, **tone), rate)


def flac_bytes(seconds: float, freq: float = 440.0) -> bytes:
    """A short tone as FLAC: real audio a browser can decode and play to its end."""
    return audio_bytes(sine(seconds, freq=freq, level=0.2), SAMPLE_RATE, "FLAC", "PCM_16")


def flac_declaring(frames: int, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """A few KB of real FLAC whose STREAMINFO header declares ``frames`` frames: the hostile
    upload that makes a decoder allocate for what the header says, not for what is there."""
    samples = sine(0.05, rate)
    data = bytearray(audio_bytes(np.stack([samples] * channels, axis=1), rate, "FLAC", "PCM_16"))
    assert data[:4] == b"fLaC"
    # STREAMINFO bytes 10..17: rate (20 bits), channels-1 (3), bits-1 (5), total frames (36).
    fields = int.from_bytes(data[18:26], "big")
    fields = (fields & ~((1 << 36) - 1)) | frames
    data[18:26] = fields.to_bytes(8, "big")
    return bytes(data)


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_with_a_changed_member(
    bundle: bytes, prefix: str, tail: bytes = b"\x00\x01"
) -> tuple[bytes, str]:
    """``bundle`` (a zip) again with its first member under ``prefix`` changed (its last bytes
    replaced by ``tail``), and that member's name: an export tampered with after the fact."""
    source = zipfile.ZipFile(io.BytesIO(bundle))
    victim = next(n for n in source.namelist() if n.startswith(prefix))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name in source.namelist():
            data = source.read(name)
            zf.writestr(name, data[: -len(tail)] + tail if name == victim else data)
    return out.getvalue(), victim


# --- Factories ---------------------------------------------------------------------------------


class ResearcherFactory(DjangoModelFactory):
    """A staff account, which is what a researcher is (``is_staff=False`` for anyone else)."""

    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"researcher-{n}")
    is_staff = True
    password = Password("pw-researcher-123456")


class EspeakVoiceFactory(DjangoModelFactory):
    """The eSpeak NG voice: real speech with no weights."""

    class Meta:
        model = Voice
        django_get_or_create = ("name",)

    name = "espeak-test"
    engine = Voice.Engine.ESPEAK
    espeak_voice = "en-us"


class StudyFactory(DjangoModelFactory):
    class Meta:
        model = Study

    owner = factory.SubFactory(ResearcherFactory)
    slug = factory.Sequence(lambda n: f"study-{n}")
    title = factory.LazyAttribute(lambda study: f"Study {study.slug}")


class SentenceFactory(DjangoModelFactory):
    class Meta:
        model = Sentence

    study = factory.SubFactory(StudyFactory)
    position = factory.Sequence(int)
    key = factory.LazyAttribute(lambda sentence: f"s{sentence.position:03d}")
    text = factory.LazyAttribute(lambda sentence: SENTENCES[sentence.position % len(SENTENCES)])


class SystemFactory(DjangoModelFactory):
    """A system whose audio is uploaded; ``VoiceSystemFactory`` for a synthesised one."""

    class Meta:
        model = System

    study = factory.SubFactory(StudyFactory)
    name = factory.Sequence(lambda n: f"system-{n}")
    kind = System.Kind.UPLOADED
    position = factory.Sequence(int)


class VoiceSystemFactory(SystemFactory):
    name = "espeak"
    kind = System.Kind.VOICE
    voice = factory.SubFactory(EspeakVoiceFactory)


class ClipFactory(DjangoModelFactory):
    """A ready clip row naming an audio file that is not in storage: enough for tables built
    from the database (:func:`ready_clip` stores real audio)."""

    class Meta:
        model = Clip

    system = factory.SubFactory(SystemFactory)
    sentence = factory.SubFactory(SentenceFactory, study=factory.SelfAttribute("..system.study"))
    status = Clip.Status.READY
    audio = factory.Sequence(lambda n: f"clips/test/clip-{n}.flac")
    duration_s = 1.0


class ListenerFactory(DjangoModelFactory):
    class Meta:
        model = Listener

    study = factory.SubFactory(StudyFactory)
    stage = Listener.Stage.RATING


class PlaylistFactory(DjangoModelFactory):
    class Meta:
        model = Playlist

    study = factory.SubFactory(StudyFactory)
    index = factory.Sequence(int)
    seed = factory.Sequence(int)


class TrialFactory(DjangoModelFactory):
    """A trial (``PlaylistItem``); give it clips with :class:`TrialClipFactory` or
    :func:`trial_with`."""

    class Meta:
        model = PlaylistItem

    playlist = factory.SubFactory(PlaylistFactory)
    position = factory.Sequence(int)
    purpose = PlaylistItem.Purpose.TEST


class TrialClipFactory(DjangoModelFactory):
    class Meta:
        model = TrialClip

    trial = factory.SubFactory(TrialFactory)
    position = 0
    role = TrialClip.Role.TEST
    clip = factory.SubFactory(ClipFactory)


def trial_with(playlist: Playlist, clips: list[tuple[str, Clip]], **fields) -> PlaylistItem:
    """A trial of ``playlist`` presenting ``clips`` ((role, clip), in play order). A trial of
    a one-clip type (ACR, SMOS) also names its test clip as the rated one."""
    test = [clip for role, clip in clips if role == TrialClip.Role.TEST]
    if len(test) == 1 and playlist.study.test_type in (Study.TestType.ACR, Study.TestType.SMOS):
        fields.setdefault("clip", test[0])
    trial = TrialFactory(playlist=playlist, **fields)
    for position, (role, clip) in enumerate(clips):
        TrialClipFactory(trial=trial, position=position, role=role, clip=clip)
    return trial


class TypedRatingFactory(DjangoModelFactory):
    """A response of the trial's study's type: pass ``score`` (ACR, SMOS, CCR) or ``choice``
    (AB, ABX). The rated clip is set for one-clip types, as the response POST does."""

    class Meta:
        model = Rating

    item = factory.SubFactory(TrialFactory)
    listener = factory.SubFactory(
        ListenerFactory, study=factory.SelfAttribute("..item.playlist.study")
    )
    test_type = factory.LazyAttribute(lambda rating: rating.item.playlist.study.test_type)
    clip = factory.LazyAttribute(lambda rating: rating.item.clip)
    purpose = factory.LazyAttribute(lambda rating: rating.item.purpose)
    play_counts = factory.LazyAttribute(lambda rating: [1] * rating.item.trial_clips.count())
    play_count = factory.LazyAttribute(lambda rating: len(rating.play_counts))
    response_seconds = 1.5


def comparison_study(test_type: str, *, slug: str = "", **fields) -> tuple[Study, dict]:
    """A study of ``test_type`` with systems natural (its reference system), alpha and beta,
    sentences s0 and s1, and a ready clip row of each (no audio in storage): returns the study
    and its clips by (system name, sentence key). Give trials with :func:`trial_with`."""
    study = StudyFactory(slug=slug or f"compare-{test_type}", test_type=test_type, **fields)
    natural = SystemFactory(study=study, name="natural", kind=System.Kind.REFERENCE, position=0)
    alpha = SystemFactory(study=study, name="alpha", position=1)
    beta = SystemFactory(study=study, name="beta", position=2)
    sentences = [SentenceFactory(study=study, key=f"s{j}", position=j) for j in range(2)]
    clips = {
        (system.name, sentence.key): ClipFactory(system=system, sentence=sentence)
        for system in (natural, alpha, beta)
        for sentence in sentences
    }
    study.reference_system = natural
    study.save()
    return study, clips


def listener_with_playlist(study: Study, external_id: str) -> tuple[Listener, Playlist]:
    """A Prolific listener of ``study`` holding a claimed playlist (empty: add trials)."""
    listener = ListenerFactory(study=study, platform="prolific", external_id=external_id)
    playlist = PlaylistFactory(study=study, listener=listener, status=Playlist.Status.CLAIMED)
    return listener, playlist


def ready_clip(
    system: System,
    sentence: Sentence,
    audio: bytes,
    *,
    duration_s: float,
    sample_rate: int = SAMPLE_RATE,
    name: str = "clip.flac",
    **fields,
) -> Clip:
    """A clip as an upload would leave it: its file in the default storage, status ready."""
    fields.setdefault("ready_at", timezone.now())
    clip = Clip(
        system=system, sentence=sentence, duration_s=duration_s, sample_rate=sample_rate, **fields
    )
    clip.audio.save(name, ContentFile(audio), save=False)
    clip.status = Clip.Status.READY
    clip.save()
    return clip


# --- A study to synthesise ---------------------------------------------------------------------


def espeak_study(*, slug: str = "synth", n_sentences: int = 4, anchors=(), **study_fields) -> Study:
    """A draft study with one eSpeak NG system, MNRU anchors at ``anchors`` dB derived from it,
    ``n_sentences`` sentences and their clip rows (all pending)."""
    study = StudyFactory(
        owner=ResearcherFactory(username="researcher"), slug=slug, title=slug, **study_fields
    )
    for i in range(n_sentences):
        SentenceFactory(study=study, position=i)
    source = VoiceSystemFactory(study=study, position=0)
    for q in anchors:
        SystemFactory(
            study=study,
            name=f"mnru{q}",
            kind=System.Kind.ANCHOR,
            anchor_source=source,
            anchor_q_db=float(q),
            position=0,
        )
    study_clips_ensure(study=study)
    return study


def clips_of(study: Study, kind: str | None = None):
    qs = Clip.objects.filter(system__study=study).select_related("system", "sentence")
    return qs.filter(system__kind=kind) if kind else qs


# --- An open study ------------------------------------------------------------------------------


def open_study(
    *,
    slug: str = "listen",
    n_systems: int = 2,
    n_sentences: int = 4,
    ratings_per_clip: int = 1,
    clips_per_listener: int = 4,
    clips_per_page: int = 1,
    training_clips: int = 1,
    attention_check_rate: float = 0.25,
    gold: bool = True,
    seconds: float = 0.6,
    questionnaire: bool = True,
    headphone_check: bool = True,
    completion_code: str = "HARKEN-42",
    completion_url: str = "",
    open_study: bool = True,
    anchors: tuple[float, ...] = (),
    **study_fields,
) -> Study:
    """A study with ready clips whose playlists ``study_open`` built (``open_study=False``
    leaves it ready). System 0 is the natural reference, the others uploaded, then MNRU anchors
    at ``anchors`` dB (derived from system 0); sentence "check"
    is a spoken attention check whose answer is 2 (when ``gold``). The instructions and the
    consent text carry script a page must not run."""
    study = StudyFactory(
        owner=ResearcherFactory(username=f"researcher-{slug}"),
        slug=slug,
        title=f"Study {slug}",
        status=Study.Status.READY,
        instructions="Please **wear headphones**.\n\n<script>alert('x')</script>",
        consent_text="You agree to take part. [More](javascript:alert(1))",
        ratings_per_clip=ratings_per_clip,
        clips_per_listener=clips_per_listener,
        clips_per_page=clips_per_page,
        training_clips=training_clips,
        attention_check_rate=attention_check_rate,
        questionnaire_enabled=questionnaire,
        headphone_check_enabled=headphone_check,
        completion_code=completion_code,
        completion_url=completion_url,
        **study_fields,
    )
    systems = [
        SystemFactory(
            study=study,
            name=f"system-{k}",
            kind=System.Kind.REFERENCE if k == 0 else System.Kind.UPLOADED,
            position=k,
        )
        for k in range(n_systems)
    ]
    systems += [
        SystemFactory(
            study=study,
            name=f"mnru-{q:g}",
            kind=System.Kind.ANCHOR,
            anchor_source=systems[0],
            anchor_q_db=float(q),
            position=n_systems + i,
        )
        for i, q in enumerate(anchors)
    ]
    sentences = [
        SentenceFactory(study=study, key=f"s{j}", text=f"Sentence {j}.", position=j)
        for j in range(n_sentences)
    ]
    if gold:
        sentences.append(
            SentenceFactory(
                study=study,
                key="check",
                text="Please select Poor.",
                position=n_sentences,
                expected_score=2,
            )
        )
    for k, system in enumerate(systems):
        for j, sentence in enumerate(sentences):
            audio = flac_bytes(seconds, 300 + 40 * k + 5 * j)
            ready_clip(system, sentence, audio, duration_s=seconds)
    if open_study:
        study_open(study=study)
        study.refresh_from_db()
    return study


# --- The listener's path -----------------------------------------------------------------------


#: :func:`open_study`'s fields for a listener's path with nothing before the test clips but the
#: consent: no questionnaire, headphone check, practice clips or attention checks.
PLAIN = dict(
    training_clips=0,
    gold=False,
    attention_check_rate=0.0,
    questionnaire=False,
    headphone_check=False,
)


def rating_only_study(**fields) -> Study:
    """:func:`open_study` whose listeners go from consent straight to the test clips
    (:data:`PLAIN`; ``fields`` may still set any of them)."""
    return open_study(**{**PLAIN, **fields})


def join(study: Study, external_id: str = "", platform: str = "", attempt_id: str = "") -> Listener:
    """Join as a browser would; an external id comes with the attempt id "<id>-session" unless
    another is given (a platform always sends one)."""
    platform = platform or (Listener.Platform.PROLIFIC if external_id else Listener.Platform.NONE)
    if external_id and not attempt_id:
        attempt_id = f"{external_id}-session"
    return checks.listener_join(
        study=study,
        platform=platform,
        external_id=external_id,
        attempt_id=attempt_id,
        params={},
        user_agent="test",
    )


def _through_checks(
    listener: Listener, answers, questionnaire: dict[str, str] | None = None
) -> tuple[Listener, bool | None]:
    """Consent, the questionnaire and the headphone check, whichever the listener still has
    ahead; the check's every sound is played, then ``answers(correct)`` is sent. Returns the
    listener, fresh from the database, and the check's verdict (None when it had none). The
    questionnaire is answered with ``questionnaire`` (an English speaker, 25-34, headphones by
    default)."""
    listener = checks.listener_consent(listener=listener)
    if listener.stage == Listener.Stage.QUESTIONNAIRE:
        listener = checks.listener_questionnaire_save(
            listener=listener,
            answers=questionnaire
            or {"native_language": "English", "age_band": "25-34", "device": "headphones"},
        )
    passed = None
    if listener.stage == Listener.Stage.HEADPHONES:
        n = checks.headphone_check_start(listener=listener)
        for index in range(n):
            checks.headphone_trial_play(listener=listener, index=index)
        listener.refresh_from_db()
        correct = listener.headphone_check["correct"]
        passed = checks.headphone_check_answer(listener=listener, answers=answers(correct))
    listener.refresh_from_db()
    return listener, passed


def pass_checks(listener: Listener) -> Listener:
    """Consent, questionnaire and a passed headphone check (answers read from the database)."""
    return _through_checks(listener, lambda correct: correct)[0]


def fail_headphone_check(
    listener: Listener, questionnaire: dict[str, str] | None = None
) -> tuple[Listener, bool | None]:
    """Consent and questionnaire, then every headphone-check answer wrong: the listener and the
    check's verdict."""
    return _through_checks(listener, lambda correct: [c % 3 + 1 for c in correct], questionnaire)


def rating_listener(study: Study, external_id: str = "") -> Listener:
    """A listener who has passed every check and holds a playlist."""
    return pass_checks(join(study, external_id))


def response_body(response) -> bytes:
    """A response's whole body, whether streamed (downloads, audio) or not."""
    return b"".join(response.streaming_content) if response.streaming else response.content


#: A page's hidden inputs, which the browser sends back with the answers.
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def hidden_fields(html: str) -> dict[str, str]:
    return dict(HIDDEN_INPUT.findall(html))


def consented_client(study: Study, query: str = "") -> tuple[Client, Listener]:
    """A browser that consents on the study's welcome page (``query``: its link's query string)
    and passes every check: its client, and its listener fresh from the database."""
    client = Client()
    client.post(f"/t/{study.slug}/{query}", {"consent": "yes"})
    listener = Listener.objects.order_by("-pk").first()
    pass_checks(listener)
    listener.refresh_from_db()
    return client, listener


def rate_page(client: Client, study: Study) -> tuple[str, dict[str, str]]:
    """The rating page as the browser gets it (asserted served): its HTML and hidden inputs."""
    response = client.get(f"/t/{study.slug}/rate/")
    assert response.status_code == 200, response.content[:500]
    html = response.content.decode()
    return html, hidden_fields(html)


def rate(listener: Listener, item: PlaylistItem, score: int, **overrides):
    """Rate an item as a browser would after playing it to its end."""
    now = timezone.now()
    duration = item.clip.duration_s or 1.0
    fields = {
        "listener": listener,
        "item_id": item.pk,
        "score": score,
        "play_count": 1,
        "played_seconds": duration,
        "page_issued_at": now - timedelta(seconds=duration + 2),
        "first_play_ended_at": now - timedelta(seconds=1),
        "clip_token": item.clip.token,
    }
    fields.update(overrides)
    return ratings.rating_submit(**fields)


def rate_everything(listener: Listener, score_for=None) -> None:
    """Rate the listener's whole playlist; gold items get their expected score by default."""
    while (item := selectors.listener_next_item(listener=listener)) is not None:
        score = score_for(item) if score_for else (item.expected_score or 4)
        rate(listener, item, score)
        listener.refresh_from_db()


# --- A rated study whose numbers are known -----------------------------------------------------

RATED_SYSTEMS = [("natural", "reference"), ("tacotron2", "uploaded"), ("espeak", "uploaded")]
BASE = {"natural": 4, "tacotron2": 3, "espeak": 2}
RATED_SENTENCES = [(f"s{i}", text) for i, text in enumerate(SENTENCES[:4], start=1)]
HONEST = ["P1", "P2", "P3", "P4"]
STRAIGHT = "P5"
MANUAL = "P6"
MANUAL_REASON = "wrote that they listened on laptop speakers"
N_RATINGS = 6 * 12  # six listeners x twelve clips


def rate_clips(study: Study, base: dict[str, int], n_listeners: int = 4, step: int = 1) -> None:
    """Test ratings of every clip of ``study`` from ``n_listeners`` completed listeners: each
    system's ``base`` score, moved by ``step`` (kept within 1..5) for some listener/sentence
    pairs so that clips and listeners differ."""
    clips = list(Clip.objects.filter(system__study=study).select_related("system", "sentence"))
    for i in range(n_listeners):
        listener = Listener.objects.create(study=study, stage=Listener.Stage.COMPLETED)
        Rating.objects.bulk_create(
            Rating(
                listener=listener,
                clip=clip,
                purpose="test",
                score=min(
                    5, max(1, base[clip.system.name] + step * ((i + clip.sentence.position) % 2))
                ),
                played_seconds=1.0,
                response_seconds=2.0,
            )
            for clip in clips
        )


def honest_score(j: int, system: str, s: int) -> int:
    """Listener j's score for (system, sentence s): the system's level, one point up or down
    in a pattern that differs between listeners and sentences."""
    return BASE[system] + (-1, 0, 1)[(j + s) % 3]


def expected_mos(system: str, *, straight_liner: bool) -> float:
    scores = [honest_score(j, system, s) for j in range(len(HONEST)) for s in range(4)]
    if straight_liner:
        scores += [3] * 4
    return sum(scores) / len(scores)


def rated_study(owner, slug: str = "mos-study") -> Study:
    """Three systems (a natural reference and two uploaded ones) x four sentences, twelve ready
    clips with real WAV files. Four honest listeners rate every clip by :func:`honest_score`;
    one straight-liner gives 3 to everything (the screening excludes them: identical_scores);
    one listener gives 5 to everything and is excluded by hand with a reason."""
    study = study_create(owner=owner, data={"slug": slug, "title": "Tacotron2 vs eSpeak"})
    systems = {
        name: SystemFactory(study=study, name=name, kind=kind, position=i)
        for i, (name, kind) in enumerate(RATED_SYSTEMS)
    }
    sentences = [
        SentenceFactory(study=study, key=key, text=text, position=i)
        for i, (key, text) in enumerate(RATED_SENTENCES)
    ]
    clips = {}
    for name, system in systems.items():
        for s, sentence in enumerate(sentences):
            seconds = 0.25 + 0.05 * s
            audio = audio_bytes(sine(seconds, level=0.2), SAMPLE_RATE)
            clips[name, s] = ready_clip(
                system,
                sentence,
                audio,
                duration_s=seconds,
                name="audio.wav",
                ready_at=None,
                loudness_lufs=-26.0 - s,
            )

    def listener(external_id: str, **extra) -> Listener:
        return Listener.objects.create(
            study=study, platform="prolific", external_id=external_id, **extra
        )

    made = []
    for j, pid in enumerate(HONEST):
        who = listener(pid)
        made += [
            Rating(listener=who, clip=clips[name, s], score=honest_score(j, name, s))
            for name in BASE
            for s in range(4)
        ]
    straight = listener(STRAIGHT)
    manual = listener(MANUAL, excluded=True, exclusion_reason=MANUAL_REASON)
    made += [Rating(listener=straight, clip=c, score=3) for c in clips.values()]
    made += [Rating(listener=manual, clip=c, score=5) for c in clips.values()]
    for rating in made:
        rating.play_count, rating.played_seconds, rating.response_seconds = 2, 0.6, 2.5
    Rating.objects.bulk_create(made)
    return study


def rated_ratings_table() -> pd.DataFrame:
    """The ratings of :func:`rated_study` as a table, no database needed, less the listener
    excluded by hand: columns listener, sentence, system, score."""
    rows = [
        (pid, key, name, honest_score(j, name, s))
        for j, pid in enumerate(HONEST)
        for name in BASE
        for s, (key, _) in enumerate(RATED_SENTENCES)
    ]
    rows += [(STRAIGHT, key, name, 3) for name in BASE for key, _ in RATED_SENTENCES]
    return pd.DataFrame(rows, columns=["listener", "sentence", "system", "score"])


def served_earlier(listener: Listener, seconds: float = 60, *, missing_ok: bool = False) -> None:
    """The listener's current page as if the server had served it ``seconds`` ago (a listener
    who took their time): the served time lives on the server, not in the page. A page already
    used up has no served time: that fails, unless ``missing_ok`` (a test that replays)."""
    listener.refresh_from_db()
    page = dict(listener.current_page)
    if "served_at" not in page:
        assert missing_ok, f"the listener's page has no served time: {page}"
        return
    page["served_at"] = (
        datetime.fromisoformat(page["served_at"]) - timedelta(seconds=seconds)
    ).isoformat()
    Listener.objects.filter(pk=listener.pk).update(current_page=page)


def claimed_listeners(
    study: Study, prefix: str, limit: int | None = None
) -> Iterator[tuple[int, Listener, Playlist]]:
    """Every playlist of ``study`` (the first ``limit``) claimed by a Prolific listener
    ``<prefix><i>``, in order: ``(i, listener, playlist)``, for tests that write the
    listeners' answers themselves."""
    playlists = Playlist.objects.filter(study=study).order_by("index")
    for i, playlist in enumerate(playlists[:limit]):
        listener = Listener.objects.create(
            study=study,
            platform="prolific",
            external_id=f"{prefix}{i}",
            stage=Listener.Stage.RATING,
        )
        playlist.listener, playlist.status = listener, Playlist.Status.CLAIMED
        playlist.save()
        yield i, listener, playlist


#: The settings form's required fields, for tests that post it.
STUDY_FORM = {
    "title": "Close systems",
    "slug": "close-systems",
    "ratings_per_clip": 8,
    "clips_per_listener": 20,
    "training_clips": 2,
    "attention_check_rate": 0.1,
    "max_attention_failures": 1,
    "listener_timeout_minutes": 60,
}
