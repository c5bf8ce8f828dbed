"""What may be published, and the manifest that lets a pull prove it got exactly that.

Why an allow-list: a model repo is code-adjacent. Pickle-based formats (``.bin``, ``.pt``,
``.pkl``, ``.ckpt``...) execute arbitrary code when loaded, so the hub never publishes or pulls
them; everything it ships is data: safetensors, ONNX (+ external data), JSON, text, PNG and the
ONNX test-data protobufs. File names are not trusted alone: contents are sniffed for pickle/zip
magic too, so a pickle renamed to ``.json`` is still refused.

Why a manifest: the Hub client checks nothing about the bytes it downloads from a mirror or a
self-hosted server. ``hub_manifest.json`` records sha256 and size of every published file (the
generated README included); a pull verifies each file against it and refuses on any mismatch.
Its content depends only on the files (no dates), so pushing the same export twice yields the
same manifest, which is how a no-op push is detected.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import HubError, IntegrityError, PublishError, RefusedFile  # noqa: F401 (defined in hub.errors, importable here)

MANIFEST = "hub_manifest.json"
README = "README.md"
GENERATED = (README, MANIFEST)
SERVER_FILES = (".gitattributes",)  # created by the server, never ours to publish or verify
MANIFEST_FORMAT = 1

ALLOWED_SUFFIXES = (".safetensors", ".onnx", ".json", ".jsonl", ".txt", ".md", ".png", ".pb", ".tflite", ".ort")
#: onnxruntime's operator list for a reduced build, written beside an .ort model (--target ort-mobile)
ALLOWED_NAMES = ("required_operators.config",)
#: An OpenVINO IR is a graph (.xml) and its raw weights (.bin with the same stem, beside it).
OPENVINO_SUFFIXES = (".xml", ".bin")
EXTERNAL_DATA_SUFFIXES = (".onnx.data", ".onnx_data")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz",
                   ".h5", ".keras", ".msgpack", ".dill")
CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def type_problem(rel: str, siblings: Iterable[str] = ()) -> str | None:
    """Why ``rel`` (a posix path in the repo) may not be published; ``None`` when it may.

    ``siblings`` are the other paths of the set, so ``*.data`` is accepted only as the
    external data of an ONNX file in the same folder.
    """
    name = rel.rsplit("/", 1)[-1].lower()
    if name.endswith(OPENVINO_SUFFIXES):
        pair = rel[:-4] + (".xml" if name.endswith(".bin") else ".bin")
        if pair in set(siblings):
            return None
        if name.endswith(".xml"):
            return "an .xml file is only published as an OpenVINO IR graph, with its .bin weights beside it"
        # a lone .bin: most often a pickled checkpoint (pytorch_model.bin), refused as one below
    if name.endswith(PICKLE_SUFFIXES):
        return "pickle-based formats can run code when loaded; export the weights as safetensors"
    if name.startswith("."):
        return "hidden files are not published; remove it from the export folder"
    if name.endswith(ALLOWED_SUFFIXES) or name.endswith(EXTERNAL_DATA_SUFFIXES) or name in ALLOWED_NAMES:
        return None
    if name.endswith(".data"):
        folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if any(s.endswith(".onnx") and (s.rsplit("/", 1)[0] if "/" in s else "") == folder for s in siblings):
            return None
        return "a .data file is only published as the external data of an ONNX model in the same folder"
    allowed = ", ".join(ALLOWED_SUFFIXES + EXTERNAL_DATA_SUFFIXES)
    return f"not an allowed type (allowed: {allowed})"


def content_problem(path: Path) -> str | None:
    """Sniff the first bytes: pickles and zip archives (``torch.save``) are refused by content."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    name = path.name.lower()
    if name.endswith(".tflite"):
        return None if head[4:8] == b"TFL3" else "not a LiteRT/TFLite flatbuffer (no TFL3 identifier)"
    if name.endswith(".ort"):
        return None if head[4:8] == b"ORTM" else "not an onnxruntime ORT-format model (no ORTM identifier)"
    if name.endswith(".xml"):
        return None if b"<net" in path.read_bytes()[:4096] else "not an OpenVINO IR graph (no <net> element)"
    if name.endswith(".bin"):  # raw weights: any first bytes are possible, so no pickle sniff; zips are refused
        return "its content is a zip archive" if head.startswith(b"PK\x03\x04") else None
    if name.endswith(".png"):
        return None if head.startswith(b"\x89PNG\r\n\x1a\n") else "not a PNG image (bad signature)"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "its content is a Python pickle"
    if head.startswith(b"PK\x03\x04"):
        return "its content is a zip archive (torch.save checkpoints are zipped pickles)"
    if name.endswith(".safetensors"):
        if len(head) < 9 or head[8:9] != b"{":
            return "not a safetensors file (bad header)"
    return None


