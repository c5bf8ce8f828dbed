"""LoRA vs full fine-tuning vs a frozen probe on Rotten Tomatoes, through the real trainer.

Each configuration is one recipe trained with ``hub.training.api.train`` on the packaged Rotten
Tomatoes split (3892 / 487 / 487, seed 0 of the split); rows report test accuracy (mean ± std
over the seeds run), validation accuracy, median seconds per epoch, the whole run's seconds and the
trainable parameters. Hyper-parameters are chosen on validation only: where a configuration lists
several learning rates, each is trained with the first seed and the one with the best validation
accuracy is then run on every seed; test accuracy is never looked at to choose.

Results go to ``--out`` as one JSON line per run as they finish, so a run cut short keeps what it
measured; the table is printed at the end.

    .venv/bin/python bench/lora.py [--seeds 0 1 2] [--only minilm-probe minilm-lora ...] [--out bench-lora.jsonl]
                                   [--epochs N] [--lrs 1e-3 3e-4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hub.plugins import get_hub
from hub.training.api import train
from hub.zoo import recipe_from_table

MINILM = {"name": "minilm-l6", "pooling": "mean"}
SMOLLM = {"name": "smollm2-135m", "pooling": "last", "max_length": 64}
CONFIGS: dict[str, dict] = {
    # the zoo's rt-minilm: cached frozen features + linear head
    "minilm-probe": {"backbone": MINILM, "train": {"strategy": "feature-extraction", "epochs": 30, "lr": 0.01},
                     "lrs": [0.01]},
    # the zoo's rt-minilm-finetune
    "minilm-finetune": {"backbone": MINILM, "train": {"strategy": "fine-tune", "epochs": 3, "layer_lr_decay": 0.8,
                                                      "warmup_epochs": 0.5, "batch_size": 32}, "lrs": [5e-5]},
    # ULMFiT-style: the head alone for one epoch, then one more layer group (top first) per epoch
    "minilm-gradual": {"backbone": MINILM, "train": {"strategy": "gradual-unfreeze", "epochs": 4, "unfreeze_every": 1,
                                                     "layer_lr_decay": 0.8, "warmup_epochs": 0.5, "batch_size": 32},
                       "lrs": [1e-4]},
    "minilm-lora": {"backbone": MINILM, "train": {"strategy": "lora", "epochs": 3, "warmup_epochs": 0.5,
                                                  "batch_size": 32, "lora_rank": 8, "lora_alpha": 16},
                    "lrs": [1e-3, 3e-4]},
    "smollm2-probe": {"backbone": SMOLLM, "train": {"strategy": "feature-extraction", "epochs": 30, "lr": 0.01},
                      "lrs": [0.01]},
    "smollm2-lora": {"backbone": SMOLLM, "train": {"strategy": "lora", "epochs": 1, "warmup_epochs": 0.1,
                                                   "batch_size": 16, "lora_rank": 8, "lora_alpha": 16},
                     "lrs": [5e-4]},
}


def run_one(name: str, lr: float, seed: int, registry, out: Path) -> dict:
    cfg = CONFIGS[name]
    recipe = recipe_from_table(f"bench-{name}", {
        "backbone": cfg["backbone"], "dataset": "rotten-tomatoes",
        "train": {**cfg["train"], "lr": lr, "seed": seed}}, registry, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        start = time.perf_counter()
        result = train(recipe, run_dir, registry, progress=False)
        total = time.perf_counter() - start
        epochs = [json.loads(line)["seconds"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        backbone = json.loads((run_dir / "run.json").read_text())["backbone"]
    record = backbone.get("lora")
    if record:
        trainable, total_params = record["trainable_params"], record["total_params"]
    else:  # probe: the linear head only; fine-tune: everything
        head = 2 * cfg["backbone_dim"] + 2
        total_params = backbone["num_params"] + head
        trainable = head if cfg["train"]["strategy"] == "feature-extraction" else total_params
    row = {"config": name, "lr": lr, "seed": seed, "test_accuracy": result.summary["test"]["accuracy"],
           "val_accuracy": result.summary["validation"]["accuracy"], "epoch_s": statistics.median(epochs),
           "run_s": round(total, 1), "epochs": len(epochs), "trainable_params": trainable,
           "backbone_params": total_params, "cached_features": result.summary["cached_features"]}
    with out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=Path("bench-lora.jsonl"))
    parser.add_argument("--epochs", type=int, help="override every configuration's epochs (a shorter budget)")
    parser.add_argument("--lrs", type=float, nargs="+", help="override the learning rates tried (chosen on val)")
    args = parser.parse_args()
    for cfg in CONFIGS.values():
        if args.epochs:
            cfg["train"]["epochs"] = args.epochs
            cfg["train"]["warmup_epochs"] = min(cfg["train"].get("warmup_epochs", 0), 0.1 * args.epochs)
        if args.lrs:
            cfg["lrs"] = args.lrs
    registry = get_hub().registry
    dims = {"minilm-l6": 384, "smollm2-135m": 576}
    rows: dict[str, list[dict]] = {}
    for name in args.only:
        CONFIGS[name]["backbone_dim"] = dims[CONFIGS[name]["backbone"]["name"]]
        first = [run_one(name, lr, args.seeds[0], registry, args.out) for lr in CONFIGS[name]["lrs"]]
        best = max(first, key=lambda r: r["val_accuracy"])
        rows[name] = [best] + [run_one(name, best["lr"], s, registry, args.out) for s in args.seeds[1:]]
    print("| config | lr (chosen on val) | seeds | test accuracy | val accuracy | s / epoch | trainable params |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        test = [r["test_accuracy"] for r in runs]
        val = [r["val_accuracy"] for r in runs]
        std = f" ± {statistics.stdev(test):.3f}" if len(test) > 1 else " (1 seed)"
        print(f"| {name} | {runs[0]['lr']:g} | {len(runs)} | {statistics.mean(test):.3f}{std} | "
              f"{statistics.mean(val):.3f} | {statistics.median(r['epoch_s'] for r in runs):.1f} | "
              f"{runs[0]['trainable_params']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
