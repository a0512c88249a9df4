"""Harken's JSON API (Django REST framework, token authentication, OpenAPI via drf-spectacular).

Endpoints parse and render; every action calls the service the researcher pages call
(``listening.studies``, ``listening.analysis``), so both refuse the same things. The API
imports no view module. See docs/api.md.
"""
