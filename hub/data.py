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

    def pool(self) -> Split | None:
        """What adaptation and distillation read without labels: the ``unlabelled`` split when it has
        examples, else ``train`` (None when there is neither)."""
        if self.unlabelled is not None and len(self.unlabelled):
            return self.unlabelled
        return self.splits.get("train")

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


def check_dataset_value(value: Any, where: str, modality: str) -> Dataset:
    """What a dataset factory returned, checked against the documented types; each mistake is the plugin's,
    named with ``where`` (e.g. ``dataset 'acme:photos' (factory 'acme.data:photos')``), never an internal error."""
    if not isinstance(value, Dataset):
        raise DataError(f"{where} returned a {type(value).__name__}, not a hub.data.Dataset; fix the plugin's factory")
    names = value.label_names
    if not isinstance(names, (tuple, list)) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{where}: label_names must be a non-empty tuple of strings, got {names!r:.80}")
    if not isinstance(value.splits, dict) or not value.splits:
        raise DataError(f"{where}: splits must be a dict of name -> hub.data.Split, got {type(value.splits).__name__}")
    parts = dict(value.splits)
    if value.unlabelled is not None:
        parts["unlabelled"] = value.unlabelled
    for name, split in parts.items():
        if not isinstance(split, Split):
            raise DataError(f"{where}: split {name!r} is a {type(split).__name__}, not a hub.data.Split")
        _check_inputs(split.inputs, f"{where}: split {name!r}", modality)
    return value


def _check_inputs(inputs: Any, where: str, modality: str) -> None:
    if modality == "image" and hasattr(inputs, "dtype"):
        shape = tuple(getattr(inputs, "shape", ()))
        if str(inputs.dtype) != "uint8" or len(shape) not in (3, 4):
            raise DataError(f"{where}: images must be a uint8 array (N, H, W) or (N, H, W, C) with pixels 0..255, "
                            f"got {inputs.dtype} {shape}; convert in the factory (e.g. (x * 255).round().astype('uint8'))")
        return
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
        raise DataError(f"{where}: inputs must be a sequence ({'image paths or a uint8 array' if modality == 'image' else 'strings'}), "
                        f"got {type(inputs).__name__}")
    if modality == "text":
        bad = next((type(x).__name__ for x in inputs[:1000] if not isinstance(x, str)), None)
        if bad is not None:
            raise DataError(f"{where}: texts must be strings, found a {bad}")


def load_dataset(registry: Any, name: str, options: Any, role: str = "dataset") -> Dataset:
    """Build a registered dataset; a factory's OS/value error becomes one DataError naming it.

    Called once per job (:func:`hub.job.plan`): every stage reads the splits the plan holds.
    """
    return load_component(registry.get("dataset", name), options, role)


def load_component(component: Any, options: Any, role: str = "dataset") -> Dataset:
    """:func:`load_dataset` for a component already looked up (a run's recipe names it)."""
    from .errors import HubError
    from .specs import resolve

    spec = component.spec
    try:
        value = resolve(spec.factory)(**dict(options))
    except HubError:
        raise
    except Exception as exc:  # a third-party factory's failure is one line naming it, never a traceback
        raise DataError(f"{role} {component.name!r} failed to load: {exc}") from exc
    return check_dataset_value(value, f"{role} {component.qualified_name!r} (factory {spec.factory!r})", spec.modality)
