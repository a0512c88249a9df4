"""Harken's JSON API (Django REST framework, token authentication, OpenAPI via drf-spectacular).

Endpoints parse and render; every action calls the service the researcher pages call
(``listening.services``), so both refuse the same things. See docs/api.md.
"""
