"""Production static files: every JavaScript module imports the other modules by their hashed
names, so one release's pages never link against another release's cached module."""

from __future__ import annotations

import json
import re

from django.core.management import call_command
from django.test import override_settings

IMPORT_RE = re.compile(r"""^\s*import\s[^"']*from\s+["'](\.{1,2}/[^"']+)["']""", re.M)


def test_collected_modules_import_each_other_by_hashed_name(tmp_path, settings):
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "mos_site.static_storage.StaticStorage"},
    }
    with override_settings(STATIC_ROOT=str(tmp_path), STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    hashed_modules = [hashed for name, hashed in manifest.items() if name.endswith(".js")]
    imports = 0
    for hashed in hashed_modules:
        path = tmp_path / hashed
        for target in IMPORT_RE.findall(path.read_text()):
            imports += 1
            resolved = (path.parent / target).resolve().relative_to(tmp_path).as_posix()
            assert resolved in manifest.values(), f"{hashed} imports {target}, not a hashed file"
            assert (tmp_path / resolved).exists()
    # The listener pages' modules import shared ones (player, announce, follow-ups).
    assert imports >= 10
