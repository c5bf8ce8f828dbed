"""What a dataset factory returns: labelled splits plus optional unlabelled data.

Datasets hand over raw examples (images as uint8 arrays or file paths, texts
as strings) and integer labels; preprocessing to a backbone's input contract
happens in the core, so one dataset serves every backbone and the export
carries exactly the preprocessing used in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import DataError

SPLITS = ("train", "validation", "test")


@dataclass
class Split:
    """Examples of one split.

    ``inputs``: for images a uint8 array ``(N, H, W)`` or ``(N, H, W, C)``, or a
    sequence of image file paths; for text a sequence of strings.
    ``labels``: int array ``(N,)``, or ``None`` for unlabelled data.
    """

    inputs: Any
    labels: Any = None

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass
class Dataset:
    name: str
    modality: str
    label_names: tuple[str, ...]
    splits: dict[str, Split]
    unlabelled: Split | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise DataError(f"dataset {self.name!r} has no {name!r} split (it has: {', '.join(self.splits)})")
        return self.splits[name]


def split_indices(n: int, fractions: Sequence[float], seed: int = 0) -> list[Any]:
    """Deterministic random partition of ``range(n)`` into parts of the given fractions.

    The last part takes the remainder. A fixed seed keeps published splits
    (and therefore published metrics) reproducible across machines.
    """
    import numpy as np

    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {list(fractions)}")
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([int(round(f * n)) for f in fractions[:-1]])
    return np.split(order, bounds)


def make_splits(inputs: Any, labels: Any, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0) -> dict[str, Split]:
    """train/validation/test splits of a labelled pool, by :func:`split_indices`."""
    import numpy as np

    labels = np.asarray(labels)
    parts = split_indices(len(labels), fractions, seed)
    take = (lambda idx: inputs[idx]) if hasattr(inputs, "shape") else (lambda idx: [inputs[i] for i in idx])
    return {name: Split(take(idx), labels[idx]) for name, idx in zip(SPLITS, parts)}
