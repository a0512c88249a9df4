"""A study's systems: synthesised with a voice, uploaded audio (another system's output or natural
reference recordings), or anchors derived from one of them: MNRU noise (ITU-T P.810) or the
MUSHRA low-pass anchors at 3.5 and 7 kHz (ITU-R BS.1534-3).

Where it sits: the researcher's systems page and the API's systems endpoints call these; every
change is refused once the test has been opened, and adding a system makes its clip rows
(``lifecycle.study_design_changed``) so the study cannot open before they are ready.
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.db import transaction

from listening.errors import ServiceError
from listening.models import Clip, Study, System
from listening.studies.lifecycle import (
    study_design_changed,
    study_lock_unfrozen,
    study_sync_status,
)
from synthesis.availability import voice_availability
from synthesis.models import Voice


def _system_clean(system: System) -> None:
    taken = System.objects.filter(study_id=system.study_id, name=system.name.strip())
    if taken.exclude(pk=system.pk).exists():
        raise ValidationError({"name": f"The study already has a system named '{system.name}'."})
    system.full_clean()


def _system_save(study: Study, system: System) -> System:
    """Check and save a new system at the end of the study's list, then make its clip rows."""
    last = study.systems.order_by("-position").values_list("position", flat=True).first()
    system.position = (last or 0) + 1
    _system_clean(system)
    system.save()
    study_design_changed(study=study)
    return system


@transaction.atomic
def system_add(
    *,
    study: Study,
    name: str,
    kind: str,
    voice: Voice | None = None,
    is_low_anchor: bool = False,
) -> System:
    """Add a system: synthesised with ``voice`` (kind "voice"), or one whose audio is uploaded
    (kind "uploaded" for another system's output, "reference" for natural recordings).
    MNRU anchors are added with ``system_add_anchor``."""
    study = study_lock_unfrozen(study, "its systems")
    if kind == System.Kind.ANCHOR:
        raise ServiceError(
            "Add an anchor with its source system: MNRU with Q (system_add_anchor), MUSHRA "
            "low-pass with system_add_lowpass_anchor."
        )
    if kind not in System.Kind.values:
        raise ValidationError({"kind": f"Unknown kind {kind!r}; use voice, uploaded or reference."})
    if kind == System.Kind.VOICE:
        if voice is None:
            raise ValidationError({"voice": "A synthesised system needs a voice."})
        if not voice.is_active:
            raise ValidationError({"voice": f"The voice '{voice.name}' is switched off."})
        # Refused now rather than after synthesis: a voice whose weights are missing fails
        # every clip (synthesis.availability checks files, hashes, formats and mel settings).
        availability = voice_availability(voice)
        if not availability.ok:
            raise ValidationError(
                {
                    "voice": f"The voice '{voice.name}' cannot synthesise on this machine: "
                    + " ".join(availability.problems)
                }
            )
    elif voice is not None:
        raise ValidationError(
            {"voice": "Only a system of kind 'voice' has a voice; uploaded systems have audio."}
        )
    system = System(
        study=study, name=name.strip(), kind=kind, voice=voice, is_low_anchor=is_low_anchor
    )
    return _system_save(study, system)


@transaction.atomic
def system_add_anchor(
    *,
    study: Study,
    source: System,
    q_db: float,
    name: str = "",
    is_low_anchor: bool = True,
) -> System:
    """Add an MNRU anchor (ITU-T P.810) derived from ``source``'s clips at ``q_db`` dB."""
    study = study_lock_unfrozen(study, "its systems")
    _check_source(study, source)
    if q_db is None or not math.isfinite(q_db) or not -10.0 <= q_db <= 60.0:
        raise ValidationError(
            {"anchor_q_db": "Q must be between -10 and 60 dB (P.810 anchors use about 5-35)."}
        )
    system = System(
        study=study,
        name=(name or f"mnru-q{q_db:g}-{source.name}")[:100].strip(),
        kind=System.Kind.ANCHOR,
        anchor_source=source,
        anchor_q_db=float(q_db),
        is_low_anchor=is_low_anchor,
    )
    return _system_save(study, system)


