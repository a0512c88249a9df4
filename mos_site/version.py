"""The software a recipe or a report was made with (ITU-T P.800.2 asks for it with every MOS).

In the project, not an app, because both the studies room (recipes) and analysis (the report's
accompanying information) state it and neither may import the other.
"""

from __future__ import annotations

import platform
from importlib import metadata

import django
from django.conf import settings


def harken_version() -> str:
    """Harken's version: the installed distribution's, else the one ``pyproject.toml`` declares
    (Harken usually runs from a checkout, not an installed wheel)."""
    try:
        return metadata.version("harken")
    except metadata.PackageNotFoundError:
        pass
    try:
        text = (settings.BASE_DIR / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    for line in text.splitlines():
        if line.startswith("version"):
            return line.split("=", 1)[1].strip().strip('"')
    return "unknown"


def software_versions() -> dict[str, str]:
    return {
        "harken": harken_version(),
        "python": platform.python_version(),
        "django": django.get_version(),
    }
