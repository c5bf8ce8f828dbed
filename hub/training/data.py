"""From a dataset split to batches of model inputs.

Preprocessing goes through :mod:`hub.runtime` (numpy + Pillow for images,
``tokenizers`` for text), the same code a deployer runs, so what the model
sees in training is what it sees in production.

Batch order is a pure function of (seed, epoch): resuming at an epoch
boundary replays exactly the order the uninterrupted run would have used,
and DDP ranks take interleaved slices of the same global batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..progress import bar as progress_bar
from ..data import Split
from ..errors import DataError
from ..specs import ImageInput, TextInput


class InputEncoder:
    """Raw examples (images or texts) -> tuple of tensors in ``input_names`` order."""

    def __init__(self, contract: ImageInput | TextInput, tokenizer_folder: Path | None = None) -> None:
        self.contract = contract
        self.text = None
        if isinstance(contract, TextInput):
            from ..runtime.text import TextEncoder

            if tokenizer_folder is None:
                raise DataError("a text backbone needs its tokenizer folder")
            self.text = TextEncoder(tokenizer_folder, contract.max_length, contract.input_names, contract.padding_side)

    def __call__(self, inputs: Any) -> tuple[torch.Tensor, ...]:
        if self.text is not None:
            arrays = self.text.encode(list(inputs))
            return tuple(torch.from_numpy(arrays[name]) for name in self.contract.input_names)
        from ..runtime.preprocess import preprocess_images

        return (torch.from_numpy(preprocess_images(inputs, dataclasses.asdict(self.contract))),)


def take(split: Split, index: np.ndarray) -> Any:
    inputs = split.inputs
    if hasattr(inputs, "shape"):
        return inputs[index]
    return [inputs[i] for i in index]


def batch_plan(n: int, batch_size: int, *, shuffle: bool, seed: int, epoch: int,
               rank: int = 0, world: int = 1, weights: np.ndarray | None = None) -> list[np.ndarray]:
    """Index batches for one epoch; rank ``r`` of ``world`` gets ``global_batch[r::world]``.

    ``weights`` (class-balanced sampling) draws ``n`` indices with replacement.
    """
    if shuffle:
        gen = np.random.default_rng([seed, epoch])
        order = gen.choice(n, size=n, replace=True, p=weights / weights.sum()) if weights is not None else gen.permutation(n)
    else:
        order = np.arange(n)
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if world > 1:
        batches = [b[rank::world] for b in batches if len(b) >= world]
    return batches


def iterate(split: Split, encoder: InputEncoder, plan: Sequence[np.ndarray],
            device: torch.device) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
    labels = torch.as_tensor(np.asarray(split.labels), dtype=torch.long)
    for index in plan:
        inputs = encoder(take(split, index))
        yield tuple(t.to(device, non_blocking=True) for t in inputs), labels[index].to(device, non_blocking=True)


@torch.no_grad()
def compute_features(backbone: torch.nn.Module, split: Split, encoder: InputEncoder, batch_size: int,
                     device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Frozen-backbone features of a whole split, once (feature-extraction cache)."""
    backbone.eval()
    plan = batch_plan(len(split), batch_size, shuffle=False, seed=0, epoch=0)
    chunks = []
    batches = progress_bar(iterate(split, encoder, plan, device), total=len(plan), desc=f"caching features ({len(split)})",
                           unit="batch")
    for inputs, _ in batches:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            chunks.append(backbone(*inputs).float().cpu())
    return torch.cat(chunks)


def build_augmentation(ref: Any, registry: Any, contract: Any) -> Any:
    """The augmentation component ``ref`` names (``train.augment``, ``adapt.strong_augment``), built for the
    backbone's input contract; None for "none"."""
    from ..errors import HubError
    from ..specs import resolve

    if ref in ("none", "", None):
        return None
    options = dict(ref) if isinstance(ref, dict) else {"name": ref}
    component = registry.get("augmentation", options.pop("name"))
    try:
        return resolve(component.spec.factory)(input=contract, **options)
    except (TypeError, ValueError) as exc:
        raise HubError(f"augmentation {component.qualified_name!r}: {exc}") from exc
