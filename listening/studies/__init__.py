"""Studies: what a researcher builds, from a draft to an open test.

Services (writes, one transaction each): ``settings`` (create, change), ``sentences`` (decode,
preview, import), ``systems`` (voices, uploads, MNRU anchors), ``recordings`` (audio for
uploaded systems), ``lifecycle`` (status changes, clip rows, progress), ``launch`` (hand clips
to ``synthesis.tasks``). Reads: ``selectors``. The researcher pages: ``forms``, ``views``,
``urls``. ``demo`` is the study ``make run`` loads, of the ``harvard`` sentences.
"""
