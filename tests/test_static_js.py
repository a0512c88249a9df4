"""Scripts hold no user-visible words: every sentence a page's JavaScript shows comes from the
template, translated there (data-msg-* / data-text-* attributes, static/js/shared/text.js).

The check reads every string literal of static/js (quotes and template literals, with their
${...} parts taken out) and accepts only what a script needs for the DOM: selectors, event,
tag, class and attribute names, import paths, punctuation. A literal with words in it is a
sentence a translator never sees."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

JS = Path(settings.BASE_DIR) / "static" / "js"

_LITERAL = re.compile(
    r"//[^\n]*|/\*.*?\*/"  # comments (skipped)
    r"|\"((?:\\.|[^\"\\\n])*)\"|'((?:\\.|[^'\\\n])*)'|`((?:\\.|[^`\\])*)`",
    re.S,
)
_NAME = re.compile(r"[a-z][a-z0-9_-]*")  # an event, tag, class or attribute name
_SELECTOR = re.compile(r"[a-z]*[.#\[:][^\s]*")  # "button.play", "[data-x]", "input:checked"
# One compound selector of a descendant list: ".tones", "li.on", "[data-x]", "input:checked".
_SELECTOR_PART = re.compile(
    r"(?:[a-z][a-z0-9_-]*)?(?:[.#][a-z][\w-]*|\[[^\]]+\]|:{1,2}[a-z][\w()-]*)+"
)
_HTTP_METHOD = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
_HEADER = re.compile(r"[A-Z][A-Za-z]*(-[A-Z][A-Za-z]*)+")  # "X-CSRFToken", "Retry-After"
# Literals with capitals or spaces that are not text: a key name, a selector list, class lists,
# a dataset key, request options.
_TECHNICAL = {
    "Enter",
    "button, input, a, select, textarea, label",
    "status status-",
    "reloadWhenDone",
    "application/json",
    "same-origin",
}


def literals(source: str) -> list[str]:
    found = []
    for match in _LITERAL.finditer(source):
        groups = [g for g in match.groups() if g is not None]
        if groups:
            found.append(re.sub(r"\$\{[^}]*\}", "", groups[0]))
    return found


def is_text(literal: str) -> bool:
    """Whether a literal reads as words a person is meant to see."""
    if not re.search(r"[A-Za-z]{2,}", literal) or literal in _TECHNICAL:
        return False
    if literal.startswith(("./", "../")):
        return False
    if literal in _HTTP_METHOD or _HEADER.fullmatch(literal):
        return False
    # A selector, possibly with descendants: ".tones li", "form .scale input".
    if _NAME.fullmatch(literal) or _SELECTOR.fullmatch(literal):
        return False
    parts = literal.split()
    descendants = len(parts) > 1 and any(_SELECTOR_PART.fullmatch(p) for p in parts)
    return not (
        descendants and all(_NAME.fullmatch(p) or _SELECTOR_PART.fullmatch(p) for p in parts)
    )


def test_the_check_finds_words_and_passes_the_dom_vocabulary():
    source = """const a = "Text"; say(`${label}: copied.`); q("[data-copy]"); on('click');"""
    assert [lit for lit in literals(source) if is_text(lit)] == ["Text", ": copied."]
    # Requests and descendant selectors are vocabulary; two plain words are a sentence.
    technical = """fetch(u, {method: "POST", headers: {"X-CSRFToken": t}}); q(".tones li");"""
    assert [lit for lit in literals(technical) if is_text(lit)] == []
    assert is_text("please wait") and is_text("Wait") and not is_text("li")


def test_no_script_shows_words_of_its_own():
    offending = {
        f"{path.relative_to(JS)}: {literal!r}"
        for path in sorted(JS.rglob("*.js"))
        for literal in literals(path.read_text(encoding="utf-8"))
        if is_text(literal)
    }
    assert not offending, (
        "These JavaScript strings are shown to people but never translated; put the sentence "
        "in the template with {% translate %} (a data-msg-* attribute, with {placeholders} for "
        "values: static/js/shared/text.js) and read it from the dataset:\n"
        + "\n".join(sorted(offending))
    )
