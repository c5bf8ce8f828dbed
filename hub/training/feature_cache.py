"""Frozen-backbone features computed once across runs: a content-addressed cache on disk.

Feature extraction runs the frozen backbone over every split before the first
epoch (MiniLM on Rotten Tomatoes: ~45 s; SmolLM2: minutes), and a sweep over
heads, learning rates or seeds paid that again in every run. The features are
a pure function of what goes in, so they are stored under a key that hashes
exactly that:

* the backbone's weights as loaded (every tensor of its state dict — whatever
  the source: package, hub repo, `hub pretrain` output);
* the code that computes them (hub's source and the backbone plugin's package,
  the torch version: :func:`hub.fingerprints.code_fingerprint`);
* the input contract (size, normalisation, tokenizer, max length) and the
  backbone's options, the dtype and the device type;
* the split's bytes (:func:`hub.fingerprints.data_fingerprint`).

Files are safetensors written atomically under ``$HUB_FEATURE_CACHE_DIR``
(default ``~/.cache/hub/features``); the oldest are evicted beyond
``$HUB_FEATURE_CACHE_MAX_BYTES`` (default 4 GiB); ``HUB_FEATURE_CACHE=off``
turns the cache off and ``hub cache clear`` empties it. A file that does not
load or has the wrong shape is recomputed, never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `hub cache` must start without torch
    import torch

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 4 << 30


def cache_dir() -> Path:
    if os.environ.get("HUB_FEATURE_CACHE_DIR"):
        return Path(os.environ["HUB_FEATURE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hub" / "features"


def enabled() -> bool:
    return os.environ.get("HUB_FEATURE_CACHE", "on").lower() not in ("0", "off", "false", "no")


def max_bytes() -> int:
    try:
        return int(os.environ.get("HUB_FEATURE_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


def weights_digest(module: torch.nn.Module) -> str:
    """Hash of every tensor (name, dtype, shape, bytes) of ``module``'s state dict."""
    import torch

    h = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}{t.dtype}{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class FeatureCache:
    """Keys and files for one run: ``get`` / ``put`` per split, hits and misses counted for run.json."""

    def __init__(self, backbone: torch.nn.Module, *, plugin: str, plugin_module: str, contract: Any,
                 backbone_options: Any, dtype: torch.dtype | None, device: torch.device,
                 tokenizer: Path | None = None) -> None:
        from ..fingerprints import code_fingerprint, digest

        self.folder = cache_dir()
        self.stats: dict[str, list[str]] = {"hits": [], "misses": []}
        contract_dict = dataclasses.asdict(contract) if dataclasses.is_dataclass(contract) else repr(contract)
        tok = hashlib.blake2b(digest_size=16)
        if tokenizer is not None:
            folder = Path(tokenizer)
            for path in sorted(folder.glob("tokenizer*.json")) if folder.is_dir() else [folder]:
                tok.update(path.name.encode() + path.read_bytes())
        self._base = digest(weights_digest(backbone), code_fingerprint({plugin: plugin_module}), contract_dict,
                            dict(backbone_options or {}), str(dtype), device.type, tok.hexdigest())

    def key(self, split: Any, modality: str) -> str:
        from ..data import Dataset
        from ..fingerprints import data_fingerprint, digest

        one = Dataset(name="split", modality=modality, label_names=(), splits={"split": split})
        return digest(self._base, data_fingerprint(one))

    def get(self, key: str, name: str, rows: int) -> torch.Tensor | None:
        path = self.folder / f"{key}.safetensors"
        if not path.is_file():
            self.stats["misses"].append(name)
            return None
        try:
            from safetensors.torch import load_file

            features = load_file(str(path))["features"]
            if features.ndim != 2 or features.shape[0] != rows:
                raise ValueError(f"shape {tuple(features.shape)}, expected {rows} rows")
        except Exception as exc:  # damaged or foreign: recompute, and overwrite it below
            log.warning("feature cache file %s is unusable (%s); recomputing", path, exc)
            self.stats["misses"].append(name)
            return None
        os.utime(path)  # most recently used: evicted last
        self.stats["hits"].append(name)
        return features

    def put(self, key: str, features: torch.Tensor) -> None:
        from safetensors.torch import save

        from ..fsutil import atomic_write_bytes

        try:
            atomic_write_bytes(self.folder / f"{key}.safetensors", save({"features": features.contiguous()}))
            evict(self.folder, max_bytes())
        except OSError as exc:  # a full or read-only cache costs speed, never the run
            log.warning("could not store features in %s (%s); the run goes on without the cache", self.folder, exc)


def evict(folder: Path, limit: int) -> list[Path]:
    """Remove the least recently used files until the folder holds at most ``limit`` bytes."""
    files = sorted(folder.glob("*.safetensors"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in files)
    removed = []
    while files and total > limit:
        oldest = files.pop(0)
        total -= oldest.stat().st_size
        oldest.unlink(missing_ok=True)
        removed.append(oldest)
    return removed


def clear(folder: Path | None = None) -> tuple[int, int]:
    """Delete every cached feature file; returns (files, bytes) removed. Only our own ``*.safetensors``."""
    folder = folder or cache_dir()
    count = size = 0
    for path in folder.glob("*.safetensors"):
        size += path.stat().st_size
        path.unlink(missing_ok=True)
        count += 1
    return count, size


def usage(folder: Path | None = None) -> tuple[int, int]:
    folder = folder or cache_dir()
    files = list(folder.glob("*.safetensors"))
    return len(files), sum(p.stat().st_size for p in files)
