"""Self-supervised pre-training pays: SimCLR on Fashion-MNIST images (labels unused) vs random init.

For each seed: ``hub pretrain`` (the Python API, same code as the CLI) trains a backbone with
SimCLR on a seeded sample of Fashion-MNIST *training images* without reading a label; then the
same feature-extraction probe is fitted on 100 labelled images per class (also from the train
split) on top of (a) the pre-trained backbone, loaded through ``backbone.weights = <folder>``
(the production resolution path: sha256 check, strict load), and (b) the identical backbone at
its random initialisation (the exact weights pre-training started from). The probe is a
logistic regression on standardised frozen features whose C is chosen on 2000 images of the
validation split; accuracy is reported on the fixed 10k test set, which nothing is tuned on.

    .venv/bin/python bench/pretrain.py [--seeds 0 1 2] [--images 10000] [--epochs 4]

Goal (issue 15): SSL probe >= 5 points better than the random-init probe, mean over 3 seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def probe_features(backbone, split, encoder, device):
    from hub.training.data import compute_features

    return compute_features(backbone, split, encoder, 256, device).numpy()


def reestimate_bn(backbone, split, encoder, device, batch_size=256):
    """Precise-BN: recompute every BatchNorm's running statistics on ``split`` (no labels, no gradient).

    Why: a randomly initialised backbone carries running mean 0 / variance 1, which match no data, so
    its eval-mode features are degenerate (the pilot: 0.21 test accuracy); comparing against that
    would flatter pre-training. Both backbones get the same pass, so the comparison stays fair.
    """
    import torch
    from torch import nn

    from hub.training.data import batch_plan, take

    norms = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the whole pass
    backbone.train()
    with torch.no_grad():  # images only: the split has no labels
        for index in batch_plan(len(split), batch_size, shuffle=False, seed=0, epoch=0):
            backbone(*(t.to(device) for t in encoder(take(split, index))))
    backbone.eval()
    return backbone


def fit_probe(train, val, test, grid=(0.01, 0.1, 1.0, 10.0)):
    """Logistic regression on standardised features; C chosen on validation. -> (val acc, test acc, C)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    (xtr, ytr), (xva, yva), (xte, yte) = train, val, test
    scaler = StandardScaler().fit(xtr)
    xtr, xva, xte = scaler.transform(xtr), scaler.transform(xva), scaler.transform(xte)
    best = None
    for c in grid:
        model = LogisticRegression(C=c, max_iter=3000).fit(xtr, ytr)
        acc = float((model.predict(xva) == yva).mean())
        if best is None or acc > best[0]:
            best = (acc, c, model)
    acc, c, model = best
    return acc, float((model.predict(xte) == yte).mean()), c


