"""Static files in production: hashed names, compressed copies, and JavaScript modules that
import each other by their hashed names.

Django's manifest storage rewrites ``url(...)`` in CSS but, by default, not the ``import ... from
"./player.js"`` lines of JavaScript modules: a browser would then fetch the unhashed
``player.js``, which nginx and WhiteNoise let it keep for a long time, and a new ``rate.js``
could meet yesterday's ``player.js`` after a deploy (the page's script fails to link, and the
listener is left with no working player). With the rewrite on, every import names the one
file of that release."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
