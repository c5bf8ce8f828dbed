"""Fingerprints of what a stage reads: recipe sections, code, data (the habit DVC's ``repro`` taught).

Foundation-level and torch-free: the stage log (:mod:`hub.stages`), the feature cache and the job
(:mod:`hub.job`) all hash with the same functions, so "unchanged" means the same thing everywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import metadata, util
from pathlib import Path
from typing import Any

import numpy as np


def digest(*parts: Any) -> str:
    """A short stable hash of JSON-able ``parts``."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def _hash_files(h: Any, root: Path, files: list[Path]) -> None:
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes())


def _sources(module: str) -> tuple[Path, list[Path]]:
    """The .py files of ``module``'s top-level package (or the one file of a plain module)."""
    try:
        found = util.find_spec(module.split(":")[0].split(".")[0])
    except (ImportError, ValueError):
        found = None
    if found is None:
        return Path("."), []
    if found.submodule_search_locations:
        root = Path(next(iter(found.submodule_search_locations)))
        return root, [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
    if found.origin and found.origin.endswith(".py"):
        origin = Path(found.origin)
        return origin.parent, [origin]
    return Path("."), []


def code_fingerprint(plugin_modules: Mapping[str, str]) -> str:
    """Hash of hub's source, the source of the plugin packages in ``plugin_modules`` (name -> module)
    and the versions of the libraries that decide what training and export produce."""
    h = hashlib.blake2b(digest_size=16)
    _hash_files(h, *_sources(__name__))
    for name in sorted(plugin_modules):
        h.update(f"plugin {name} {plugin_modules[name]}\0".encode())
        _hash_files(h, *_sources(plugin_modules[name]))
    for dist in ("torch", "onnx", "onnxruntime", "transformers", "peft"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{dist}=={version}\0".encode())
    return h.hexdigest()


def _hash_value(h: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        h.update(f"nd{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (str, bytes)):
        h.update(value.encode() if isinstance(value, str) else value)
        h.update(b"\0")
    elif isinstance(value, (list, tuple)):
        h.update(f"seq{len(value)}".encode())
        for item in value:
            _hash_value(h, item)
    elif value is None:
        h.update(b"none")
    else:
        _hash_value(h, np.asarray(value))


def _hash_inputs(h: Any, inputs: Any, modality: str) -> None:
    """Images given as file paths are hashed by content: an edited image under the same name counts."""
    if modality != "image" or isinstance(inputs, np.ndarray):
        _hash_value(h, inputs)
        return
    for item in inputs:
        if isinstance(item, np.ndarray):  # decoded images of different sizes (a parquet or dataset-repo source)
            _hash_value(h, item)
            continue
        _hash_value(h, str(item))
        try:
            h.update(Path(item).read_bytes())
        except (OSError, TypeError):
            h.update(b"unreadable")  # training reports it; the fingerprint only must not crash


def data_fingerprint(*datasets: Any) -> str:
    """Hash of every split's inputs and labels (and the label names) of each ``hub.data.Dataset``."""
    h = hashlib.blake2b(digest_size=16)
    for dataset in datasets:
        _hash_value(h, list(dataset.label_names))
        parts = {f"split {k}": v for k, v in dataset.splits.items()}
        if getattr(dataset, "unlabelled", None) is not None:
            parts["unlabelled"] = dataset.unlabelled
        for name in sorted(parts):
            h.update(f"{name}\0".encode())
            _hash_inputs(h, parts[name].inputs, dataset.modality)
            _hash_value(h, parts[name].labels)
    return h.hexdigest()
