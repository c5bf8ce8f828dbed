"""transformers.js vs hub.runtime: top-1 agreement on a whole test split, through a real `hub serve`.

`hub run` (train, export + gate, push) into a throwaway `hub serve` on loopback, then Node's
transformers.js (tests/js, pinned) runs `pipeline(task, repo)` from the server on every test
example written as the file a deployer would have (PNG, or the text), and `hub.runtime` runs the
fp32 graph on the same files. Aim (issue 23): agreement >= 0.98. Images differ only by
preprocessing (hub/exporting/transformersjs.py: transformers.js resizes with sharp, not Pillow),
so the number says how much a model cares about that; texts differ only on inputs longer than
max_length.

    .venv/bin/python bench/transformersjs_agreement.py [ENTRY] [--backbone B --dataset D] [--set K=V ...]
    e.g. bench/transformersjs_agreement.py digits-lite0
         bench/transformersjs_agreement.py --backbone minilm-l6 --dataset rotten-tomatoes --set backbone.max_length=32

Measured (build machine, 2 vCPU; transformers.js 4.3.2 in Node 20, fp32, test split):
  digits-lite0 (EfficientNet-Lite0, 8 px digits -> 128 px bicubic)   0.9665 (9 of 269 differ)
      with resample 3 (sharp affine bicubic) instead of 1 (lanczos)   0.8996 (27 of 269)
  small-cnn, digits 16 px, 10 epochs (the test's model)              0.9926 (2 of 269)
  small-cnn, digits 32 px, 10 epochs (pipeline on the export folder)  0.929 (affine bilinear: 0.874)
  minilm-l6 + linear, Rotten Tomatoes, max_length 128 (default)      1.0 (487 of 487)
  minilm-l6 + linear, Rotten Tomatoes, max_length 32                 0.9671 (16 of 487); 170 texts longer
      than 32 tokens, 1.0 on the 317 within it (after 1 epoch: 0.9507, also 1.0 within)
Upscaling tiny images is where sharp and Pillow part most; texts differ only when truncated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="tjs-bench-hfhome-"))

from tests.deploy import tjs_node  # noqa: E402


def measure(entry: str | None, backbone: str | None, dataset: str | None, overrides: list[str],
            work: Path) -> dict:
    from hub import api
    from hub.exporting.samples import split_samples
    from hub.job import plan
    from hub.plugins import get_hub
    from hub.server.serving import start_background

    tjs_node.require_node()
    server = start_background(work / "serve", tokens={"bench-token": "bench"})
    os.environ["HF_TOKEN"] = "bench-token"
    try:
        started = time.perf_counter()
        outcome = api.run(entry, backbone=backbone, dataset=dataset, out=work / "job", overrides=overrides,
                          repo=f"bench/tjs-{uuid.uuid4().hex[:6]}", endpoint=server.url, progress=False)
        run_s = time.perf_counter() - started
        config = json.loads((outcome.export_dir / "config.json").read_text())
        recipe = api.recipe(entry, overrides=overrides, backbone=backbone, dataset=dataset)
        raw, _ = split_samples(plan(recipe, get_hub().registry).dataset, config["gate"]["split"], None)
        samples = [outcome.export_dir / s["file"] for s in config["samples"]]  # the files the repo ships
        samples = [str(p) if config["modality"] == "image" else p.read_text(encoding="utf-8") for p in samples]
        inputs = samples + tjs_node.write_inputs(raw, config["modality"], work / "inputs")
        started = time.perf_counter()
        js = tjs_node.pipeline(server.url, outcome.push.repo_id, outcome.push.commit_sha, config["pipeline_tag"],
                               inputs, work / "node")
        js_s = time.perf_counter() - started
        ours = tjs_node.runtime_labels(outcome.export_dir, inputs)
    finally:
        server.stop()
    theirs = [p["label"] for p in js["predictions"]]
    shipped = len(samples)
    extra = {} if config["modality"] != "text" else within_max_length(outcome.export_dir, config, inputs[shipped:],
                                                                       theirs[shipped:], ours[shipped:])
    return {**extra, "model": config["name"], "backbone": config["backbone"]["name"],
            "dataset": config["dataset"]["name"],
            "preprocessing": config["preprocessing"], "transformers_js": js["version"], "dtype": js["dtype"],
            "shipped_samples_equal": theirs[:shipped] == ours[:shipped],
            "split": config["gate"]["split"], "samples": len(inputs) - shipped,
            "agreement": round(tjs_node.agreement(theirs[shipped:], ours[shipped:]), 4),
            "disagreements": sum(a != b for a, b in zip(theirs[shipped:], ours[shipped:])),
            "hub_run_s": round(run_s, 1), "transformers_js_s": round(js_s, 1)}


def within_max_length(folder: Path, config: dict, texts: list[str], theirs: list[str], ours: list[str]) -> dict:
    """Texts longer than max_length (transformers.js drops their [SEP]) and the agreement on the rest."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    limit = config["preprocessing"]["max_length"]
    fits = [len(tokenizer.encode(t).ids) <= limit for t in texts]
    kept = [(a, b) for a, b, f in zip(theirs, ours, fits) if f]
    return {"texts_over_max_length": len(fits) - sum(fits),
            "agreement_within_max_length": round(tjs_node.agreement(*zip(*kept)), 4) if kept else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entry", nargs="?", help="a zoo entry (zoo.toml)")
    parser.add_argument("--backbone")
    parser.add_argument("--dataset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tjs-bench-") as work:
        result = measure(args.entry, args.backbone, args.dataset, args.overrides, Path(work))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
