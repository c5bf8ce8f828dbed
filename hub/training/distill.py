"""Knowledge distillation: the student learns the teacher's soft predictions (Hinton et al. 2015).

The loss is ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(labels)``;
the ``T^2`` keeps the soft term's gradients on the scale of the hard one's as ``T`` grows. The
teacher's logits are a pure function of the teacher's weights and the data, so they are computed
once, before the first step, and cached on disk under that key (a sweep of students or seeds, and
every resume, reuse them): the teacher never runs inside the training loop and is never attached to
the student, so the export, its size and its latency are the student's alone.

The teacher is what a deployer would load: an export folder (an ensemble export too) or a hub repo,
run with :mod:`hub.runtime` (onnxruntime, its fp32 variant: distillation wants the teacher's best
numbers, not its fastest); or a run folder, run in PyTorch. Extra ``transfer`` data (unlabelled)
joins the training split with label ``-100``: the teacher labels it, the cross-entropy skips it, and
its own labels are never read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data import Dataset, Split
from ..distill_recipe import teacher_refs
from ..errors import DataError, HubError
from ..fingerprints import digest
from ..recipes import Recipe
from ..weights import sha256_once

UNLABELLED = -100  # torch's ignore_index: the cross-entropy skips these examples


@dataclass
class Distillation:
    teacher: dict[str, Any]  # what the run records and the card names: kind, location, sha256, test accuracy
    logits: torch.Tensor  # (train examples incl. transfer, classes), in the training split's order
    temperature: float
    alpha: float
    transfer_examples: int


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float,
                 alpha: float, hard_loss: Any) -> torch.Tensor:
    """``alpha`` x the softened KL term (x T^2) + ``(1 - alpha)`` x ``hard_loss`` on the labelled examples."""
    t = temperature
    soft = F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), reduction="batchmean",
                    log_target=True) * (t * t)
    labelled = labels != UNLABELLED
    if alpha >= 1 or not bool(labelled.any()):
        return alpha * soft if alpha < 1 else soft
    return alpha * soft + (1 - alpha) * hard_loss(student[labelled], labels[labelled])


VIEWS_SEED = 20190328  # fixed, not train.seed: every student seed shares one transfer set and its teacher logits


def text_views(texts: Any, copies: int, seed: int = VIEWS_SEED) -> list[str]:
    """``copies`` perturbed versions of every text, for the teacher to label (Tang et al. 2019, "Distilling
    task-specific knowledge from BERT into simple neural networks"): a small labelled set is a thin sample of
    the teacher's function, and near-copies of it show the student how the teacher's confidence moves as
    words go missing. Per view: half the time a contiguous span of at least half the words, then each word
    dropped with probability 0.1 (one is always kept). Word-level, so it suits every tokenizer; no mask
    token, which a decoder teacher does not have."""
    rng = np.random.default_rng(seed)
    views = []
    for _ in range(copies):
        for text in texts:
            words = str(text).split()
            n = len(words)
            if n > 3 and rng.random() < 0.5:
                size = int(rng.integers((n + 1) // 2, n + 1))
                start = int(rng.integers(0, n - size + 1))
                words = words[start:start + size]
            keep = rng.random(len(words)) >= 0.1
            if len(words) and not keep.any():
                keep[int(rng.integers(len(words)))] = True
            views.append(" ".join(w for w, k in zip(words, keep) if k))
    return views


def with_transfer(data: Dataset, transfer: Dataset | None, views: int = 0) -> Dataset:
    """``data`` whose training split also holds the transfer examples (``views`` perturbed copies of the
    training texts, then a transfer dataset's), labelled ``UNLABELLED``."""
    if views:
        data = _append_unlabelled(data, text_views(data.split("train").inputs, views))
    if transfer is None:
        return data
    pool = transfer.pool()  # its labels, if any, are never read: the teacher labels these examples
    if pool is None or len(pool) == 0:
        raise DataError(f"transfer dataset {transfer.name!r} has no unlabelled or 'train' split to learn from "
                        f"(it has: {', '.join(transfer.splits) or 'nothing'})")
    return _append_unlabelled(data, pool.inputs)


def _append_unlabelled(data: Dataset, extra: Any) -> Dataset:
    train = data.split("train")
    a = train.inputs
    if hasattr(a, "shape") and hasattr(extra, "shape") and a.shape[1:] == extra.shape[1:] and a.dtype == extra.dtype:
        inputs: Any = np.concatenate([a, extra])
    else:
        inputs = [a[i] for i in range(len(a))] + [extra[i] for i in range(len(extra))]
    labels = np.concatenate([np.asarray(train.labels), np.full(len(extra), UNLABELLED, dtype=np.int64)])
    splits = {**data.splits, "train": Split(inputs, labels)}
    return Dataset(data.name, data.modality, data.label_names, splits, data.unlabelled, dict(data.info))


def prepare(recipe: Recipe, data: Dataset, registry: Any) -> tuple[Distillation, Dataset] | tuple[None, Dataset]:
    """The teacher's logits over the training split (plus transfer data), and the dataset to train on."""
    cfg = recipe.distill
    if cfg is None:
        return None, data
    if recipe.adapt is not None:
        raise HubError("distillation and domain adaptation do not combine yet; drop one of the sections")
    if recipe.train.mixup > 0:
        raise HubError("distillation and mixup do not combine (mixed inputs have no teacher logits); set train.mixup = 0")
    transfer = None
    if cfg.transfer:
        from ..data import load_dataset

        ref = dict(cfg.transfer)
        transfer = load_dataset(registry, ref.pop("name"), ref, role="transfer dataset")
    if (transfer is not None or cfg.views) and recipe.train.class_balance == "sampler":
        raise HubError("class_balance = 'sampler' weighs examples by their labels, and transfer data has none; "
                       "use class_balance = 'loss' or 'none' with distill.transfer or distill.views")
    teachers = [Teacher.open(ref, registry) for ref in teacher_refs(cfg.teacher)]
    for teacher in teachers:
        teacher.check(data)
    merged = with_transfer(data, transfer, cfg.views)
    logits = averaged_logits(teachers, merged.split("train").inputs)
    test = data.splits.get("test")
    record = dict(teachers[0].record) if len(teachers) == 1 else {
        "kind": "ensemble", "location": " + ".join(t.record["location"] for t in teachers),
        "sha256": digest(*sorted(t.record["sha256"] for t in teachers)), "members": [t.record for t in teachers]}
    if test is not None and len(test) and test.labels is not None:
        predictions = averaged_logits(teachers, test.inputs).argmax(1)
        record["test_accuracy"] = float((predictions == np.asarray(test.labels)).mean())
    return Distillation(record, torch.from_numpy(logits), cfg.temperature, cfg.alpha,
                        len(merged.split("train")) - len(data.split("train"))), merged


def averaged_logits(teachers: list[Teacher], inputs: Any) -> np.ndarray:
    """One teacher's logits, or several teachers' as the log of their mean probabilities: the ensemble's
    own prediction (as in ``hub ensemble``), here across models that share no tokenizer or graph."""
    if len(teachers) == 1:
        return teachers[0].cached_logits(inputs)
    probabilities = np.mean([torch.softmax(torch.from_numpy(t.cached_logits(inputs)), 1).numpy() for t in teachers], 0)
    return np.log(np.clip(probabilities, 1e-12, None)).astype(np.float32)


class Teacher:
    """A model whose logits the student learns: an export/repo through hub.runtime, or a run in PyTorch."""

    def __init__(self, record: dict[str, Any], label_names: tuple[str, ...], modality: str, run: Any) -> None:
        self.record, self.label_names, self.modality, self._run = record, label_names, modality, run

    @classmethod
    def open(cls, ref: str, registry: Any) -> Teacher:
        folder = Path(ref).expanduser()
        if (folder / "run.json").is_file() and not (folder / "config.json").is_file():
            return cls._from_run(folder, registry)
        from ..runtime import load

        try:
            model = load(ref, variant="fp32")
        except Exception as exc:  # a missing folder, an unknown repo, a damaged export: one line naming it
            raise HubError(f"distill.teacher {ref!r}: cannot load it ({str(exc).splitlines()[0]}); name an export "
                           "folder, a hub repo namespace/name[@revision] or a run folder") from None
        sha = sha256_once(Path(model.folder) / model.config["variants"]["fp32"]["file"])
        kind = "export" if folder.exists() else "hub"
        return cls({"kind": kind, "location": ref, "sha256": sha}, model.label_names, model.modality,
                   lambda inputs: model.logits(inputs))

    @classmethod
    def _from_run(cls, folder: Path, registry: Any) -> Teacher:
        from .data import InputEncoder, batch_plan, iterate
        from .rundir import WEIGHTS, load_run

        info, comps, model = load_run(folder, registry)
        tokenizer = None
        if info.modality == "text":
            from ..weights import resolve_weights

            tokenizer = Path(resolve_weights(comps.backbone_spec)[0])
        encoder = InputEncoder(info.input, tokenizer)

        def logits(inputs: Any) -> np.ndarray:
            split = Split(inputs, np.zeros(len(inputs), dtype=np.int64))
            with torch.no_grad():
                return torch.cat([model(*x).float() for x, _ in iterate(
                    split, encoder, batch_plan(len(split), 128, shuffle=False, seed=0, epoch=0),
                    torch.device("cpu"))]).numpy()

        return cls({"kind": "run", "location": str(folder), "sha256": sha256_once(folder / WEIGHTS)},
                   tuple(info.label_names), info.modality, logits)

    def check(self, data: Dataset) -> None:
        if self.modality != data.modality:
            raise DataError(f"distill.teacher {self.record['location']!r} reads {self.modality} data but dataset "
                            f"{data.name!r} holds {data.modality}; name a teacher of the same modality")
        if tuple(self.label_names) != tuple(data.label_names):
            raise DataError(f"distill.teacher {self.record['location']!r} predicts {list(self.label_names)} but "
                            f"dataset {data.name!r} has {list(data.label_names)}; the student learns the teacher's "
                            "probabilities class by class, so both need the same labels in the same order")

    def cached_logits(self, inputs: Any) -> np.ndarray:
        """The teacher's logits for ``inputs``, from the cache when this teacher already saw these bytes."""
        from ..fingerprints import data_fingerprint, digest
        from .feature_cache import cache_dir, enabled

        key = digest("teacher", self.record["sha256"], data_fingerprint(Dataset("x", self.modality, (), {
            "inputs": Split(inputs)})))
        path = cache_dir() / "teachers" / f"{key}.npy"
        if enabled() and path.is_file():
            try:
                cached = np.load(path, allow_pickle=False)
                if cached.shape[0] == len(inputs):
                    return cached
            except (OSError, ValueError):
                pass  # damaged: recomputed below, never trusted
        values = np.concatenate([self._run(_chunk(inputs, i)) for i in range(0, len(inputs), 256)]).astype(np.float32)
        if enabled():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, values, allow_pickle=False)
            os.replace(tmp, path)
        return values


def _chunk(inputs: Any, start: int) -> Any:
    part = inputs[start:start + 256]
    return part if hasattr(part, "shape") else list(part)
