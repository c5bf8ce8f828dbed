"""The card's generated preprocessing, executed, equals hub.runtime's pixel for pixel (fast, no model).

tests/publish/test_card_snippets.py runs whole cards against `hub serve` (slow); this one runs only the
generated `preprocess` function, for contracts and image modes the slow test's digits model does not
cover (BGR, grey models, nearest/bilinear, non-square sizes, EXIF rotation).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hub.publish.snippet import _image_code
from hub.runtime.preprocess import preprocess_images


def _snippet_preprocess(contract: dict):
    lines = _image_code(contract)
    code = "\n".join(lines[:lines.index("def predict(path):")])
    scope: dict = {}
    exec("import math\nimport numpy as np\nfrom PIL import Image, ImageOps\n" + code, scope)
    return scope["preprocess"]


def _files(folder):
    rng = np.random.default_rng(1)
    images = {
        "grey.png": Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)),
        "sixteen.png": Image.fromarray(rng.integers(0, 65535, (20, 14), dtype=np.uint16)),
        "rgb-wide.png": Image.fromarray(rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)),
        "rgba-tall.png": Image.fromarray(rng.integers(0, 255, (50, 21, 4), dtype=np.uint8)),
        "la.png": Image.fromarray(rng.integers(0, 255, (16, 12, 2), dtype=np.uint8), "LA"),
        "palette.png": Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).convert("P"),
        "bits.png": Image.fromarray(rng.integers(0, 255, (9, 9), dtype=np.uint8)).convert("1"),
    }
    paths = []
    for name, image in images.items():
        image.save(folder / name)
        paths.append(folder / name)
    rotated = Image.fromarray(rng.integers(0, 255, (10, 30, 3), dtype=np.uint8))
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    rotated.save(folder / "exif.jpg", exif=exif, quality=95)
    return paths + [folder / "exif.jpg"]


@pytest.mark.parametrize("contract", [
    {"size": [64, 64], "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bicubic", "crop_pct": 0.875},
    {"size": [24, 32], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"},
    {"size": [30, 20], "mean": [0.1, 0.2, 0.3], "std": [0.3, 0.2, 0.1], "interpolation": "nearest",
     "crop_pct": 0.9, "color_order": "BGR"},
    {"size": [28, 28], "channels": 1, "mean": [0.5], "std": [0.5], "interpolation": "bilinear", "crop_pct": 0.95},
], ids=["lite0-crop", "straight", "bgr-nearest-crop", "grey"])
def test_generated_preprocess_equals_runtime(contract, tmp_path):
    preprocess = _snippet_preprocess(contract)
    for path in _files(tmp_path):
        ours, theirs = preprocess(str(path)), preprocess_images([path], contract)
        assert ours.shape == theirs.shape and ours.dtype == np.float32, path.name
        np.testing.assert_allclose(ours, theirs, atol=1e-5, err_msg=path.name)


def test_sixteen_bit_png_opened_as_mode_i_is_scaled_not_clipped(tmp_path):
    """Some Pillow versions open 16-bit grey PNGs as 32-bit "I": both paths keep the top 8 bits."""
    contract = {"size": [8, 8], "mean": [0.0], "std": [1.0], "channels": 1}
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(tmp_path / "x.png")
    as_i = Image.open(tmp_path / "x.png").convert("I")  # what older Pillow hands out for such a file
    as_i.format = "PNG"
    expected = (40000 >> 8) / 255
    assert np.allclose(preprocess_images([tmp_path / "x.png"], contract), expected, atol=1e-6)
    assert np.allclose(preprocess_images([as_i], contract), expected, atol=1e-6)
    assert np.allclose(_snippet_preprocess(contract)(str(tmp_path / "x.png")), expected, atol=1e-6)
