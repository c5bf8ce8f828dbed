"""Downloads deployers run: ONNX external data and variant files must not lead out of the folder.

A model folder is whatever a download (or an archive) produced, so a ``weights.data`` that is a
symlink to a file elsewhere would make onnxruntime read that file as weights. Only onnxruntime
1.32's own check stopped it; the hub allows older onnxruntime, so its own check must.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hub.runtime.session import UnsafeModelError, check_external_data, contained, make_session  # noqa: E402


def write_model(folder: Path) -> Path:
    """A one-node model (Y = X + W) whose initializer W lives in ``weights.data``."""
    folder.mkdir(parents=True, exist_ok=True)
    weight = numpy_helper.from_array(np.arange(4, dtype=np.float32).reshape(1, 4), "W")
    graph = helper.make_graph([helper.make_node("Add", ["X", "W"], ["Y"])], "g",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "model.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.data", size_threshold=0)
    return path


def test_plain_external_data_loads(tmp_path: Path):
    path = write_model(tmp_path / "m")
    assert check_external_data(path) == ["weights.data"]
    out = make_session(path).run(None, {"X": np.ones((1, 4), np.float32)})[0]
    assert out.tolist() == [[1, 2, 3, 4]]


def test_external_data_symlinked_outside_is_refused(tmp_path: Path):
    path = write_model(tmp_path / "m")
    outside = tmp_path / "elsewhere" / "secret.data"
    outside.parent.mkdir()
    shutil.move(path.parent / "weights.data", outside)  # same bytes: only the link is wrong
    os.symlink(outside, path.parent / "weights.data")
    with pytest.raises(UnsafeModelError, match="weights.data.*outside"):
        check_external_data(path)
    with pytest.raises(UnsafeModelError):
        make_session(path)
    os.unlink(path.parent / "weights.data")
    os.symlink(os.path.relpath(outside, path.parent), path.parent / "weights.data")  # relative link too
    with pytest.raises(UnsafeModelError):
        check_external_data(path)


def test_link_through_a_linked_subfolder_is_refused(tmp_path: Path):
    path = write_model(tmp_path / "m")
    (tmp_path / "elsewhere").mkdir()
    shutil.move(path.parent / "weights.data", tmp_path / "elsewhere" / "weights.data")
    os.symlink(tmp_path / "elsewhere", path.parent / "sub")
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "sub/weights.data"
    onnx.save_model(model, str(path))
    with pytest.raises(UnsafeModelError, match="sub/weights.data"):
        check_external_data(path)


def test_links_inside_the_folder_are_fine(tmp_path: Path):
    path = write_model(tmp_path / "m")
    (path.parent / "store").mkdir()
    shutil.move(path.parent / "weights.data", path.parent / "store" / "w.bin")
    os.symlink("store/w.bin", path.parent / "weights.data")
    assert check_external_data(path) == ["weights.data"]


def test_hugging_face_cache_layout_is_fine(tmp_path: Path):
    """Snapshots link into the cache's own blobs folder: that is the client's doing, and allowed."""
    built = write_model(tmp_path / "built")
    repo = tmp_path / "hub" / "models--a--b"
    snap = repo / "snapshots" / ("0" * 40)
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    for name, blob in (("model.onnx", "b1"), ("weights.data", "b2")):
        shutil.copy(built.parent / name, repo / "blobs" / blob)
        os.symlink(f"../../blobs/{blob}", snap / name)
    assert check_external_data(snap / "model.onnx") == ["weights.data"]
    assert make_session(snap / "model.onnx").run(None, {"X": np.zeros((1, 4), np.float32)})[0].tolist() == [[0, 1, 2, 3]]
    # ...but a blob that is itself a link out of the cache is not.
    (repo / "blobs" / "b2").unlink()
    os.symlink(built.parent / "weights.data", repo / "blobs" / "b2")
    with pytest.raises(UnsafeModelError):
        check_external_data(snap / "model.onnx")


def test_xet_shared_blob_store_layout_is_fine(tmp_path: Path):
    """huggingface_hub's Xet downloads: snapshot -> repo blobs -> the cache-wide ``blobs/<xx>/<hash>``."""
    built = write_model(tmp_path / "built")
    cache = tmp_path / "hub"
    repo = cache / "models--a--b"
    snap = repo / "snapshots" / ("0" * 40)
    for folder in (repo / "blobs", snap, cache / "blobs" / "ab"):
        folder.mkdir(parents=True, exist_ok=True)
    for name, blob in (("model.onnx", "b1"), ("weights.data", "b2")):
        shutil.copy(built.parent / name, cache / "blobs" / "ab" / f"ab{blob}")
        os.symlink(f"../../blobs/ab/ab{blob}", repo / "blobs" / blob)
        os.symlink(f"../../blobs/{blob}", snap / name)
    assert check_external_data(snap / "model.onnx") == ["weights.data"]
    # the shared store counts only for a real models--* repo folder in a real cache folder
    fake = tmp_path / "other" / "not-a-repo"
    shutil.copytree(repo, fake, symlinks=True)
    (tmp_path / "other" / "blobs").symlink_to(cache / "blobs")
    with pytest.raises(UnsafeModelError):
        check_external_data(fake / "snapshots" / ("0" * 40) / "model.onnx")


def test_a_blobs_folder_that_is_a_link_grants_nothing(tmp_path: Path):
    built = write_model(tmp_path / "built")
    fake = tmp_path / "fake"
    snap = fake / "snapshots" / "r"
    snap.mkdir(parents=True)
    os.symlink(built.parent, fake / "blobs")  # "blobs" is really some other folder
    shutil.copy(built, snap / "model.onnx")
    os.symlink("../../blobs/weights.data", snap / "weights.data")
    with pytest.raises(UnsafeModelError):
        check_external_data(snap / "model.onnx")


def test_variant_file_linked_outside_is_refused(tmp_path: Path):
    import json

    from hub import runtime

    built = write_model(tmp_path / "built")
    folder = tmp_path / "export"
    (folder / "onnx").mkdir(parents=True)
    os.symlink(built, folder / "onnx" / "model.onnx")
    (folder / "config.json").write_text(json.dumps({
        "format": 1, "label_names": ["a", "b", "c", "d"], "modality": "image",
        "preprocessing": {"kind": "image", "size": [2, 2], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        "variants": {"fp32": {"file": "onnx/model.onnx"}}}))
    with pytest.raises(UnsafeModelError, match="outside"):
        runtime.load(folder)
    assert not contained(folder, "onnx/model.onnx")
