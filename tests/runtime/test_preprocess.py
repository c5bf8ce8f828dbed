"""hub.runtime.preprocess: the one image pipeline shared by training, export checks and deployers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hub.errors import DataError, HubError, InputError, RuntimeModelError
from hub.runtime.preprocess import check_contract, preprocess_images
from hub.specs import ImageInput

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def contract(**kw):
    base = {"size": [4, 4], "channels": 3, "mean": list(MEAN), "std": list(STD), "color_order": "RGB",
            "interpolation": "nearest", "crop_pct": 1.0}
    base.update(kw)
    return base


def expected(pixels_hwc: np.ndarray, mean=MEAN, std=STD) -> np.ndarray:
    """The textbook formula, in float64, as CHW."""
    x = pixels_hwc.astype(np.float64) / 255.0
    return ((x - np.asarray(mean)) / np.asarray(std)).transpose(2, 0, 1)


def test_normalisation_exact_on_hand_made_image():
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 255, 128, 0
    img[0, 0] = (10, 20, 30)
    out = preprocess_images(img[None], contract())
    assert out.dtype == np.float32 and out.shape == (1, 3, 4, 4) and out.flags.c_contiguous
    np.testing.assert_allclose(out[0], expected(img), rtol=0, atol=2e-6)
    # a few numbers by hand: (255/255 - 0.485) / 0.229, (0/255 - 0.406) / 0.225
    assert out[0, 0, 1, 1] == pytest.approx((1 - 0.485) / 0.229, abs=1e-6)
    assert out[0, 2, 3, 3] == pytest.approx(-0.406 / 0.225, abs=1e-6)


def test_accepts_an_image_input_dataclass_and_export_kind_key():
    img = np.full((1, 4, 4, 3), 77, np.uint8)
    a = preprocess_images(img, ImageInput(size=(4, 4), interpolation="nearest"))
    b = preprocess_images(img, dict(contract(interpolation="bilinear"), kind="image"))
    np.testing.assert_array_equal(a, b)


def test_input_kinds_agree(tmp_path):
    rng = np.random.default_rng(0)
    arrays = rng.integers(0, 256, (3, 10, 12, 3), dtype=np.uint8)
    paths = []
    for i, a in enumerate(arrays):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(a).save(paths[-1])
    c = contract(size=[8, 6], interpolation="bilinear")
    batch = preprocess_images(arrays, c)
    assert batch.shape == (3, 3, 8, 6) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, preprocess_images(list(arrays), c))
    np.testing.assert_array_equal(batch, preprocess_images([str(p) for p in paths], c))
    np.testing.assert_array_equal(batch, preprocess_images([Image.fromarray(a) for a in arrays], c))
    np.testing.assert_array_equal(batch[:1], preprocess_images(paths[0], c))  # one path, no list
    # an array already at the output size is still centre-cropped like the same picture from a file
    cropped = contract(size=[10, 12], interpolation="bilinear", crop_pct=0.5)
    np.testing.assert_array_equal(preprocess_images(arrays, cropped),
                                  preprocess_images([Image.fromarray(a) for a in arrays], cropped))
    # mixed sizes in one list
    mixed = preprocess_images([arrays[0], np.zeros((30, 5), np.uint8), Image.new("RGB", (3, 40))], c)
    assert mixed.shape == (3, 3, 8, 6)


def test_grayscale_repeated_to_rgb_and_single_channel():
    grey = np.arange(16, dtype=np.uint8).reshape(1, 4, 4) * 16
    out = preprocess_images(grey, contract())
    rgb = np.repeat(grey[0][:, :, None], 3, axis=2)
    np.testing.assert_allclose(out[0], expected(rgb), atol=2e-6)
    np.testing.assert_array_equal(out, preprocess_images(grey[..., None], contract()))  # (N, H, W, 1)
    one = preprocess_images(grey, contract(channels=1, mean=[0.5], std=[0.25]))
    assert one.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(one[0, 0], (grey[0] / 255.0 - 0.5) / 0.25, atol=2e-6)
    # RGB to one channel goes through Pillow's luma
    colour = np.zeros((1, 4, 4, 3), np.uint8)
    colour[..., 1] = 255
    luma = np.asarray(Image.fromarray(colour[0]).convert("L"))
    np.testing.assert_allclose(preprocess_images(colour, contract(channels=1, mean=[0], std=[1]))[0, 0],
                               luma / 255.0, atol=2e-6)


def test_rgba_and_palette_become_rgb():
    rgba = Image.new("RGBA", (4, 4), (200, 100, 50, 0))
    out = preprocess_images([rgba], contract())
    np.testing.assert_allclose(out[0], expected(np.full((4, 4, 3), (200, 100, 50), np.uint8)), atol=2e-6)
    palette = Image.new("RGB", (4, 4), (200, 100, 50)).convert("P", palette=Image.Palette.ADAPTIVE)
    np.testing.assert_allclose(preprocess_images([palette], contract()), out, atol=2e-6)
    palette.info["transparency"] = 0  # palette with transparency goes through RGBA
    np.testing.assert_allclose(preprocess_images([palette], contract()), out, atol=2e-6)
    arr4 = np.dstack([np.full((4, 4, 3), (200, 100, 50), np.uint8), np.zeros((4, 4), np.uint8)])[None]
    np.testing.assert_allclose(preprocess_images(arr4, contract()), out, atol=2e-6)


def test_bgr_reverses_channels():
    img = np.zeros((1, 4, 4, 3), np.uint8)
    img[..., 0] = 255  # pure red
    out = preprocess_images(img, contract(color_order="BGR", mean=[0, 0, 0], std=[1, 1, 1]))
    assert out[0, 2].min() == 1.0 and out[0, 0].max() == 0.0  # red lands in the last channel


def test_crop_pct_resizes_shorter_side_then_centre_crops():
    # 8x16 image; size 4, crop_pct 0.5: shorter side -> 8 (no resize), centre crop 4x4 at rows 2..6, cols 6..10
    img = np.arange(8 * 16, dtype=np.uint8).reshape(1, 8, 16)
    out = preprocess_images(img, contract(channels=1, mean=[0], std=[1 / 255], crop_pct=0.5))
    np.testing.assert_allclose(out[0, 0], img[0, 2:6, 6:10], atol=1e-4)
    # crop_pct 1.0 squeezes the whole image to the size instead (aspect not kept)
    whole = preprocess_images(img, contract(channels=1, mean=[0], std=[1 / 255], size=[8, 8]))
    np.testing.assert_allclose(whole[0, 0], img[0, :, 1::2], atol=1e-4)  # nearest takes pixel centres
    # timm's eval transform geometry: 224 at crop_pct 0.875 resizes the shorter side to 256
    big = np.random.default_rng(0).integers(0, 256, (1, 300, 400, 3), dtype=np.uint8)
    ref = Image.fromarray(big[0]).resize((341, 256), Image.Resampling.BILINEAR)
    ref = np.asarray(ref)[16:240, 58:282]
    got = preprocess_images(big, contract(size=224, crop_pct=0.875, interpolation="bilinear"))
    np.testing.assert_allclose(got[0], expected(ref), atol=2e-6)


def test_digits_sized_fast_path_and_same_size_passthrough():
    img = np.random.default_rng(1).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    up = preprocess_images(img, contract(size=32, interpolation="bicubic"))
    assert up.shape == (5, 3, 32, 32)
    np.testing.assert_allclose(up[:, 0] * STD[0] + MEAN[0], up[:, 1] * STD[1] + MEAN[1], atol=1e-5)
    same = preprocess_images(img, contract(size=8))
    np.testing.assert_allclose(same[:, 0], (img / 255.0 - MEAN[0]) / STD[0], atol=2e-6)
    assert preprocess_images([], contract()).shape == (0, 3, 4, 4)


@pytest.mark.parametrize("change, words", [
    ({"size": [0, 4]}, "size"),
    ({"size": "big"}, "size"),
    ({"channels": 2, "mean": [0, 0], "std": [1, 1]}, "channels"),
    ({"mean": [0.5]}, "mean and std need 3"),
    ({"std": [1, 0, 1]}, "std must be positive"),
    ({"color_order": "RGBA"}, "color_order"),
    ({"interpolation": "lanczos"}, "interpolation"),
    ({"crop_pct": 0}, "crop_pct"),
    ({"crop_pct": 1.5}, "crop_pct"),
    ({"crop_pc": 0.9}, "did you mean 'crop_pct'"),
])
def test_bad_contract_is_a_model_error(change, words):
    """A damaged preprocessing contract is the model folder's fault: a HubError (still a ValueError)."""
    with pytest.raises(RuntimeModelError, match=words) as err:
        check_contract(contract(**change))
    assert isinstance(err.value, HubError) and isinstance(err.value, ValueError)


