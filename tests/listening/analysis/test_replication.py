"""The replication bundle and the recipe endpoints of the API (``listening.analysis.replication``,
``listening.api.recipes``), through the test client and ``manage.py mos_report``.

The bundle's README gives a command; this runs that very command on the unpacked files and
checks that it gives the report's numbers.
"""

from __future__ import annotations

import io
import json
import shlex
import zipfile

import pytest
from django.core.management import call_command
from django.urls import reverse

from listening.analysis.replication import REBUILD_COMMAND
from listening.models import Clip, Study
from listening.studies.settings import study_update
from tests.factories import ResearcherFactory, rated_study, response_body

NUMBERS = (
    "systems",
    "systems_after_exclusion",
    "pairs",
    "pairs_after_exclusion",
    "significance_matrix",
    "significance_matrix_after_exclusion",
    "excluded_listeners",
    "listeners",
    "sentences",
    "ratings_needed",
    "n_ratings",
    "n_listeners",
    "n_sentences",
    "n_systems",
)


def bundle(client, study: Study) -> zipfile.ZipFile:
    response = client.get(reverse("researcher:api:replication", args=[study.slug]))
    assert response.status_code == 200, response.content
    return zipfile.ZipFile(io.BytesIO(response_body(response)))


def rebuild(files: zipfile.ZipFile, folder, command: str) -> dict:
    """Run the README's ``python manage.py mos_report ...`` in ``folder`` holding the files."""
    files.extractall(folder)
    args = shlex.split(command)[2:]  # drop "python manage.py"
    args = [str(folder / a) if (folder / a).exists() else a for a in args]
    out = folder / "report-rebuilt.json"
    args[args.index("--out") + 1] = str(out)
    call_command(*args)
    return json.loads(out.read_text())


@pytest.mark.django_db
def test_the_readme_command_rebuilds_the_reports_numbers(client_ada, ada, tmp_path):
    study = rated_study(ada)
    # Rules that differ from the defaults: the straight-liner's 12 ratings are now too few
    # to flag, so only --recipe gives the site's exclusions.
    study_update(study=study, data={"screening": {"min_ratings_for_identical": 20}})
    files = bundle(client_ada, study)
    assert sorted(files.namelist()) == ["README.txt", "ratings.csv", "recipe.json", "report.json"]
    readme = files.read("README.txt").decode()
    assert REBUILD_COMMAND in readme
    site = json.loads(files.read("report.json"))
    offline = rebuild(files, tmp_path, REBUILD_COMMAND)
    for key in NUMBERS:
        assert offline[key] == site[key], key
    assert {e["listener"] for e in site["excluded_listeners"]} == {"prolific:P6"}

    without = rebuild(files, tmp_path, REBUILD_COMMAND.replace(" --recipe recipe.json", ""))
    assert without["excluded_listeners"] != site["excluded_listeners"]


@pytest.mark.django_db
def test_the_replication_bundle_waits_for_ratings(client_ada, ada):
    study = Study.objects.create(owner=ada, slug="empty", title="Empty")
    response = client_ada.get(reverse("researcher:api:replication", args=[study.slug]))
    assert response.status_code == 409
    assert "no test ratings" in response.json()["detail"]


@pytest.mark.django_db
def test_recipe_endpoints_export_and_import_for_the_owner_only(client, client_ada, ada):
    study = rated_study(ada, slug="api-recipe")
    url = reverse("researcher:api:recipe", args=[study.slug])
    recipe = json.loads(response_body(client_ada.get(url)))
    assert recipe["study"]["slug"] == "api-recipe" and len(recipe["systems"]) == 3
    zipped = response_body(client_ada.get(url + "?audio=1"))
    assert "recipe.json" in zipfile.ZipFile(io.BytesIO(zipped)).namelist()

    imports = reverse("researcher:api:study-import")
    upload = io.BytesIO(zipped)
    upload.name = "api-recipe.zip"
    response = client_ada.post(imports, {"file": upload, "slug": "api-copy"})
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "ready"
    assert Clip.objects.filter(system__study__slug="api-copy", status="ready").count() == 12

    broken = io.BytesIO(b"{not json")
    broken.name = "r.json"
    response = client_ada.post(imports, {"file": broken})
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]

    client.force_login(ResearcherFactory(username="bob"))
    assert client.get(url).status_code == 404
    assert client.get(reverse("researcher:api:replication", args=[study.slug])).status_code == 404


@pytest.mark.django_db
def test_study_and_report_pages_link_the_recipe_and_the_bundle(client_ada, ada):
    study = rated_study(ada, slug="linked")
    page = client_ada.get(reverse("researcher:study", args=[study.slug])).content.decode()
    assert reverse("researcher:api:recipe", args=[study.slug]) + "?audio=1" in page
    assert reverse("researcher:api:replication", args=[study.slug]) in page
    report = client_ada.get(reverse("study_report", args=[study.slug])).content.decode()
    assert reverse("researcher:api:replication", args=[study.slug]) in report


@pytest.mark.django_db
def test_recruitment_and_pay_are_study_settings(client_ada, ada):
    study = rated_study(ada, slug="paid")
    url = reverse("researcher:study_edit", args=[study.slug])
    form = client_ada.get(url).content.decode()
    for field in ("recruitment_platforms", "recruitment_filters", "pay_per_hour", "pay_currency"):
        assert f'name="{field}"' in form
    data = {
        "title": study.title,
        "slug": study.slug,
        "ratings_per_clip": 8,
        "clips_per_listener": 20,
        "training_clips": 3,
        "attention_check_rate": 0.1,
        "max_attention_failures": 1,
        "listener_timeout_minutes": 60,
        "screening_enabled": "on",
        "recruitment_platforms": "Prolific",
        "recruitment_filters": "First language English; UK and US",
        "pay_per_hour": "12.00",
        "pay_currency": "GBP",
    }
    response = client_ada.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    study.refresh_from_db()
    assert (study.recruitment_platforms, str(study.pay_per_hour), study.pay_currency) == (
        "Prolific",
        "12.00",
        "GBP",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "broken",
    [
        {"settings": [], "design": {}, "sentences": [], "systems": []},
        {"settings": {}, "design": {"design_seed": "x"}, "sentences": [], "systems": []},
        {"settings": {}, "design": {"design_seed": 1}, "sentences": ["s1"], "systems": []},
        {
            "settings": {"ratings_per_clip": 0},
            "design": {"design_seed": 1},
            "sentences": [],
            "systems": [],
        },
        {
            "settings": {},
            "design": {"design_seed": 1},
            "sentences": [{"key": "s1", "text": "Hi."}],
            "systems": [{"name": "a", "kind": "robot", "position": 0}],
        },
        {
            "settings": {},
            "design": {"design_seed": 1},
            "sentences": [{"key": "s1", "text": "Hi."}],
            "systems": [
                {"name": "a", "kind": "uploaded", "position": 0},
                {
                    "name": "m",
                    "kind": "anchor",
                    "position": 1,
                    "anchor": {"source": "a", "q_db": "x"},
                },
            ],
        },
    ],
)
def test_a_malformed_recipe_is_a_400_that_says_why_never_a_500(client_ada, broken):
    recipe = {"format": "harken-study-recipe", "version": 1, **broken}
    upload = io.BytesIO(json.dumps(recipe).encode())
    upload.name = "recipe.json"
    response = client_ada.post(reverse("researcher:api:study-import"), {"file": upload})
    assert response.status_code == 400, response.content
    assert response.json()
    assert not Study.objects.exists()
