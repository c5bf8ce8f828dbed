"""``pretrain(job, out)``: train a backbone without a head and write its weights atomically.

Reused, not copied: components and options come from the recipe machinery (:mod:`hub.zoo`),
the backbone from its factory (:func:`hub.model.build_backbone`, random init by default), pixels
from the shared preprocessing (:class:`hub.training.data.InputEncoder`), batch order from
:func:`hub.training.data.batch_plan` (a pure function of seed and epoch), the optimiser and its
warm-up + cosine schedule from :mod:`hub.training.optim`, the device from
:func:`hub.training.distributed.select_device`. The loop itself is a few lines because there is no
head, no validation metric and no export: what the trainer adds (strategies, callbacks,
checkpoints, early stopping) has nothing to act on here.

The output folder is written only when training has finished (``hub.fsutil.atomic_dir``):
there is never a half-written checkpoint anyone could push.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..version import __version__
from ..data import Split
from ..errors import DataError, HubError, PretrainError  # noqa: F401 (defined in hub.errors, importable here)
from ..fsutil import atomic_dir, atomic_write_json, atomic_write_text
from ..model import build_backbone, check_layer_groups, components, input_contract
from ..recipes import TrainConfig
from ..registry import Registry
from ..specs import ImageInput
from ..data import load_dataset
from ..training.data import InputEncoder, batch_plan, take
from ..training.distributed import select_device
from ..training.optim import make_optimizer, make_scheduler, param_groups
from . import card
from .config import FORMAT, INFO_FILE, WEIGHTS_FILE
from .job import PretrainJob
from .objectives import SimCLR, Supervised
from .views import SimCLRViews, is_grey

log = logging.getLogger(__name__)
CACHE_LIMIT_BYTES = 1 << 30  # encode the whole set once when it fits in 1 GiB, else per batch


@dataclass
class PretrainResult:
    out: Path
    info: dict[str, Any]


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that exists and is not a previous pre-training output (nothing is touched)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / INFO_FILE).is_file())):
        raise PretrainError(f"{out}: exists and is not a previous `hub pretrain` output; "
                            "choose an empty or new --out folder")


def _images(job: PretrainJob, registry: Registry) -> tuple[Split, str, Any]:
    """The images to train on (labels dropped for SimCLR), the split's name and the dataset."""
    cfg = job.config
    data = load_dataset(registry, job.recipe.dataset.name, job.recipe.dataset.options)
    if cfg.objective == "simclr":
        if data.unlabelled is not None and len(data.unlabelled):
            split, name = data.unlabelled, "unlabelled"
        else:
            split, name = data.split("train"), "train"
        split = Split(split.inputs, None)  # SimCLR never reads a label
    else:
        split, name = data.split("train"), "train"
        if split.labels is None:
            raise DataError(f"dataset {data.name!r}: objective 'supervised' needs labels in the train split; "
                            "use objective = 'simclr' for unlabelled data")
    if len(split) < 2:
        raise DataError(f"dataset {data.name!r}: the {name} split has {len(split)} images; pre-training needs at least 2")
    if cfg.max_images and cfg.max_images < len(split):
        index = np.sort(np.random.default_rng(cfg.seed).choice(len(split), cfg.max_images, replace=False))
        split = Split(take(split, index), None if split.labels is None else np.asarray(split.labels)[index])
    return split, name, data


class _Batches:
    """Encoded image batches on the device: the whole set encoded once when it fits in memory."""

    def __init__(self, split: Split, encoder: InputEncoder, contract: ImageInput, device: torch.device) -> None:
        self.split, self.encoder, self.device = split, encoder, device
        per_image = contract.channels * contract.size[0] * contract.size[1] * 4
        self.cache = None
        if per_image * len(split) <= CACHE_LIMIT_BYTES:
            plan = batch_plan(len(split), 512, shuffle=False, seed=0, epoch=0)
            self.cache = torch.cat([encoder(take(split, index))[0] for index in plan])

    def __call__(self, index: np.ndarray) -> torch.Tensor:
        x = self.cache[torch.from_numpy(index)] if self.cache is not None else self.encoder(take(self.split, index))[0]
        return x.to(self.device, non_blocking=True)


