"""/api/docs/: the API guide (docs/api.md) and a table of every endpoint, from the schema.

Served by Harken itself with no script or stylesheet from elsewhere (no Swagger UI from a CDN);
tools take the machine-readable schema from /api/schema/ (YAML, or JSON with ?format=json).
"""

from __future__ import annotations

from pathlib import Path

import markdown
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from drf_spectacular.generators import SchemaGenerator

GUIDE = Path(settings.BASE_DIR) / "docs" / "api.md"
METHODS = ("get", "post", "put", "patch", "delete")


def api_docs(request: HttpRequest) -> HttpResponse:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    endpoints = [
        {
            "method": method.upper(),
            "path": path,
            "summary": operation.get("summary") or operation.get("operationId", ""),
        }
        for path, item in schema.get("paths", {}).items()
        for method in METHODS
        if (operation := item.get(method))
    ]
    # docs/api.md is our own file, not user input: rendering it as HTML is safe.
    guide = GUIDE.read_text(encoding="utf-8") if GUIDE.exists() else ""
    html = markdown.markdown(guide, extensions=["fenced_code", "tables"])
    context = {"endpoints": endpoints, "guide": mark_safe(html), "info": schema.get("info", {})}  # noqa: S308
    return render(request, "listening/api/docs.html", context)
