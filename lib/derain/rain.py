"""Seeded synthetic rain for building time-lapse-like training sequences.

A scene is one static clean background and many frames, each carrying an
independent rain realisation plus the nuisances of real time-lapse footage:

* streaks at several depths (farther layers are shorter, thinner, dimmer,
  blurrier and denser), each layer a sparse field of drops convolved with an
  oriented, anti-aliased line kernel (motion blur) with a Gaussian cross-section
  (drop width and depth-of-field blur); all layers of all frames are convolved
  in one batched FFT;
* three effects that real rainy photographs show beyond a few depth layers,
  each off unless asked for: near-camera streaks (drops passing just in front
  of the lens: long, wide, strongly defocused, low contrast), fine rain (a
  dense field of short, thin dashes: drizzle, or heavy rain far away) and
  splashes (short, round, bright blobs: drops lit close to the camera and
  spray off surfaces); they are streak maps like the layers and share their
  FFT;
* rain accumulation: a spatially smooth veil ``x * (1 - a) + A * a`` pulling
  the frame toward a bright atmospheric light ``A``, optionally denser toward
  the bottom of the frame (spray off the ground, the depth of a street);
* illumination drift (a small global gain), Gaussian sensor noise and JPEG
  compression.

Images are float32 numpy arrays of shape ``(H, W, 3)`` with values in
``[0, 1]``. Streaks are composited by screen blending, so they only brighten.
All randomness comes from a ``numpy.random.Generator``; torch is used for the
FFTs only, so a seed fully determines the output.
"""

from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "FrameRain",
    "RainSampler",
    "jpeg_roundtrip",
    "rain_statistics",
    "render_frame",
    "render_rain_layer",
    "render_scene",
]

# Per-layer depth model: layer l is scaled by these factors to the power l.
_DEPTH_SIZE = 0.65  # length and width shrink with distance (perspective)
_DEPTH_DIM = 0.7  # farther drops reflect less light toward the camera
_DEPTH_DENSER = 1.5  # a farther layer covers a larger volume of falling rain
_DEPTH_BLUR = 0.5  # px of defocus blur added per layer (focus is on the scene)
_LAYER_ANGLE_SIGMA = 3.0  # deg; wind is not perfectly uniform with depth
_DROP_AMPLITUDE = (0.6, 1.0)  # per-drop brightness spread within a layer
_STREAK_TAPER = 0.6  # streak ends are this much dimmer than the centre
# Pixel-area integration, approximated as a Gaussian of variance 1/12 px^2 (a
# 1-px box): anti-aliases thin slanted streaks without supersampling.
_PIXEL_SIGMA = math.sqrt(1.0 / 12.0)
_STREAK_FLOOR = 1.0 / 1024.0  # FFT round-off below this is zeroed: exact no-rain
_VEIL_GRID = 4  # control points per axis of the smooth veil field
_VEIL_TINT = np.array([0.97, 1.0, 1.03], dtype=np.float32)  # rain haze is cool
_VEIL_LEVEL = (0.8, 0.92)  # atmospheric light gray level
_MAX_LAYERS = 8
_VISIBLE = 2.0 / 255.0  # smallest luminance step counted as visible rain
# Fine rain is thinner than a pixel: its profile is set by the pixel's area.
_FINE_WIDTH = 0.3
# A splash is a short blob along the fall direction: length = this * its sigma.
_SPLASH_ELONGATION = 1.5
_VEIL_CEILING = 0.75  # a graded veil never hides more than this of the scene
# Kinds of streak map in a frame: the nearest depth layer, a farther one, and
# the optional effects. Farther layers and fine rain deviate in angle from the
# frame's wind; near streaks and splashes follow it.
_NEAREST, _FARTHER, _NEAR, _FINE, _SPLASH = range(5)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_real(owner: str, name: str, value: Any, lo: float, hi: float) -> None:
    if not _is_real(value) or not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(
            f"{owner}.{name} must be a number in [{lo}, {hi}], got {value!r}"
        )


def _check_int(owner: str, name: str, value: Any, lo: int, hi: int) -> None:
    if not _is_int(value) or not lo <= value <= hi:
        raise ValueError(
            f"{owner}.{name} must be an int in [{lo}, {hi}], got {value!r}"
        )


