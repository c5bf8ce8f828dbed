"""zoo.toml: the catalogue of named, ready-to-run zoo entries.

An entry names a backbone, a dataset and optionally a task and head (with
options), plus ``train``, ``export`` and ``publish`` sections::

    [entries.digits-lite0]
    backbone = "efficientnet-lite0"
    dataset = "digits"
    head = { name = "mlp", hidden = [256], dropout = 0.2 }

    [entries.digits-lite0.train]
    strategy = "feature-extraction"

Checking happens in two layers. The file's shape (TOML syntax, known keys,
types, ranges) is checked for every entry when the file is read: a typo is a
bug in the catalogue. Component names are checked per entry against the
installed plugins, so one entry whose plugin is missing does not hide the
others. Every error names the file, the line and the key path.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import HubError, ZooError
from .recipes import SECTIONS, parse_ensemble_section, ComponentRef, FieldError, Recipe, build_section, unknown_key_message
from .adapt_recipe import parse_adapt, resolve_adapt
from .component_refs import component_ref, lookup, qualified
from .distill_recipe import parse_distill, resolve_distill
from .registry import Registry
from .tomllines import locate, show_keypath  # noqa: F401 - locate stays importable from hub.zoo

ENTRY_KEYS = ("description", "backbone", "head", "task", "dataset", "tags", "train", "export", "publish", "adapt",
              "distill",
              "ensemble", "pretrain")
TOP_KEYS = ("schema", "entries")
SCHEMA_VERSION = 1
#: Backbone-table keys the hub itself reads (the input contract), not the factory;
#: ``pretrained`` and ``weights`` (where the starting weights come from) are reserved too.
INPUT_KEYS = ("image_size", "max_length")
_ENTRY_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: Budgets for an untrusted catalogue: bytes (``$HUB_ZOO_MAX_BYTES`` overrides) and nesting of
#: arrays/tables below the top level (the deepest real entry, ``entries.X.train.early_stopping``, is 4).
MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 32


def default_zoo_path() -> Path:
    """``$HUB_ZOO``, else ./zoo.toml, else the catalogue beside the hub package (source checkouts)."""
    if os.environ.get("HUB_ZOO"):
        return Path(os.environ["HUB_ZOO"])
    here = Path("zoo.toml")
    if here.is_file():
        return here
    return Path(__file__).resolve().parent.parent / "zoo.toml"


@dataclass(frozen=True)
class Entry:
    """One zoo entry before its components are checked against the registry."""

    name: str
    description: str
    backbone: ComponentRef
    dataset: ComponentRef
    task: ComponentRef | None
    head: ComponentRef | None
    pretrained: bool
    input_size: Mapping[str, int]
    tags: tuple[str, ...]
    sections: Mapping[str, Any]
    line: int | None
    ensemble: Mapping[str, Any] | None = None  # hub/pipeline_ensemble.py: members trained and averaged by `hub run`
    weights: str = ""  # backbone.weights: a `hub pretrain` output (repo@rev or folder) to start from
    pretrain: Any = None  # the [entries.X.pretrain] section (hub.pretrain.PretrainConfig), if any


class Catalogue:
    """A parsed zoo.toml; build it with :func:`load_catalogue`."""

    def __init__(self, path: Path, text: str, entries: dict[str, Entry], raw: dict[str, Any] | None = None) -> None:
        self.path = path
        self.text = text
        self.entries = entries
        self.raw = raw or {}  # the TOML tables, for command-line overrides (`hub train --set`)

    def error(self, keypath: tuple[str, ...], message: str) -> ZooError:
        line = locate(self.text, keypath)
        where = f"{self.path}:{line}" if line else str(self.path)
        error = ZooError(f"{where}: {show_keypath(keypath)}: {message}")
        error.reason = message
        return error

    def entry(self, name: str) -> Entry:
        if name not in self.entries:
            import difflib

            close = difflib.get_close_matches(name, list(self.entries), n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(map(repr, close))}?" if close else "see `hub zoo list`"
            raise ZooError(f"{self.path}: no entry named {name!r}; {hint}")
        return self.entries[name]

    def recipe(self, name: str, registry: Registry) -> Recipe:
        """The entry as a :class:`Recipe`, its components checked against ``registry``."""
        entry = self.entry(name)
        try:
            return resolve_entry(entry, registry, source=f"{self.path}:{entry.line or 0}")
        except FieldError as exc:
            raise self.error(("entries", name) + exc.path, str(exc)) from None


def load_catalogue(path: str | os.PathLike[str] | None = None) -> Catalogue:
    """Read and shape-check a zoo.toml (``path`` defaults to :func:`default_zoo_path`)."""
    path = Path(path) if path is not None else default_zoo_path()
    limit = _max_bytes()
    try:
        if path.stat().st_size > limit:
            raise ZooError(f"{path}: {path.stat().st_size} bytes is over the {limit}-byte limit for a zoo catalogue; "
                           "raise HUB_ZOO_MAX_BYTES if the file is meant to be this large")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ZooError(f"{path}: zoo catalogue not found; pass --zoo PATH or set HUB_ZOO") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ZooError(f"{path}: cannot read the zoo catalogue: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{path}:{m.group(1)}:{m.group(2)}" if m else str(path)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) if m else str(exc)
        raise ZooError(f"{where}: invalid TOML: {reason}") from None
    except RecursionError:
        raise ZooError(f"{path}: arrays or tables nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    catalogue = Catalogue(path, text, {}, raw=data.get("entries", {}) if isinstance(data.get("entries"), dict) else {})
    deep = _too_deep(data)
    if deep is not None:
        raise catalogue.error(deep, f"arrays or tables nested deeper than {MAX_DEPTH} levels; flatten them")
    for key in data:
        if key not in TOP_KEYS:
            raise catalogue.error((key,), unknown_key_message(key, list(TOP_KEYS)))
    if data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise catalogue.error(("schema",), f"schema {data['schema']!r} is not supported; this hub reads schema {SCHEMA_VERSION}")
    entries = data.get("entries", {})
    if not isinstance(entries, dict):
        raise catalogue.error(("entries",), "must be a table of entries: [entries.NAME]")
    for name, raw in entries.items():
        try:
            catalogue.entries[name] = _parse_entry(name, raw, locate(text, ("entries", name)))
        except FieldError as exc:
            raise catalogue.error(("entries", name) + exc.path, str(exc)) from None
    return catalogue


def _max_bytes() -> int:
    value = os.environ.get("HUB_ZOO_MAX_BYTES", "").strip()
    if not value:
        return MAX_BYTES
    if not value.isdigit() or int(value) < 1:
        raise ZooError(f"HUB_ZOO_MAX_BYTES={value!r}: must be a positive number of bytes")
    return int(value)


def _too_deep(data: Any, limit: int = MAX_DEPTH) -> tuple[str, ...] | None:
    """The key path of the first value nested more than ``limit`` levels, else None (iterative: no recursion)."""
    stack: list[tuple[Any, tuple[str, ...], int]] = [(data, (), 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > limit:
            return path
        if isinstance(value, dict):
            stack.extend((v, path + (str(k),), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, path, depth + 1) for v in value)
    return None


def _parse_entry(name: str, raw: Any, line: int | None) -> Entry:
    if not _ENTRY_NAME_RE.match(name):
        raise FieldError((), "entry names use lowercase letters, digits, '-' or '_' (max 64)")
    if not isinstance(raw, dict):
        raise FieldError((), "an entry must be a table: [entries.NAME]")
    for key in raw:
        if key not in ENTRY_KEYS:
            raise FieldError((key,), unknown_key_message(key, list(ENTRY_KEYS)))
    for key in ("backbone", "dataset"):
        if key not in raw:
            raise FieldError((), f"missing required key {key!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise FieldError(("description",), "must be a string")
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise FieldError(("tags",), "must be a list of strings")
    backbone = component_ref(raw["backbone"], ("backbone",))
    pretrained = backbone.options.get("pretrained", True)
    if not isinstance(pretrained, bool):
        raise FieldError(("backbone", "pretrained"), f"must be true/false, got {pretrained!r}")
    input_size = {}
    for key in INPUT_KEYS:
        if key in backbone.options:
            value = backbone.options[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 4096:
                raise FieldError(("backbone", key), f"must be an integer between 8 and 4096, got {value!r}")
            input_size[key] = value
    weights = backbone.options.get("weights", "")
    if not isinstance(weights, str) or ("weights" in backbone.options and not weights.strip()):
        raise FieldError(("backbone", "weights"), f"must name a `hub pretrain` output: \"namespace/name@revision\" "
                                                  f"or a local folder, got {weights!r}")
    if weights and not pretrained:
        raise FieldError(("backbone", "weights"), "weights name the pretrained source, but pretrained = false; "
                                                  "drop one of them")
    reserved = ("pretrained", "weights") + INPUT_KEYS
    backbone = ComponentRef(backbone.name, {k: v for k, v in backbone.options.items() if k not in reserved})
    sections = {key: build_section(cls, raw.get(key, {}), (key,)) for key, cls in SECTIONS.items()}
    sections["adapt"] = parse_adapt(raw["adapt"]) if "adapt" in raw else None
    sections["distill"] = parse_distill(raw["distill"]) if "distill" in raw else None
    pretrain = None
    if "pretrain" in raw:
        from .pretrain.config import PretrainConfig

        pretrain = build_section(PretrainConfig, raw["pretrain"], ("pretrain",))
    return Entry(
        name=name,
        description=description,
        backbone=backbone,
        dataset=component_ref(raw["dataset"], ("dataset",)),
        task=component_ref(raw["task"], ("task",)) if "task" in raw else None,
        head=component_ref(raw["head"], ("head",)) if "head" in raw else None,
        pretrained=pretrained,
        input_size=input_size,
        tags=tuple(tags),
        sections=sections,
        line=line,
        ensemble=parse_ensemble_section(raw["ensemble"]) if "ensemble" in raw else None,
        weights=weights.strip(),
        pretrain=pretrain,
    )


def resolve_entry(entry: Entry, registry: Registry, source: str = "") -> Recipe:
    """Check an entry's components against the registry and build the recipe."""
    backbone = lookup(registry, "backbone", entry.backbone, ("backbone",))
    dataset = _dataset_lookup(registry, entry.dataset, backbone.spec.modality)
    if entry.task is None:  # the dataset's own task: a name no plugin provides is the dataset plugin's mistake
        try:
            registry.get("task", dataset.spec.task)
        except HubError as exc:
            raise FieldError(("dataset",), f"dataset {dataset.qualified_name!r} declares task {dataset.spec.task!r}, "
                                           f"which is not installed ({exc}); fix task in the plugin's DatasetSpec, "
                                           "or name a task in the recipe") from None
    task_ref = entry.task or ComponentRef(dataset.spec.task)
    task = lookup(registry, "task", task_ref, ("task",))
    head_ref = entry.head or ComponentRef(task.spec.default_head)
    head = lookup(registry, "head", head_ref, ("head",))
    modality = backbone.spec.modality
    if dataset.spec.modality != modality:
        raise FieldError(
            ("dataset",),
            f"dataset {dataset.name!r} holds {dataset.spec.modality} data but backbone {backbone.name!r} reads {modality}",
        )
    wrong_key = "max_length" if modality == "image" else "image_size"
    if wrong_key in entry.input_size:
        raise FieldError(("backbone", wrong_key), f"{modality} backbone {backbone.name!r} has no {wrong_key}")
    if modality not in task.spec.modalities:
        raise FieldError(("task",), f"task {task.name!r} does not support {modality} backbones")
    if modality not in head.spec.modalities:
        raise FieldError(("head",), f"head {head.name!r} does not support {modality} backbones")
    if dataset.spec.task != task.name:
        raise FieldError(("task",), f"dataset {dataset.name!r} is labelled for task {dataset.spec.task!r}, not {task.name!r}")
    for key in dataset.spec.required_options:
        if key not in entry.dataset.options:
            raise FieldError(("dataset",), f"dataset {dataset.name!r} needs option {key!r}")
    sections = dict(entry.sections)
    sections["train"] = _resolve_augment(sections["train"], registry, modality)
    if sections.get("adapt") is not None:
        sections["adapt"] = resolve_adapt(sections["adapt"], registry, dataset, modality)
    if sections.get("distill") is not None:
        sections["distill"] = resolve_distill(sections["distill"], registry, modality)
    return Recipe(
        name=entry.name,
        description=entry.description,
        backbone=ComponentRef(backbone.qualified_name, entry.backbone.options),
        head=ComponentRef(head.qualified_name, head_ref.options),
        task=ComponentRef(task.qualified_name, task_ref.options),
        dataset=ComponentRef(dataset.qualified_name, entry.dataset.options),
        pretrained=entry.pretrained,
        weights=entry.weights,
        input_size=dict(entry.input_size),
        tags=entry.tags,
        source=source,
        **sections,
    )


