"""Discover plugins through entry points and load each one in isolation.

Every plugin, first-party or not, arrives the same way: an entry point in the
``hub`` group of an installed distribution. Each is imported, checked against
the contract version and asked for its components on its own; a failure at
any step marks that plugin broken with its error and drops everything it
registered, while every other plugin keeps working. Plugin authors turn
breakage into a hard error with ``HUB_STRICT_PLUGINS=1`` (``hub --strict``).

The process-wide :class:`Hub` (plugin manager + registry) is the only global
state in the package; :func:`get_hub` builds it on first use.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

import hub.hookspecs as hookspecs  # the module itself is the hookspec namespace
from .version import CONTRACT_VERSION, __version__
from .errors import PluginError, SpecError
from .registry import Component, Registry
from .specs import SPEC_TYPES, validate_spec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hub"
DIST_NAME = "zoohub"


@dataclass
class PluginInfo:
    """What ``hub plugins`` reports about one entry point."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "ok"  # "ok" | "broken" | "disabled" | "shadowed"
    error: str | None = None
    contract: str | None = None
    components: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Hub:
    """The loaded plugins and the components they registered."""

    pm: pluggy.PluginManager
    registry: Registry
    plugins: list[PluginInfo]

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status == "broken"]


class _Broken(Exception):
    """Internal: a plugin failed one loading step; the message says which."""


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> set[str]:
    return {part.strip() for part in os.environ.get(name, "").split(",") if part.strip()}


def load_hub(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    *,
    strict: bool | None = None,
    disabled: Iterable[str] | None = None,
) -> Hub:
    """Load every plugin and build a registry.

    :param entry_points: defaults to the installed ``hub`` entry points.
    :param strict: make any broken plugin fatal; defaults to ``HUB_STRICT_PLUGINS``.
    :param disabled: plugin names not to load; defaults to ``HUB_DISABLE_PLUGINS``.
    """
    strict = _env_flag("HUB_STRICT_PLUGINS") if strict is None else strict
    blocked = _env_list("HUB_DISABLE_PLUGINS") if disabled is None else set(disabled)
    eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP)) if entry_points is None else list(entry_points)

    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    infos: list[PluginInfo] = []
    seen: dict[str, PluginInfo] = {}
    for ep in sorted(eps, key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.name if dist else None,
            version=dist.version if dist else None,
        )
        if ep.name in seen:
            if seen[ep.name].module == ep.value and seen[ep.name].distribution == info.distribution:
                continue  # the same distribution seen twice on sys.path
            # Like an import, the copy earlier on sys.path wins (entry points come in path order and the sort
            # is stable); the later one is shadowed, not broken: an author's test copy of their own
            # installed plugin (hub.testing.write_plugin_dist) must not break it or be broken by it.
            first = seen[ep.name]
            info.status, info.error = "shadowed", (
                f"plugin name {ep.name!r} is also provided by {first.distribution or first.module} earlier on "
                f"sys.path, which is the one loaded; rename this entry point to load both"
            )
        elif ep.name in blocked:
            info.status = "disabled"
        else:
            try:
                registry.add_all(_load_one(pm, ep, info))
            except _Broken as exc:
                info.status, info.error = "broken", str(exc)
                if _env_flag("HUB_DEBUG") and exc.__cause__ is not None:  # the plugin's own frames, not ours
                    import traceback

                    sys.stderr.write(f"plugin {ep.name!r} failed to load; its traceback:\n"
                                     + "".join(traceback.format_exception(exc.__cause__)))
        seen.setdefault(ep.name, info)
        infos.append(info)
        if info.status == "broken":
            registry.broken[info.name] = info.error or "broken"
            log.info("plugin %s is broken: %s", info.name, info.error)
            if strict:
                raise PluginError(
                    f"plugin {info.name!r} ({_origin(info)}) is broken: {info.error} "
                    "[strict mode: unset HUB_STRICT_PLUGINS or drop --strict to load the others]"
                )
    return Hub(pm=pm, registry=registry, plugins=infos)


def _origin(info: PluginInfo) -> str:
    if info.distribution:
        return f"{info.distribution} {info.version}"
    return info.module


def _load_one(pm: pluggy.PluginManager, ep: metadata.EntryPoint, info: PluginInfo) -> list[Component]:
    try:
        plugin = ep.load()
    except Exception as exc:
        raise _Broken(f"import of {ep.value!r} failed: {type(exc).__name__}: {exc}") from exc
    _check_contract(plugin, info)
    try:
        pm.register(plugin, name=ep.name)
    except pluggy.PluginValidationError as exc:
        raise _Broken(f"invalid hook implementation: {exc}") from exc
    try:
        components = _collect(pm, ep.name)
    except _Broken:
        pm.unregister(name=ep.name)
        raise
    info.components = [f"{c.kind}:{c.name}" for c in components]
    return components


def _check_contract(plugin: Any, info: PluginInfo) -> None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    declared = getattr(plugin, "HUB_CONTRACT", None)
    if declared is None:
        raise _Broken(
            f"declares no contract range; add HUB_CONTRACT = '>={CONTRACT_VERSION},<{int(CONTRACT_VERSION.split('.')[0]) + 1}' "
            f"to {info.module!r}"
        )
    info.contract = str(declared)
    try:
        supported = SpecifierSet(str(declared))
    except InvalidSpecifier as exc:
        raise _Broken(f"HUB_CONTRACT {declared!r} is not a version range like '>=1.0,<2': {exc}") from exc
    if CONTRACT_VERSION not in supported:
        raise _Broken(
            f"supports hub contract {declared!r}, but {DIST_NAME} {__version__} provides contract "
            f"{CONTRACT_VERSION}; install a version of {info.distribution or info.name} made for it"
        )


def _collect(pm: pluggy.PluginManager, plugin_name: str) -> list[Component]:
    """Call this plugin's hooks only, validating each spec as it is registered."""
    plugin = pm.get_plugin(plugin_name)
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.spec is None:
            known = ", ".join(f"register_{k}s" for k in SPEC_TYPES)
            raise _Broken(f"implements unknown hook {caller.name!r}; the hooks are {known}")
    staged: list[Component] = []
    names: set[tuple[str, str]] = set()
    for kind in SPEC_TYPES:
        hook_name = f"register_{kind}s"

        def register(spec: Any, _kind: str = kind, _hook: str = hook_name) -> None:
            try:
                validate_spec(spec, _kind)
            except SpecError as exc:
                raise _Broken(f"{_hook} registered an invalid spec: {exc}") from None
            if (_kind, spec.name) in names:
                raise _Broken(f"{_hook} registered {_kind} {spec.name!r} twice")
            names.add((_kind, spec.name))
            staged.append(Component(kind=_kind, plugin=plugin_name, spec=spec))

        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != plugin_name:
                continue
            args = {"register": register}
            try:
                impl.function(*[args[a] for a in impl.argnames])
            except _Broken:
                raise
            except Exception as exc:
                raise _Broken(f"hook {hook_name} raised {type(exc).__name__}: {exc}") from exc
    return staged


_HUB: Hub | None = None


def get_hub() -> Hub:
    """The process-wide hub, loading plugins on first use."""
    global _HUB
    if _HUB is None:
        _HUB = load_hub()
    return _HUB


def plugin_modules() -> dict[str, str]:
    """Plugin name -> its entry point's module, for code fingerprints (hub.stages, the feature cache)."""
    return {p.name: p.module for p in get_hub().plugins}


def set_hub(hub: Hub | None) -> None:
    """Replace (or with ``None`` forget) the process-wide hub; tests use this."""
    global _HUB
    _HUB = hub

