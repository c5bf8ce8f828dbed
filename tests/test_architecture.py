"""The structure stays straight: no import circle among hub's modules, and the ``hub.*`` verbs are
plain functions whatever was imported before.

The circle check reads the source with ``ast`` (nothing is imported) and counts imports inside
functions too; only ``if TYPE_CHECKING:`` blocks are skipped. ``from pkg import name`` depends on
``pkg`` itself (its ``__init__`` runs), so a package module that imports its submodules makes every
``from . import x`` below it a dependency on all of them: keep package ``__init__`` files lean.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str = "hub") -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                for n in ast.walk(node)}
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                found = owner(target)
                if found and found != mod:
                    edges[mod].add(found)
    return edges


def _circles(edges: dict[str, set[str]], nodes: list[str]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_among_hubs_modules():
    mods = _modules()
    assert len(mods) > 100  # the walk found the package
    circles = _circles(_edges(mods), sorted(mods))
    assert circles == [], "import circles (deferred imports counted): " + "; ".join(" <-> ".join(c) for c in circles)


def test_the_guard_sees_a_circle_made_by_a_deferred_import(tmp_path, monkeypatch):
    """The check is not vacuous: a function-level import that closes a loop is found."""
    pkg = tmp_path / "hub"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub.b import thing\n")
    (pkg / "sub" / "b.py").write_text("def thing():\n    from ..a import x\n    return x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    mods = _modules()
    assert _circles(_edges(mods), sorted(mods)) == [["hub.a", "hub.sub.b"]]


def test_the_verbs_are_plain_functions_whatever_was_imported_first():
    code = ("import sys, types, hub.training.api, hub.exporting.pipeline, hub.recipes, hub.publish, hub.runtime, hub; "
            "assert all(isinstance(getattr(hub, n), types.FunctionType) "
            "for n in ('train', 'export', 'run', 'push', 'load', 'recipe')), "
            "[type(getattr(hub, n)) for n in ('train', 'export', 'run', 'push', 'load', 'recipe')]")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]


def test_architecture_doc_cites_only_files_that_exist():
    import re

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"\bhub/[\w/]+\.py\b", text)) | {p.rstrip("/") for p in re.findall(r"\bhub/[\w/]+/", text)}
    assert len(cited) > 20
    assert sorted(p for p in cited if not (ROOT / p).exists()) == []
