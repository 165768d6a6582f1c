"""PSNR and SSIM as the deraining literature reports them, with the protocol spelt out.

The protocol of the paper's tables (and of BasicSR / the MATLAB scripts of JORDER, DID,
PReNet...): convert both images to the BT.601 luma Y of MATLAB's ``rgb2ycbcr``
(:func:`derain.images.rgb_to_y`), express it on the 0..255 scale (Y in [16, 235]),
do not round, and compute

* PSNR = 10 log10(255^2 / MSE);
* SSIM of Wang et al. (2004): 11x11 Gaussian window with sigma 1.5, K1 = 0.01,
  K2 = 0.03, L = 255, filtered over the *valid* region only (no padding, as MATLAB's
  ``ssim_index`` with ``filter2(..., 'valid')`` and BasicSR's ``_ssim``), and the mean
  of the SSIM map.

Check value: the Rain100L rainy inputs against their targets give 26.90 dB / 0.838.

Every function takes the protocol's choices as explicit keyword arguments whose defaults
are that protocol.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from derain.images import ImageError, list_images, load_image, rgb_to_y

if TYPE_CHECKING:
    import torch

__all__ = [
    "COLLAPSE_RATIO",
    "SSIM_K1",
    "SSIM_K2",
    "SSIM_SIGMA",
    "SSIM_WINDOW",
    "contrast_ratio",
    "evaluate_folders",
    "evaluate_pairs",
    "psnr",
    "ssim",
]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

# Slack for values that should lie in [0, 1] but carry float rounding error.
_RANGE_TOLERANCE = 1e-6


def _gaussian_window_1d(
    size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA
) -> np.ndarray:
    """(size,) float64 summing to 1; its outer product is fspecial('gaussian')."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    w = np.exp(-(x**2) / (2.0 * sigma**2))
    return w / w.sum()


def _prepare(
    pred: np.ndarray,
    target: np.ndarray,
    *,
    y_channel: bool,
    crop_border: int,
    data_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, crop, convert to Y if asked, and scale to [0, data_range].

    Returns:
        pred, target: (H', W') or (H', W', 3) float64 in [0, data_range].
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"shape mismatch: pred {pred.shape} vs target {target.shape}")
    if not (pred.ndim == 2 or (pred.ndim == 3 and pred.shape[-1] == 3)):
        raise ValueError(f"expected (H, W, 3) or (H, W) arrays, got {pred.shape}")
    for name, x in (("pred", pred), ("target", target)):
        if not np.issubdtype(x.dtype, np.floating):
            # 8-bit input would be taken as values up to 255 and give nonsense.
            raise TypeError(f"{name}: expected float values in [0, 1], got {x.dtype}")
        lo, hi = float(np.min(x)), float(np.max(x))
        if not (lo >= -_RANGE_TOLERANCE and hi <= 1.0 + _RANGE_TOLERANCE):
            raise ValueError(
                f"{name}: values must lie in [0, 1] (clip model outputs first), "
                f"got [{lo:.4g}, {hi:.4g}]"
            )
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        c = crop_border
        if pred.shape[0] <= 2 * c or pred.shape[1] <= 2 * c:
            raise ValueError(f"crop_border {c} leaves nothing of a {pred.shape} image")
        pred = pred[c:-c, c:-c]
        target = target[c:-c, c:-c]
    pred = pred.astype(np.float64)
    target = target.astype(np.float64)
    if y_channel and pred.ndim == 3:
        pred = rgb_to_y(pred)
        target = rgb_to_y(target)
    # No rounding to integers: the check value (26.90 / 0.838) is for unrounded Y.
    return pred * data_range, target * data_range


