"""What a method trains towards or compares against when it has no clean image:
per-scene targets from a scene's frames (the temporal mean and median, SPANet's
temporal percentile), and per-image labels from one rainy image (Rain O'er Me's
coarse filtered label, Rain2Avoid's locally dominant gradient prior), plus the
no-learning floors built on them.

The seeds describe these methods only in outline; every detail chosen here is
named in the docstring of the function that makes it. Images are numpy arrays
(H, W, C) in [0, 1] unless stated otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from derain.images import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be (T, H, W, C), got shape {frames.shape}")
    if frames.shape[0] < 2:
        raise ValueError(f"need at least two frames, got {frames.shape[0]}")
    return frames


def temporal_mean(frames: np.ndarray) -> np.ndarray:
    """Per-pixel mean over time. frames: (T, H, W, C) in [0, 1] -> (H, W, C)
    float32 in [0, 1]."""
    return _check_frames(frames).mean(axis=0).astype(np.float32)


def temporal_median(frames: np.ndarray) -> np.ndarray:
    """Per-pixel median over time. frames: (T, H, W, C) in [0, 1] -> (H, W, C)
    float32 in [0, 1]."""
    return np.median(_check_frames(frames), axis=0).astype(np.float32)


def percentile_target(frames: np.ndarray, low: float = 0.25,
                      high: float = 0.5) -> np.ndarray:
    """SPANet's clean image of a static sequence by temporal percentile filtering.

    Rain only brightens a pixel, and only in a minority of frames, so the values
    above the temporal median are the contaminated ones while the lowest are the
    tail of sensor noise. At each pixel the frames are ranked by luminance and the
    frames whose percentile rank ``k / (T - 1)`` lies in ``[low, high]`` are
    averaged (all channels of the same frames, so every output colour is a mean of
    observed colours). If no rank falls in the band (small T) the single rank
    nearest its centre is used; T = 2 gives the darker frame.

    Choices where the seed is open: SPANet picks the band per sequence with a
    person in the loop; here one band is used for all scenes, the lower-middle
    quartile (0.25, 0.5) by default. Luminance is BT.601 Y for C = 3, the channel
    itself for C = 1 and the channel mean otherwise.

    frames: (T, H, W, C) in [0, 1], T >= 2 -> (H, W, C) float32 in [0, 1].
    """
    frames = _check_frames(frames)
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got {low}, {high}")
    t = frames.shape[0]
    if frames.shape[-1] == 3:
        lum = rgb_to_y(frames.astype(np.float32))
    else:
        lum = frames.mean(axis=-1)
    q = np.arange(t) / (t - 1)
    ranks = np.flatnonzero((q >= low - 1e-9) & (q <= high + 1e-9))
    if ranks.size == 0:
        ranks = np.array([int(round((low + high) / 2 * (t - 1)))])
    order = np.argsort(lum, axis=0, kind="stable")[ranks]  # (K, H, W)
    picked = np.take_along_axis(frames, order[..., None], axis=0)
    return picked.mean(axis=0).astype(np.float32)


def coarse_clean_label(rainy: np.ndarray, size: int = 5) -> np.ndarray:
    """Rain O'er Me's "rain-to-clean" soft label: the rainy image after a simple
    filter that removes thin bright streaks.

    The seed says only "a simple filtering technique" (the reference code reads
    precomputed "blurred" labels). Chosen here: a ``size`` x ``size`` median
    filter per channel, which removes any structure narrower than half the
    window (streaks up to 2 px wide at size 5), then the pixelwise minimum with
    the input, because rain only adds light and a label brighter than its rainy
    image cannot be cleaner.

    rainy: (H, W, C) or (H, W) in [0, 1] -> same shape, float32 in [0, 1], never
    above ``rainy``.
    """
    rainy = np.asarray(rainy, dtype=np.float32)
    if rainy.ndim not in (2, 3):
        raise ValueError(f"rainy must be (H, W) or (H, W, C), got {rainy.shape}")
    window = (size, size) if rainy.ndim == 2 else (size, size, 1)
    smooth = ndimage.median_filter(rainy, size=window, mode="reflect")
    return np.minimum(rainy, smooth)


def single_image_filter(rainy: np.ndarray, size: int = 5) -> np.ndarray:
    """A deraining floor without learning: :func:`coarse_clean_label` on the
    BT.601 luminance, the input's Cb and Cr kept (as the networks do).

    rainy: (H, W, 3) RGB in [0, 1] -> (H, W, 3) float32 RGB in [0, 1].
    """
    rainy = np.asarray(rainy, dtype=np.float32)
    if rainy.ndim != 3 or rainy.shape[-1] != 3:
        raise ValueError(f"rainy must be (H, W, 3), got {rainy.shape}")
    ycbcr = rgb_to_ycbcr(rainy)
    ycbcr[..., 0] = coarse_clean_label(ycbcr[..., 0], size)
    return ycbcr_to_rgb(ycbcr).astype(np.float32)


def dominant_orientation(gray: np.ndarray, patch: int = 80, bins: int = 36,
                         sigma: float = 1.5) -> float:
    """The locally dominant gradient orientation of Rain2Avoid, in degrees in
    [0, 180): the angle of (d/dx, d/dy) with x along columns and y down rows.

    The image is cut into ``patch`` x ``patch`` tiles (one tile if the image is
    smaller); each tile votes for the peak of its gradient-magnitude-weighted
    orientation histogram (``bins`` bins over 180 degrees, 5 degrees at 36, a
    HOG-like histogram without block normalisation), and the most frequent vote
    wins (ties: the smaller angle). Flat tiles do not vote. The gradients are
    derivatives of a Gaussian of ``sigma`` px rather than HOG's [-1, 0, 1]
    differences, which pull the orientation of thin streaks toward the axes by
    up to 10 degrees.

    gray: (H, W) in [0, 1] -> angle in degrees.
    """
    gray = np.asarray(gray, dtype=np.float64)
    gx = ndimage.gaussian_filter(gray, sigma, order=(0, 1), mode="reflect")
    gy = ndimage.gaussian_filter(gray, sigma, order=(1, 0), mode="reflect")
    magnitude = np.hypot(gx, gy)
    width = 180.0 / bins
    angle = np.degrees(np.arctan2(gy, gx)) % 180.0
    idx = np.rint(angle / width).astype(np.int64) % bins
    h, w = gray.shape
    p = min(patch, h, w)
    votes = np.zeros(bins, dtype=np.int64)
    for top in range(0, h - p + 1, p):
        for left in range(0, w - p + 1, p):
            hist = np.bincount(idx[top:top + p, left:left + p].ravel(),
                               magnitude[top:top + p, left:left + p].ravel(),
                               minlength=bins)
            if hist.max() > 0:
                votes[hist.argmax()] += 1
    return float(votes.argmax() * width)


def _line_footprint(length: int, axis_degrees: float) -> np.ndarray:
    """A one-pixel-wide line of ``length`` pixels (made odd) through the centre of
    a square footprint, at ``axis_degrees`` from vertical (positive: the lower end
    leans to the right)."""
    length = max(1, length) | 1
    half = (length - 1) // 2
    theta = math.radians(axis_degrees)
    drow, dcol = math.cos(theta), math.sin(theta)
    footprint = np.zeros((length, length), dtype=bool)
    for t in range(-half, half + 1):
        footprint[half + round(t * drow), half + round(t * dcol)] = True
    return footprint


def ldgp_mask(rainy: np.ndarray, patch: int = 80, bins: int = 36, window: int = 5,
              length: int | None = None, margin: float = 1.0 / 255.0) -> np.ndarray:
    """Rain2Avoid's locally dominant gradient prior (LDGP): the pixels that are
    brighter than their neighbourhood and belong to a bright line along the
    image's dominant rain direction.

    1. The dominant gradient orientation theta (:func:`dominant_orientation`);
       rain streaks run perpendicular to it. As in the reference code, a dominant
       gradient at exactly 90 degrees (horizontal structure, e.g. a horizon) is
       taken as vertical rain instead.
    2. Bright pixels: above the mean of their ``window`` x ``window``
       neighbourhood by more than ``margin`` (the reference's adaptive mean
       threshold; the margin plays the role of its 8-bit rounding, so smooth
       shading is not marked).
    3. A morphological opening of the bright pixels with a line of ``length``
       pixels along the streak direction keeps only bright runs at least that
       long in that direction. The reference rotates the image so the streaks
       are vertical and opens with a vertical line of H / 30 pixels; opening with
       an oriented line avoids the resampling. Default length: max(5, H // 30).
       Outside the image counts as bright for the erosion, so streaks that leave
       the frame are kept.

    rainy: (H, W, 3) RGB, (H, W, 1) or (H, W) in [0, 1] -> (H, W) bool, True
    where rain is likely.
    """
    rainy = np.asarray(rainy, dtype=np.float32)
    if rainy.ndim == 3 and rainy.shape[-1] == 3:
        gray = rgb_to_y(rainy)
    elif rainy.ndim == 3 and rainy.shape[-1] == 1:
        gray = rainy[..., 0]
    elif rainy.ndim == 2:
        gray = rainy
    else:
        raise ValueError(f"rainy must be (H, W), (H, W, 1) or (H, W, 3), "
                         f"got {rainy.shape}")
    theta = dominant_orientation(gray, patch, bins)
    if abs(theta - 90.0) < 1e-6:
        theta = 0.0
    # The streak axis is the gradient direction turned by 90 degrees.
    axis = -theta
    length = max(5, gray.shape[0] // 30) if length is None else length
    footprint = _line_footprint(length, axis)
    local_mean = ndimage.uniform_filter(gray.astype(np.float64), size=window,
                                        mode="reflect")
    bright = gray > local_mean + margin
    kept = ndimage.binary_erosion(bright, footprint, border_value=1)
    return ndimage.binary_dilation(kept, footprint)
