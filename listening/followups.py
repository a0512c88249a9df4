"""A study's yes/no follow-up questions ("Did you hear any mispronounced word?"): the rules of
the questions a researcher sets and of the answers a listener posts (pure: no Django).

Where it sits: ``studies.settings`` checks ``Study.followup_questions`` with
:func:`followup_questions_clean` (the settings page, the API and recipes alike); every listener
page (ACR, CMOS/AB/ABX/SMOS, MUSHRA, transcription) reads its posted answers with
:func:`followup_answers_clean`; ``analysis.stats.followups`` turns the stored answers into
proportions. A question is ``{"key": short stable name, "text": what the listener reads}``;
an answer set is ``{key: "yes" | "no"}``, one per clip answered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: At most this many questions: each is asked about every clip, and a long list turns a
#: listening test into a questionnaire (P.808 keeps a session short for the same reason).
MAX_QUESTIONS = 5
MAX_TEXT = 200
MAX_KEY = 32
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
ANSWERS = ("yes", "no")


class FollowupError(ValueError):
    """Questions or answers that break a rule; the message names the question and the fix."""


def followup_questions_clean(value: Any) -> list[dict[str, str]]:
    """The questions as ``[{"key", "text"}]``, stripped; raises FollowupError naming the
    question and the rule (no text, a line break in it, a key twice, too long, too many)."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise FollowupError("Follow-up questions must be a list of {key, text}.")
    if len(value) > MAX_QUESTIONS:
        raise FollowupError(
            f"There are {len(value)} follow-up questions; a study may ask at most "
            f"{MAX_QUESTIONS}. Remove some."
        )
    out: list[dict[str, str]] = []
    for number, question in enumerate(value, start=1):
        if not isinstance(question, Mapping):
            raise FollowupError(f"Follow-up question {number} must have a key and a text.")
        key = str(question.get("key") or "").strip()
        text = str(question.get("text") or "").strip()
        if not key:
            raise FollowupError(f"Follow-up question {number} has no key; give it a short name.")
        if len(key) > MAX_KEY or not KEY_PATTERN.match(key):
            raise FollowupError(
                f"Follow-up key {key!r} must be lower-case letters, digits and _ , starting "
                f"with a letter, at most {MAX_KEY} characters (for example mispronounced)."
            )
        if not text:
            raise FollowupError(f"Follow-up question {key!r} has no text; write the question.")
        if any(not ch.isprintable() for ch in text):
            # A line break or control character would not survive the settings page's one
            # question per line, and once answered the questions can no longer be changed.
            raise FollowupError(
                f"Follow-up question {key!r} has a line break or control character; write "
                "it on one line."
            )
        if len(text) > MAX_TEXT:
            raise FollowupError(
                f"Follow-up question {key!r} is {len(text)} characters long; at most "
                f"{MAX_TEXT}. Shorten it."
            )
        if any(q["key"] == key for q in out):
            raise FollowupError(f"Follow-up key {key!r} is used twice; each key must be unique.")
        out.append({"key": key, "text": text})
    return out


def followup_questions_parse(text: str) -> list[dict[str, str]]:
    """The settings page's text (one question a line, ``key: question text``) as questions;
    raises FollowupError naming the line that has no key."""
    questions = []
    for number, line in enumerate(str(text or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, question = line.partition(":")
        if not sep:
            raise FollowupError(
                f"Line {number} of the follow-up questions has no key: write it as "
                "'key: question text' (for example 'mispronounced: Did you hear any "
                "mispronounced word?')."
            )
        questions.append({"key": key.strip(), "text": question.strip()})
    return followup_questions_clean(questions)


def followup_questions_text(questions: list[dict[str, str]]) -> str:
    """The settings page's text of ``questions`` (the inverse of :func:`followup_questions_parse`)."""
    return "\n".join(f"{q['key']}: {q['text']}" for q in questions or [])


def followup_posted(posted: Mapping[str, Any], prefix: str, questions: list[dict]) -> dict:
    """What a form posted for one clip: ``{key: value}`` from fields ``<prefix><key>``
    (missing keys left out), for :func:`followup_answers_clean` and for a page shown again."""
    out = {}
    for question in questions or []:
        value = posted.get(f"{prefix}{question['key']}")
        if value not in (None, ""):
            out[question["key"]] = str(value).strip().lower()
    return out


def followup_answers_clean(questions: list[dict], answers: Mapping[str, Any]) -> dict[str, str]:
    """``answers`` checked against the study's ``questions``: every question answered, only
    known keys, yes or no. Returns ``{key: "yes"|"no"}``; raises FollowupError naming the
    questions left unanswered."""
    known = {q["key"] for q in questions or []}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise FollowupError(
            f"This test asks no question {', '.join(unknown)}; reload the page and answer again."
        )
    bad = sorted(k for k, v in answers.items() if str(v).strip().lower() not in ANSWERS)
    if bad:
        raise FollowupError("Please answer Yes or No to every follow-up question.")
    missing = [q["text"] for q in questions or [] if q["key"] not in answers]
    if missing:
        raise FollowupError(
            "Please answer Yes or No to every follow-up question; still open: " + "; ".join(missing)
        )
    return {q["key"]: str(answers[q["key"]]).strip().lower() for q in questions or []}