MUSHRA_ANCHORS = {
    # kind: (name prefix, a low anchor for the ACR screening rules?)
    System.AnchorKind.LOWPASS_7000: ("mushra-lp70", False),
    System.AnchorKind.LOWPASS_3500: ("mushra-lp35", True),
}


@transaction.atomic
def system_add_lowpass_anchor(
    *,
    study: Study,
    source: System,
    anchor_kind: str,
    name: str = "",
    is_low_anchor: bool | None = None,
) -> System:
    """Add a MUSHRA low-pass anchor (ITU-R BS.1534-3) of ``source``'s clips: ``anchor_kind``
    "lowpass3500" (the low anchor) or "lowpass7000" (the mid anchor). The clips are filtered on
    the server (``synthesis.engine.lowpass``) and loudness-normalised like every clip.
    ``is_low_anchor`` defaults to True for the 3.5 kHz anchor only."""
    study = study_lock_unfrozen(study, "its systems")
    if anchor_kind not in MUSHRA_ANCHORS:
        raise ValidationError(
            {
                "anchor_kind": "A low-pass anchor is 'lowpass3500' (3.5 kHz) or "
                "'lowpass7000' (7 kHz)."
            }
        )
    _check_source(study, source)
    prefix, low = MUSHRA_ANCHORS[anchor_kind]
    system = System(
        study=study,
        name=(name or f"{prefix}-{source.name}")[:100].strip(),
        kind=System.Kind.ANCHOR,
        anchor_source=source,
        anchor_kind=anchor_kind,
        anchor_q_db=None,
        is_low_anchor=low if is_low_anchor is None else is_low_anchor,
    )
    return _system_save(study, system)


@transaction.atomic
def system_add_mushra_anchors(*, study: Study, source: System, mid: bool = True) -> list[System]:
    """Add the MUSHRA anchors of ``source`` (the study's reference, as BS.1534-3 has them): the
    mid anchor (7 kHz) when ``mid``, then the low anchor (3.5 kHz)."""
    kinds = [System.AnchorKind.LOWPASS_7000] if mid else []
    kinds.append(System.AnchorKind.LOWPASS_3500)
    return [
        system_add_lowpass_anchor(study=study, source=source, anchor_kind=kind) for kind in kinds
    ]


def _check_source(study: Study, source: System) -> None:
    if source.study_id != study.pk:
        raise ValidationError({"anchor_source": "The source system belongs to another study."})
    if source.kind == System.Kind.ANCHOR:
        raise ValidationError({"anchor_source": "Derive anchors from a system, not an anchor."})


@transaction.atomic
def system_update(
    *,
    system: System,
    name: str | None = None,
    kind: str | None = None,
    is_low_anchor: bool | None = None,
) -> System:
    """Rename a system, switch an uploaded system between "uploaded" and "reference", or mark
    it as a low anchor (the screening rules use these marks)."""
    study_lock_unfrozen(system.study, "its systems")
    system = System.objects.select_for_update().get(pk=system.pk)
    if kind is not None and kind != system.kind:
        uploaded = {System.Kind.UPLOADED, System.Kind.REFERENCE}
        if system.kind not in uploaded or kind not in uploaded:
            raise ValidationError(
                {"kind": "Only uploaded systems switch kind (between uploaded and reference)."}
            )
        system.kind = kind
    if name is not None:
        system.name = name.strip()
    if is_low_anchor is not None:
        system.is_low_anchor = is_low_anchor
    _system_clean(system)
    system.save()
    return system


@transaction.atomic
def system_delete(*, system: System) -> None:
    """Remove a system, its clips and their audio (anchors derived from it go too)."""
    study = study_lock_unfrozen(system.study, "its systems")
    ids = [system.pk, *system.anchors.values_list("pk", flat=True)]
    for clip in Clip.objects.filter(system_id__in=ids).exclude(audio=""):
        clip.audio.delete(save=False)
    system.delete()
    # With the system gone the remaining clips may all be ready.
    if study.status == Study.Status.SYNTHESIZING:
        transaction.on_commit(lambda: study_sync_status(study=study))
