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
* Who is who: a returning listener is resumed only by the signed cookie, or by the external
  id (Prolific PID, MTurk worker id) *together with* the platform's attempt id it first came
  with (Prolific SESSION_ID, MTurk assignmentId); an external id alone is public. One listener
  per attempt (a database constraint; a race between two tabs re-fetches the winner's row).
  One place per external id: another attempt of an id that holds a live place, has rated or
  has finished is refused ("already taking part"); an attempt that only joined, consented or
  failed the headphone check blocks nobody, so nobody can use up a participant in advance.
  Claims of one id are serialised on its first listener row. Left open: someone who knows a
  participant's id and gets to the ratings before them takes that id's place (only the
  platform could tell the two apart).
* New listeners are limited per client address and per study (``limits``, Django's cache).
* The playlist is claimed only after the checks are passed (P.808 qualification comes before
  the rating job), so a listener who fails the headphone check consumes no playlist. The claim
  takes the first free playlist with ``SELECT … FOR UPDATE SKIP LOCKED`` inside a transaction
  and marks it with a conditional UPDATE, so listeners arriving at once never share a playlist
  and never wait on each other (SQLite has no SKIP LOCKED; its write lock, taken at BEGIN in
  Harken's settings, serialises claims instead). If every claimable row is locked by others
  at that instant, the claim waits for one rather than turning the listener away.
* Abandoned playlists: a playlist claimed more than ``study.listener_timeout_minutes`` ago and
  not completed goes back to the pool; so does one whose holder rated nothing within
  ``study.claim_idle_minutes`` (a script that claims places holds them only for minutes; the
  holder, back on the page, claims again if the place is still free). Lazily: a claim treats such a playlist as claimable and
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
  clip is heard before voting). The server records each page it serves (nonce, items, time:
  ``Listener.current_page``); the page's signed token names the listener, the items and the
  nonce, works once and expires with the study's listener timeout. A rating is refused before
  ``served_at + duration`` on the server's clock; ``Rating.served_at``, ``earliest_answer_at``
  and ``response_seconds`` (from ``earliest_answer_at`` to the answer) are server facts. The
  browser's play count, seconds played and end of play are kept (``client_response_seconds``)
  as information only.
* A rating is written once: the database refuses a second rating of the same item (and of the
  same clip as a test item); the service also refuses items that are not on the listener's
  current page (another playlist, a forged token, skipping ahead). Refusals change nothing.
* Comparison tests (CCR, AB, ABX, SMOS; ``Study.test_type``): a trial presents two or three
  clips (``TrialClip``), one trial per page (``views_trials``); every clip must have played to
  its end, and the answer is refused before the served time plus the sum of the trial's clip
  durations (``answers``). Their designs and checks are in ``design_trials``.
* Attention checks (P.808 gold and trapping questions, and repeated clips for consistency): a
  gold item fails when the score differs from its expected score; a repeat fails when it
  differs from the listener's test rating of the same clip by more than the study's
  ``screening["max_repeat_difference"]``. A listener failing more than
  ``study.max_attention_failures`` checks is flagged; they still complete and are paid, and the
  report's screening decides what a flag means.
"""