def per_class_sample(labels, per_class, seed):
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == k), per_class, replace=False)
                                   for k in np.unique(labels)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=10000, help="unlabelled training images for SimCLR")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--val-images", type=int, default=2000)
    parser.add_argument("--test-images", type=int, default=0, help="smoke runs only: a subset of the test set; 0 = all 10k")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest on a shared 2-core machine: no oversubscription)")
    parser.add_argument("--bn-images", type=int, default=2000, help="train images (no labels) for precise-BN")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--report", type=Path, nargs="+", help="only print the table of earlier --json files "
                                                                    "(seeds run as parallel processes)")
    args = parser.parse_args()

    if args.report:
        runs = [json.loads(p.read_text()) for p in args.report]
        report({**runs[0]["args"], "seeds": [r["seed"] for run in runs for r in run["rows"]]},
               [r for run in runs for r in run["rows"]])
        return 0

    import torch

    from hub.data import Split
    from hub.model import build_backbone, components, input_contract
    from hub.plugins import load_hub
    from hub.pretrain.api import pretrain
    from hub.pretrain.job import job_from_table
    from hub.job import plan
    from hub.training.data import InputEncoder

    torch.set_num_threads(args.threads)
    registry = load_hub().registry
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pretrain-") as tmp:
        for seed in args.seeds:
            table = {"backbone": {"name": args.backbone, "image_size": args.image_size}, "dataset": "fashion-mnist",
                     "pretrain": {"objective": "simclr", "epochs": args.epochs, "batch_size": args.batch_size,
                                  "lr": args.lr, "temperature": args.temperature, "max_images": args.images,
                                  "seed": seed}}
            job = job_from_table(f"bench-simclr-{seed}", table, registry, source="bench")
            started = time.perf_counter()
            result = pretrain(job, Path(tmp) / f"seed{seed}", registry, progress=False,
                              on_epoch=lambda logs: print(f"  seed {seed} epoch {logs['epoch']}: "
                                                          f"loss {logs['loss']:.4f} ({logs['seconds']:.0f}s)",
                                                          file=sys.stderr))
            pretrain_s = time.perf_counter() - started
            comps = components(job.recipe, registry)
            spec, contract = comps.backbone_spec, input_contract(comps.backbone_spec, job.recipe)
            encoder, device = InputEncoder(contract), torch.device("cpu")
            data = plan(job.recipe, registry).dataset
            train, val, test = data.split("train"), data.split("validation"), data.split("test")
            labels = np.asarray(train.labels)
            few = per_class_sample(labels, args.per_class, seed)
            val_idx = np.random.default_rng(1000 + seed).choice(len(val), args.val_images, replace=False)
            splits = {"train": Split(train.inputs[few], labels[few]),
                      "val": Split(val.inputs[val_idx], np.asarray(val.labels)[val_idx]),
                      "test": Split(test.inputs[:args.test_images or None], np.asarray(test.labels)[:args.test_images or None])}
            torch.manual_seed(seed)  # the same random init pre-training started from
            scratch = build_backbone(spec, {}, False)
            tuned = build_backbone(spec, {}, True, str(result.out))
            row = {"seed": seed, "pretrain_s": round(pretrain_s, 1), "loss_curve": result.info["loss_curve"]}
            bn_idx = np.random.default_rng(2000 + seed).choice(len(train), args.bn_images, replace=False)
            bn_split = Split(train.inputs[bn_idx], None)
            for name, backbone, precise in (("random_init_stored_bn", scratch, False), ("random_init", scratch, True),
                                            ("simclr", tuned, True)):
                if precise:
                    reestimate_bn(backbone, bn_split, encoder, device)
                feats = {k: (probe_features(backbone, s, encoder, device), np.asarray(s.labels)) for k, s in splits.items()}
                val_acc, test_acc, c = fit_probe(feats["train"], feats["val"], feats["test"])
                row[name] = {"val": round(val_acc, 4), "test": round(test_acc, 4), "C": c}
                print(f"  seed {seed} {name}: val {val_acc:.4f} test {test_acc:.4f} (C={c})", file=sys.stderr)
            # Context for both: the same probe on the raw pixels at the backbone's input size (no network at all).
            pixels = {k: (encoder(s.inputs)[0].flatten(1).numpy(), np.asarray(s.labels)) for k, s in splits.items()}
            val_acc, test_acc, c = fit_probe(pixels["train"], pixels["val"], pixels["test"])
            row["pixels"] = {"val": round(val_acc, 4), "test": round(test_acc, 4), "C": c}
            print(f"  seed {seed} pixels: val {val_acc:.4f} test {test_acc:.4f} (C={c})", file=sys.stderr)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))
    report({k: v for k, v in vars(args).items()}, rows)
    return 0


def report(args: dict, rows: list) -> None:
    a = args
    print(f"\nSelf-supervised pre-training, {a['backbone']} @ {a['image_size']}px; SimCLR on {a['images']} Fashion-MNIST "
          f"train images (labels unused), {a['epochs']} epochs, batch {a['batch_size']}, lr {a['lr']}, "
          f"temperature {a['temperature']}; logistic-regression probe on {a['per_class']} labels/class, C chosen on "
          f"{a['val_images']} validation images; BatchNorm statistics re-estimated on {a['bn_images']} unlabelled "
          f"train images (precise-BN) except in the first row; test = "
          f"{'official 10k' if not int(a.get('test_images') or 0) else str(a['test_images']) + ' test images (smoke run)'}; "
          f"seeds {a['seeds']}\n")
    print("| backbone start | probe val accuracy | probe test accuracy (mean ± std) | per seed |")
    print("|---|---|---|---|")
    for name, label in (("random_init_stored_bn", "random init, stored BN statistics"),
                        ("random_init", "random init, precise-BN"),
                        ("simclr", "SimCLR pre-trained (no labels), precise-BN"),
                        ("pixels", "no network: the same probe on the encoded pixels")):
        tests = [r[name]["test"] for r in rows]
        vals = [r[name]["val"] for r in rows]
        sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
        print(f"| {label} | {statistics.mean(vals):.4f} | {statistics.mean(tests):.4f} ± {sd:.4f} | "
              f"{', '.join(f'{t:.4f}' for t in tests)} |")
    gain = [r["simclr"]["test"] - r["random_init"]["test"] for r in rows]
    sd = statistics.stdev(gain) if len(gain) > 1 else 0.0
    print(f"\ngain over random init (precise-BN): {100 * statistics.mean(gain):+.1f} ± {100 * sd:.1f} points "
          f"(goal: >= +5); pre-training took {statistics.mean(r['pretrain_s'] for r in rows):.0f}s per seed")


if __name__ == "__main__":
    raise SystemExit(main())