def _check_image(name: str, image: Any) -> np.ndarray:
    """Validate an (H, W, 3) float image in [0, 1]; return it as float32."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 2:
        raise ValueError(
            f"{name} must have shape (H, W, 3) with H, W >= 2, got {image.shape}"
        )
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(
            f"{name} must be a float array in [0, 1], got dtype {image.dtype}"
        )
    if not np.all(np.isfinite(image)) or image.min() < 0.0 or image.max() > 1.0:
        raise ValueError(
            f"{name} values must be finite and in [0, 1], got range "
            f"[{np.nanmin(image)}, {np.nanmax(image)}]"
        )
    return np.ascontiguousarray(image, dtype=np.float32)


# Bounds of the optional effects' fields (FrameRain attributes).
# The optional streak effects and the fields each one draws per scene.
_EFFECTS = {
    "near": ("density", "length", "width", "intensity"),
    "fine": ("density", "length", "intensity"),
    "splash": ("density", "size", "intensity"),
}
_EFFECT_BOUNDS = {
    "near_density": (0.0, 1.0), "near_length": (0.0, 1000.0),
    "near_width": (0.05, 50.0), "near_intensity": (0.0, 1.0),
    "fine_density": (0.0, 1.0), "fine_length": (0.0, 1000.0),
    "fine_intensity": (0.0, 1.0),
    "splash_density": (0.0, 1.0), "splash_size": (0.05, 50.0),
    "splash_intensity": (0.0, 1.0),
    "veil_gradient": (-1.0, 1.0),
}


@dataclass(frozen=True)
class FrameRain:
    """Explicit rain and nuisance parameters of one frame.

    Attributes:
        angle: streak direction in degrees from vertical, in [-90, 90]; positive
            is a clockwise lean (the top of a streak is to the right).
        density: expected drops per pixel in the nearest layer, in [0, 1];
            farther layers get ``1.5**l`` times as many. Visible coverage also
            grows with length, width and intensity: 3 layers at 0.0003 cover
            ~2 % of pixels with short thin faint streaks and ~20 % with long
            wide bright ones.
        length: streak length in pixels of the nearest layer, >= 0.
        width: Gaussian cross-section sigma in pixels of the nearest layer.
        intensity: peak brightness of the nearest layer's streaks, in [0, 1].
        layers: number of depth layers, 1..8; each farther layer is shorter,
            thinner, dimmer, blurrier and denser than the one before.
        accumulation: veil strength ``a`` in [0, 0.6] (0 = no veil).
        gain: global illumination drift in [0.5, 2] (1 = none).
        noise: sensor noise sigma in [0, 0.5].
        jpeg_quality: JPEG quality 1..100, or None for no compression.
        near_density: drops per pixel of near-camera streaks, in [0, 1] (0 =
            none): drops falling just in front of the lens, far out of focus.
            Real photographs of heavy rain show them as a few long, wide,
            faint bands over everything. At 1e-4, 120 px long and 4 px wide
            they touch about a third of a frame's pixels.
        near_length: their length in pixels (motion blur of a close drop).
        near_width: their Gaussian cross-section sigma in pixels (defocus).
        near_intensity: their peak brightness in [0, 1] (0 = none); defocus
            spreads little light over a wide band, so real ones are faint.
        fine_density: drops per pixel of fine rain, in [0, 1] (0 = none): a
            dense field of short dashes thinner than a pixel (drizzle, or a
            downpour far from the camera), drawn at the layers' angle.
        fine_length: their length in pixels.
        fine_intensity: their peak brightness in [0, 1] (0 = none).
        splash_density: splashes and bright drops per pixel, in [0, 1] (0 =
            none): short, round, bright blobs (a drop lit close to the camera,
            spray where rain hits a surface).
        splash_size: their Gaussian sigma in pixels; a blob is
            ``1.5 * splash_size`` long along the fall direction.
        splash_intensity: their peak brightness in [0, 1] (0 = none).
        veil_gradient: in [-1, 1]; the veil's strength changes linearly from
            the top to the bottom of the frame by this fraction of itself on
            each side (0.5: half as strong at the top, 1.5 times at the
            bottom, clipped at 0.75), as where spray off the ground and the
            depth of a street thicken the veil toward the bottom; negative
            thickens it toward the top (a far sky). No effect without a veil.

    Every effect added to the depth layers is off at its default, and a frame
    with all of them off renders exactly as it did before they existed (the
    same random draws, in the same order).
    """

    angle: float
    density: float
    length: float
    width: float
    intensity: float
    layers: int = 3
    accumulation: float = 0.0
    gain: float = 1.0
    noise: float = 0.0
    jpeg_quality: int | None = None
    near_density: float = 0.0
    near_length: float = 120.0
    near_width: float = 4.0
    near_intensity: float = 0.15
    fine_density: float = 0.0
    fine_length: float = 6.0
    fine_intensity: float = 0.3
    splash_density: float = 0.0
    splash_size: float = 1.5
    splash_intensity: float = 0.7
    veil_gradient: float = 0.0

    def __post_init__(self) -> None:
        _check_real("FrameRain", "angle", self.angle, -90.0, 90.0)
        _check_real("FrameRain", "density", self.density, 0.0, 1.0)
        _check_real("FrameRain", "length", self.length, 0.0, 1000.0)
        _check_real("FrameRain", "width", self.width, 0.05, 50.0)
        _check_real("FrameRain", "intensity", self.intensity, 0.0, 1.0)
        _check_int("FrameRain", "layers", self.layers, 1, _MAX_LAYERS)
        _check_real("FrameRain", "accumulation", self.accumulation, 0.0, 0.6)
        _check_real("FrameRain", "gain", self.gain, 0.5, 2.0)
        _check_real("FrameRain", "noise", self.noise, 0.0, 0.5)
        if self.jpeg_quality is not None:
            _check_int("FrameRain", "jpeg_quality", self.jpeg_quality, 1, 100)
        for name, (lo, hi) in _EFFECT_BOUNDS.items():
            _check_real("FrameRain", name, getattr(self, name), lo, hi)



def _layer_geometry(rain: FrameRain) -> np.ndarray:
    """Per-layer (length, sigma, peak amplitude, density), shape (layers, 4)."""
    depth = np.arange(rain.layers, dtype=np.float64)
    scale = _DEPTH_SIZE**depth
    width = rain.width * scale
    focused = np.hypot(width, _PIXEL_SIGMA)
    sigma = np.hypot(focused, _DEPTH_BLUR * depth)
    # Defocus spreads a streak's light over a wider profile: the peak drops by
    # focused / sigma, as for a 1-D Gaussian of fixed energy.
    amplitude = rain.intensity * _DEPTH_DIM**depth * focused / sigma
    density = np.minimum(rain.density * _DEPTH_DENSER**depth, 1.0)
    return np.stack([rain.length * scale, sigma, amplitude, density], axis=1)


def _layer_areas(rain: FrameRain) -> np.ndarray:
    """Visible area in px of one drop of each depth layer, shape (layers,).

    Each drop is treated as a capsule of the streak length whose half-width is
    where its mean-amplitude Gaussian profile falls below 2/255 on a black
    background (the worst case).
    """
    length, sigma, amplitude, _ = _layer_geometry(rain).T
    peak = amplitude * np.mean(_DROP_AMPLITUDE) / _VISIBLE
    radius = sigma * np.sqrt(2.0 * np.log(np.maximum(peak, 1.0)))
    return (length + 2.0 * radius) * 2.0 * radius


def _expected_coverage(rain: FrameRain) -> float:
    """Rough fraction of pixels that this frame's streaks brighten visibly.

    Drops land as a Poisson process, so the covered fraction is
    ``1 - exp(-tau)`` with the optical depth ``tau = sum_l density_l * area_l``.
    """
    density = _layer_geometry(rain)[:, 3]
    return float(-np.expm1(-np.sum(density * _layer_areas(rain))))


def max_density(rain: FrameRain, max_coverage: float) -> float:
    """The nearest-layer density at which this frame's expected coverage equals
    ``max_coverage`` (its other parameters kept): ``-log(1 - c) / tau_1`` with
    ``tau_1`` the optical depth per unit density. Computed in the exponent, so it
    is finite for every draw, however dense (no ``log(1 - coverage)`` of a
    coverage that rounds to 1)."""
    depth = np.arange(rain.layers, dtype=np.float64)
    # Optical depth per unit of nearest-layer density (the per-layer clip of the
    # density at 1 ignored: it only matters for densities near 1).
    per_density = float(np.sum(_DEPTH_DENSER**depth * _layer_areas(rain)))
    if per_density <= 0.0:
        return 1.0
    return float(min(-math.log1p(-max_coverage) / per_density, 1.0))


def _frame_maps(rain: FrameRain) -> tuple[np.ndarray, np.ndarray]:
    """Every streak map of one frame: per-map (length, sigma, peak amplitude,
    density), shape (M, 4), and each map's kind (``_NEAREST`` ...), shape (M,).

    The depth layers come first, then each optional effect whose density and
    brightness are both above zero: a frame without them has exactly the maps
    (and so draws exactly the random numbers) of the depth layers alone.
    """
    geometry = _layer_geometry(rain)
    kinds = [_NEAREST] + [_FARTHER] * (rain.layers - 1)
    rows = []
    if rain.near_density > 0 and rain.near_intensity > 0:
        sigma = math.hypot(rain.near_width, _PIXEL_SIGMA)
        rows.append((rain.near_length, sigma, rain.near_intensity, rain.near_density))
        kinds.append(_NEAR)
    if rain.fine_density > 0 and rain.fine_intensity > 0:
        sigma = math.hypot(_FINE_WIDTH, _PIXEL_SIGMA)
        rows.append((rain.fine_length, sigma, rain.fine_intensity, rain.fine_density))
        kinds.append(_FINE)
    if rain.splash_density > 0 and rain.splash_intensity > 0:
        sigma = math.hypot(rain.splash_size, _PIXEL_SIGMA)
        rows.append((_SPLASH_ELONGATION * rain.splash_size, sigma,
                     rain.splash_intensity, rain.splash_density))
        kinds.append(_SPLASH)
    if rows:
        geometry = np.concatenate([geometry, np.array(rows, dtype=np.float64)])
    return geometry, np.array(kinds)


def _streak_kernels(
    angle: np.ndarray, length: np.ndarray, sigma: np.ndarray, size: int,
    taper: np.ndarray | None = None,
) -> torch.Tensor:
    """Oriented streak imprints, shape (M, size, size), float32, peak 1 at centre.

    The imprint of a drop at offset (x, y) from the centre is a Gaussian of
    the distance to a segment of the given length and angle, dimmed toward
    the segment ends by ``taper`` (per map, shape (M,); default
    ``_STREAK_TAPER`` for every map).
    """
    pix = torch.arange(size, dtype=torch.float32) - size // 2
    y, x = pix.view(1, -1, 1), pix.view(1, 1, -1)
    theta = torch.from_numpy(np.deg2rad(angle).astype(np.float32)).view(-1, 1, 1)
    ux, uy = -torch.sin(theta), torch.cos(theta)  # unit vector from top to bottom
    half = torch.from_numpy((length / 2.0).astype(np.float32)).view(-1, 1, 1)
    sig = torch.from_numpy(sigma.astype(np.float32)).view(-1, 1, 1)
    t = torch.maximum(torch.minimum(x * ux + y * uy, half), -half)
    d2 = (x - t * ux) ** 2 + (y - t * uy) ** 2
    if taper is None:
        dim = _STREAK_TAPER
    else:
        dim = torch.from_numpy(taper.astype(np.float32)).view(-1, 1, 1)
    ends = 1.0 - dim * (t / half.clamp_min(1e-6)) ** 2
    return torch.exp(-d2 / (2.0 * sig**2)) * ends


def _render_streaks(
    shape: tuple[int, int], rains: list[FrameRain], rng: np.random.Generator
) -> torch.Tensor:
    """Streak layers of several frames, shape (N, H, W), float32 in [0, 1]."""
    h, w = shape
    maps = [_frame_maps(rain) for rain in rains]
    n_layers = [len(kinds) for _, kinds in maps]
    geometry = np.concatenate([g for g, _ in maps])
    kind = np.concatenate([kinds for _, kinds in maps])
    length, sigma, amplitude, density = geometry.T
    frame = np.repeat(np.arange(len(rains)), n_layers)
    depth = np.concatenate([np.arange(n) for n in n_layers])
    angle = np.repeat([rain.angle for rain in rains], n_layers).astype(np.float64)
    jittered = (kind == _FARTHER) | (kind == _FINE)
    angle += np.where(jittered, rng.normal(0.0, _LAYER_ANGLE_SIGMA, len(depth)), 0.0)
    n_maps = len(depth)

    radius = float(np.max(length / 2.0 + 3.0 * sigma))
    size = min(2 * math.ceil(radius) + 1, min(h, w) - (1 - min(h, w) % 2))
    c = size // 2

    # Drops are a Poisson process per layer: sparse weighted impulses. They are
    # placed c pixels up-left so that the kernel's centre lands on the drop.
    counts = rng.poisson(density * h * w)
    map_of_drop = np.repeat(np.arange(n_maps), counts)
    row = rng.integers(0, h, size=map_of_drop.size)
    col = rng.integers(0, w, size=map_of_drop.size)
    weight = rng.uniform(*_DROP_AMPLITUDE, size=map_of_drop.size)
    weight *= amplitude[map_of_drop]
    index = (map_of_drop * h + (row - c) % h) * w + (col - c) % w
    impulses = np.bincount(index, weights=weight, minlength=n_maps * h * w)

    # Circular convolution keeps the rain field stationary up to the borders
    # (no thinning where drops outside the frame would have landed).
    impulses_t = torch.from_numpy(impulses.astype(np.float32)).view(n_maps, h, w)
    spectrum = torch.fft.rfft2(impulses_t)
    # A splash is a blob, not a streak seen end to end: its ends are not dimmed.
    taper = np.where(kind == _SPLASH, 0.0, _STREAK_TAPER) if np.any(
        kind == _SPLASH) else None
    kernels = _streak_kernels(angle, length, sigma, size, taper)
    spectrum *= torch.fft.rfft2(kernels, s=(h, w))
    layers = torch.fft.irfft2(spectrum, s=(h, w)).clamp_(0.0, 1.0)
    layers.masked_fill_(layers < _STREAK_FLOOR, 0.0)

    # Screen-blend the maps of each frame: 1 - prod(1 - s_l); frames with
    # fewer maps are padded with transparent ones.
    n_depth = max(n_layers)
    transmit = torch.ones(len(rains) * n_depth, h, w)
    transmit[torch.from_numpy(frame * n_depth + depth)] = 1.0 - layers
    return 1.0 - torch.prod(transmit.view(len(rains), n_depth, h, w), dim=1)


def _veil_maps(
    shape: tuple[int, int], accumulation: np.ndarray, rng: np.random.Generator,
    gradient: np.ndarray | None = None,
) -> np.ndarray:
    """Spatially smooth veil strengths, shape (N, H, W), in [0, accumulation]
    (with a ``gradient`` per frame: ramped from top to bottom by that fraction,
    in [0, _VEIL_CEILING])."""
    field = rng.standard_normal((len(accumulation), 1, _VEIL_GRID, _VEIL_GRID))
    smooth = F.interpolate(
        torch.from_numpy(field.astype(np.float32)),
        size=shape,
        mode="bicubic",
        align_corners=True,
    )[:, 0].numpy()
    strength = np.clip(0.85 + 0.1 * smooth, 0.6, 1.0)
    strength = strength * accumulation.astype(np.float32)[:, None, None]
    if gradient is None or not np.any(gradient != 0):
        return strength
    ramp = np.linspace(-1.0, 1.0, shape[0], dtype=np.float32)[None, :, None]
    ramp = 1.0 + gradient.astype(np.float32)[:, None, None] * ramp
    return np.clip(strength * ramp, 0.0, _VEIL_CEILING)


def _render(
    background: np.ndarray, rains: list[FrameRain], rng: np.random.Generator
) -> np.ndarray:
    """Rainy frames over one background, shape (N, H, W, 3), float32 in [0, 1]."""
    h, w, _ = background.shape
    n = len(rains)
    streaks = _render_streaks((h, w), rains, rng)
    b = torch.from_numpy(background)
    # b + s (1 - b) is the screen blend 1 - (1 - b)(1 - s); this form leaves b
    # bit-exact where s = 0 and can only brighten.
    frames = torch.addcmul(b, streaks.unsqueeze(-1), 1.0 - b)

    accumulation = np.array([r.accumulation for r in rains], dtype=np.float32)
    if np.any(accumulation > 0):
        gradient = np.array([r.veil_gradient for r in rains], dtype=np.float32)
        veil = _veil_maps((h, w), accumulation, rng, gradient)
        veil = torch.from_numpy(veil).unsqueeze(-1)
        level = rng.uniform(*_VEIL_LEVEL, size=(n, 1)).astype(np.float32)
        light = torch.from_numpy(np.minimum(level * _VEIL_TINT, 1.0))
        frames.mul_(1.0 - veil).add_(veil * light.view(n, 1, 1, 3))

    gain = np.array([r.gain for r in rains], dtype=np.float32)
    if np.any(gain != 1.0):
        frames.mul_(torch.from_numpy(gain).view(n, 1, 1, 1))
    noise = np.array([r.noise for r in rains], dtype=np.float32)
    if np.any(noise > 0):
        draw = torch.from_numpy(rng.standard_normal(frames.shape, dtype=np.float32))
        frames.add_(draw.mul_(torch.from_numpy(noise).view(n, 1, 1, 1)))
    out = frames.clamp_(0.0, 1.0).numpy()

    for i, rain in enumerate(rains):
        if rain.jpeg_quality is not None:
            out[i] = jpeg_roundtrip(out[i], rain.jpeg_quality)
    return out


def _check_shape(shape: Any) -> tuple[int, int]:
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or not all(_is_int(v) and v >= 2 for v in shape)
    ):
        raise ValueError(f"shape must be a pair of ints (H, W) >= 2, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _check_rng(rng: Any) -> None:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
        )


def render_rain_layer(
    shape: tuple[int, int], rain: FrameRain, rng: np.random.Generator
) -> np.ndarray:
    """Render the streaks of one frame (depth layers, near-camera streaks, fine
    rain, splashes), without veil or nuisances.

    Args:
        shape: (H, W) of the output, both >= 2.
        rain: this frame's parameters; the veil and nuisance fields are unused.
        rng: source of randomness.

    Returns:
        (H, W) float32 in [0, 1]: all depth layers combined by screen blending.
    """
    h, w = _check_shape(shape)
    if not isinstance(rain, FrameRain):
        raise ValueError(f"rain must be a FrameRain, got {type(rain).__name__}")
    _check_rng(rng)
    return _render_streaks((h, w), [rain], rng)[0].numpy()


def render_frame(
    background: np.ndarray, rain: FrameRain, rng: np.random.Generator
) -> np.ndarray:
    """Render one rainy frame.

    Args:
        background: (H, W, 3) float in [0, 1], the clean scene.
        rain: this frame's parameters.
        rng: source of randomness.

    Returns:
        (H, W, 3) float32 in [0, 1]: screen-blended streaks, then the veil,
        the drift gain and sensor noise, clipped, then JPEG if requested.
    """
    background = _check_image("background", background)
    if not isinstance(rain, FrameRain):
        raise ValueError(f"rain must be a FrameRain, got {type(rain).__name__}")
    _check_rng(rng)
    return _render(background, [rain], rng)[0]


def _as_range(name: str, value: Any, lo: float, hi: float, integer: bool) -> tuple:
    check = _is_int if integer else _is_real
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(check(v) and lo <= v <= hi for v in value)
        or value[0] > value[1]
    ):
        kind = "ints" if integer else "numbers"
        raise ValueError(
            f"RainSampler.{name} must be [low, high] {kind} with "
            f"{lo} <= low <= high <= {hi}, got {value!r}"
        )
    cast = int if integer else float
    return (cast(value[0]), cast(value[1]))


@dataclass(frozen=True)
class RainSampler:
    """Ranges from which each scene's and frame's rain parameters are drawn.

    A scene draws a rain regime r in [0, 1] (0 = light: sparse, short, thin,
    faint streaks; 1 = heavy: dense, long, wide, bright streaks, likelier to
    carry a veil). Each streak parameter follows r loosely (``regime_spread``)
    within its range. Frames then vary around the scene draw. Fields are plain
    numbers and ``[low, high]`` pairs, so a config section can be passed as
    ``RainSampler(**section)``.

    Attributes:
        angle_range: scene base angle, degrees from vertical.
        angle_jitter: per-frame angle deviation sigma, degrees.
        density_range: nearest-layer drops per pixel (log-linear in r).
        length_range: nearest-layer streak length, px.
        width_range: nearest-layer Gaussian sigma, px.
        intensity_range: nearest-layer peak brightness.
        layers_range: number of depth layers, inclusive ints.
        regime_spread: sigma of each parameter's deviation from r.
        frame_jitter: relative per-frame sigma of density, length, width,
            intensity and accumulation.
        accumulation_prob: chance that a scene has a veil, averaged over
            regimes: a scene of regime r has one with probability
            ``min(1, 2 * accumulation_prob * r)``.
        accumulation_range: veil strength of veiled scenes.
        drift_sigma: per-frame gain ~ N(1, drift_sigma).
        noise_range: per-scene sensor noise sigma.
        jpeg_prob: chance that a scene is JPEG compressed.
        jpeg_range: JPEG quality of compressed scenes, inclusive ints.
        max_coverage: cap on a frame's expected visibly-rainy pixel fraction;
            denser draws are thinned so that the per-pixel temporal median
            of a scene stays close to its clean background. None: no cap,
            the drawn density is rendered as drawn. It thins the depth
            layers only: the optional effects below are rendered as drawn.
        near_prob: chance that a scene has near-camera streaks (see
            :class:`FrameRain`); 0 (the default) draws nothing for them.
        near_density_range, near_length_range, near_width_range,
        near_intensity_range: their ranges (density log-linear in r, the
            others linear, all following r like the layers' parameters).
        fine_prob: chance that a scene has fine rain; 0 = never.
        fine_density_range, fine_length_range, fine_intensity_range: its
            ranges, drawn like the near streaks'.
        splash_prob: chance that a scene has splashes and bright drops.
        splash_density_range, splash_size_range, splash_intensity_range:
            their ranges, drawn like the near streaks'.
        veil_gradient_range: the veil's top-to-bottom gradient of a veiled
            scene, drawn uniformly; (0, 0) (the default) draws nothing.

    With every ``*_prob`` at 0 and ``veil_gradient_range`` at (0, 0) a
    sampler draws exactly the random numbers, and so the frames, of a sampler
    made before these effects existed.
    """

    angle_range: tuple[float, float] = (-30.0, 30.0)
    angle_jitter: float = 5.0
    density_range: tuple[float, float] = (0.0003, 0.0008)
    length_range: tuple[float, float] = (10.0, 45.0)
    width_range: tuple[float, float] = (0.4, 1.5)
    intensity_range: tuple[float, float] = (0.2, 0.8)
    layers_range: tuple[int, int] = (2, 4)
    regime_spread: float = 0.15
    frame_jitter: float = 0.15
    accumulation_prob: float = 0.3
    accumulation_range: tuple[float, float] = (0.05, 0.35)
    drift_sigma: float = 0.03
    noise_range: tuple[float, float] = (0.0, 0.02)
    jpeg_prob: float = 0.5
    jpeg_range: tuple[int, int] = (60, 95)
    max_coverage: float | None = 0.2
    near_prob: float = 0.0
    near_density_range: tuple[float, float] = (2e-5, 1.5e-4)
    near_length_range: tuple[float, float] = (60.0, 200.0)
    near_width_range: tuple[float, float] = (2.0, 6.0)
    near_intensity_range: tuple[float, float] = (0.06, 0.2)
    fine_prob: float = 0.0
    fine_density_range: tuple[float, float] = (0.003, 0.02)
    fine_length_range: tuple[float, float] = (3.0, 10.0)
    fine_intensity_range: tuple[float, float] = (0.1, 0.35)
    splash_prob: float = 0.0
    splash_density_range: tuple[float, float] = (2e-4, 2e-3)
    splash_size_range: tuple[float, float] = (0.6, 1.8)
    splash_intensity_range: tuple[float, float] = (0.3, 0.9)
    veil_gradient_range: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        ranges = {
            "angle_range": (-90.0, 90.0, False),
            "density_range": (0.0, 1.0, False),
            "length_range": (0.0, 1000.0, False),
            "width_range": (0.05, 50.0, False),
            "intensity_range": (0.0, 1.0, False),
            "layers_range": (1, _MAX_LAYERS, True),
            "accumulation_range": (0.0, 0.6, False),
            "noise_range": (0.0, 0.5, False),
            "jpeg_range": (1, 100, True),
            **{f"{name}_range": (lo, hi, False)
               for name, (lo, hi) in _EFFECT_BOUNDS.items()},
        }
        for name, (lo, hi, integer) in ranges.items():
            # Frozen, but lists from a YAML file are normalised to tuples.
            value = _as_range(name, getattr(self, name), lo, hi, integer)
            object.__setattr__(self, name, value)
        _check_real("RainSampler", "angle_jitter", self.angle_jitter, 0.0, 90.0)
        _check_real("RainSampler", "regime_spread", self.regime_spread, 0.0, 1.0)
        _check_real("RainSampler", "frame_jitter", self.frame_jitter, 0.0, 1.0)
        _check_real(
            "RainSampler", "accumulation_prob", self.accumulation_prob, 0.0, 1.0
        )
        _check_real("RainSampler", "drift_sigma", self.drift_sigma, 0.0, 0.5)
        _check_real("RainSampler", "jpeg_prob", self.jpeg_prob, 0.0, 1.0)
        if self.max_coverage is not None:
            _check_real("RainSampler", "max_coverage", self.max_coverage, 1e-3, 0.99)
        for effect in _EFFECTS:
            _check_real("RainSampler", f"{effect}_prob",
                        getattr(self, f"{effect}_prob"), 0.0, 1.0)

    def sample_scene(self, rng: np.random.Generator) -> dict:
        """Draw scene-level parameters.

        Returns:
            dict with ``regime`` (0 light .. 1 heavy), ``angle``, ``density``,
            ``length``, ``width``, ``intensity``, ``layers``, ``accumulation``
            (0 if no veil), ``noise``, ``jpeg_quality`` (int or None) and,
            for each optional effect the sampler can draw, its fields (named as
            in :class:`FrameRain`, density 0 where the scene has none) and
            ``veil_gradient``. The effects are drawn last, and only where
            asked for, so they leave the draws of the other fields unchanged.
        """
        _check_rng(rng)
        regime = float(rng.random())

        def follow() -> float:
            return float(np.clip(regime + rng.normal(0.0, self.regime_spread), 0, 1))

        def lerp(bounds: tuple, u: float) -> float:
            return bounds[0] + u * (bounds[1] - bounds[0])

        def log_lerp(bounds: tuple, u: float) -> float:
            # Density acts multiplicatively on coverage: interpolate in log space.
            lo, hi = bounds
            return lo * (hi / lo) ** u if lo > 0 else lerp(bounds, u)

        density = log_lerp(self.density_range, follow())
        scene = {
            "regime": regime,
            "angle": float(rng.uniform(*self.angle_range)),
            "density": float(density),
            "length": lerp(self.length_range, follow()),
            "width": lerp(self.width_range, follow()),
            "intensity": lerp(self.intensity_range, follow()),
            "layers": int(rng.integers(self.layers_range[0], self.layers_range[1] + 1)),
        }
        veiled = rng.random() < min(1.0, 2.0 * self.accumulation_prob * regime)
        scene["accumulation"] = (
            lerp(self.accumulation_range, follow()) if veiled else 0.0
        )
        scene["noise"] = float(rng.uniform(*self.noise_range))
        compressed = rng.random() < self.jpeg_prob
        quality = int(rng.integers(self.jpeg_range[0], self.jpeg_range[1] + 1))
        scene["jpeg_quality"] = quality if compressed else None
        for effect in _EFFECTS:
            prob = getattr(self, f"{effect}_prob")
            if prob == 0.0 or rng.random() >= prob:
                continue
            for field in _EFFECTS[effect]:
                bounds = getattr(self, f"{effect}_{field}_range")
                draw = log_lerp if field == "density" else lerp
                scene[f"{effect}_{field}"] = float(draw(bounds, follow()))
        if self.veil_gradient_range != (0.0, 0.0) and scene["accumulation"] > 0:
            scene["veil_gradient"] = float(rng.uniform(*self.veil_gradient_range))
        return scene

    def sample_frame(self, scene: dict, rng: np.random.Generator) -> FrameRain:
        """Draw one frame's parameters around a scene draw.

        Args:
            scene: output of :meth:`sample_scene`.
            rng: source of randomness.
        """
        _check_rng(rng)
        jitter = self.frame_jitter

        def vary(value: float) -> float:
            return value * (1.0 + rng.normal(0.0, jitter))

        angle = scene["angle"] + rng.normal(0.0, self.angle_jitter)
        rain = FrameRain(
            angle=float(np.clip(angle, -90.0, 90.0)),
            density=float(min(scene["density"] * np.exp(rng.normal(0.0, jitter)), 1)),
            length=float(np.clip(vary(scene["length"]), 1.0, 1000.0)),
            width=float(np.clip(vary(scene["width"]), 0.05, 50.0)),
            intensity=float(np.clip(vary(scene["intensity"]), 0.0, 1.0)),
            layers=int(scene["layers"]),
            accumulation=float(np.clip(vary(scene["accumulation"]), 0.0, 0.6)),
            gain=float(np.clip(1.0 + rng.normal(0.0, self.drift_sigma), 0.5, 2.0)),
            noise=float(scene["noise"]),
            jpeg_quality=scene["jpeg_quality"],
        )
        effects = {}
        for effect, fields in _EFFECTS.items():
            if scene.get(f"{effect}_density", 0.0) <= 0.0:
                continue
            # Each frame is a new draw of the same weather: every field varies
            # around the scene's value like the depth layers' fields do.
            for field in fields:
                name = f"{effect}_{field}"
                if field == "density":
                    value = min(scene[name] * np.exp(rng.normal(0.0, jitter)), 1.0)
                else:
                    value = np.clip(vary(scene[name]), *_EFFECT_BOUNDS[name])
                effects[name] = float(value)
        if scene.get("veil_gradient", 0.0) != 0.0:
            effects["veil_gradient"] = float(scene["veil_gradient"])
        if effects:
            rain = dataclasses.replace(rain, **effects)
        if self.max_coverage is not None:
            # Coverage is 1 - exp(-density * tau_1): the density that hits the cap
            # is solved in the exponent, so no draw is too dense to thin (the old
            # rescaling took log(1 - coverage) of a coverage that rounds to 1.0).
            cap = max_density(rain, self.max_coverage)
            if rain.density > cap:
                rain = dataclasses.replace(rain, density=cap)
        return rain


def render_frames(
    background: np.ndarray, rains: list[FrameRain], rng: np.random.Generator
) -> np.ndarray:
    """Render given per-frame parameters over one background, all frames at once
    (one batched FFT for every frame's streak layers).

    Args:
        background: (H, W, 3) float in [0, 1].
        rains: one FrameRain per frame.
        rng: source of randomness.

    Returns:
        (N, H, W, 3) float32 in [0, 1].
    """
    background = _check_image("background", background)
    _check_rng(rng)
    if not rains or not all(isinstance(r, FrameRain) for r in rains):
        raise ValueError("rains must be a non-empty list of FrameRain")
    return _render(background, list(rains), rng)


def render_scene(
    background: np.ndarray, n_frames: int, sampler: RainSampler,
    seed: int | np.random.Generator,
) -> tuple[np.ndarray, list[FrameRain]]:
    """Render a time-lapse-like scene: one background, independent rain per frame.

    Args:
        background: (H, W, 3) float in [0, 1], the clean static scene.
        n_frames: number of frames N >= 1.
        sampler: parameter ranges.
        seed: seeds everything (an int, or a Generator to draw from); the same
            seed gives identical frames.

    Returns:
        frames: (N, H, W, 3) float32 in [0, 1].
        rains: the N FrameRain parameters the frames were rendered with.
    """
    background = _check_image("background", background)
    if not _is_int(n_frames) or n_frames < 1:
        raise ValueError(f"n_frames must be an int >= 1, got {n_frames!r}")
    if not isinstance(sampler, RainSampler):
        raise ValueError(f"sampler must be a RainSampler, got {type(sampler).__name__}")
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif _is_int(seed):
        rng = np.random.default_rng(int(seed))
    else:
        raise ValueError(f"seed must be an int or a numpy Generator, got {seed!r}")
    scene = sampler.sample_scene(rng)
    rains = [sampler.sample_frame(scene, rng) for _ in range(n_frames)]
    return _render(background, rains, rng), rains


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decompress an image with PIL's JPEG codec.

    Args:
        image: (H, W, 3) float in [0, 1].
        quality: JPEG quality, int in [1, 100].

    Returns:
        (H, W, 3) float32 in [0, 1], quantised to multiples of 1/255.
    """
    image = _check_image("image", image)
    _check_int("jpeg_roundtrip", "quality", quality, 1, 100)
    pixels = np.round(image * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        restored = np.asarray(decoded.convert("RGB"), dtype=np.float32)
    return restored / np.float32(255.0)


def _luminance255(images: np.ndarray) -> np.ndarray:
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32) * np.float32(255.0)
    return images @ weights


def _psnr255(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def rain_statistics(frames: np.ndarray, background: np.ndarray) -> dict:
    """Summary numbers of a rendered scene against its clean background.

    Args:
        frames: (N, H, W, 3) float in [0, 1].
        background: (H, W, 3) float in [0, 1].

    Returns:
        dict of floats: ``coverage`` (mean fraction of pixels where a frame's
        luminance exceeds the background's by more than 2/255),
        ``mean_abs_diff`` (mean |frame - background| over all pixels and
        channels, in [0, 1] units), ``median_psnr`` (PSNR in dB of the
        per-pixel temporal median frame, on luminance Y in 0..255) and
        ``frame_psnr`` (mean PSNR in dB of the single frames, same measure).
    """
    background = _check_image("background", background)
    if not isinstance(frames, np.ndarray) or frames.ndim != 4:
        raise ValueError(
            f"frames must be an (N, H, W, 3) array, got "
            f"{getattr(frames, 'shape', type(frames).__name__)}"
        )
    if frames.shape[1:] != background.shape or frames.shape[0] < 1:
        raise ValueError(
            f"frames shape {frames.shape} does not match background "
            f"{background.shape} as (N, H, W, 3) with N >= 1"
        )
    for i, frame in enumerate(frames):
        _check_image(f"frames[{i}]", frame)
    frames = frames.astype(np.float32, copy=False)
    y_frames = _luminance255(frames)
    y_background = _luminance255(background)
    median = np.median(y_frames, axis=0)
    return {
        "coverage": float(np.mean(y_frames - y_background > _VISIBLE * 255.0)),
        "mean_abs_diff": float(np.mean(np.abs(frames - background))),
        "median_psnr": _psnr255(median, y_background),
        "frame_psnr": float(np.mean([_psnr255(y, y_background) for y in y_frames])),
    }
