"""PSNR / SSIM and the evaluation protocol, down to the Rain100L check value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import data_sets
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from derain.images import ImageError, rgb_to_y, save_image
from derain.metrics import evaluate_folders, evaluate_pairs, psnr, ssim


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], sigma=2.0) -> np.ndarray:
    """Random smooth image rescaled to fill [0, 1]; natural-ish, unlike white noise."""
    sig = (sigma, sigma, 0) if len(shape) == 3 else sigma
    x = ndimage.gaussian_filter(rng.random(shape), sig)
    return (x - x.min()) / (x.max() - x.min())


def _noisy(rng: np.random.Generator, x: np.ndarray, std=0.03) -> np.ndarray:
    return np.clip(x + std * rng.standard_normal(x.shape), 0.0, 1.0)


# ----------------------------------------------------------------------- psnr


def test_identical_images(rng):
    rgb = _smooth(rng, (20, 24, 3)).astype(np.float32)
    assert psnr(rgb, rgb) == math.inf
    assert ssim(rgb, rgb) == pytest.approx(1.0, abs=1e-12)
    assert ssim(rgb[..., 0], rgb[..., 0]) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("d", [1, 5, 20])
def test_psnr_of_constant_offset_single_channel(d):
    # MSE = d^2 on the 0..255 scale, so PSNR = 10 log10(255^2 / d^2).
    a = np.full((16, 16), 0.4)
    b = a + d / 255
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / d), abs=1e-9)


def test_psnr_of_constant_offset_on_y():
    # A grey offset of d/255 in R, G and B moves Y by d * 219/255 levels (the BT.601
    # luma coefficients sum to 219/255), so PSNR = 20 log10(255 / (d * 219/255)).
    d = 10
    a = np.full((12, 12, 3), 0.3)
    b = a + d / 255
    expected = 20 * math.log10(255 / (d * 219 / 255))
    assert psnr(a, b) == pytest.approx(expected, abs=1e-9)
    # On RGB the offset is the full d levels.
    assert psnr(a, b, y_channel=False) == pytest.approx(20 * math.log10(255 / d))


def test_psnr_matches_skimage_on_y(rng):
    a = _smooth(rng, (40, 50, 3))
    b = _noisy(rng, a)
    ya, yb = rgb_to_y(a) * 255, rgb_to_y(b) * 255
    expected = peak_signal_noise_ratio(ya, yb, data_range=255)
    assert psnr(a, b) == pytest.approx(expected, abs=1e-9)


def test_y_is_not_rounded():
    # A 0.25-level difference would vanish (PSNR inf) if Y were rounded to integers.
    a = np.full((12, 12), 100.0 / 255)
    b = np.full((12, 12), 100.25 / 255)
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / 0.25))


def test_crop_border_removes_the_border(rng):
    a = _smooth(rng, (40, 40, 3))
    b = a.copy()
    b[:3] = 1 - b[:3]  # damage only the top three rows
    assert psnr(a, b) < 30
    assert psnr(a, b, crop_border=2) < 30
    assert psnr(a, b, crop_border=3) == math.inf
    assert ssim(a, b, crop_border=3) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, b, crop_border=2) < 1.0


def test_inputs_are_checked(rng):
    a = _smooth(rng, (16, 16, 3))
    with pytest.raises(ValueError, match="shape"):
        psnr(a, a[:-1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        psnr(a * 255, a * 255)
    with pytest.raises(TypeError):
        ssim((a * 255).astype(np.uint8), (a * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="11x11"):
        ssim(a[:10], a[:10])


# ----------------------------------------------------------------------- ssim


def test_ssim_small_noise_is_below_one_and_symmetric(rng):
    a = _smooth(rng, (48, 56, 3))
    b = _noisy(rng, a, std=0.01)
    s = ssim(a, b)
    assert 0.5 < s < 1.0
    assert ssim(b, a) == pytest.approx(s, abs=1e-12)
    assert ssim(a, _noisy(rng, a, std=0.1)) < s


@pytest.mark.parametrize("shape", [(64, 80), (31, 47), (300, 200)])
def test_ssim_matches_skimage(rng, shape):
    # skimage filters with reflect padding but crops (win_size - 1) // 2 = 5 pixels
    # off every side of the SSIM map before averaging, so its mean covers exactly our
    # 'valid' region and the padding never enters it: the two agree to rounding error,
    # a much tighter bound than the ~1e-3 one would allow for a padded implementation.
    a = _smooth(rng, shape)
    b = _noisy(rng, a)
    expected = structural_similarity(
        a * 255,
        b * 255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ssim(a, b) == pytest.approx(expected, abs=1e-9)


def test_ssim_on_rgb_uses_y_unless_told(rng):
    a = _smooth(rng, (40, 40, 3))
    b = _noisy(rng, a)
    assert ssim(a, b) == pytest.approx(ssim(rgb_to_y(a), rgb_to_y(b)), abs=1e-12)
    per_channel = [ssim(a[..., c], b[..., c]) for c in range(3)]
    assert ssim(a, b, y_channel=False) == pytest.approx(np.mean(per_channel), abs=1e-12)


# ----------------------------------------------------------------------- evaluation


def test_evaluate_pairs(rng):
    targets = [_smooth(rng, (24, 24, 3)) for _ in range(3)]
    preds = [targets[0], _noisy(rng, targets[1]), _noisy(rng, targets[2])]
    result = evaluate_pairs(preds, targets, names=["x", "y", "z"])
    assert result["n"] == 3 and result["n_psnr_infinite"] == 1
    assert [r["name"] for r in result["per_image"]] == ["x", "y", "z"]
    assert result["per_image"][0]["psnr"] == math.inf
    # The PSNR mean leaves out the infinite value; the SSIM mean does not.
    finite = [r["psnr"] for r in result["per_image"][1:]]
    assert result["psnr"] == pytest.approx(np.mean(finite))
    all_ssim = [r["ssim"] for r in result["per_image"]]
    assert result["ssim"] == pytest.approx(np.mean(all_ssim))
    default_names = evaluate_pairs(iter(preds), iter(targets))["per_image"]
    assert [r["name"] for r in default_names] == ["0", "1", "2"]


def test_evaluate_pairs_length_mismatch(rng):
    imgs = [_smooth(rng, (16, 16)) for _ in range(2)]
    with pytest.raises(ValueError):
        evaluate_pairs(imgs, imgs[:1])
    with pytest.raises(ValueError, match="names"):
        evaluate_pairs(imgs, imgs, names=["only one"])
    with pytest.raises(ValueError, match="names"):
        evaluate_pairs(imgs, imgs, names=["a", "b", "c"])
    with pytest.raises(ValueError):
        evaluate_pairs([], [])


def _folders(tmp_path, rng, names, size=(20, 24)):
    inp, tgt = tmp_path / "input", tmp_path / "target"
    for name in names:
        clean = _smooth(rng, (*size, 3))
        save_image(tgt / name, clean)
        save_image(inp / name, _noisy(rng, clean))
    return inp, tgt


def test_evaluate_folders(tmp_path, rng):
    inp, tgt = _folders(tmp_path, rng, ["b.png", "a.png"])
    result = evaluate_folders(inp, tgt)
    assert result["n"] == 2
    assert [r["name"] for r in result["per_image"]] == ["a.png", "b.png"]
    assert 20 < result["psnr"] < 60 and 0 < result["ssim"] < 1


def test_evaluate_folders_unmatched_file(tmp_path, rng):
    inp, tgt = _folders(tmp_path, rng, ["a.png"])
    save_image(inp / "lonely.png", np.zeros((20, 24, 3)))
    with pytest.raises(ImageError, match="lonely.png"):
        evaluate_folders(inp, tgt)
    with pytest.raises(ImageError, match="lonely.png"):
        evaluate_folders(tgt, inp)


def test_evaluate_folders_size_mismatch(tmp_path, rng):
    inp, tgt = _folders(tmp_path, rng, ["a.png", "odd.png"])
    save_image(tgt / "odd.png", np.zeros((21, 24, 3)))
    with pytest.raises(ImageError, match=r"odd\.png.*24x20.*24x21"):
        evaluate_folders(inp, tgt)


# ----------------------------------------------------------------------- protocol


def test_rain100l_check_value():
    """Rainy inputs vs targets of Rain100L: the protocol's known 26.90 dB / 0.838."""
    root = data_sets("Rain100L")
    if root is None:
        pytest.skip("Rain100L not found: link the data sets to <project>/datasets "
                    "(make data-link DATA=...)")
    result = evaluate_folders(root / "Rain100L" / "input", root / "Rain100L" / "target")
    assert result["n"] == 100
    assert result["n_psnr_infinite"] == 0
    assert result["psnr"] == pytest.approx(26.90, abs=0.01)
    assert result["ssim"] == pytest.approx(0.838, abs=0.001)


def test_evaluate_scores_rgb_beside_y_when_asked(rng):
    """``evaluate(..., rgb=True)`` adds the RGB convention to the Y one: the means
    of psnr/ssim with ``y_channel=False``, and the Y scores unchanged."""
    from derain.evaluation import evaluate

    pairs = []
    for i in range(3):
        target = _smooth(rng, (24, 20, 3)).astype(np.float32)
        noisy = np.clip(target + rng.normal(0, 0.05, target.shape), 0, 1)
        pairs.append((f"{i}", noisy.astype(np.float32), target))
    plain = evaluate(None, pairs, progress=False)
    both = evaluate(None, pairs, progress=False, rgb=True)
    assert both["psnr"] == plain["psnr"] and "psnr_rgb" not in plain
    expected = np.mean([psnr(x, t, y_channel=False) for _, x, t in pairs])
    assert both["psnr_rgb"] == pytest.approx(expected)
    assert both["ssim_rgb"] == pytest.approx(
        np.mean([ssim(x, t, y_channel=False) for _, x, t in pairs]))
    assert abs(both["psnr_rgb"] - both["psnr"]) > 0.1  # the conventions differ
