"""Every code block of a generated model card runs, as pasted, against a repo on `hub serve`, and the
plain-onnxruntime snippet gives the same top-1 as `hub.runtime` on every test sample.

Real parts throughout: a model trained by the hub's trainer, `hub export` with its gate, `hub push` to a
real `hub serve`, the card the push published, each block in a fresh Python process with only
HF_ENDPOINT pointing at the server. The image model is EfficientNet-Lite0 (bicubic, crop_pct 0.875: the
contract the first card got wrong); inputs add 16-bit, palette, RGBA, LA, 1-bit and non-square files.
The trained models are marked slow; a synthetic export with a real tiny image graph and the same
contract runs every block in the default suite.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import hub
from hub.exporting.pipeline import GateOptions, export_run
from hub.plugins import load_hub
from hub.publish import push
from hub.job import plan
from hub.training.api import train
from hub.zoo import recipe_from_table

REPO_ROOT = Path(hub.__file__).resolve().parents[1]
DOCS_SAMPLES = REPO_ROOT / "docs" / "samples"
HARNESS = "\nimport json as _j, sys as _s\nprint('@@' + _j.dumps([predict(x) for x in _j.load(open(_s.argv[1]))]))\n"


def _publish(table: dict, root: Path, server, token: str):
    registry = load_hub().registry
    recipe = recipe_from_table(root.name, table, registry, "test")
    train(recipe, root / "run", registry, progress=False)
    export_run(root / "run", root / "export", registry=registry, gate_options=GateOptions(batch_sizes=(1, 8)))
    repo = f"alice/card-{root.name}-{uuid.uuid4().hex[:6]}"
    result = push(root / "export", repo, endpoint=server.url, token=token)
    return {"export": root / "export", "repo": repo, "commit": result.commit_sha, "recipe": recipe,
            "test": plan(recipe, registry).dataset.split("test")}


@pytest.fixture(scope="module")
def image_repo(server, token, tmp_path_factory):
    table = {"backbone": {"name": "efficientnet-lite0", "image_size": 32}, "dataset": "digits",
             "train": {"epochs": 2, "lr": 0.003}}
    return _publish(table, tmp_path_factory.mktemp("card") / "digits", server, token)


@pytest.fixture(scope="module")
def text_repo(server, token, tmp_path_factory):
    from hub_text.data import rotten_tomatoes

    data = rotten_tomatoes()
    rows = tmp_path_factory.mktemp("card-data") / "reviews.jsonl"
    rows.write_text("".join(json.dumps({"text": t, "label": data.label_names[y]}) + "\n"
                            for t, y in list(zip(data.texts, data.labels))[:800]), encoding="utf-8")
    table = {"backbone": {"name": "minilm-l6", "max_length": 32},
             "dataset": {"name": "text-file", "path": str(rows)}, "train": {"epochs": 3, "lr": 0.01}}
    return _publish(table, tmp_path_factory.mktemp("card") / "reviews", server, token)


def _env(server, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=server.url, HF_HOME=str(tmp_path / "hf-home"),
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    return env


def _card(server, repo: str, commit: str, tmp_path: Path) -> str:
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(repo, "README.md", revision=commit, endpoint=server.url, cache_dir=tmp_path / "c")
    return Path(path).read_text(encoding="utf-8")


def _blocks(card: str) -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", card, re.S)


def _python(code: str, env: dict, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, f"snippet failed:\n{code}\n--- stderr ---\n{out.stderr[-3000:]}"
    return out.stdout.strip().splitlines()[-1]


def _bash(code: str, env: dict) -> None:
    """Install lines are run by pip, as a dry run against what is installed (offline, changes nothing)."""
    for line in code.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = shlex.split(line)
        assert words[:2] == ["pip", "install"], f"unexpected shell line in the card: {line}"
        out = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "-q",
                              "--disable-pip-version-check", *words[2:]], capture_output=True, text=True, env=env,
                             timeout=300)
        assert out.returncode == 0, f"{line}: {out.stderr[-2000:]}"


def _node(code: str, env: dict, tmp_path: Path) -> str:
    """A card's JavaScript block as a Node ES module, with the npm packages `make setup` installs."""
    import shutil

    modules = REPO_ROOT / "tests" / "js" / "node_modules"
    if not shutil.which("node") or not (modules / "onnxruntime-node").is_dir() or not (modules / "sharp").is_dir():
        pytest.fail("the Node card test needs node and tests/js/node_modules (onnxruntime-node, sharp): `make setup`")
    folder = tmp_path / "node-snippet"
    folder.mkdir(exist_ok=True)
    (folder / "node_modules").unlink(missing_ok=True)
    (folder / "node_modules").symlink_to(modules)
    (folder / "main.mjs").write_text(code, encoding="utf-8")
    out = subprocess.run(["node", "main.mjs"], cwd=folder, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, f"snippet failed:\n{code}\n--- stderr ---\n{out.stderr[-3000:]}"
    return out.stdout.strip().splitlines()[-1]


def _run_every_block(published, server, tmp_path: Path) -> tuple[str, dict, list[str]]:
    """Run each block as pasted; every block must print the runtime's label for the sample.

    Returns the plain-onnxruntime block (the fallback with the preprocessing spelled out), the
    environment, and the e2e Python block when the card leads with one (else ``None``).
    """
    from hub.runtime import load

    env = _env(server, tmp_path)
    card = _card(server, published["repo"], published["commit"], tmp_path)
    blocks = _blocks(card)
    config = json.loads((published["export"] / "config.json").read_text())
    e2e = bool(config.get("e2e"))
    node = e2e and config["e2e"].get("input", {}).get("dtype") != "string"  # text: no Node block (no extensions)
    want = ["bash", "python", *(["javascript"] if node else []), "python", "python"] if e2e else ["bash", "python", "python"]
    assert [lang for lang, _ in blocks] == want, card
    deployed = load(published["export"])
    sample = config["samples"][0]
    raw = (published["export"] / sample["file"])
    expected = deployed.predict(raw.read_text(encoding="utf-8") if raw.suffix == ".txt" else raw)[0]["label"]
    assert sample["file"] in card
    _bash(blocks[0][1], env)
    lead = None
    if e2e:
        lead = blocks[1][1]
        assert _python(lead, env) == expected
        if node:
            assert _node(blocks[2][1], env, tmp_path).rsplit(" ", 1)[0] == expected
        blocks = [blocks[0], *blocks[3 if node else 2:]]
    assert _python(blocks[1][1], env).rsplit(" ", 1)[0] == expected
    assert _python(blocks[2][1], env) == expected
    return blocks[2][1], env, lead


def _image_inputs(folder: Path, grey: np.ndarray) -> list[str]:
    """``grey`` (N, H, W) uint8 as PNGs, plus files in other modes and shapes, plus docs/samples."""
    from PIL import Image

    folder.mkdir()
    paths = []
    for i, pixels in enumerate(grey):
        Image.fromarray(pixels).save(folder / f"{i}.png")
        paths.append(str(folder / f"{i}.png"))
    rng = np.random.default_rng(0)
    extra = {
        "sixteen.png": Image.fromarray(grey[0].astype(np.uint16) * 257),
        "sixteen-b.png": Image.fromarray((grey[1].astype(np.uint16) << 8) | 0x7F),
        "rgb-wide.png": Image.fromarray(rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)),
        "rgb-tall.png": Image.fromarray(rng.integers(0, 255, (50, 20, 3), dtype=np.uint8)),
        "rgba.png": Image.fromarray(rng.integers(0, 255, (30, 30, 4), dtype=np.uint8)),
        "la.png": Image.fromarray(rng.integers(0, 255, (16, 12, 2), dtype=np.uint8), "LA"),
        "palette.png": Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).convert("P"),
        "bits.png": Image.fromarray(grey[2]).convert("1"),
    }
    for name, image in extra.items():
        image.save(folder / name)
        paths.append(str(folder / name))
    return paths + sorted(str(p) for p in DOCS_SAMPLES.glob("*.png"))


