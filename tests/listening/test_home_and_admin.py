"""The front page lists the demo study; the admin has a page for every model."""

import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse

from listening.models import Study
from tests.factories import ResearcherFactory, StudyFactory


@pytest.fixture
def demo(db):
    call_command("harken_bootstrap", "--port", "8000", stdout=io.StringIO())
    return Study.objects.get(slug="demo")


def test_front_page_lists_the_demo_study(client, demo):
    response = client.get("/")
    assert response.status_code == 200
    assert demo.title in response.content.decode()


def test_researcher_sees_only_own_studies(client, demo):
    other = ResearcherFactory(username="other")
    StudyFactory(owner=other, slug="others-study", title="Other's study")
    client.force_login(other)
    page = client.get("/").content.decode()
    assert "Other&#x27;s study" in page or "Other's study" in page
    assert "others-study" in page
    # The demo shows in the public section only, not in "Your studies".
    mine = page.split('id="my-studies"')[1].split('id="public-studies"')[0]
    assert "demo" not in mine


def test_admin_answers_and_redirects_anonymous_to_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    "model",
    [m for m in apps.get_models() if m._meta.app_label in {"listening", "synthesis"}],
    ids=lambda m: m.__name__,
)
def test_every_domain_model_has_an_admin_page(admin_client, demo, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert admin_client.get(url).status_code == 200
    add = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    assert admin_client.get(add).status_code == 200
