"""Study recipes: a whole study as one JSON file, optionally bundled with its audio, and the
import that makes the same study again, on this site or another.

Where it sits: ``manage.py study_export`` / ``study_import``, the API's recipe and import
endpoints, the "New study from a recipe" page and the study page's download buttons call :func:`study_recipe`,
:func:`recipe_bundle_zip`, :func:`recipe_read` and :func:`study_import`. The replication
bundle (``listening.analysis.replication``) puts the recipe beside the ratings and the report.

Why JSON and not YAML: JSON needs only the standard library, is what every other Harken file
(the report, the API) already is, and reads back exactly what was written. YAML 1.1, which
PyYAML implements, turns unquoted sentence keys such as ``no``, ``on`` or ``1e3`` into booleans
and numbers, and a recipe must give back the same keys it was given.

What a recipe holds (``format`` / ``version`` first): the test type (ACR with its question
and scale) and the type's settings, the reference system by name (:func:`_test_section`; a
recipe written before the types were a choice has none and is an ACR study); the settings that shape the design (ratings per clip, clips per listener and page,
training clips, attention-check rate, sample rate, loudness target) and the design seed, so
the same playlists are built again (``lifecycle.study_open`` is deterministic for a seed); the
screening rules; the instructions and consent texts; the recruitment platform, its filters and
the pay; the sentences (key, text, attention-check answer); every system with its kind, its
voice (name and checkpoint sha256s) or its anchor source and Q (and kind, for a MUSHRA low-pass
anchor), and the sha256 of each clip's
audio; and the software that wrote it. The crowd platform's completion code and URL are left
out: they belong to one run on one platform (and the code is what releases the pay).

Importing (:func:`study_import`) makes a draft study (a new slug when the recipe's is taken)
with the same sentences and systems. From a bundle (:func:`recipe_bundle_zip`: ``recipe.json``
plus ``audio/<system>/<sentence>.<ext>``) every file is checked against its sha256 before
anything is written, and a changed or missing file refuses the whole import, naming the file.
An import whose every clip came with the bundle is ready at once and queues its objective
metrics as a study that finished synthesis does. Without audio, synthesised systems and
anchors are synthesised again at launch and uploaded systems wait for their recordings (the
import's notes say which); each recorded clip keeps the recipe's sha256
(``Clip.expected_sha256``) and ``recordings.system_audio_import`` refuses a file that does not
match it.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from listening.errors import ServiceError
from listening.models import Clip, Sentence, Study, System
from listening.objective.cache import study_objective_request
from listening.scales import ACR_TEST
from listening.studies.settings import TASK_FIELDS, study_create
from listening.studies.study_types import test_type_clean
from listening.studies.systems import system_add, system_add_anchor, system_add_lowpass_anchor
from mos_site.version import software_versions
from synthesis.models import Voice

RECIPE_FORMAT = "harken-study-recipe"
RECIPE_VERSION = 1
RECIPE_NAME = "recipe.json"

# Study fields a recipe carries, by section. Slug and title are the study's name, not design.
# The form's task settings, with clips_per_page after clips_per_listener (the order a recipe
# has always listed them in) and the audio settings the form does not offer.
DESIGN_SETTINGS = (
    *TASK_FIELDS[:2],
    "clips_per_page",
    *TASK_FIELDS[2:],
    "sample_rate",
    "loudness_target_lufs",
)
TEXTS = ("instructions", "consent_text")
RECRUITMENT = ("recruitment_platforms", "recruitment_filters", "pay_per_hour", "pay_currency")
VOICE_FIELDS = (
    "engine",
    "espeak_voice",
    "acoustic_bundle",
    "acoustic_sha256",
    "vocoder",
    "vocoder_sha256",
    "piper_bundle",
    "piper_model_sha256",
    "piper_config_sha256",
)
# Systems whose audio is uploaded, not made here: their clips keep the recipe's sha256.
RECORDED = (System.Kind.UPLOADED, System.Kind.REFERENCE)
# The test section's settings of a study of any type (the reference system goes by name). A
# recipe written before the test types were a choice has none of them: it is an ACR study.
TEST_SETTINGS = (
    "comparison",
    "allow_tie",
    "reference_text",
    "scale_labels",
    "followup_questions",
)
# A recipe bundle's audio is copied into a temporary file, never held whole in memory.
COPY_CHUNK = 1 << 20


class RecipeError(ServiceError):
    """A recipe or bundle that cannot be imported; the message names the cause and the fix."""


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def _sha256(clip: Clip) -> str | None:
    try:
        with clip.audio.open("rb") as handle:
            digest = hashlib.sha256()
            while chunk := handle.read(COPY_CHUNK):
                digest.update(chunk)
            return digest.hexdigest()
    except FileNotFoundError:
        return None


def _folders(systems: Iterable[System]) -> dict[int, str]:
    """A bundle folder per system: its name made safe for every file system, unique."""
    out: dict[int, str] = {}
    for system in systems:
        folder = slugify(system.name) or f"system-{system.pk}"
        while folder in out.values():
            folder = f"{folder}-{system.pk}"
        out[system.pk] = folder
    return out


def _voice(voice: Voice | None) -> dict | None:
    if voice is None:
        return None
    return {"name": voice.name, **{name: getattr(voice, name) for name in VOICE_FIELDS}}


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _test_section(study: Study) -> dict:
    """What listeners answer: ACR's full description (``listening.scales``) for an ACR study,
    the type and its name otherwise; then the type's settings, the reference system by name."""
    if study.test_type == Study.TestType.ACR:
        section: dict[str, Any] = dict(ACR_TEST)
    else:
        section = {"type": study.test_type, "name": str(Study.TestType(study.test_type).label)}
    section.update({name: getattr(study, name) for name in TEST_SETTINGS})
    reference = study.reference_system
    section["reference_system"] = reference.name if reference is not None else None
    return section


