"""Participation: the listener's path through an open study: join, consent, questionnaire,
headphone check, playlist claim, ratings, completion. Crowdsourced ACR to ITU-T P.808 (2021).

Where it sits: ``views`` (the pages under ``/t/<slug>/``) parses each request, calls one
service and renders the result; an API or a command would call the same functions. The
services: ``checks`` (join, consent, questionnaire, headphone check), ``playlists`` (claim,
release, the listener's stage), ``ratings`` (one rating, attention checks, completion); reads
are in ``selectors`` and every refusal in ``refusals``. Playlists were precomputed by
``design`` (pure) when the study opened (``listening.studies.lifecycle.study_open``); the
headphone check's sounds come from ``headphones`` (pure); ratings written here feed
``listening.analysis`` through the reports.

Stages (``Listener.Stage``)::

    consent → questionnaire (if the study asks) → headphones (if the study asks)
            → [playlist claimed] → training → rating → completed
    exits: failed_check (the headphone check said no), no_playlist (the study is full)

Rules, and where they come from
-------------------------------
* One listener per external id and study (Prolific PID, MTurk worker id): a database
  constraint; a race between two tabs is settled by re-fetching the winner's row.
* The playlist is claimed only after the checks are passed (P.808 qualification comes before
  the rating job), so a listener who fails the headphone check consumes no playlist. The claim
  takes the first free playlist with ``SELECT … FOR UPDATE SKIP LOCKED`` inside a transaction
  and marks it with a conditional UPDATE, so listeners arriving at once never share a playlist
  and never wait on each other (SQLite has no SKIP LOCKED; its write lock, taken at BEGIN in
  Harken's settings, serialises claims instead). If every claimable row is locked by others
  at that instant, the claim waits for one rather than turning the listener away.
* Abandoned playlists: a playlist claimed more than ``study.listener_timeout_minutes`` ago and
  not completed goes back to the pool. Lazily: a claim treats such a playlist as claimable and
  takes it over with the same conditional UPDATE (counting ``times_released``), so no job is
  needed; ``playlist_release_abandoned`` frees them in bulk for a periodic job or the admin.
  The claim locks only the row it takes: releasing every abandoned playlist inside one claim
  would hide them (locked) from the listeners arriving in the same instant.
  **How ratings of a released playlist count:** the released listener's ratings stay valid
  individual ratings (they heard and rated those clips under the same conditions) and keep
  purpose "test"; the next claimant rates every item of the playlist again. Those clips may
  therefore end with more than ``ratings_per_clip`` ratings; the report counts every valid
  rating. The released listener's session ends ("your session timed out"): they are not given
  a second playlist, which could show them a sentence they already rated.
* Training items (P.808: anchoring the scale with clips spanning it) are rated first and
  stored with purpose "training"; the report ignores them.
* A rating is accepted only after the clip was played to its end (P.808 asks that the whole
  clip is heard before voting). The browser reports play count, seconds played and when the
  first full play ended, as an offset from the page the server issued; the server checks that
  enough wall time has passed since it issued the page for the clip to have played, and
  computes ``response_seconds`` from its own clock.
* A rating is written once: the database refuses a second rating of the same item (and of the
  same clip as a test item); the service also refuses items that are not on the listener's
  current page (another playlist, a forged token, skipping ahead). Refusals change nothing.
* Attention checks (P.808 gold and trapping questions, and repeated clips for consistency): a
  gold item fails when the score differs from its expected score; a repeat fails when it
  differs from the listener's test rating of the same clip by more than the study's
  ``screening["max_repeat_difference"]``. A listener failing more than
  ``study.max_attention_failures`` checks is flagged; they still complete and are paid, and the
  report's screening decides what a flag means.
"""