def _compare_images(published, server, tmp_path: Path, grey: np.ndarray) -> list[str]:
    from hub.runtime import load

    plain, env, lead = _run_every_block(published, server, tmp_path)
    paths = _image_inputs(tmp_path / "inputs", grey)
    (tmp_path / "inputs.json").write_text(json.dumps(paths))
    snippet = json.loads(_python(plain + HARNESS, env, str(tmp_path / "inputs.json")).removeprefix("@@"))
    runtime = [r["label"] for r in load(published["export"]).predict(paths)]
    disagree = [(Path(p).name, s, r) for p, s, r in zip(paths, snippet, runtime) if s != r]
    assert not disagree, f"{len(disagree)} of {len(paths)} differ (file, snippet, runtime): {disagree[:10]}"
    if lead is not None:  # the e2e graph resamples in onnxruntime: one uint8 step on a few pixels may differ
        e2e = json.loads(_python(lead.rsplit("\nprint(", 1)[0] + HARNESS, env,
                                 str(tmp_path / "inputs.json")).removeprefix("@@"))
        differ = [(Path(p).name, s, r) for p, s, r in zip(paths, e2e, runtime) if s != r]
        assert len(differ) <= len(paths) // 20, f"e2e vs runtime, {len(differ)} of {len(paths)}: {differ[:10]}"
    return runtime