def _test_settings_from(recipe: dict) -> dict[str, Any]:
    """The study fields a recipe's test section sets (none from an old recipe: ACR)."""
    test = recipe.get("test") or {}
    test_type = test.get("type") or Study.TestType.ACR
    if test_type not in Study.TestType.values:
        raise RecipeError(
            f"test.type is {test_type!r}; Harken runs {', '.join(Study.TestType.values)}."
        )
    return {"test_type": test_type, **{k: test[k] for k in TEST_SETTINGS if k in test}}


def study_recipe(*, study: Study, with_audio: bool = False) -> dict:
    """The recipe of ``study`` as a JSON-ready dict (see the module docstring).

    Every clip is listed with its synthesis seed, a ready one with the sha256 of its file;
    ``with_audio=True`` adds the path of the file in the bundle
    (``audio/<system>/<sentence key>.<ext>``)."""
    systems = list(
        study.systems.select_related("voice", "anchor_source").order_by("position", "id")
    )
    folders = _folders(systems)
    clips: dict[int, list[dict]] = {system.pk: [] for system in systems}
    # Every clip with its synthesis seed (so a re-synthesis draws the same noise, VITS and
    # MNRU alike); a ready one also with its file's sha256 and measurements.
    every = (
        Clip.objects.filter(system__study=study)
        .select_related("sentence")
        .order_by("system_id", "sentence__position", "sentence__key")
    )
    for clip in every:
        ready = clip.status == Clip.Status.READY and bool(clip.audio)
        entry = {
            "sentence": clip.sentence.key,
            "seed": clip.seed,
            # A recorded clip still waiting for its upload keeps the sha256 its recipe gave.
            "sha256": _sha256(clip) if ready else (clip.expected_sha256 or None),
            "duration_s": clip.duration_s,
            "sample_rate": clip.sample_rate,
            "loudness_lufs": clip.loudness_lufs,
            "peak_dbfs": clip.peak_dbfs,
            "clipped": clip.clipped,
        }
        if with_audio and entry["sha256"]:
            suffix = PurePosixPath(clip.audio.name).suffix.lower() or ".flac"
            entry["file"] = f"audio/{folders[clip.system_id]}/{clip.sentence.key}{suffix}"
        clips[clip.system_id].append(entry)
    return {
        "format": RECIPE_FORMAT,
        "version": RECIPE_VERSION,
        "exported_at": timezone.now().isoformat(),
        "software": software_versions(),
        "study": {"slug": study.slug, "title": study.title},
        "test": _test_section(study),
        "settings": {name: getattr(study, name) for name in DESIGN_SETTINGS},
        "design": {"design_seed": study.design_seed},
        "screening": study.screening,
        "texts": {name: getattr(study, name) for name in TEXTS},
        "recruitment": {name: _plain(getattr(study, name)) for name in RECRUITMENT},
        "sentences": [
            {
                "key": s.key,
                "text": s.text,
                "position": s.position,
                "attention_check": s.is_attention_check,
                "expected_score": s.expected_score,
            }
            for s in study.sentences.order_by("position", "key")
        ],
        "systems": [
            {
                "name": system.name,
                "kind": system.kind,
                "position": system.position,
                "is_low_anchor": system.is_low_anchor,
                "voice": _voice(system.voice),
                "anchor": _anchor_spec(system),
                "clips": clips[system.pk],
            }
            for system in systems
        ],
    }