def check_files(root: Path | None, paths: Iterable[str], *, where: str) -> None:
    """Refuse the whole set if any file is disallowed by name or content (one error, all names).

    With ``root=None`` only names are checked (a remote listing, before downloading).
    """
    paths = list(paths)
    problems = []
    for rel in paths:
        why = type_problem(rel, paths)
        if why is None and root is not None and (root / rel).is_file():
            why = content_problem(root / rel)
        if why:
            problems.append(f"{rel}: {why}")
    if problems:
        listed = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise RefusedFile(f"{where}: refused {len(problems)} file(s): {listed}")


def collect_export(export_dir: Path) -> dict[str, Path]:
    """The files of an export (or ``hub pretrain``) folder to publish, by repo path; refuses anything disallowed.

    ``README.md`` and ``hub_manifest.json`` are generated at push time, so copies inside the
    export are replaced; ``.gitattributes`` (which a pull brings along) is the server's, so it is
    left out, and a pulled folder can be pushed again as it is. Symlinks must stay inside the folder (a link to ``~/.ssh`` is not data).
    """
    root = Path(export_dir)
    if not root.is_dir():
        raise PublishError(f"{root}: not a folder; pass the export folder written by `hub export`")
    real_root = root.resolve()
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if not path.resolve().is_relative_to(real_root):
                raise RefusedFile(f"{path}: a link pointing outside the export folder; copy the file in instead")
            if path.is_dir():
                raise RefusedFile(f"{path}: a linked folder; copy its files into the export folder instead")
            if rel not in GENERATED and rel not in SERVER_FILES:  # a pulled folder holds the server's own
                found[rel] = path
    check_files(root, found, where=str(root))
    if folder_kind(found) is None:
        raise PublishError(f"{root}: not an export folder (needs config.json and an .onnx model) nor a pre-training "
                           "output (pretrain.json and backbone.safetensors); create one with `hub export RUN_DIR` "
                           "or `hub pretrain`")
    return found


def folder_kind(files: Iterable[str]) -> str | None:
    """``"export"`` (``hub export``), ``"pretrain"`` (``hub pretrain``) or ``None`` for anything else."""
    files = set(files)
    if "config.json" in files and any(p.endswith(".onnx") for p in files):
        return "export"
    if {"pretrain.json", "backbone.safetensors"} <= files:
        return "pretrain"
    return None


def build_manifest(files: dict[str, Path], generated: dict[str, bytes]) -> dict[str, Any]:
    """``{"format", "algorithm", "files": {path: {"sha256", "size"}}}`` over files + generated bytes."""
    entries: dict[str, dict[str, Any]] = {}
    for rel, path in files.items():
        entries[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    for rel, data in generated.items():
        entries[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return {"format": MANIFEST_FORMAT, "algorithm": "sha256", "files": dict(sorted(entries.items()))}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def parse_manifest(data: bytes, *, where: str) -> dict[str, Any]:
    """Read and validate a manifest; a malformed one is an :class:`IntegrityError`."""
    try:
        manifest = json.loads(data)
        files = manifest["files"]
        ok = (manifest.get("format") == MANIFEST_FORMAT and manifest.get("algorithm") == "sha256"
              and isinstance(files, dict)
              and all(isinstance(v.get("sha256"), str) and isinstance(v.get("size"), int) for v in files.values()))
    except (ValueError, KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise IntegrityError(f"{where}: {MANIFEST} is malformed; the repo was not published by `hub push` "
                             "or was damaged; republish it")
    return manifest


def verify_tree(root: Path, manifest: dict[str, Any], *, where: str) -> int:
    """Check every file under ``root`` against ``manifest``; returns how many were verified.

    Files missing, extra, of the wrong size or sha256 are all refused, naming the file.
    """
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    present -= {MANIFEST, *SERVER_FILES}
    present = {p for p in present if not p.startswith(".cache/")}
    expected = manifest["files"]
    extra = sorted(present - set(expected))
    if extra:
        raise IntegrityError(f"{where}: {extra[0]} is not listed in {MANIFEST} "
                             f"({len(extra)} unlisted file(s)); refusing an unverifiable snapshot")
    missing = sorted(set(expected) - present)
    if missing:
        raise IntegrityError(f"{where}: {missing[0]} is listed in {MANIFEST} but missing from the snapshot")
    check_files(root, sorted(present), where=where)
    for rel in sorted(expected):
        path, want = root / rel, expected[rel]
        size = path.stat().st_size
        if size != want["size"]:
            raise IntegrityError(f"{where}: {rel} has {size} bytes, {MANIFEST} says {want['size']}; "
                                 "the download or the server copy is corrupted")
        got = sha256_file(path)
        if got != want["sha256"]:
            raise IntegrityError(f"{where}: {rel} has sha256 {got[:12]}..., {MANIFEST} says "
                                 f"{want['sha256'][:12]}...; the download or the server copy is corrupted")
    return len(expected)
