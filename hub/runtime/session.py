"""onnxruntime sessions for exported models, and the checks made before opening one.

This module is what a deployer's process runs, so it imports only the standard
library, numpy and (lazily) onnxruntime: no torch, no ``onnx`` package.

An ONNX file may keep its weights in "external data" files named by a
``location`` string inside the protobuf. A model downloaded from someone else
could name ``/etc/shadow`` or ``../../secret`` there and make onnxruntime read
it, so :func:`check_external_data` walks the protobuf wire format itself (a
few dozen lines, no ``onnx`` dependency) and refuses any location that is
absolute, climbs with ``..`` or resolves (through links) outside the model's
folder. Export validation uses the same function.

"Resolves" means :func:`os.path.realpath`: a ``weights.data`` that is a symlink
to ``/home/me/.ssh/id_rsa`` names a harmless string but reads that file. The
one place links may lead is the Hugging Face cache's own ``blobs`` folder, into
which the client links every snapshot file (see :func:`contained`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import HubError, RuntimeModelError, UnsafeModelError  # noqa: F401 (defined in hub.errors, importable here)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- protobuf walking

# (message kind, field number) -> kind of the embedded message we descend into.
# Numbers are from onnx/onnx.proto3 (ModelProto, GraphProto, NodeProto,
# AttributeProto, FunctionProto, SparseTensorProto, TensorProto).
_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
}


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield ``(field_number, start, end)`` of each length-delimited field in ``buf[start:end]``."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise ValueError("field runs past the end of its message")
            yield number, pos, pos + length
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire}")


def external_data_locations(data: bytes) -> list[str]:
    """Every external-data ``location`` named anywhere in a serialized ModelProto."""
    buf = memoryview(data)
    found: list[str] = []
    stack: list[tuple[str, int, int]] = [("model", 0, len(buf))]
    while stack:
        kind, start, end = stack.pop()
        if kind == "entry":  # StringStringEntryProto: key = 1, value = 2
            entry = {n: bytes(buf[s:e]).decode("utf-8", "replace") for n, s, e in _fields(buf, start, end)}
            if entry.get(1) == "location":
                found.append(entry.get(2, ""))
            continue
        children = _CHILDREN[kind]
        for number, s, e in _fields(buf, start, end):
            if number in children:
                stack.append((children[number], s, e))
    return found


def inside(folder: Path, relative: str) -> bool:
    """Whether the path string ``relative`` stays strictly inside ``folder``.

    The check is lexical (no ``..``, not absolute, no drive); :func:`contained`
    adds the check of where links lead.
    """
    if not relative or os.path.isabs(relative) or relative.startswith(("/", "\\")) or ":" in relative:
        return False
    if ".." in relative.replace("\\", "/").split("/"):
        return False
    root = os.path.normpath(os.path.abspath(folder))
    target = os.path.normpath(os.path.join(root, relative))
    return target != root and target.startswith(root + os.sep)


def _roots(folder: Path) -> list[str]:
    """Real folders a file of ``folder`` may resolve into: the folder, and a HF cache's blobs.

    The Hugging Face cache keeps ``models--ns--name/snapshots/<rev>/...`` as links into
    ``models--ns--name/blobs``; files that came through Xet link on into the cache-wide shared
    store ``<cache>/blobs/<xx>/<xet hash>`` (huggingface_hub >= 1.x). Each ``blobs`` counts only
    when it is a real folder (not itself a link somewhere else), so a hand-made look-alike layout
    grants nothing more than its folder.
    """
    here = Path(os.path.abspath(folder))
    roots = [os.path.realpath(here)]
    for ancestor in (here, *here.parents):
        if ancestor.parent.name == "snapshots":
            repo = ancestor.parent.parent
            shared = [repo.parent / "blobs"] if repo.name.startswith("models--") else []
            for blobs in (repo / "blobs", *shared):
                if blobs.is_dir() and not blobs.is_symlink() and not repo.is_symlink() \
                        and not repo.parent.is_symlink():
                    roots.append(os.path.realpath(blobs))
            break
    return roots


def contained(folder: Path, relative: str) -> bool:
    """Whether ``relative`` stays inside ``folder`` both as written and once links are resolved."""
    if not inside(folder, relative):
        return False
    target = os.path.realpath(os.path.join(os.path.abspath(folder), relative))
    return any(target.startswith(root + os.sep) for root in _roots(folder))


def check_external_data(model_path: Path) -> list[str]:
    """Refuse a model whose external data lies outside its folder; return the locations."""
    model_path = Path(model_path)
    try:
        data = model_path.read_bytes()
        locations = external_data_locations(data)
    except OSError as exc:
        raise RuntimeModelError(f"{model_path}: cannot read the model ({exc})") from None
    except ValueError as exc:
        raise RuntimeModelError(f"{model_path}: not a valid ONNX protobuf ({exc}); re-export or re-download it") from None
    for location in sorted(set(locations)):
        if not contained(model_path.parent, location):
            raise UnsafeModelError(
                f"{model_path}: external data location {location!r} points outside the model's folder "
                f"{model_path.parent}; refusing to load it (only relative paths inside that folder are allowed). "
                "Re-export the model, or get it from a source you trust"
            )
        if not (model_path.parent / location).is_file():
            raise RuntimeModelError(
                f"{model_path}: external data file {location!r} is missing; download the whole model folder"
            )
    return sorted(set(locations))


# --------------------------------------------------------------------------- sessions


def default_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it, CPU always."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def make_session(model_path: Path, providers: Sequence[str] | None = None, threads: int | None = None,
                 optimization: str = "all") -> Any:
    """An ``InferenceSession`` on a checked model file (``.onnx`` or ``.ort``)."""
    import onnxruntime as ort

    model_path = Path(model_path)
    if not model_path.is_file():
        raise RuntimeModelError(f"{model_path}: no such model file; is the export complete?")
    if model_path.suffix == ".onnx":
        check_external_data(model_path)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
    options.graph_optimization_level = levels[optimization]
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), sess_options=options,
                                    providers=list(providers or default_providers()))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise RuntimeModelError(
            f"{model_path}: onnxruntime {ort.__version__} cannot load it: {str(exc).splitlines()[0]}"
        ) from exc


def session_inputs(session: Any) -> tuple[str, ...]:
    return tuple(i.name for i in session.get_inputs())


def run(session: Any, feeds: dict[str, Any]) -> list[Any]:
    """Run with the feeds the graph declares (an exporter may drop an unused input)."""
    names = session_inputs(session)
    missing = [n for n in names if n not in feeds]
    if missing:
        raise RuntimeModelError(f"the model needs inputs {missing}, got {sorted(feeds)}")
    return session.run(None, {n: feeds[n] for n in names})