def pretrain(job: PretrainJob, out: Path | str, registry: Registry, *, progress: bool = True,
             on_epoch: Callable[[dict[str, Any]], None] | None = None) -> PretrainResult:
    """Run ``job`` and write ``out`` (``backbone.safetensors``, ``pretrain.json``, ``README.md``)."""
    out = Path(out)
    check_out(out)
    cfg = job.config
    started = time.perf_counter()
    comps = components(job.recipe, registry)
    spec = comps.backbone_spec
    if spec.modality != "image":
        raise PretrainError(f"hub pretrain trains image backbones; {spec.name!r} reads {spec.modality}")
    contract = input_contract(spec, job.recipe)
    device = select_device(cfg.device)
    torch.manual_seed(cfg.seed)
    options = dict(job.recipe.backbone.options)
    backbone = build_backbone(spec, options, job.start != "random", job.recipe.weights)  # bad weights fail first
    split, split_name, data = _images(job, registry)
    encoder = InputEncoder(contract)
    batches = _Batches(split, encoder, contract, device)
    views = None
    if cfg.objective == "simclr":
        grey = is_grey(batches(np.arange(min(len(split), 64))).cpu(), contract.mean, contract.std)
        views = SimCLRViews(contract.size, contract.mean, contract.std, crop_scale=cfg.crop_scale, flip=cfg.flip,
                            jitter=cfg.jitter, blur=cfg.blur, grey=grey).to(device)
        model = SimCLR(backbone, spec.feature_dim, cfg.projection_dim, cfg.temperature)
    else:
        labels = torch.as_tensor(np.asarray(split.labels), dtype=torch.long)
        model = Supervised(backbone, spec.feature_dim, data.num_classes)
    model.to(device).train()

    train_cfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                            warmup_epochs=cfg.warmup_epochs, scheduler="cosine", optimizer="adamw", seed=cfg.seed)
    groups = check_layer_groups(spec, backbone)
    optimizer = make_optimizer(param_groups(model, groups, {}, train_cfg), train_cfg)
    plan0 = _plan(len(split), cfg, 0)
    scheduler = make_scheduler(optimizer, train_cfg, len(plan0))
    curve, step_losses, step = [], [], 0
    for epoch in range(cfg.epochs):
        t0, total, seen = time.perf_counter(), 0.0, 0
        plan = _plan(len(split), cfg, epoch)
        if progress:
            from tqdm.auto import tqdm

            plan = tqdm(plan, desc=f"pretrain epoch {epoch + 1}/{cfg.epochs}", leave=False)
        for index in plan:
            x = batches(index)
            if views is not None:
                loss = model.loss(views(x), views(x))
            else:
                loss = model.loss(x, labels[torch.from_numpy(index)].to(device))
            value = float(loss.detach())
            if not math.isfinite(value):
                raise PretrainError(f"the {cfg.objective} loss became {value} at epoch {epoch + 1}, step {step + 1}; "
                                    f"lower pretrain.lr (now {cfg.lr})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            step_losses.append(round(value, 5))
            total, seen = total + value * len(index), seen + len(index)
        logs = {"epoch": epoch + 1, "loss": total / max(seen, 1), "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - t0}
        curve.append(round(logs["loss"], 5))
        log.info("pretrain epoch %d: loss %.4f", epoch + 1, logs["loss"])
        if on_epoch is not None:
            on_epoch(logs)

    backbone.eval()
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    info = {
        "format": FORMAT, "kind": "hub-pretrain", "hub_version": __version__, "name": job.name,
        "backbone": {"name": spec.name, "qualified_name": comps.backbone.qualified_name, "options": options,
                     "input_size": dict(job.recipe.input_size), "family": spec.family, "license": spec.license,
                     "feature_dim": spec.feature_dim, "num_params": sum(p.numel() for p in backbone.parameters())},
        "input": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(contract).items()},
        "objective": cfg.objective, "options": dataclasses.asdict(cfg),
        "augmentation": views.describe if views is not None else None,
        "data": {"dataset": comps.dataset.name, "options": dict(job.recipe.dataset.options), "split": split_name,
                 "images": len(split), "labels_used": cfg.objective == "supervised",
                 "classes": list(data.label_names) if cfg.objective == "supervised" else None,
                 "license": comps.dataset.spec.license, "source": comps.dataset.spec.source},
        "start": _start_record(job, spec),
        "epochs": cfg.epochs, "steps": step, "seed": cfg.seed, "device": device.type,
        "seconds": round(time.perf_counter() - started, 2),
        "loss_curve": curve, "step_losses": step_losses,
        "reference_loss": round(math.log(2 * cfg.batch_size - 1), 5) if cfg.objective == "simclr" else None,
    }
    _write(out, state, info, spec, options)
    return PretrainResult(out, info)


def _plan(n: int, cfg: Any, epoch: int) -> list[np.ndarray]:
    """The epoch's batches; a last batch of one image is dropped (BatchNorm and NT-Xent need two)."""
    return [b for b in batch_plan(n, cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch) if len(b) >= 2]


def _start_record(job: PretrainJob, spec: Any) -> dict[str, Any]:
    if job.start == "weights":
        return {"kind": "weights", "location": job.recipe.weights}
    if job.start == "pretrained" and spec.weights:
        return {"kind": spec.weights[0].kind, "location": spec.weights[0].location}
    return {"kind": "random-init"}


def _write(out: Path, state: dict[str, torch.Tensor], info: dict[str, Any], spec: Any, options: dict) -> None:
    """Save, prove the file loads strictly into a fresh build of the backbone, then rename into place."""
    from safetensors.torch import load_file, save_file

    with atomic_dir(out) as tmp:
        path = tmp / WEIGHTS_FILE
        save_file(state, str(path), metadata={"format": "pt", "hub": "pretrain", "backbone": spec.name})
        fresh = build_backbone(spec, options, False)
        fresh.load_state_dict(load_file(str(path)), strict=True)
        data = path.read_bytes()
        info["weights"] = {"file": WEIGHTS_FILE, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                           "tensors": len(state)}
        atomic_write_json(tmp / INFO_FILE, info)
        atomic_write_text(tmp / "README.md", card.render(tmp))
        os.chmod(tmp, 0o755)  # a folder to share and publish, like `hub pull --out`