def test_bad_inputs_are_input_errors():
    """What predict callers get for a wrong input is an InputError (a HubError), as in hub.runtime.inputs."""
    with pytest.raises(RuntimeModelError, match="lacks size"):
        preprocess_images(np.zeros((1, 4, 4), np.uint8), {"mean": [0], "std": [1]})
    with pytest.raises(InputError, match="uint8"):
        preprocess_images(np.zeros((1, 4, 4), np.float32), contract())
    with pytest.raises(InputError, match="wrap a single image"):
        preprocess_images(np.zeros((4, 4), np.uint8), contract())


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="broken.jpg"):
        preprocess_images([bad], contract())
    with pytest.raises(DataError, match="missing.png: image file does not exist"):
        preprocess_images([tmp_path / "missing.png"], contract())


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (6, 2), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 3, 2))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the left half becomes the top
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=100)
    out = preprocess_images([path], contract(size=[6, 2], mean=[0, 0, 0], std=[1, 1, 1]))
    assert out[0, :, :3].min() > 0.7 and out[0, :, 3:].max() < 0.3


def test_runtime_never_imports_torch():
    code = ("import sys, numpy as np; from hub.runtime.preprocess import preprocess_images; "
            "preprocess_images(np.zeros((1, 8, 8), np.uint8), {'size': 4, 'mean': [0], 'std': [1]}); "
            "import hub.runtime; print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
