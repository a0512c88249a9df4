"""Researchers are staff accounts (DESIGN.md): any other account sees no study, by page or API."""

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import ResearcherFactory, StudyFactory


@pytest.fixture
def study(ada):
    return StudyFactory(owner=ada, slug="ada-study", title="Ada's study")


@pytest.fixture
def plain_user(db):
    return ResearcherFactory(username="mallory", is_staff=False)


def test_a_non_staff_account_is_told_how_to_become_a_researcher(client, plain_user):
    client.force_login(plain_user)
    response = client.get("/studies/")
    assert response.status_code == 403
    assert "not a researcher account" in response.content.decode()
    assert "Staff status" in response.content.decode()


def test_a_non_staff_owner_loses_access_to_their_own_study(client, study):
    study.owner.is_staff = False
    study.owner.save()
    client.force_login(study.owner)
    assert client.get(f"/studies/{study.slug}/").status_code == 403
    assert client.get(f"/studies/{study.slug}/report/").status_code == 403
    assert "Ada&#x27;s study" not in client.get("/").content.decode()


def test_the_api_refuses_a_non_staff_token(client, plain_user, study):
    token = Token.objects.create(user=plain_user)
    response = client.get("/api/v1/studies/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 403
    assert "not a researcher account" in response.json()["detail"]


def test_a_staff_researcher_gets_in(client, study):
    client.force_login(study.owner)
    assert client.get(f"/studies/{study.slug}/").status_code == 200
