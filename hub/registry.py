"""Lookup of registered components by kind and name.

Two plugins may register the same name: both are kept, and the user picks one
with the qualified name ``plugin:name``. An unqualified name that matches
more than one plugin is an error listing every candidate, never a silent pick.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import AmbiguousComponent, ComponentNotFound
from .specs import SPEC_TYPES, Spec


@dataclass(frozen=True)
class Component:
    """A spec together with the plugin that registered it."""

    kind: str
    plugin: str
    spec: Spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.spec.name}"


class Registry:
    """Components of every kind, in registration order."""

    def __init__(self) -> None:
        self._items: dict[str, list[Component]] = {kind: [] for kind in SPEC_TYPES}
        #: plugin name -> why it failed to load; a lookup that misses names them (the component may be theirs)
        self.broken: dict[str, str] = {}

    def add_all(self, components: Iterable[Component]) -> None:
        for component in components:
            self._items[component.kind].append(component)

    def all(self, kind: str | None = None) -> list[Component]:
        kinds = [kind] if kind else list(SPEC_TYPES)
        return [c for k in kinds for c in self._items[_kind(k)]]

    def list(self, kind: str | None = None, pattern: str | None = None) -> list[Component]:
        """Components of ``kind`` whose name (or qualified name) matches the glob ``pattern``."""
        items = self.all(kind)
        if not pattern:
            return items
        pat = pattern.lower()
        return [c for c in items if fnmatch.fnmatchcase(c.name, pat) or fnmatch.fnmatchcase(c.qualified_name, pat)]

    def get(self, kind: str, name: str) -> Component:
        """The one component called ``name`` (or ``plugin:name``) of ``kind``."""
        kind = _kind(kind)
        plugin, sep, bare = name.rpartition(":")
        if sep:
            found = [c for c in self._items[kind] if c.plugin == plugin and c.name == bare]
        else:
            found = [c for c in self._items[kind] if c.name == name]
        if len(found) == 1:
            return found[0]
        if found:
            choices = ", ".join(c.qualified_name for c in found)
            raise AmbiguousComponent(
                f"{kind} {name!r} is provided by {len(found)} plugins ({choices}); use a qualified name such as {found[0].qualified_name!r}"
            )
        raise ComponentNotFound(self._not_found_message(kind, name) + self._broken_note(plugin if sep else None))

    def _broken_note(self, plugin: str | None) -> str:
        if plugin is not None and plugin in self.broken:
            return f"; its plugin {plugin!r} is broken and provides nothing: {self.broken[plugin]}"
        if plugin is None and self.broken:
            why = "; ".join(f"{name}: {error}" for name, error in sorted(self.broken.items()))
            return f"; note: {len(self.broken)} broken plugin(s) registered nothing and may provide it ({why})"
        return ""

    def _not_found_message(self, kind: str, name: str) -> str:
        names = sorted({c.name for c in self._items[kind]} | {c.qualified_name for c in self._items[kind]})
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        message = f"unknown {kind} {name!r}"
        if close:
            message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        elif names:
            shown = sorted({c.name for c in self._items[kind]})
            message += f"; installed {kind}s: {', '.join(shown[:12])}{', ...' if len(shown) > 12 else ''}"
        else:
            return message + f"; no installed plugin provides any {kind} (see `hub plugins`)"
        return message + f" (see `hub list {kind}s`)"


_ALIASES = {f"{k}s": k for k in SPEC_TYPES}


def _kind(kind: str) -> str:
    kind = _ALIASES.get(kind, kind)
    if kind not in SPEC_TYPES:
        raise ValueError(f"unknown component kind {kind!r}; expected one of {', '.join(SPEC_TYPES)}")
    return kind
