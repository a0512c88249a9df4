"""The house rules of docs/architecture.md, read from the source with ``ast`` (nothing is imported):
which way imports point, no import circle, no module over 700 lines, and project imports at the
top of a module unless a comment says why.

A failure names the file, the line and the import, so the fix is to move the code to where the
arrow allows it (docs/architecture.md, "Where each kind of code goes"), not to loosen the rule.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("mos_site", "observability", "listening", "synthesis")
APPS = ("observability", "listening", "synthesis")
MAX_LINES = 700

# Pure cores: no Django, no Celery, no web framework, and of the project only other pure cores.
PURE = (
    "synthesis.engine",
    "listening.analysis.stats",
    "listening.screening",
    "listening.followups",
    "listening.participation.design",
    "listening.participation.design_trials",
    "listening.participation.headphones",
    "listening.objective.measure",
    "listening.objective.summary",
)
FRAMEWORKS = ("django", "rest_framework", "drf_spectacular", "celery", "kombu")

# The engine loads the models' libraries (torch, onnxruntime): it is imported where a model is
# needed, in the workers, never at import time (DESIGN.md), which its callers' docstrings say.
LAZY_BY_DESIGN = ("synthesis.engine",)


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # what it names, resolved to a module of the project where it is one
    line: int
    top_level: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name (migrations left out)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def _resolve(name: str) -> str:
    """The project module ``name`` is (or is inside), else ``name`` itself."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules():
            return ".".join(parts[:end])
    return name


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    package = module if _is_package(module) else module.rpartition(".")[0]
    top = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` and `try:` blocks at module level are top too
        if isinstance(node, ast.If | ast.Try):
            top.update(id(child) for child in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` names the module; `from module import name` the module.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            found.append(Import(module, _resolve(name), node.lineno, id(node) in top))
    return tuple(found)


def _in(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _where(imp: Import) -> str:
    return f"{modules()[imp.source].relative_to(ROOT)}:{imp.line} imports {imp.target}"


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


# --- The arrows ---------------------------------------------------------------------------------


def test_pure_cores_import_no_framework_and_only_pure_project_code():
    pure = [m for m in modules() if _in(m, PURE)]
    # Importing a pure module runs the __init__ of every package above it: those must be pure too.
    checked = sorted(set(pure) | {a for m in pure for a in _ancestors(m) if a in modules()})
    wrong = [
        _where(imp)
        for module in checked
        for imp in imports_of(module)
        if _in(imp.target, FRAMEWORKS) or (imp.target in modules() and imp.target not in checked)
    ]
    assert pure and not wrong, "\n".join(wrong)


def _offending(sources: tuple[str, ...], wrong) -> list[str]:
    """Each import, by a module under ``sources``, for which ``wrong(imp)`` holds."""
    return [
        _where(imp)
        for module in modules()
        if _in(module, sources)
        for imp in imports_of(module)
        if wrong(imp)
    ]


def test_the_project_imports_no_app():
    wrong = _offending(("mos_site",), lambda imp: _in(imp.target, APPS))
    assert not wrong, "\n".join(wrong)


def test_synthesis_reads_listening_models_and_calls_no_listening_service():
    wrong = _offending(
        ("synthesis",),
        lambda imp: _in(imp.target, ("listening",)) and imp.target != "listening.models",
    )
    assert not wrong, "\n".join(wrong)


def test_synthesis_services_import_no_celery_and_queue_nothing():
    queueing = ("celery", "kombu", "synthesis.tasks", "mos_site.celery")
    wrong = _offending(("synthesis.clips",), lambda imp: _in(imp.target, queueing))
    assert not wrong, "\n".join(wrong)


def test_the_api_imports_no_view():
    """The API calls the services the pages call; it never reaches into a page's view."""
    wrong = _offending(
        ("listening.api",),
        lambda imp: (
            imp.target in modules()
            and "views" in imp.target.split(".")
            and not _in(imp.target, ("listening.api",))
        ),
    )
    assert not wrong, "\n".join(wrong)


# The rooms of the listening app, and the rooms each may not import (docs/architecture.md).
ROOMS_NOT_IMPORTED = {
    "listening.participation": ("listening.studies", "listening.analysis", "listening.objective"),
    "listening.objective": ("listening.studies", "listening.participation", "listening.analysis"),
    "listening.analysis": ("listening.studies", "listening.participation"),
    "listening.studies": ("listening.analysis",),
}


def test_rooms_depend_one_way():
    wrong = [
        message
        for room, forbidden in ROOMS_NOT_IMPORTED.items()
        for message in _offending(
            (room,), lambda imp, forbidden=forbidden: _in(imp.target, forbidden)
        )
    ]
    # The API is the top of the house: nothing imports it (the URLconf names it by string).
    wrong += _offending(
        ("listening", "synthesis", "observability", "mos_site"),
        lambda imp: _in(imp.target, ("listening.api",)) and not _in(imp.source, ("listening.api",)),
    )
    assert not wrong, "\n".join(wrong)


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_anywhere():
    """Any import counts, at the top or inside a function: a circle is a knot either way."""
    edges: dict[str, set[str]] = {}
    for module in modules():
        for imp in imports_of(module):
            if imp.target in modules() and imp.target != module:
                edges.setdefault(module, set()).add(imp.target)
    circles = _circles(edges)
    assert not circles, "\n".join(" <-> ".join(circle) for circle in circles)


# --- The rooms ----------------------------------------------------------------------------------


def test_no_module_is_over_700_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, "\n".join(f"{name}: {n} lines" for name, n in sorted(long.items()))


_COMMENT = re.compile(r"^\s*#")


def test_project_imports_inside_functions_say_why():
    """An import inside a function hides an arrow; it stays only with a comment (on its line or
    just above) saying why, such as keeping torch out of the web process."""
    unexplained = []
    for module, path in modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for imp in imports_of(module):
            if imp.top_level or imp.target not in modules() or _in(imp.target, LAZY_BY_DESIGN):
                continue
            here = lines[imp.line - 1]
            above = lines[max(0, imp.line - 4) : imp.line - 1]
            if "#" not in here and not any(_COMMENT.match(line) for line in above):
                unexplained.append(_where(imp))
    assert not unexplained, "\n".join(unexplained)


def test_the_circle_finder_finds_a_knot():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _circles(edges) == [["a", "b", "c"], ["e"]]


def test_the_rules_read_the_whole_tree():
    """An empty or half-read tree would pass every check above."""
    expected = {"mos_site.celery", "listening.models", "synthesis.clips", "observability.metrics"}
    assert expected <= set(modules())
    assert any(imp.target == "listening.models" for imp in imports_of("synthesis.clips"))