def _resolve_augment(train: Any, registry: Registry, modality: str) -> Any:
    """``train.augment`` names an augmentation component (or "none"); normalise it to a qualified table."""
    if train.augment == "none":
        return train
    return dataclasses.replace(train, augment=qualified(registry, "augmentation", train.augment, ("train", "augment"),
                                                          modality))


def _dataset_lookup(registry: Registry, ref: ComponentRef, modality: str) -> Any:
    """A registered dataset, or a source reference (``hf:NS/NAME[@REV]``, ``parquet:PATH``: hub/data_sources)."""
    from .data_sources import refs

    if not refs.is_source(ref.name):
        return lookup(registry, "dataset", ref, ("dataset",))
    try:
        refs.parse(ref.name)
    except HubError as exc:
        raise FieldError(("dataset",), str(exc)) from None
    for key, problem in refs.check_options(ref.name, ref.options)[:1]:
        raise FieldError(("dataset", key), problem)
    return refs.component(ref.name, modality)


def recipe_from_table(name: str, raw: Mapping[str, Any], registry: Registry, source: str) -> Recipe:
    """A recipe from an entry table that did not come from a file (CLI flags, overrides).

    Errors name ``source`` (e.g. ``--set``) and the key path instead of a file line.
    """
    try:
        entry = _parse_entry(name, dict(raw), None)
        return resolve_entry(entry, registry, source=source)
    except FieldError as exc:
        path = show_keypath(exc.path) or name
        raise ZooError(f"{source}: {path}: {exc}") from None


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``section.key=VALUE`` (VALUE in TOML syntax, else a plain string) to an entry table."""
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise ZooError(f"--set {assignment!r}: expected KEY=VALUE, e.g. train.epochs=3")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    except RecursionError:
        parsed = None
    if parsed is None or _too_deep(parsed) is not None:
        raise ZooError(f"--set {key.strip()}: the value is nested deeper than {MAX_DEPTH} levels")
    parts = key.strip().split(".")
    table = raw
    for part in parts[:-1]:
        current = table.get(part)
        if isinstance(current, str):  # `backbone = "x"` grows into a table for an option
            current = {"name": current}
        table[part] = dict(current) if isinstance(current, dict) else {}
        table = table[part]
    table[parts[-1]] = parsed
