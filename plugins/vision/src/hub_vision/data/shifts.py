"""Shifted MNIST target domains for domain-adaptation studies (issue 26), built from shipped data only.

Why these exist: the project's one domain pair (MNIST-5k -> digits) let a method's win on it look general;
each shift here is a second opinion a method was never tuned on. The images are the 750 of mnist-5k's
*test* split (its seed-0 split), which no source model trained on mnist-5k's train split ever saw and no
early stopping looked at (that reads its validation split), so an adaptation run cannot have memorised
the originals of its target.

The three shifts and their strengths (one photometric, one geometric, one noise shift) were fixed in the
task that specified this dataset, before any model had been trained or scored on them, and were not
changed after any result was seen:

- ``invert``: ``255 - x`` (white background, dark strokes): a pure intensity flip, so it breaks first-layer
  features while leaving the geometry of every digit intact;
- ``rotate``: each image rotated by its own angle, uniform in ±[30°, 60°] (the sign random too), bilinear,
  black fill: a geometric shift the source's upright digits never show;
- ``noise``: additive Gaussian pixel noise, sigma 0.35 on the [0, 1] scale (0.35 x 255), clipped to 0..255.

Every random draw comes from a generator with a fixed seed (``TRANSFORM_SEED``), made once per call over
the whole pool in its stored order, so the same bytes come back on every call and every machine with the
same numpy; the ``seed`` option moves only the 50/20/30 split.
"""

from __future__ import annotations

from hub.data import Dataset, make_splits
from hub.errors import DataError

from .embedded import mnist5k, mnist5k_available

SHIFTS = ("invert", "rotate", "noise")
TRANSFORM_SEED = 0
ROTATE_DEGREES = (30.0, 60.0)  # |angle| range
NOISE_SIGMA = 0.35  # on the [0, 1] pixel scale
FRACTIONS = (0.5, 0.2, 0.3)  # train (the unlabelled adaptation pool) / validation / test: 375 / 150 / 225


def mnist_shift(shift: str | None = None, seed: int = 0) -> Dataset:
    """mnist-5k's test split under one fixed shift, split 50/20/30 by a seeded permutation: 375/150/225.

    The split is made after the shift, over the pool in its stored order, so each image gets the same
    transformation whatever ``seed`` chooses for the split. Labels and label names are mnist-5k's.
    """
    if not isinstance(shift, str) or shift not in SHIFTS:
        given = "needs option shift" if shift is None else f"unknown shift {shift!r}"
        raise DataError(f"dataset 'mnist-shift': {given}; choose one of {', '.join(SHIFTS)}, "
                        f"e.g. {{name = \"mnist-shift\", shift = \"invert\"}}")
    import numpy as np

    pool = mnist5k(seed=0).split("test")
    images = TRANSFORMS[shift](np.asarray(pool.inputs))
    return Dataset(
        name=f"mnist-shift-{shift}",
        modality="image",
        label_names=tuple(str(d) for d in range(10)),
        splits=make_splits(images, np.asarray(pool.labels, dtype=np.int64), fractions=FRACTIONS, seed=seed),
        info={"source": "mnist-5k test split (seed 0): 750 images outside its train and validation splits",
              "shift": shift, "how": DESCRIPTIONS[shift], "transform_seed": TRANSFORM_SEED,
              "split": f"{FRACTIONS} by a permutation with seed {seed}", "license": "CC-BY-SA-3.0 (MNIST)"},
    )


def mnist_shift_available() -> tuple[bool, str]:
    ok, why = mnist5k_available()
    if not ok:
        return ok, why
    import importlib.util

    if importlib.util.find_spec("PIL") is None:
        return False, "pip install pillow (the rotate shift uses it)"
    return True, ""


def invert(images):
    return (255 - images).astype("uint8")


def rotate(images):
    """Per-image angle from ±[30, 60] degrees; PIL's bilinear rotation about the centre, black outside."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(TRANSFORM_SEED)
    angles = rng.uniform(*ROTATE_DEGREES, size=len(images)) * rng.choice((-1.0, 1.0), size=len(images))
    out = np.empty_like(images)
    for i, (image, angle) in enumerate(zip(images, angles)):
        out[i] = np.asarray(Image.fromarray(image).rotate(
            float(angle), resample=Image.Resampling.BILINEAR, fillcolor=0))
    return out


def noise(images):
    import numpy as np

    rng = np.random.default_rng(TRANSFORM_SEED)
    noisy = images.astype(np.float64) + rng.normal(0.0, NOISE_SIGMA * 255.0, size=images.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


TRANSFORMS = {"invert": invert, "rotate": rotate, "noise": noise}
DESCRIPTIONS = {
    "invert": "255 - x (white background, dark strokes)",
    "rotate": f"per-image angle uniform in ±{list(ROTATE_DEGREES)} degrees (random sign), PIL bilinear, black fill, "
              f"numpy default_rng({TRANSFORM_SEED})",
    "noise": f"additive Gaussian noise, sigma {NOISE_SIGMA} x 255, rounded and clipped to 0..255, "
             f"numpy default_rng({TRANSFORM_SEED})",
}