def _anchor_spec(system: System) -> dict[str, Any] | None:
    """An anchor's source and setting. MNRU anchors are written as before (source, q_db), so
    older recipes and their digests do not change; a low-pass anchor adds its ``kind``."""
    if system.kind != System.Kind.ANCHOR:
        return None
    spec: dict[str, Any] = {"source": system.anchor_source.name, "q_db": system.anchor_q_db}
    if system.anchor_kind != System.AnchorKind.MNRU:
        spec["kind"] = system.anchor_kind
    return spec


def recipe_json(recipe: Mapping[str, Any]) -> str:
    """A recipe as the text of ``recipe.json`` (UTF-8, keys in a fixed order, a final newline)."""
    return json.dumps(recipe, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def recipe_bundle_zip(*, study: Study) -> IO[bytes]:
    """``recipe.json`` and the audio of every ready clip, as a ZIP in an open temporary file
    positioned at 0 (deleted when closed). Audio is stored, not deflated (FLAC is compressed)."""
    recipe = study_recipe(study=study, with_audio=True)
    paths = {
        (system["name"], clip["sentence"]): clip["file"]
        for system in recipe["systems"]
        for clip in system["clips"]
        if "file" in clip
    }
    clips = Clip.objects.filter(system__study=study, status=Clip.Status.READY).exclude(audio="")
    handle = tempfile.TemporaryFile(prefix="harken-recipe-", suffix=".zip")  # noqa: SIM115
    try:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(RECIPE_NAME, recipe_json(recipe), compress_type=zipfile.ZIP_DEFLATED)
            for clip in clips.select_related("system", "sentence").iterator(chunk_size=500):
                name = paths.get((clip.system.name, clip.sentence.key))
                if name is None:  # its file went missing between the two reads
                    continue
                with clip.audio.open("rb") as source, zf.open(name, "w", force_zip64=True) as out:
                    shutil.copyfileobj(source, out, COPY_CHUNK)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle


# --------------------------------------------------------------------------------------------
# Reading a recipe or a bundle
# --------------------------------------------------------------------------------------------


@dataclass
class RecipeFile:
    """A recipe read from a file, with the bundle's audio members (path -> bytes) if any."""

    recipe: dict
    audio: dict[str, bytes] | None = None


def recipe_read(data: bytes, *, name: str = RECIPE_NAME) -> RecipeFile:
    """Read a ``recipe.json`` or a bundle ZIP (recognised by its content, not its name).

    Raises RecipeError naming the file and what is wrong with it."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
                # Sizes from the directory before anything is unpacked: a bomb stops here.
                unpacked = sum(info.file_size for info in zf.infolist())
                limit = settings.MAX_UNZIPPED_MB * (1 << 20)
                if unpacked > limit:
                    raise RecipeError(
                        f"{name} unpacks to {unpacked / (1 << 20):.0f} MB; the limit is "
                        f"{settings.MAX_UNZIPPED_MB} MB (MAX_UNZIPPED_MB)."
                    )
                if RECIPE_NAME not in names:
                    raise RecipeError(
                        f"{name} is a ZIP without {RECIPE_NAME} at its top: export the bundle "
                        "again with study_export --with-audio."
                    )
                text = zf.read(RECIPE_NAME)
                audio = {n: zf.read(n) for n in sorted(names) if n.startswith("audio/")}
        except zipfile.BadZipFile as exc:
            raise RecipeError(f"{name} is not a readable ZIP ({exc}).") from exc
        return RecipeFile(recipe=_parse(text, name), audio=audio)
    return RecipeFile(recipe=_parse(data, name))


def _parse(data: bytes, name: str) -> dict:
    try:
        recipe = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{name} is not UTF-8 text: give a recipe.json or its ZIP.") from exc
    except json.JSONDecodeError as exc:
        raise RecipeError(
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from exc
    if not isinstance(recipe, dict) or recipe.get("format") != RECIPE_FORMAT:
        raise RecipeError(
            f"{name} is not a Harken study recipe (its 'format' should be '{RECIPE_FORMAT}')."
        )
    version = recipe.get("version")
    if not isinstance(version, int) or version > RECIPE_VERSION:
        raise RecipeError(
            f"{name} is recipe version {version!r}; this Harken reads versions up to "
            f"{RECIPE_VERSION}. Update Harken, or export the study with this version."
        )
    for key in ("settings", "design", "sentences", "systems"):
        if key not in recipe:
            raise RecipeError(f"{name} has no '{key}' section: export the study again.")
    return recipe


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------


@dataclass
class RecipeImport:
    """What an import made: the study, and what the researcher still has to do."""

    study: Study
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"slug": self.study.slug, "status": self.study.status, "notes": self.notes}


def _check_audio(recipe: dict, audio: Mapping[str, bytes]) -> None:
    """Every file the recipe names is in the bundle with the sha256 the recipe gives."""
    for system in recipe["systems"]:
        for clip in system.get("clips", []):
            path = clip.get("file")
            if not path:
                continue
            if path not in audio:
                raise RecipeError(
                    f"The bundle has no {path}, which the recipe lists for system "
                    f"'{system['name']}', sentence '{clip['sentence']}': export the bundle again."
                )
            found = hashlib.sha256(audio[path]).hexdigest()
            if found != clip.get("sha256"):
                raise RecipeError(
                    f"{path} was changed after the export: its sha256 is {found}, the recipe "
                    f"says {clip.get('sha256')}. Restore the original file or export again; "
                    "nothing was imported."
                )


def _voice_for(spec: dict, system_name: str) -> Voice:
    voice = Voice.objects.filter(name=spec.get("name")).first()
    if voice is None:
        sums = ", ".join(f"{k} {spec[k]}" for k in VOICE_FIELDS if k.endswith("sha256") and spec[k])
        raise RecipeError(
            f"System '{system_name}' uses the voice '{spec.get('name')}' "
            f"({spec.get('engine')}{', ' + sums if sums else ''}), which this site does not have. "
            "Ask an administrator to add it with the same checkpoints, or import the bundle "
            "with its audio."
        )
    for key in VOICE_FIELDS:
        if key.endswith("sha256") and spec.get(key) and getattr(voice, key) != spec[key]:
            raise RecipeError(
                f"The voice '{voice.name}' here has {key} {getattr(voice, key) or '(none)'}, the "
                f"recipe's has {spec[key]}: they are different checkpoints. Add the recipe's "
                "checkpoint as a voice of that name, or import the bundle with its audio."
            )
    return voice


def _free_slug(base: str) -> str:
    base = slugify(base)[:56] or "study"
    slug, n = base, 1
    while Study.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _study_from(owner, recipe: dict, slug: str | None) -> Study:
    named = recipe.get("study", {})
    if slug is None:
        slug = _free_slug(named.get("slug") or named.get("title") or "study")
    recruitment = dict(recipe.get("recruitment") or {})
    if recruitment.get("pay_per_hour") not in (None, ""):
        try:
            recruitment["pay_per_hour"] = Decimal(str(recruitment["pay_per_hour"]))
        except InvalidOperation as exc:
            raise RecipeError(
                f"recruitment.pay_per_hour is {recruitment['pay_per_hour']!r}; give a number."
            ) from exc
    data = {
        "slug": slug,
        "title": named.get("title") or slug,
        **{k: v for k, v in recipe["settings"].items() if k in DESIGN_SETTINGS},
        **{k: v for k, v in (recipe.get("texts") or {}).items() if k in TEXTS},
        **{k: v for k, v in recruitment.items() if k in RECRUITMENT},
        "screening": recipe.get("screening"),
        **_test_settings_from(recipe),
    }
    study = study_create(owner=owner, data=data)
    # What study_create does not take (the form never offers it): set, checked and saved here.
    for name in ("clips_per_page", "sample_rate", "loudness_target_lufs"):
        if name in recipe["settings"]:
            setattr(study, name, recipe["settings"][name])
    seed = recipe["design"].get("design_seed")
    if not isinstance(seed, int):
        raise RecipeError(f"design.design_seed is {seed!r}; a recipe's seed is an integer.")
    study.design_seed = seed
    study.full_clean(exclude=["owner"])
    study.save()
    return study


def _sentences_from(study: Study, recipe: dict) -> None:
    sentences = [
        Sentence(
            study=study,
            key=item["key"],
            text=item["text"],
            position=item.get("position", i),
            expected_score=item.get("expected_score"),
        )
        for i, item in enumerate(recipe["sentences"])
    ]
    for sentence in sentences:
        sentence.full_clean(exclude=["study"], validate_unique=False)
    keys = [s.key for s in sentences]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise RecipeError(f"The recipe lists sentence keys twice: {', '.join(twice)}.")
    Sentence.objects.bulk_create(sentences)


def _all_audio_bundled(spec: dict, recipe: dict, audio: Mapping[str, bytes] | None) -> bool:
    files = {c.get("file") for c in spec.get("clips", [])} - {None}
    return bool(audio) and len(files) == len(recipe["sentences"]) and files <= set(audio)


def _systems_from(
    study: Study, recipe: dict, audio: Mapping[str, bytes] | None, notes: list[str]
) -> dict[str, System]:
    made: dict[str, System] = {}
    specs = recipe["systems"]
    # Sources before the anchors derived from them; the recipe's positions are restored after.
    for spec in sorted(specs, key=lambda s: s["kind"] == System.Kind.ANCHOR):
        kind, name = spec["kind"], spec["name"]
        if kind == System.Kind.ANCHOR:
            anchor = spec.get("anchor") or {}
            source = made.get(anchor.get("source"))
            if source is None:
                raise RecipeError(
                    f"Anchor '{name}' is derived from '{anchor.get('source')}', which the recipe "
                    "does not list."
                )
            if anchor.get("kind", System.AnchorKind.MNRU) != System.AnchorKind.MNRU:
                system = system_add_lowpass_anchor(
                    study=study,
                    source=source,
                    anchor_kind=anchor["kind"],
                    name=name,
                    is_low_anchor=spec.get("is_low_anchor"),
                )
            else:
                system = system_add_anchor(
                    study=study,
                    source=source,
                    q_db=anchor.get("q_db"),
                    name=name,
                    is_low_anchor=spec.get("is_low_anchor", True),
                )
        else:
            voice = None
            if kind == System.Kind.VOICE:
                try:
                    voice = _voice_for(spec["voice"], name)
                except RecipeError:
                    if not _all_audio_bundled(spec, recipe, audio):
                        raise
                    # Its every clip is in the bundle: the audio is what listeners hear, so the
                    # study can run without the voice, as recordings of that system.
                    kind = System.Kind.UPLOADED
                    notes.append(
                        f"System '{name}': the voice '{spec['voice'].get('name')}' is not on "
                        "this site, so its bundled audio was imported as uploaded recordings."
                    )
            system = system_add(
                study=study,
                name=name,
                kind=kind,
                voice=voice,
                is_low_anchor=spec.get("is_low_anchor", False),
            )
        made[name] = system
    for spec in specs:
        System.objects.filter(pk=made[spec["name"]].pk).update(position=spec["position"])
    return made


def _reference_from(study: Study, recipe: dict, made: dict[str, System]) -> None:
    """The reference system the recipe names, once its systems exist."""
    name = (recipe.get("test") or {}).get("reference_system")
    if not name:
        return
    if name not in made:
        raise RecipeError(
            f"test.reference_system is '{name}', which the recipe's systems do not list: name "
            "one of them, or leave it empty."
        )
    study.reference_system = test_type_clean(study, {"reference_system": made[name]})[
        "reference_system"
    ]
    study.save(update_fields=["reference_system", "updated_at"])


def _clips_from(
    study: Study, recipe: dict, made: dict[str, System], audio: Mapping[str, bytes] | None
) -> int:
    """Give each clip row the recipe's seed and, from a bundle, its audio; returns how many
    clips got audio."""
    clips = {
        (c.system_id, c.sentence.key): c
        for c in Clip.objects.filter(system__study=study).select_related("sentence")
    }
    now, stored = timezone.now(), 0
    for spec in recipe["systems"]:
        recorded = made[spec["name"]].kind in RECORDED
        for entry in spec.get("clips", []):
            clip = clips.get((made[spec["name"]].pk, entry["sentence"]))
            if clip is None:
                raise RecipeError(
                    f"System '{spec['name']}' has a clip for sentence '{entry['sentence']}', "
                    "which the recipe does not list."
                )
            if isinstance(entry.get("seed"), int):
                clip.seed = entry["seed"]
            if recorded and isinstance(entry.get("sha256"), str):
                # Later uploads of this recording are checked against it (recordings.py).
                clip.expected_sha256 = entry["sha256"]
            path = entry.get("file")
            if not path or audio is None:
                clip.save(update_fields=["seed", "expected_sha256"])
                continue
            clip.audio.save(PurePosixPath(path).name, ContentFile(audio[path]), save=False)
            clip.status = Clip.Status.READY
            for name in ("duration_s", "sample_rate", "loudness_lufs", "peak_dbfs"):
                setattr(clip, name, entry.get(name))
            clip.clipped = bool(entry.get("clipped"))
            clip.ready_at = now
            clip.save()
            stored += 1
    return stored


def _notes(study: Study, made: dict[str, System]) -> list[str]:
    waiting: dict[str, list[str]] = {}
    pending = Clip.objects.filter(system__study=study).exclude(status=Clip.Status.READY)
    # order_by(): the model's default ordering would make DISTINCT keep one row per clip.
    for system_id, kind in pending.order_by().values_list("system_id", "system__kind").distinct():
        name = next(n for n, s in made.items() if s.pk == system_id)
        waiting.setdefault(kind, []).append(name)
    notes = []
    if synth := sorted(waiting.get(System.Kind.VOICE, []) + waiting.get(System.Kind.ANCHOR, [])):
        notes.append(
            f"To synthesise (launch synthesis; same voices and seeds, but audio may differ in "
            f"the last bits between machines): {', '.join(synth)}."
        )
    if upload := sorted(
        waiting.get(System.Kind.UPLOADED, []) + waiting.get(System.Kind.REFERENCE, [])
    ):
        notes.append(
            f"Upload the recordings of {', '.join(upload)}: each file must be the one the "
            "recipe lists (its sha256 is checked, so use the files of the original study's "
            "bundle), or import the bundle with its audio."
        )
    if not notes:
        notes.append("Every clip came with the bundle: the study is ready to open.")
    return notes


@transaction.atomic
def study_import(
    *, owner, recipe: dict, audio: Mapping[str, bytes] | None = None, slug: str | None = None
) -> RecipeImport:
    """Create the study a recipe describes, owned by ``owner``; one transaction, all or nothing.

    ``audio``: a bundle's members (path -> bytes), each checked against the recipe's sha256
    before anything is written. ``slug``: the new study's slug (refused when taken); by default
    the recipe's, or ``<slug>-2``, ``-3``, ... when that is taken. Raises RecipeError (or
    ValidationError for a setting out of range) with the cause and the fix."""
    try:
        if audio:
            _check_audio(recipe, audio)
        study = _study_from(owner, recipe, slug)
        _sentences_from(study, recipe)
        notes: list[str] = []
        made = _systems_from(study, recipe, audio, notes)
        _reference_from(study, recipe, made)
        stored = _clips_from(study, recipe, made, audio or None)
    except (KeyError, TypeError, AttributeError) as exc:
        raise RecipeError(
            f"The recipe is missing or mistypes {exc}: export the study again."
        ) from exc
    total = Clip.objects.filter(system__study=study).count()
    if total and stored == total:
        Study.objects.filter(pk=study.pk).update(
            status=Study.Status.READY, updated_at=timezone.now()
        )
        # As lifecycle.study_sync_status does for a study that turns ready: its objective
        # metrics (STOI, PESQ, MCD, DNSMOS ...) are measured on the CPU queue "metrics" once this
        # commits, so the report of an imported study has them like any other.
        transaction.on_commit(lambda pk=study.pk: study_objective_request(pk))
    study.refresh_from_db()
    return RecipeImport(study=study, notes=notes + _notes(study, made))
