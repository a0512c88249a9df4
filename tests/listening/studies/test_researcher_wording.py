"""What the researcher reads: one spelling of "synthesise" across the site, a distinct name for
each Copy button, and a warning when the study cannot send listeners back to Prolific."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from listening.models import Study
from tests.factories import StudyFactory

# The status value "synthesizing" is a stored identifier (and a wire value of the API); what
# people read is British, as the buttons ("Synthesise missing clips").
AMERICAN = re.compile(r"synthesiz(?!ing['\"])", re.IGNORECASE)


def test_no_template_or_script_spells_synthesise_with_a_z():
    roots = [settings.BASE_DIR / "templates", settings.BASE_DIR / "static" / "js"]
    found = [
        f"{path.relative_to(settings.BASE_DIR)}:{n}: {line.strip()}"
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.suffix in {".html", ".js"}
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if AMERICAN.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_status_badge_says_synthesising(ada, client_ada):
    study = StudyFactory(owner=ada, slug="busy", status=Study.Status.SYNTHESIZING)
    assert study.get_status_display() == "Synthesising"
    page = client_ada.get(reverse("researcher:study", kwargs={"slug": study.slug}))
    assert "Synthesising" in page.content.decode()
    status = client_ada.get(reverse("researcher:status_json", kwargs={"slug": study.slug}))
    assert status.json()["status_display"] == "Synthesising"


def _copy_button_names(html: str) -> list[str]:
    buttons = re.findall(r"<button[^>]*data-copy=[^>]*>(.*?)</button>", html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", b).split()) for b in buttons]


@pytest.mark.parametrize("url_name", ["study", "api_token"])
def test_every_copy_button_has_its_own_accessible_name(ada, client_ada, url_name):
    study = StudyFactory(owner=ada, slug="names")
    url = reverse(
        f"researcher:{url_name}",
        **({"kwargs": {"slug": study.slug}} if url_name == "study" else {}),
    )
    names = _copy_button_names(client_ada.get(url).content.decode())
    assert len(names) >= 2 and len(set(names)) == len(names), names
    assert all(name.startswith("Copy ") for name in names), names


def test_the_overview_warns_when_the_completion_url_is_missing(ada, client_ada):
    study = StudyFactory(owner=ada, slug="paid", completion_code="ABC123", completion_url="")
    url = reverse("researcher:study", kwargs={"slug": study.slug})
    html = client_ada.get(url).content.decode()
    assert "The Prolific completion URL is empty." in html
    assert reverse("researcher:study_edit", kwargs={"slug": study.slug}) in html
    Study.objects.filter(pk=study.pk).update(completion_code="")
    html = client_ada.get(url).content.decode()
    assert "Listeners finish with no completion code and no link back." in html
    Study.objects.filter(pk=study.pk).update(
        completion_code="ABC123",
        completion_url="https://app.prolific.com/submissions/complete?cc=ABC123",
    )
    assert 'id="completion-warning"' not in client_ada.get(url).content.decode()
