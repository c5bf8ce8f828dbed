"""Fixtures for publishing tests: a real `hub serve`, synthetic export folders, fault injection.

The client's environment is fixed before huggingface_hub is imported: a throwaway HF_HOME (never
the user's token) and Xet cache, no ambient HF_ENDPOINT/HF_TOKEN. Xet stays on, as a stock client
has it (tests/server covers the classic LFS path with HF_HUB_DISABLE_XET=1).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.pop("HF_HUB_DISABLE_XET", None)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="hub-publish-hfhome-"))
atexit.register(shutil.rmtree, os.environ["HF_HOME"], True)
os.environ.setdefault("HF_XET_CACHE", os.path.join(os.environ["HF_HOME"], "xet"))
for _var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
    os.environ.pop(_var, None)

import json  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from huggingface_hub import HfApi, constants  # noqa: E402

from hub.server.serving import ServerHandle, start_background  # noqa: E402

TOKEN = "tok-" + uuid.uuid4().hex  # random, so a grep for it cannot match by accident
TOKENS = {TOKEN: "alice"}
BIG = 10_500_000  # > 10 MB: forces the LFS path even for text-like content


@pytest.fixture(autouse=True)
def _xet_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another test module may have turned Xet off (in the process or its environment)."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.delenv("HF_HUB_DISABLE_XET", raising=False)


@pytest.fixture
def lfs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client with Xet off: uploads and downloads over classic LFS."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


def xorbs_of(server: ServerHandle, sha256: str) -> list[Path]:
    """The stored xorbs holding the file whose sha256 is given (it must have come through Xet)."""
    import sqlite3

    db = sqlite3.connect(server.data_dir / "xet" / "index.sqlite")
    try:
        row = db.execute("SELECT terms FROM file WHERE sha256 = ?", (sha256,)).fetchone()
    finally:
        db.close()
    assert row is not None, f"{sha256} did not come through Xet"
    return [server.data_dir / "xet" / "xorbs" / x[:2] / x for x, _, _ in json.loads(row[0])]


def _lfs_object(server, sha: str) -> Path:
    return server.data_dir / "lfs" / "objects" / sha[:2] / sha[2:4] / sha


def _xet_chunk_byte(server, sha: str) -> tuple[Path, int]:
    """``(xorb, offset)`` of a byte in a chunk the file with this sha256 is rebuilt from.

    Not simply the xorb's last byte: the session's server dedups across repos, so the file's chunks
    may sit in a xorb that an earlier test uploaded, whose last chunk belongs to a file of another
    repo that this test never downloads; that, not a client cache, made the test order-dependent
    (hf_xet 1.8 keeps no chunk cache: ``chunk_cache.size_bytes`` is 0 by default, and set through
    ``HF_XET_CHUNK_CACHE_SIZE_BYTES`` it still wrote none). And a byte whose flip still decompresses
    (an LZ4 literal, not the frame's end mark) to the same length: only the sha256 can tell, as
    with the LFS object.
    """
    import sqlite3

    from hub.server.xet.formats import CHUNK_HEADER, FormatError, decompress, read_chunks

    xorb = xorbs_of(server, sha)[-1]
    db = sqlite3.connect(server.data_dir / "xet" / "index.sqlite")
    try:
        (terms,) = db.execute("SELECT terms FROM file WHERE sha256 = ?", (sha,)).fetchone()
    finally:
        db.close()
    name, _, end = json.loads(terms)[-1]
    assert name == xorb.name
    blob = xorb.read_bytes()
    chunk = read_chunks(blob)[end - 1]
    kind, payload = blob[chunk.start + 4], bytearray(blob[chunk.start + CHUNK_HEADER:chunk.end])
    good = decompress(kind, bytes(payload), chunk.size)
    for i in reversed(range(len(payload))):
        payload[i] ^= 0xFF
        try:
            if decompress(kind, bytes(payload), chunk.size) != good:
                return xorb, chunk.start + CHUNK_HEADER + i
        except FormatError:
            pass
        payload[i] ^= 0xFF
    raise AssertionError(f"no byte of chunk {end - 1} of {xorb.name} can be flipped and still decompress")


def stored_byte(server, sha: str) -> tuple[Path, int]:
    """``(file, offset)`` of a byte of the one stored copy of the file with this sha256: its LFS object
    when it came over classic LFS, else a byte of a chunk it is rebuilt from (it came through Xet)."""
    obj = _lfs_object(server, sha)
    return (obj, -1) if obj.is_file() else _xet_chunk_byte(server, sha)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("HF_ENDPOINT", "HF_TOKEN", "HUB_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = start_background(tmp_path_factory.mktemp("publish-serve"), tokens=TOKENS)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def token() -> str:
    return TOKEN


@pytest.fixture
def make_export_dir():
    return make_export


@pytest.fixture
def cli_main():
    """``hub.cli.main`` as hub/cli registers its verbs (nothing is added here, so a missing verb fails)."""
    from hub.cli import main

    return main


@pytest.fixture
def api(server: ServerHandle) -> HfApi:
    return HfApi(endpoint=server.url, token=TOKEN)


@pytest.fixture
def repo_id() -> str:
    return f"alice/model-{uuid.uuid4().hex[:8]}"


def _png(path: Path, color: tuple[int, int, int]) -> None:
    from PIL import Image

    Image.new("RGB", (32, 24), color).save(path)


def _onnx(path: Path, *, hidden: int = 4, external: bool = False) -> None:
    """A real (tiny) classifier graph: logits = pixel_values_flat @ W."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((hidden, 3)).astype(np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["pixel_values", "W"], ["logits"])], "tiny",
                              [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", hidden])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    if external:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=path.name + ".data", size_threshold=0)
    else:
        onnx.save(model, str(path))


def make_export(root: Path, *, big: bool = False, text: bool = False) -> Path:
    """A synthetic export folder in the layout `hub export` writes."""
    import numpy as np
    from onnx import numpy_helper
    from safetensors.numpy import save_file

    root.mkdir(parents=True, exist_ok=True)
    labels = ["cat", "dog", "bird"]
    # big: ~10.5 MB of weights as ONNX external data, a real model onnxruntime can load
    _onnx(root / "onnx" / "model.onnx", hidden=BIG // 12 if big else 4, external=big)
    _onnx(root / "onnx" / "model.int8-dynamic.onnx")
    save_file({"head.weight": np.ones((3, 4), np.float32)}, str(root / "model.safetensors"))
    # The shapes hub/exporting/package.py and pipeline.py write (variants keyed by name, gate entries).
    config = {
        "format": 1, "name": "cifar3-resnet18", "task": "classification",
        "pipeline_tag": "text-classification" if text else "image-classification",
        "modality": "text" if text else "image", "label_names": labels,
        "id2label": {str(i): x for i, x in enumerate(labels)},
        "preprocessing": {"kind": "text", "max_length": 64, "input_names": ["input_ids", "attention_mask"]} if text
        else {"kind": "image", "size": [24, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "backbone": {"name": "resnet18", "family": "resnet", "num_params": 11_000_000,
                     "weights": {"kind": "hf", "location": "timm/resnet18.a1_in1k", "revision": None}},
        "dataset": {"name": "cifar3", "license": "MIT", "options": {}},
        "license": "Apache-2.0", "hub_version": "0.1.0", "opset": 18, "preferred_variant": "int8-dynamic",
        "input_names": ["pixel_values"], "output_names": ["logits"],
        "variants": {"fp32": {"file": "onnx/model.onnx", "metrics": {"accuracy": 0.91}, "size_bytes": 2_000_000},
                     "int8-dynamic": {"file": "onnx/model.int8-dynamic.onnx", "metrics": {"accuracy": 0.9},
                                      "size_bytes": 500_000, "latency_ms_p50": 1.5}},
    }
    (root / "config.json").write_text(json.dumps(config, indent=2))
    (root / "run.json").write_text(json.dumps({"format": 1, "recipe": {
        "name": "cifar3-resnet18", "backbone": {"name": "resnet18", "options": {}}, "head": {"name": "linear"},
        "task": {"name": "classification"}, "dataset": {"name": "cifar3"},
        "train": {"strategy": "feature-extraction", "epochs": 3, "lr": 0.001}}, "modality": "image"}))

    def gate(variant, diff, agreement, onnx_acc):
        return {"variant": variant, "file": f"onnx/{variant}.onnx", "passed": True, "max_abs_diff": diff,
                "top1_agreement": agreement, "primary_metric": "accuracy", "metric_drop_points": 0.91 - onnx_acc,
                "metrics": {"pytorch": {"accuracy": 0.91, "macro_f1": 0.9}, "onnx": {"accuracy": onnx_acc}},
                "failures": [], "tolerance": {"atol": 1e-4}, "seconds": 0.2}

    (root / "report.json").write_text(json.dumps({  # report.json format 1 (hub/exporting/report.py)
        "format": 1, "hub_version": "0.1.0", "opset": 18, "target": "default", "split": "test",
        "gate": {"split": "test", "samples": 269, "min_samples": 50, "warn_below": 200, "criterion": "passed",
                 "allow_few_samples": False, "metric_resolution_points": 0.3717, "warnings": []},
        "variants": [gate("fp32", 1e-6, 1.0, 0.91), gate("int8-dynamic", 0.02, 0.99, 0.9)],
        "kept": ["fp32", "int8-dynamic"], "rejected": [], "preferred_variant": "int8-dynamic", "passed": True}))
    (root / "summary.json").write_text(json.dumps({"epochs": 3, "test": {"accuracy": 0.91, "macro_f1": 0.9, "loss": 0.3},
                                                   "validation": {"accuracy": 0.92}, "confusion": {}}))
    (root / "metrics.jsonl").write_text("".join(json.dumps({"epoch": i, "val_accuracy": 0.8 + i / 100}) + "\n"
                                                for i in range(3)))
    data = root / "onnx" / "test_data_set_0"
    data.mkdir(exist_ok=True)
    (data / "input_0.pb").write_bytes(numpy_helper.from_array(np.zeros((1, 4), np.float32), "pixel_values")
                                      .SerializeToString())
    (data / "output_0.pb").write_bytes(numpy_helper.from_array(np.zeros((1, 3), np.float32), "logits")
                                       .SerializeToString())
    _png(root / "curves.png", (200, 10, 10))
    _png(root / "confusion.png", (10, 10, 200))
    if text:
        (root / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "WordLevel"}}))
        (root / "tokenizer_config.json").write_text("{}")
        (root / "special_tokens_map.json").write_text("{}")
    return root


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return make_export(tmp_path / "export")


@pytest.fixture(scope="session")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_export(tmp_path_factory.mktemp("big") / "export", big=True)
