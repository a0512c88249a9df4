"""Analysis: from a study's ratings to the report a researcher downloads.

``stats`` (pure: a ratings table in, numbers out), ``render`` (JSON, CSV, HTML, SVG),
``selectors`` (the ratings table), ``reports`` (the report cache and the task that builds a
large report), ``downloads`` (ratings CSV, audio ZIP), ``views`` and ``urls`` (the report page).
"""
