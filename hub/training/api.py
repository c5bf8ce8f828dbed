"""``train(recipe, run_dir)``: from a validated recipe to a finished run directory.

Every check that can fail on the user's input happens before the first
step: components, the dataset's splits and classes, strategy against layer
groups, early stopping against a validation split, resume against the
recipe the run started with.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..adapt_recipe import is_auto
from ..data import Dataset
from ..errors import DataError, HubError
from ..fsutil import atomic_write_json, check_output_dir
from ..job import Job, plan
from ..model import build_model, build_task, check_feature_shape, check_layer_groups, input_contract
from ..progress import enabled as bars_enabled
from ..progress import is_enabled as bars_on
from ..recipes import Recipe
from ..registry import Registry
from ..specs import TextInput
from ..version import __version__
from . import adapting, checkpoint, distill, distributed, lora, loggers, plots
from .callbacks import BestWeights, Checkpointer, EarlyStopping, MetricsLog, OnEpoch
from .data import InputEncoder, build_augmentation, compute_features, take
from .optim import make_optimizer, make_scheduler, param_groups
from .rundir import BEST, WEIGHTS, RunDirError, RunInfo, read_run_info, write_run_info
from .strategies import group_lr_scales, make_strategy
from .trainer import Feed, Trainer

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    summary: dict[str, Any]


def check_data(data: Dataset, recipe: Recipe) -> None:
    train = data.split("train")
    if len(train) == 0:
        raise DataError(f"dataset {data.name!r}: the training split is empty")
    classes = np.unique(np.asarray(train.labels))
    if len(classes) < 2:
        raise DataError(f"dataset {data.name!r}: the training split has a single class ({data.label_names[classes[0]]!r}); "
                        "classification needs at least two")
    for name, split in data.splits.items():
        labels = np.asarray(split.labels) if split.labels is not None else None
        if labels is None or len(labels) != len(split) or (len(labels) and (
                not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= data.num_classes)):
            raise DataError(f"dataset {data.name!r}: the {name!r} split needs one integer label in 0.."
                            f"{data.num_classes - 1} per example (label_names has {data.num_classes}); fix the dataset")
    if recipe.train.early_stopping is not None and len(data.splits.get("validation", [])) == 0:
        raise DataError(f"dataset {data.name!r} has no validation split, but early_stopping needs one; "
                        "remove early_stopping or give the dataset a validation split")


def check_early_stopping(recipe: Recipe, metrics: tuple[str, ...]) -> None:
    stop = recipe.train.early_stopping
    known = ["val_loss"] + [f"val_{m}" for m in metrics]
    if stop is not None and stop.metric not in known:
        raise HubError(f"early_stopping.metric {stop.metric!r} is not computed; choose one of {', '.join(known)}")


def check_strategy(recipe: Recipe, groups: list[str]) -> None:
    cfg = recipe.train
    if cfg.strategy in ("partial", "gradual-unfreeze") and not groups:
        raise HubError(f"strategy {cfg.strategy!r} needs the backbone's layer groups, and it declares none")
    if cfg.strategy == "partial" and cfg.trainable_groups > len(groups):
        raise HubError(f"trainable_groups = {cfg.trainable_groups} but the backbone has {len(groups)} layer groups "
                       f"({', '.join(groups)})")


def _check_run_dir(run_dir: Path, info: RunInfo, resume: bool, dist: distributed.Dist) -> None:
    """Refuse a run dir that holds another run, or a resume with a different recipe (nothing written yet)."""
    existing = (run_dir / "run.json").is_file()
    dist.barrier()  # every rank looks before rank 0 writes
    if resume:
        if not existing:
            raise RunDirError(f"{run_dir}: nothing to resume (no run.json); start it without --resume")
        old = read_run_info(run_dir).recipe.to_dict()
        new = info.recipe.to_dict()
        old.pop("source", None), new.pop("source", None)
        if old != new:
            diff = sorted(k for k in new if old.get(k) != new.get(k))
            raise RunDirError(f"{run_dir} was made with a different recipe (differs in: {', '.join(diff)}); "
                              "resume with the same recipe or use a new run dir")
    elif existing:
        raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it or choose a new --out")
    else:
        check_output_dir(run_dir, "run directory")  # a new run goes into a new or empty folder only


def train(recipe: Recipe, run_dir: Path, registry: Registry, *, resume: bool = False, progress: bool = True,
          on_epoch: Callable[[dict[str, Any]], None] | None = None, job: Job | None = None) -> TrainResult:
    """Train ``recipe`` into ``run_dir``. ``job`` (:func:`hub.job.plan` of the same recipe) lends what
    it already resolved (dataset, weights, components); without one, one is planned here."""
    run_dir = Path(run_dir)
    job = job or plan(recipe, registry)
    cfg = recipe.train
    device = distributed.select_device(cfg.device)
    dist = distributed.init(device)
    try:
        if recipe.adapt is not None and is_auto(recipe.adapt.method):
            return _train_auto(job, run_dir, dist, resume, progress, on_epoch)
        with bars_enabled(progress and bars_on()):  # feature caching draws its own bar
            return _train(job, run_dir, device, dist, resume, progress, on_epoch)
    finally:
        distributed.shutdown(dist)


def _run_info(job: Job, contract: Any) -> RunInfo:
    recipe, spec = job.recipe, job.components.backbone_spec
    return RunInfo(recipe=recipe, label_names=tuple(job.dataset.label_names), input=contract, modality=spec.modality,
                   backbone=_backbone_record(job, recipe.pretrained or isinstance(contract, TextInput)))


def _train_auto(job: Job, run_dir: Path, dist: distributed.Dist, resume: bool, progress: bool,
                on_epoch: Callable[[dict[str, Any]], None] | None) -> TrainResult:
    """``adapt.method = "auto"`` (hub/training/auto_adapt.py): each candidate is one :func:`train`."""
    from .auto_adapt import train_auto

    if dist.enabled:
        raise HubError("adapt.method = auto does not run distributed yet; train it on one device")

    def fit(candidate: Job, folder: Path, again: bool, label: str) -> None:
        if progress:  # the epoch lines that follow belong to this candidate
            print(f"auto: {label}", file=sys.stderr, flush=True)
        train(candidate.recipe, folder, job.registry, resume=again, progress=progress, on_epoch=on_epoch, job=candidate)

    info = _run_info(job, input_contract(job.components.backbone_spec, job.recipe))
    return TrainResult(run_dir, train_auto(job, run_dir, fit, info, resume=resume))


def _train(job: Job, run_dir: Path, device: Any, dist: distributed.Dist, resume: bool, progress: bool,
           on_epoch: Callable[[dict[str, Any]], None] | None) -> TrainResult:
    started = time.perf_counter()
    recipe, registry, comps, cfg = job.recipe, job.registry, job.components, job.recipe.train
    spec = comps.backbone_spec
    data = job.dataset
    check_data(data, recipe)
    distillation, data = distill.prepare(recipe, data, registry)  # the teacher's logits, before the dir is claimed
    group_names = [g.name for g in spec.layer_groups]
    check_strategy(recipe, group_names)
    lora.check_config(cfg)
    check_early_stopping(recipe, comps.task.spec.metrics)
    contract = input_contract(spec, recipe)
    info = _run_info(job, contract)
    _check_run_dir(run_dir, info, resume, dist)

    torch.manual_seed(cfg.seed)
    model = build_model(recipe, comps, data.num_classes, job=job).to(device)
    adapter = lora.attach(model, cfg, spec)  # None unless strategy = "lora"
    groups = check_layer_groups(spec, model.backbone)
    groups = lora.split_groups({g: groups[g] for g in group_names} if group_names else groups)
    if adapter is not None:
        info.backbone["lora"] = adapter.record
    strategy = make_strategy(cfg, list(groups))
    task, train_labels, counts = _task(recipe, comps, data)
    tokenizer = job.tokenizer
    encoder = InputEncoder(contract, tokenizer)
    probe = take(data.split("train"), np.arange(min(2, len(data.split("train")))))
    check_feature_shape(spec, model.backbone, tuple(t.to(device) for t in encoder(probe)))
    sample_weights = 1.0 / np.maximum(counts, 1)[train_labels] if cfg.class_balance == "sampler" else None
    adaptation = adapting.prepare(recipe, registry, data, job.target, model.backbone, spec.feature_dim,
                                  strategy.frozen_backbone, contract)
    adapt_info: dict[str, Any] = {}
    if adaptation is not None:
        if dist.enabled:
            raise HubError("domain adaptation does not run distributed yet; train it on one device")
        model.adapt = adaptation.method.to(device)  # trained and checkpointed, never exported
        ctx = adapting.context(adaptation, model.backbone, data.split("train"), encoder, device)
        adapt_info = adaptation.method.setup(ctx)  # deterministic: runs again on resume, before the restore
        sample_weights = adapting.combine_weights(sample_weights, adaptation.method.source_weights())
    cache = strategy.frozen_backbone and cfg.cache_features and cfg.mixup == 0 and cfg.augment == "none"
    disk_cache = _feature_cache(comps, recipe, contract, model, cfg, device, tokenizer) if cache else None
    feeds = _feeds(data, model, encoder, cfg, device, dist, cache, sample_weights, disk_cache)

    optimizer = make_optimizer(param_groups(model, groups, group_lr_scales(list(groups), cfg.layer_lr_decay), cfg), cfg)
    scheduler = make_scheduler(optimizer, cfg, feeds["train"].steps(0))
    augment = build_augmentation(cfg.augment, registry, contract)
    loggers.check(cfg.loggers)
    if dist.writer and not resume:  # everything that can fail on the recipe has been built: claim the dir
        write_run_info(run_dir, info)
    dist.barrier()
    callbacks = _callbacks(recipe, comps.task.spec.primary_metric, "validation" in feeds, run_dir, dist, on_epoch)
    trainer = Trainer(model, task, cfg, strategy, groups, optimizer, scheduler, device, callbacks,
                      num_classes=data.num_classes,
                      distributed=dist.enabled, progress=progress and dist.writer,
                      augment=augment, adaptation=adaptation, distillation=distillation)
    trainer.total_steps = cfg.epochs * feeds["train"].steps(0)
    if resume:
        _restore(trainer, run_dir, optimizer, scheduler)
    trainer.fit(feeds["train"], feeds.get("validation"))
    if cfg.select == "best" and (run_dir / BEST).is_file():
        checkpoint.load_weights(model, run_dir / BEST)  # ship the best validation epoch's weights
    if adapter is not None:
        adapter.merge()  # weights.safetensors holds the plain backbone + head
    extra: dict[str, Any] = {}
    if disk_cache is not None:
        extra["feature_cache"] = {"folder": str(disk_cache.folder), **disk_cache.stats}
    if "precise_bn" in trainer.state.extra:
        extra["precise_bn"] = trainer.state.extra["precise_bn"]
    if adaptation is not None:
        extra.update(_finish_adaptation(trainer, adaptation, ctx, adapt_info, feeds, encoder))
    if distillation is not None:
        extra["distillation"] = {"teacher": distillation.teacher, "temperature": distillation.temperature,
                                 "alpha": distillation.alpha, "transfer_examples": distillation.transfer_examples,
                                 "views": recipe.distill.views}
    summary = _finish(trainer, feeds, data, run_dir, recipe, dist, time.perf_counter() - started, cache,
                      comps.task.spec.primary_metric, extra)
    return TrainResult(run_dir, summary)


def _task(recipe: Recipe, comps: Any, data: Dataset) -> tuple[Any, np.ndarray, np.ndarray]:
    """The task with the recipe's class weights and label smoothing; the training labels and class counts
    (distillation's transfer examples, label -100, counted in neither)."""
    cfg, task_options = recipe.train, dict(recipe.task.options)
    train_labels = np.asarray(data.split("train").labels)
    counts = np.bincount(train_labels[train_labels >= 0], minlength=data.num_classes).astype(float)
    if cfg.class_balance == "loss" and task_options.get("class_weights") is None:
        task_options["class_weights"] = (counts.sum() / (data.num_classes * np.maximum(counts, 1))).tolist()
    if cfg.label_smoothing and not task_options.get("label_smoothing"):
        task_options["label_smoothing"] = cfg.label_smoothing
    return build_task(comps.task, task_options, data.num_classes), train_labels, counts


def _finish_adaptation(trainer: Trainer, adaptation: Any, ctx: Any, adapt_info: dict[str, Any],
                       feeds: dict[str, Feed], encoder: InputEncoder) -> dict[str, Any]:
    """The method's last pass, then the model without its adaptation modules, judged on the target's test split."""
    done = adaptation.method.finish(ctx)
    if done.get("changed_backbone"):
        for feed in feeds.values():
            feed.features = None  # cached features predate the change: report what is exported
    del trainer.model.adapt  # the export is backbone + head only
    target_test = Feed(adaptation.target.split("test"), trainer.cfg.batch_size, encoder=encoder)
    return {"adaptation": adapting.describe(adaptation, adapt_info, done),
            "target": {"dataset": adaptation.target.name, "test": trainer.evaluate(target_test)}}


def _callbacks(recipe: Recipe, primary: str, has_validation: bool, run_dir: Path, dist: distributed.Dist,
               on_epoch: Callable[[dict[str, Any]], None] | None) -> list[Any]:
    """Early stopping or best-epoch selection, then (on the writing rank) loggers, metrics and checkpoints."""
    cfg = recipe.train
    callbacks: list[Any] = []
    if cfg.early_stopping is not None:
        callbacks.append(EarlyStopping(cfg.early_stopping, run_dir, dist.writer))
    elif cfg.select == "best" and has_validation:
        callbacks.append(BestWeights(f"val_{primary}", run_dir, dist.writer))
    if dist.writer:
        callbacks += loggers.make(cfg.loggers, run_dir, recipe.name, _flat(recipe.train))
        callbacks += [MetricsLog(run_dir / "metrics.jsonl"), Checkpointer(run_dir)]
        if on_epoch is not None:
            callbacks.append(OnEpoch(on_epoch))
    return callbacks


def _restore(trainer: Trainer, run_dir: Path, optimizer: Any, scheduler: Any) -> None:
    """Continue from the run's last checkpoint: weights, optimizer, scheduler, RNG, history."""
    last = checkpoint.latest(run_dir)
    if last is None:
        return
    state = checkpoint.restore(last, trainer.model, optimizer, scheduler)
    trainer.state.epoch, trainer.state.step = state["epoch"], state["step"]
    trainer.state.history, trainer.state.extra = state["history"], state["extra"]
    log.info("resumed %s at epoch %d", run_dir, state["epoch"])


def _flat(section: Any) -> dict[str, Any]:
    import dataclasses

    return {f"train.{k}": v for k, v in dataclasses.asdict(section).items()}


def _backbone_record(job: Job, pretrained: bool) -> dict[str, Any]:
    """What run.json (and so the export and model card) says about the backbone and its weights.

    With ``backbone.weights`` (a `hub pretrain` output) the record names its repo@commit (or
    folder) and sha256, and the base model is that repo, not the spec's upstream weights."""
    spec, weights_ref = job.components.backbone_spec, job.recipe.weights
    record: dict[str, Any] = {"name": spec.name, "license": spec.license, "num_params": spec.num_params,
                              "family": spec.family, "weights": {"kind": "none", "description": "trained from scratch"}}
    hf = [s.location for s in spec.weights if s.kind == "hf"]
    if hf:
        record["base_model"] = hf[0]  # the canonical Hub repo, even when an offline copy was used
    if pretrained and weights_ref:
        named = job.named_weights
        record["weights"] = named.record
        record.pop("base_model", None)
        if named.record["kind"] == "hub":
            record["base_model"] = named.record["location"]
    elif pretrained:
        _, source = job.weights
        record["weights"] = {"kind": source.kind, "location": source.location, "filename": source.filename,
                             "revision": source.revision, "sha256": source.sha256, "description": source.description}
    return record


def _feature_cache(comps, recipe: Recipe, contract, model, cfg, device, tokenizer):
    """The on-disk feature cache for this run's frozen backbone (None when HUB_FEATURE_CACHE=off)."""
    from ..plugins import plugin_modules
    from . import feature_cache

    if not feature_cache.enabled():
        return None
    modules = plugin_modules()
    plugin = comps.backbone.plugin
    return feature_cache.FeatureCache(model.backbone, plugin=plugin, plugin_module=modules.get(plugin, plugin),
                                      contract=contract, backbone_options=recipe.backbone.options,
                                      dtype=torch.bfloat16 if cfg.precision == "bf16" else None, device=device,
                                      tokenizer=tokenizer)


def _feeds(data: Dataset, model, encoder, cfg, device, dist, cache: bool, sample_weights,
           disk_cache=None) -> dict[str, Feed]:
    feeds = {}
    for name, split in data.splits.items():
        if len(split) == 0:
            continue
        is_train = name == "train"
        feed = Feed(split, cfg.batch_size, encoder=encoder, shuffle=is_train, seed=cfg.seed,
                    rank=dist.rank if is_train else 0, world=dist.world if is_train else 1,
                    sample_weights=sample_weights if is_train else None)
        if cache:
            dtype = torch.bfloat16 if cfg.precision == "bf16" else None
            key = disk_cache.key(split, data.modality) if disk_cache is not None else None
            features = disk_cache.get(key, name, len(split)) if key else None
            if features is None:
                features = compute_features(model.backbone, split, encoder, max(cfg.batch_size, 64), device, dtype)
                if key and dist.writer:
                    disk_cache.put(key, features)
            feed.features = features
        feeds[name] = feed
    return feeds


def _finish(trainer: Trainer, feeds, data, run_dir: Path, recipe: Recipe, dist, seconds: float, cache: bool,
            primary: str, extra: dict[str, Any] | None = None) -> dict:
    """Final metrics, weights and pictures. The weights are written first: a task without the
    optional ``confusion`` (or a plotting failure) must never cost the trained model."""
    if dist.writer:
        checkpoint.save_weights(trainer.model, run_dir / WEIGHTS)
    summary: dict[str, Any] = {"hub_version": __version__, "epochs": trainer.state.epoch, "steps": trainer.state.step,
                               "seconds": round(seconds, 2), "cached_features": cache,
                               "stopped_early": bool(trainer.state.extra.get("early_stopping", {}).get("stopped"))}
    best = trainer.state.extra.get("early_stopping") or trainer.state.extra.get("best")
    if best:
        summary["best_epoch"] = best["best_epoch"]
    shipped = best["best_epoch"] if best and recipe.train.select == "best" else trainer.state.epoch
    summary["selected"] = {"select": recipe.train.select, "epoch": shipped}
    matrices = {}
    confusion = getattr(trainer.task, "confusion", None)
    for name in ("validation", "test"):
        if name in feeds:
            logits, labels = trainer.predict(feeds[name])
            summary[name] = {"loss": float(trainer.task.loss(logits, labels)), **trainer.task.metrics(logits, labels)}
            if confusion is not None:
                matrices[name] = confusion(logits, labels).tolist()
    summary["confusion"] = matrices
    summary.update(extra or {})
    if dist.writer:
        atomic_write_json(run_dir / "summary.json", summary)
        metric = recipe.train.early_stopping.metric.removeprefix("val_") if recipe.train.early_stopping else primary
        plots.curves(trainer.state.history, metric if metric != "loss" else primary, run_dir / "curves.png",
                     best_epoch=summary.get("best_epoch"))
        split = "test" if "test" in matrices else next(iter(matrices), None)
        if split:
            plots.confusion(matrices[split], data.label_names, run_dir / "confusion.png", f"{split} split")
    dist.barrier()
    return summary