@pytest.fixture
def tiny_image_repo(server, token, tmp_path, make_export_dir):
    """A synthetic export with a real (tiny) image graph and the lite0 contract: runs in seconds."""
    from onnx import TensorProto, helper, numpy_helper
    from PIL import Image

    export = make_export_dir(tmp_path / "tiny")
    w = numpy_helper.from_array(np.random.default_rng(3).standard_normal((3 * 24 * 32, 3)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["pixel_values"], ["flat"]), helper.make_node("MatMul", ["flat", "W"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 24, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    import onnx

    onnx.save(model, str(export / "onnx" / "model.onnx"))
    (export / "onnx" / "model.int8-dynamic.onnx").unlink()
    (export / "samples").mkdir()
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
        export / "samples" / "0.png")
    config = json.loads((export / "config.json").read_text())
    config["preprocessing"].update(interpolation="bicubic", crop_pct=0.875)
    config["variants"].pop("int8-dynamic")
    config.update(preferred_variant="fp32", samples=[{"file": "samples/0.png", "label": "dog"}])
    from hub.exporting.e2e import build_e2e, contract_entry

    build_e2e(export / "onnx" / "model.onnx", export / "onnx" / "model_e2e.onnx",
              {k: v for k, v in config["preprocessing"].items() if k != "kind"})
    config["e2e"] = contract_entry(3)
    (export / "config.json").write_text(json.dumps(config))
    repo = f"alice/card-tiny-{uuid.uuid4().hex[:6]}"
    return {"export": export, "repo": repo, "commit": push(export, repo, endpoint=server.url, token=token).commit_sha}


def test_tiny_image_card_blocks_run_and_match_runtime(tiny_image_repo, server, tmp_path):
    grey = np.random.default_rng(5).integers(0, 255, (24, 8, 8), dtype=np.uint8)
    assert len(set(_compare_images(tiny_image_repo, server, tmp_path, grey))) > 1


@pytest.mark.slow  # trains and exports EfficientNet-Lite0: minutes on a loaded 2-core machine
def test_image_card_blocks_run_and_match_runtime_on_every_test_sample(image_repo, server, tmp_path):
    runtime = _compare_images(image_repo, server, tmp_path, image_repo["test"].inputs)
    assert len(set(runtime)) > 3  # a real model, not one that answers the same class for everything


@pytest.mark.slow  # MiniLM training + export: minutes on a loaded 2-core machine
def test_text_card_blocks_run_and_match_runtime_on_every_test_sample(text_repo, server, tmp_path):
    from hub.runtime import load

    plain, env, _ = _run_every_block(text_repo, server, tmp_path)
    texts = list(text_repo["test"].inputs) + ["  padded with spaces  ", "ünïcödé and emoji 🎬 " * 3,
                                              "a long review " * 40]  # past max_length: truncated alike
    (tmp_path / "inputs.json").write_text(json.dumps(texts))
    snippet = json.loads(_python(plain + HARNESS, env, str(tmp_path / "inputs.json")).removeprefix("@@"))
    runtime = [r["label"] for r in load(text_repo["export"]).predict(texts)]
    disagree = [(t[:40], s, r) for t, s, r in zip(texts, snippet, runtime) if s != r]
    assert not disagree, f"{len(disagree)} of {len(texts)} differ: {disagree[:10]}"
    assert len(set(runtime)) == 2
    # an empty string is refused by both, not classified
    (tmp_path / "empty.json").write_text(json.dumps([""]))
    out = subprocess.run([sys.executable, "-c", plain + HARNESS, str(tmp_path / "empty.json")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "empty text" in out.stderr


@pytest.mark.slow
def test_card_preprocessing_is_the_contract(image_repo, server, tmp_path):
    """The card spells out the contract (bicubic, cover floor(32 / 0.875) = 36 px, crop) and what was trained."""
    card = _card(server, image_repo["repo"], image_repo["commit"], tmp_path)
    assert "Image.BICUBIC" in card and "cover_h, cover_w = 36, 36" in card
    assert "fine-tuned" not in card and "frozen features of **efficientnet-lite0**" in card
    assert "## Intended use" in card and "## Limitations" in card and "## Training data license" in card