def psnr(
    pred: np.ndarray,
    target: np.ndarray,
    *,
    y_channel: bool = True,
    crop_border: int = 0,
    data_range: float = 255.0,
) -> float:
    """Peak signal-to-noise ratio in dB.

    Both images are multiplied by ``data_range`` (Y by 255: values in [16, 235]) and
    PSNR = 10 log10(data_range^2 / MSE). Without rounding the result does not depend
    on ``data_range``; it is explicit so that the protocol reads in the call.

    Args:
        pred: (H, W, 3) RGB or (H, W) single channel, float in [0, 1].
        target: same shape as pred, float in [0, 1].
        y_channel: compare the BT.601 luma Y (ignored for single-channel input);
            False compares all three RGB channels.
        crop_border: pixels removed from every side before comparing.
        data_range: peak value of the scale the images are put on.

    Returns:
        PSNR in dB; ``math.inf`` for identical images.
    """
    a, b = _prepare(
        pred,
        target,
        y_channel=y_channel,
        crop_border=crop_border,
        data_range=data_range,
    )
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def _ssim_single(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """SSIM of two (H, W) float64 images on the [0, data_range] scale, valid region."""
    if min(a.shape) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {a.shape}"
        )
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    w = _gaussian_window_1d()
    half = SSIM_WINDOW // 2

    def filt(x: np.ndarray) -> np.ndarray:
        # A centred separable filter, then dropping `half` rows/columns on each side,
        # keeps exactly the outputs whose window lies inside the image ('valid'), so
        # the boundary mode never enters the result.
        x = ndimage.correlate1d(x, w, axis=0, mode="nearest")
        x = ndimage.correlate1d(x, w, axis=1, mode="nearest")
        return x[half:-half, half:-half]

    mu_a, mu_b = filt(a), filt(b)
    mu_a2, mu_b2, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = filt(a * a) - mu_a2
    var_b = filt(b * b) - mu_b2
    cov = filt(a * b) - mu_ab
    ssim_map = ((2.0 * mu_ab + c1) * (2.0 * cov + c2)) / (
        (mu_a2 + mu_b2 + c1) * (var_a + var_b + c2)
    )
    return float(ssim_map.mean())


def ssim(
    pred: np.ndarray,
    target: np.ndarray,
    *,
    y_channel: bool = True,
    crop_border: int = 0,
    data_range: float = 255.0,
) -> float:
    """Structural similarity (Wang et al. 2004): mean SSIM map over the valid region.

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, population (not sample)
    covariances, float64 throughout. With ``y_channel=False`` on RGB the three
    per-channel SSIMs are averaged (as BasicSR does).

    Args:
        pred: (H, W, 3) RGB or (H, W) single channel, float in [0, 1]; at least 11x11
            after cropping.
        target: same shape as pred, float in [0, 1].
        y_channel: compare the BT.601 luma Y (ignored for single-channel input).
        crop_border: pixels removed from every side before comparing.
        data_range: peak value L of the scale the images are put on (C1 = (K1 L)^2,
            C2 = (K2 L)^2); without rounding the result does not depend on it.

    Returns:
        SSIM, at most 1.0 (exactly 1.0 for identical images).
    """
    a, b = _prepare(
        pred,
        target,
        y_channel=y_channel,
        crop_border=crop_border,
        data_range=data_range,
    )
    if a.ndim == 2:
        return _ssim_single(a, b, data_range)
    per_channel = [_ssim_single(a[..., i], b[..., i], data_range) for i in range(3)]
    return float(np.mean(per_channel))


def evaluate_pairs(
    preds: Iterable[np.ndarray],
    targets: Iterable[np.ndarray],
    names: Sequence[str] | None = None,
    *,
    y_channel: bool = True,
    crop_border: int = 0,
) -> dict:
    """PSNR and SSIM of each (pred, target) pair, and their means.

    The inputs are consumed one pair at a time, so generators keep memory flat.

    Args:
        preds: images, each (H, W, 3) or (H, W) float in [0, 1].
        targets: as many images, each the same shape as its pred.
        names: one label per pair; default "0", "1", ...
        y_channel, crop_border: passed to :func:`psnr` and :func:`ssim`.

    Returns:
        ``{"psnr": float, "ssim": float, "n": int, "n_psnr_infinite": int,
        "per_image": [{"name": str, "psnr": float, "ssim": float}, ...]}``.
        The PSNR mean is over the *finite* values only (identical pairs, PSNR = inf,
        are left out and counted in ``n_psnr_infinite``; it is inf if every pair is
        identical); the SSIM mean is over all pairs.

    Raises:
        ValueError: no pairs, or preds, targets and names of different lengths.
    """
    labels = None if names is None else [str(n) for n in names]
    pairs = zip(preds, targets, strict=True)
    result = _evaluate(
        (
            (labels[i] if labels is not None and i < len(labels) else str(i), p, t)
            for i, (p, t) in enumerate(pairs)
        ),
        y_channel=y_channel,
        crop_border=crop_border,
    )
    if labels is not None and len(labels) != result["n"]:
        raise ValueError(f"{len(labels)} names for {result['n']} image pairs")
    return result


