"""Per-step overhead of the hub Trainer against a bare PyTorch loop, same model, same batches.

Both loops see identical pre-encoded digits batches in the same order (the
image preprocessing is done once, up front, so only the loops differ), and
do the same work per step: forward, cross-entropy, backward, AdamW step,
scheduler step. They alternate, ``--rounds`` times each, and the medians are
compared. Target (issue 5): overhead <= 5 %.

    .venv/bin/python bench/trainer_overhead.py [--backbone mobilenet-v3-small] [--image-size 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from hub.data import Split
from hub.model import build_model, build_task, check_layer_groups, components, input_contract
from hub.plugins import get_hub
from hub.training.optim import make_optimizer, make_scheduler, param_groups
from hub.training.strategies import group_lr_scales, make_strategy
from hub.training.trainer import Feed, Trainer
from hub.zoo import recipe_from_table


class PreEncoded:
    """An InputEncoder stand-in: looks up already-preprocessed tensors by example index."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor

    def __call__(self, index: np.ndarray) -> tuple[torch.Tensor, ...]:
        return (self.tensor[torch.from_numpy(np.asarray(index))],)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenet-v3-small")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed epoch")
    args = parser.parse_args()
    torch.set_num_threads(2)
    registry = get_hub().registry
    recipe = recipe_from_table("bench", {
        "backbone": {"name": args.backbone, "pretrained": False, "image_size": args.image_size},
        "dataset": "digits", "train": {"strategy": "fine-tune", "epochs": 1, "batch_size": 32, "augment": "none"},
    }, registry, "bench")
    comps = components(recipe, registry)
    from hub.runtime.preprocess import preprocess_images
    from hub.specs import resolve

    data = resolve(comps.dataset.spec.factory)()
    contract = input_contract(comps.backbone_spec, recipe)
    import dataclasses

    train = data.split("train")
    n = args.steps * recipe.train.batch_size
    images = torch.from_numpy(preprocess_images(train.inputs[:n], dataclasses.asdict(contract)))
    split = Split(np.arange(n), np.asarray(train.labels[:n]))

    def fresh():
        torch.manual_seed(0)
        model = build_model(recipe, comps, data.num_classes)
        groups = check_layer_groups(comps.backbone_spec, model.backbone)
        opt = make_optimizer(param_groups(model, groups, group_lr_scales(list(groups), 1.0), recipe.train), recipe.train)
        return model, groups, opt, make_scheduler(opt, recipe.train, args.steps)

    feed = Feed(split, recipe.train.batch_size, encoder=PreEncoded(images), shuffle=True, seed=0)
    device = torch.device("cpu")

    def bare() -> float:
        model, _, opt, sched = fresh()
        model.train()
        labels = torch.as_tensor(split.labels)
        start = time.perf_counter()
        for index in feed.plan(0):
            x, y = images[torch.from_numpy(index)], labels[torch.from_numpy(index)]
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        return time.perf_counter() - start

    def hub_trainer() -> float:
        model, groups, opt, sched = fresh()
        task = build_task(comps.task, {}, data.num_classes)
        trainer = Trainer(model, task, recipe.train, make_strategy(recipe.train, list(groups)), groups, opt, sched,
                          device, progress=False)
        trainer.apply_strategy(0)
        start = time.perf_counter()
        trainer.train_epoch(feed, 0)
        return time.perf_counter() - start

    bare(), hub_trainer()  # warm-up
    times = {"bare": [], "hub": []}
    for _ in range(args.rounds):
        times["bare"].append(bare())
        times["hub"].append(hub_trainer())
    b, h = statistics.median(times["bare"]), statistics.median(times["hub"])
    overhead = h / b - 1
    print(f"| loop | median s / {args.steps} steps | ms / step |")
    print("|---|---|---|")
    print(f"| bare PyTorch | {b:.3f} | {1000 * b / args.steps:.1f} |")
    print(f"| hub Trainer | {h:.3f} | {1000 * h / args.steps:.1f} |")
    print(f"\noverhead: {100 * overhead:+.1f} % (target <= 5 %; {args.backbone} @ {args.image_size}px, batch 32, "
          f"{args.rounds} rounds)")
    return 0 if overhead <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
