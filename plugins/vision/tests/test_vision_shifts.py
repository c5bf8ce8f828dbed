"""mnist-shift: shifted MNIST target domains made from images a source model trained on mnist-5k never saw.

Each shifted image is paired with its original through the same seeded split the factory uses
(hub.data.split_indices), so every claim is checked against the untouched pixels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.data import load_dataset, split_indices
from hub.errors import DataError
from hub.plugins import load_hub, set_hub
from hub_vision.data import embedded, shifts

SIZES = {"train": 375, "validation": 150, "test": 225}


@pytest.fixture(scope="module")
def mnist():
    return embedded.mnist5k(seed=0)


@pytest.fixture(scope="module")
def shifted():
    return {name: shifts.mnist_shift(name) for name in shifts.SHIFTS}


def paired(mnist, dataset, seed=0):
    """(original, shifted) image arrays and (original, shifted) labels, all splits, pool order by split."""
    pool = mnist.split("test")
    parts = split_indices(len(pool), shifts.FRACTIONS, seed)
    originals = np.concatenate([pool.inputs[idx] for idx in parts])
    labels = np.concatenate([pool.labels[idx] for idx in parts])
    images = np.concatenate([dataset.splits[s].inputs for s in ("train", "validation", "test")])
    got = np.concatenate([dataset.splits[s].labels for s in ("train", "validation", "test")])
    return originals, images, labels, got


@pytest.mark.parametrize("name", shifts.SHIFTS)
def test_sizes_types_labels_and_same_bytes_every_call(mnist, shifted, name):
    ds = shifted[name]
    assert {k: len(v) for k, v in ds.splits.items()} == SIZES
    assert ds.name == f"mnist-shift-{name}" and ds.label_names == mnist.label_names
    for split in ds.splits.values():
        assert split.inputs.dtype == np.uint8 and split.inputs.shape[1:] == (28, 28)
        assert split.labels.dtype == np.int64
    again = shifts.mnist_shift(name)
    for s in SIZES:
        assert again.splits[s].inputs.tobytes() == ds.splits[s].inputs.tobytes()
    _, _, labels, got = paired(mnist, ds)
    np.testing.assert_array_equal(got, labels)  # each image keeps its own label
    assert ds.info["shift"] == name and "mnist-5k test split" in ds.info["source"]


def test_the_originals_are_outside_mnist5k_train_and_validation(mnist, shifted):
    seen = {img.tobytes() for s in ("train", "validation") for img in mnist.splits[s].inputs}
    originals, inverted_back = paired(mnist, shifted["invert"])[:2]
    inverted_back = 255 - inverted_back
    np.testing.assert_array_equal(inverted_back, originals)  # the pairing is the factory's own
    assert len({img.tobytes() for img in originals}) == 750
    assert not seen & {img.tobytes() for img in originals}


def test_invert_is_255_minus_x(mnist, shifted):
    originals, images = paired(mnist, shifted["invert"])[:2]
    assert np.array_equal(images.astype(int), 255 - originals.astype(int))
    assert images.mean() > 200  # white background now


def test_rotate_moves_pixels_but_keeps_the_digit(mnist, shifted):
    originals, images = paired(mnist, shifted["rotate"])[:2]
    changed = (np.abs(images.astype(int) - originals.astype(int)) > 32).mean(axis=(1, 2))
    assert changed.min() > 0.02  # every image is visibly rotated (|angle| >= 30 degrees)
    mass = images.sum(axis=(1, 2)) / originals.sum(axis=(1, 2))
    assert 0.9 < np.median(mass) < 1.05 and mass.min() > 0.85  # bilinear blurs a little; the digit stays in frame
    flat = np.minimum(originals, images)  # overlap with the upright digit is partial, never total
    assert (flat.sum(axis=(1, 2)) < 0.9 * originals.sum(axis=(1, 2))).all()


def test_noise_has_the_fixed_sigma(mnist, shifted):
    originals, images = paired(mnist, shifted["noise"])[:2]
    background = images[originals == 0].astype(float)  # clip(n) there: n itself whenever n > 0
    positive = background[background > 0]
    sigma = np.sqrt(np.mean(positive ** 2))  # E[n^2 | n > 0] = sigma^2 for zero-mean Gaussian n
    assert sigma == pytest.approx(shifts.NOISE_SIGMA * 255, rel=0.03)
    assert 0.45 < (background == 0).mean() < 0.55  # half the background noise was negative, clipped to 0


def test_bad_shift_is_one_error_naming_the_choices():
    registry = load_hub().registry
    for bad in ("blur", None, 3):
        with pytest.raises(DataError, match="choose one of invert, rotate, noise"):
            load_dataset(registry, "mnist-shift", {} if bad is None else {"shift": bad})


def test_listed_available_and_a_train_adaptation_target(tmp_path):
    hub = load_hub()
    set_hub(hub)
    try:
        runner = CliRunner()
        listing = runner.invoke(cli, ["list", "datasets"])
        line = next(row for row in listing.output.splitlines() if row.startswith("mnist-shift "))
        assert line.split()[-1] == "yes"
        result = runner.invoke(cli, [
            "train", "--backbone", "small-cnn", "--set", "backbone.pretrained=false", "--set", "backbone.image_size=16",
            "--dataset", "mnist-5k", "--strategy", "fine-tune", "--epochs", "1", "--adapt", "coral",
            "--set", 'adapt.target={name = "mnist-shift", shift = "invert"}', "--no-progress",
            "--out", str(tmp_path / "run"), "--json"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
    finally:
        set_hub(None)
    assert summary["adaptation"]["target"] == "mnist-shift-invert"
    assert summary["adaptation"]["target_examples"] == 375
    assert 0.0 <= summary["target"]["test"]["accuracy"] <= 1.0 and summary["target"]["dataset"] == "mnist-shift-invert"