def _evaluate(
    named_pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
    *,
    y_channel: bool,
    crop_border: int,
) -> dict:
    """The body of :func:`evaluate_pairs` over (name, pred, target) triples."""
    per_image = [
        {
            "name": name,
            "psnr": psnr(pred, target, y_channel=y_channel, crop_border=crop_border),
            "ssim": ssim(pred, target, y_channel=y_channel, crop_border=crop_border),
        }
        for name, pred, target in named_pairs
    ]
    if not per_image:
        raise ValueError("no image pairs to evaluate")
    finite = [r["psnr"] for r in per_image if math.isfinite(r["psnr"])]
    return {
        "psnr": float(np.mean(finite)) if finite else math.inf,
        "ssim": float(np.mean([r["ssim"] for r in per_image])),
        "n": len(per_image),
        "n_psnr_infinite": len(per_image) - len(finite),
        "per_image": per_image,
    }


def evaluate_folders(
    input_dir: str | os.PathLike,
    target_dir: str | os.PathLike,
    *,
    y_channel: bool = True,
    crop_border: int = 0,
) -> dict:
    """Score each image of ``input_dir`` against its namesake in ``target_dir``.

    Files are matched by their full name (suffix included) and visited in sorted order;
    one pair is in memory at a time.

    Args:
        input_dir: folder of images to score (rainy inputs or derained outputs).
        target_dir: folder of ground-truth images with the same file names.
        y_channel, crop_border: passed to :func:`psnr` and :func:`ssim`.

    Returns:
        :func:`evaluate_pairs`'s dict, ``name`` being the file name.

    Raises:
        ImageError: a folder missing or without images, a file present in only one
            folder, a pair of different sizes, or an unreadable file.
    """
    inputs = {p.name: p for p in list_images(input_dir)}
    targets = {p.name: p for p in list_images(target_dir)}
    for missing, have, other in (
        (sorted(inputs.keys() - targets.keys()), inputs, target_dir),
        (sorted(targets.keys() - inputs.keys()), targets, input_dir),
    ):
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ImageError(
                f"{have[missing[0]]}: no file of that name in {Path(other)}{more}"
            )

    def load_pairs() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for name in sorted(inputs):
            pred, target = load_image(inputs[name]), load_image(targets[name])
            if pred.shape != target.shape:
                raise ImageError(
                    f"{inputs[name]}: size {_size(pred)} differs from "
                    f"{_size(target)} of {targets[name]}"
                )
            yield name, pred, target

    return _evaluate(load_pairs(), y_channel=y_channel, crop_border=crop_border)


def _size(rgb: np.ndarray) -> str:
    """'WxH' of an (H, W, ...) array, the way image sizes are usually written."""
    return f"{rgb.shape[1]}x{rgb.shape[0]}"


# A background whose spatial contrast falls below this fraction of the input's has
# lost the scene: the collapse of the paper's literal recipe (chapter 2) drives it
# towards 0, while a working deraining model stays close to 1.
COLLAPSE_RATIO = 0.5


def contrast_ratio(background: torch.Tensor, rainy: torch.Tensor) -> float:
    """Mean per-image spatial std of the predicted background over that of the
    input; (N, C, H, W) tensors. About 1 for a sane model, about 0 for a constant
    (the collapse check of training)."""
    b = background.flatten(1).std(dim=1)
    r = rainy.flatten(1).std(dim=1).clamp_min(1e-6)
    return float((b / r).mean())
