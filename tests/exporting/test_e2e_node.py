"""onnxruntime-node runs the e2e graph on pixels decoded in Node by sharp and gives hub.runtime's labels.

Real parts: the npm packages `make setup` installs into tests/js (onnxruntime-node's own CPU binary,
sharp's prebuilt libvips), Node from the machine, a real export of a trained digits model."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

JS = Path(__file__).resolve().parents[1] / "js"


def _node(*args: str) -> list[dict]:
    if not shutil.which("node") or not (JS / "node_modules" / "onnxruntime-node").is_dir():
        pytest.fail("this test needs node and tests/js/node_modules (onnxruntime-node, sharp): `make setup`")
    out = subprocess.run(["node", str(JS / "e2e_labels.mjs"), *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _inputs(folder: Path, export: Path) -> list[Path]:
    """The shipped samples, plus PNGs a deployer meets: RGBA, palette, grey, 16-bit-free wide and tall RGB."""
    from PIL import Image

    config = json.loads((export / "config.json").read_text())
    paths = [export / s["file"] for s in config["samples"]]
    rng = np.random.default_rng(0)
    grey = np.asarray(Image.open(paths[0]).convert("L"))
    extra = {"rgba.png": Image.fromarray(np.dstack([np.stack([grey] * 3, -1), np.full_like(grey, 255)])),
             "palette.png": Image.fromarray(np.stack([grey] * 3, -1)).convert("P"),
             "grey-big.png": Image.fromarray(grey).resize((37, 53), Image.BILINEAR),
             "wide.png": Image.fromarray(rng.integers(0, 255, (24, 90, 3), dtype=np.uint8)),
             "tall.png": Image.fromarray(rng.integers(0, 255, (70, 20, 3), dtype=np.uint8))}
    folder.mkdir()
    for name, image in extra.items():
        image.save(folder / name)
        paths.append(folder / name)
    return paths


def test_node_runs_the_e2e_graph_on_sharp_pixels_like_the_runtime(image_export: Path, tmp_path: Path) -> None:
    import hub.runtime

    config = json.loads((image_export / "config.json").read_text())
    paths = _inputs(tmp_path / "in", image_export)
    node = _node(str(image_export / config["e2e"]["file"]), *map(str, paths))
    want = hub.runtime.load(image_export).predict(paths)
    got = [config["label_names"][a["label_id"]] for a in node]
    assert got == [w["label"] for w in want]
    for answer, expected in zip(node, want):  # and the probabilities, not just the top label
        probabilities = np.asarray(answer["probabilities"])
        assert abs(probabilities.sum() - 1) < 1e-4
        reference = np.asarray([expected["probabilities"][n] for n in config["label_names"]])
        assert np.abs(probabilities - reference).max() < 0.05
