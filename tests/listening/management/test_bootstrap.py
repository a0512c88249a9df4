"""`make run`'s set-up step is safe to run twice."""

import io

from django.contrib.auth import get_user_model
from django.core.management import call_command

from listening.models import Clip, Study, System
from listening.studies.demo import HARVARD_SENTENCES


def bootstrap() -> str:
    out = io.StringIO()
    call_command("harken_bootstrap", "--port", "8123", stdout=out)
    return out.getvalue()


def test_bootstrap_creates_admin_and_demo_once(db, settings):
    first = bootstrap()
    second = bootstrap()
    assert get_user_model().objects.filter(username="admin", is_superuser=True).count() == 1
    study = Study.objects.get(slug="demo")
    assert Study.objects.count() == 1
    assert study.sentences.count() == len(HARVARD_SENTENCES) == 20
    kinds = sorted(study.systems.values_list("kind", flat=True))
    assert kinds.count("anchor") == 3 and "voice" in kinds
    # A neural voice with no download: the bundled Piper voice (listening/studies/demo.py).
    assert {"piper-joe", "espeak-ng"} <= set(study.systems.values_list("name", flat=True))
    anchors = System.objects.filter(study=study, kind="anchor").order_by("anchor_q_db")
    assert [a.anchor_q_db for a in anchors] == [5.0, 15.0, 25.0]
    assert Clip.objects.filter(system__study=study).count() == 20 * study.systems.count()
    password = (settings.VAR_DIR / "admin-password.txt").read_text().strip()
    for text in (first, second):
        assert "http://127.0.0.1:8123/t/demo/" in text
        assert "http://127.0.0.1:8123/admin/" in text
        assert f"admin / {password}" in text
    assert get_user_model().objects.get(username="admin").check_password(password)
