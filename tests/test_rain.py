"""Tests of the synthetic rain renderer (CPU, fast)."""

import math

import numpy as np
import pytest

from derain.rain import (
    FrameRain,
    RainSampler,
    jpeg_roundtrip,
    rain_statistics,
    render_frame,
    render_rain_layer,
    render_scene,
)

# Rain without any nuisance: frames differ from the background by streaks only.
CLEAN_SAMPLER = RainSampler(
    noise_range=(0.0, 0.0), jpeg_prob=0.0, accumulation_prob=0.0, drift_sigma=0.0
)
NO_RAIN_SAMPLER = RainSampler(
    density_range=(0.0, 0.0),
    noise_range=(0.0, 0.0),
    jpeg_prob=0.0,
    accumulation_prob=0.0,
    drift_sigma=0.0,
)


def make_background(h: int = 96, w: int = 96, seed: int = 0) -> np.ndarray:
    """Textured (H, W, 3) float32 image in [0.05, 0.95]: gradients and a sine wave."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.2 + 0.5 * xx, 0.3 + 0.4 * yy, 0.6 - 0.3 * xx * yy], axis=-1)
    texture = (
        0.15
        * np.sin(xx * 17.0 + 3 * rng.random())[..., None]
        * np.cos(yy * 11.0)[..., None]
    )
    return np.clip(base + texture, 0.05, 0.95).astype(np.float32)


def streak_rain(**overrides) -> FrameRain:
    params = dict(angle=0.0, density=0.002, length=30.0, width=1.0, intensity=0.8)
    params.update(overrides)
    return FrameRain(**params)


def test_scene_is_deterministic_by_seed():
    bg = make_background()
    a, rains_a = render_scene(bg, 4, RainSampler(), seed=7)
    b, rains_b = render_scene(bg, 4, RainSampler(), seed=7)
    c, _ = render_scene(bg, 4, RainSampler(), seed=8)
    assert np.array_equal(a, b)
    assert rains_a == rains_b
    assert not np.allclose(a, c, atol=1e-3)


def test_render_frame_is_deterministic_by_rng_seed():
    bg = make_background()
    rain = streak_rain(accumulation=0.2, noise=0.01, gain=1.02, jpeg_quality=80)
    a = render_frame(bg, rain, np.random.default_rng(3))
    b = render_frame(bg, rain, np.random.default_rng(3))
    c = render_frame(bg, rain, np.random.default_rng(4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_zero_rain_frames_equal_background_exactly():
    bg = make_background()
    frames, rains = render_scene(bg, 5, NO_RAIN_SAMPLER, seed=1)
    assert frames.shape == (5, *bg.shape)
    assert all(r.density == 0 for r in rains)
    for frame in frames:
        assert np.array_equal(frame, bg)


def test_rain_differs_per_frame_over_the_same_background():
    bg = make_background()
    frames, _ = render_scene(bg, 6, CLEAN_SAMPLER, seed=2)
    untouched = np.all(frames == bg, axis=-1)  # (N, H, W): pixel without rain
    for i in range(len(frames)):
        # Every frame shows the exact background wherever it has no streak ...
        assert untouched[i].mean() > 0.5
        for j in range(i):
            # ... and the streaks themselves are a new realisation each frame.
            assert not np.array_equal(untouched[i], untouched[j])
            assert np.abs(frames[i] - frames[j]).max() > 0.1


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_frames_are_float32_in_unit_range(seed):
    bg = make_background(64, 80)
    frames, rains = render_scene(bg, 3, RainSampler(), seed=seed)
    assert frames.dtype == np.float32
    assert frames.shape == (3, 64, 80, 3)
    assert frames.min() >= 0.0 and frames.max() <= 1.0
    assert len(rains) == 3 and all(isinstance(r, FrameRain) for r in rains)


def test_rain_layer_shape_dtype_range():
    layer = render_rain_layer((50, 70), streak_rain(layers=4), np.random.default_rng(0))
    assert layer.shape == (50, 70) and layer.dtype == np.float32
    assert layer.min() >= 0.0 and layer.max() <= 1.0
    assert layer.max() > 0.3
    empty = render_rain_layer(
        (50, 70), streak_rain(density=0.0), np.random.default_rng(0)
    )
    assert not empty.any()


def test_rain_only_brightens_without_nuisances():
    bg = make_background()
    frame = render_frame(bg, streak_rain(layers=3), np.random.default_rng(0))
    assert np.all(frame >= bg)
    assert np.mean(frame > bg + 0.05) > 0.01


def test_more_layers_add_rain():
    bg = np.zeros((96, 96, 3), np.float32)
    one = render_frame(bg, streak_rain(layers=1), np.random.default_rng(0))
    four = render_frame(bg, streak_rain(layers=4), np.random.default_rng(0))
    assert (
        rain_statistics(four[None], bg)["coverage"]
        > rain_statistics(one[None], bg)["coverage"]
    )


def test_veil_lowers_contrast_toward_bright_light():
    bg = make_background()
    rain = streak_rain(density=0.0, accumulation=0.5)
    frame = render_frame(bg, rain, np.random.default_rng(0))
    assert frame.std() < 0.8 * bg.std()
    assert frame.mean() > bg.mean()
    # Spatially smooth: neighbouring pixels of the veil differ very little.
    veil = (frame - bg).mean(axis=-1)
    assert np.abs(np.diff(veil, axis=0)).max() < 0.05


def gradient_energies(layer: np.ndarray) -> tuple[float, float]:
    vertical = float(np.sum(np.diff(layer, axis=0) ** 2))
    horizontal = float(np.sum(np.diff(layer, axis=1) ** 2))
    return vertical, horizontal


def test_vertical_streaks_at_angle_zero():
    rng = np.random.default_rng(0)
    layer = render_rain_layer((128, 128), streak_rain(angle=0.0, layers=1), rng)
    vertical, horizontal = gradient_energies(layer)
    assert vertical < 0.15 * horizontal


def test_horizontal_streaks_at_angle_ninety():
    rng = np.random.default_rng(0)
    layer = render_rain_layer((128, 128), streak_rain(angle=90.0, layers=1), rng)
    vertical, horizontal = gradient_energies(layer)
    assert horizontal < 0.15 * vertical


@pytest.mark.parametrize("angle", [30.0, -30.0])
def test_positive_angle_leans_clockwise(angle):
    # A clockwise lean puts a streak's top to the right, so a streak continues
    # down-left: the layer correlates with itself shifted 8 px along (+cos, -sin).
    rng = np.random.default_rng(0)
    layer = render_rain_layer((128, 128), streak_rain(angle=angle, layers=1), rng)
    layer = layer - layer.mean()
    rows, cols = 7, 4  # ~8 px at 30 degrees from vertical
    down_left = np.sum(layer * np.roll(layer, (rows, -cols), axis=(0, 1)))
    down_right = np.sum(layer * np.roll(layer, (rows, cols), axis=(0, 1)))
    if angle > 0:
        assert down_left > 3 * abs(down_right)
    else:
        assert down_right > 3 * abs(down_left)


def test_temporal_median_beats_single_frame_by_clear_margin():
    bg = make_background()
    margins = []
    for seed in range(4):
        frames, _ = render_scene(bg, 15, RainSampler(), seed=seed)
        stats = rain_statistics(frames, bg)
        margins.append(stats["median_psnr"] - stats["frame_psnr"])
    assert min(margins) > 0.5
    assert np.mean(margins) > 5.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rain_covers_each_pixel_well_under_half_the_frames(seed):
    bg = make_background()
    frames, _ = render_scene(bg, 15, CLEAN_SAMPLER, seed=seed)
    rainy = (frames - bg).mean(axis=-1) > 2.0 / 255.0  # (N, H, W)
    per_pixel = rainy.mean(axis=0)
    assert 0.005 < per_pixel.mean() < 0.25
    assert np.quantile(per_pixel, 0.99) < 0.5
    stats = rain_statistics(frames, bg)
    assert stats["median_psnr"] > 40.0


def test_default_sampler_spans_light_to_heavy():
    sampler = RainSampler()
    rng = np.random.default_rng(0)
    scenes = [sampler.sample_scene(rng) for _ in range(200)]
    light = [s for s in scenes if s["regime"] < 0.2]
    heavy = [s for s in scenes if s["regime"] > 0.8]
    assert light and heavy
    for key in ("length", "width", "intensity"):
        assert np.mean([s[key] for s in heavy]) > 1.5 * np.mean([s[key] for s in light])
    veiled_heavy = np.mean([s["accumulation"] > 0 for s in heavy])
    veiled_light = np.mean([s["accumulation"] > 0 for s in light])
    assert veiled_heavy > 0.3 and veiled_light < 0.15
    lengths = [s["length"] for s in scenes]
    assert min(lengths) >= 10.0 and max(lengths) <= 45.0


def test_sampler_accepts_yaml_lists_and_frames_vary_around_scene():
    sampler = RainSampler(
        angle_range=[-10, 10], layers_range=[2, 2], jpeg_range=[70, 80]
    )
    assert sampler.angle_range == (-10.0, 10.0) and sampler.layers_range == (2, 2)
    rng = np.random.default_rng(0)
    scene = sampler.sample_scene(rng)
    frames = [sampler.sample_frame(scene, rng) for _ in range(20)]
    assert all(f.layers == 2 for f in frames)
    assert len({f.angle for f in frames}) == 20
    assert all(abs(f.angle - scene["angle"]) < 6 * sampler.angle_jitter for f in frames)
    assert len({f.gain for f in frames}) == 20


def test_jpeg_roundtrip_changes_image_slightly():
    bg = make_background()
    out = jpeg_roundtrip(bg, 90)
    assert out.shape == bg.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    err90 = np.abs(out - bg).mean()
    err20 = np.abs(jpeg_roundtrip(bg, 20) - bg).mean()
    assert 0.0 < err90 < 0.02
    assert err20 > err90


def test_jpeg_applied_per_frame_in_scene():
    bg = make_background()
    sampler = RainSampler(jpeg_prob=1.0, jpeg_range=(50, 50), noise_range=(0.0, 0.0))
    frames, rains = render_scene(bg, 2, sampler, seed=0)
    assert all(r.jpeg_quality == 50 for r in rains)
    # Decoded JPEG pixels are exact multiples of 1/255.
    assert np.allclose(frames * 255.0, np.round(frames * 255.0), atol=1e-3)


def test_rain_statistics_of_clean_frames():
    bg = make_background()
    stats = rain_statistics(np.stack([bg, bg]), bg)
    assert stats["coverage"] == 0.0 and stats["mean_abs_diff"] == 0.0
    assert math.isinf(stats["median_psnr"]) and math.isinf(stats["frame_psnr"])
    brighter = np.clip(bg + 0.1, 0, 1)[None]
    stats = rain_statistics(brighter, bg)
    assert stats["coverage"] > 0.9 and 15.0 < stats["frame_psnr"] < 25.0


# The optional effects of FrameRain, each strong enough to see.
NEAR = dict(near_density=2e-4, near_length=80.0, near_width=4.0, near_intensity=0.2)
FINE = dict(fine_density=0.02, fine_length=6.0, fine_intensity=0.4)
SPLASH = dict(splash_density=2e-3, splash_size=1.5, splash_intensity=0.8)
EFFECTS = {"near": NEAR, "fine": FINE, "splash": SPLASH}


def test_frames_without_the_effects_render_as_before_they_existed():
    # Reference values rendered by the renderer before the optional effects
    # were added: with them off, the same random draws give the same frames.
    bg = make_background()
    rain = streak_rain(layers=3, accumulation=0.2, gain=1.02, noise=0.01)
    frame = render_frame(bg, rain, np.random.default_rng(5)).astype(np.float64)
    assert frame.sum() == pytest.approx(17139.50811894238, abs=1e-2)
    assert frame[10, 20] == pytest.approx([0.485382199, 0.514859796, 0.711748958],
                                          abs=1e-6)
    frames, _ = render_scene(bg, 3, RainSampler(), seed=11)
    assert frames.astype(np.float64).sum() == pytest.approx(41244.32027694583,
                                                            abs=1e-2)
    heavy = RainSampler(density_range=(0.003, 0.008), max_coverage=None,
                        accumulation_prob=1.0)
    frames, _ = render_scene(bg, 3, heavy, seed=12)
    assert frames.astype(np.float64).sum() == pytest.approx(47250.973983466625,
                                                            abs=1e-2)


@pytest.mark.parametrize("effect", sorted(EFFECTS))
def test_effect_brightens_only_where_its_layer_is(effect):
    bg = make_background()
    rain = streak_rain(density=0.0, **EFFECTS[effect])
    layer = render_rain_layer(bg.shape[:2], rain, np.random.default_rng(0))
    frame = render_frame(bg, rain, np.random.default_rng(0))
    assert layer.max() > 0.1
    assert np.all(frame >= bg)
    # Screen blending: exactly the background where the effect's layer is 0,
    # and b + s (1 - b) where it is not.
    assert np.array_equal(frame[layer == 0], bg[layer == 0])
    assert np.allclose(frame, bg + layer[..., None] * (1.0 - bg), atol=1e-6)


@pytest.mark.parametrize("effect", sorted(EFFECTS))
@pytest.mark.parametrize("zero", ["density", "intensity"])
def test_effect_at_zero_strength_is_off(effect, zero):
    bg = make_background()
    fields = dict(EFFECTS[effect])
    fields[f"{effect}_{zero}"] = 0.0
    base = render_frame(bg, streak_rain(), np.random.default_rng(3))
    off = render_frame(bg, streak_rain(**fields), np.random.default_rng(3))
    on = render_frame(bg, streak_rain(**EFFECTS[effect]), np.random.default_rng(3))
    assert np.array_equal(off, base)
    assert not np.array_equal(on, base)


def test_effects_are_deterministic_by_rng_seed():
    bg = make_background()
    rain = streak_rain(**NEAR, **FINE, **SPLASH, accumulation=0.3, veil_gradient=0.5)
    a = render_frame(bg, rain, np.random.default_rng(9))
    b = render_frame(bg, rain, np.random.default_rng(9))
    c = render_frame(bg, rain, np.random.default_rng(10))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_near_streaks_are_wide_faint_and_follow_the_angle():
    rng = np.random.default_rng(0)
    shape = (160, 160)
    near = render_rain_layer(shape, streak_rain(density=0.0, **NEAR), rng)
    thin = render_rain_layer(shape, streak_rain(layers=1), np.random.default_rng(0))
    vertical, horizontal = gradient_energies(near)
    assert vertical < 0.2 * horizontal  # vertical bands at angle 0
    # Defocused: no sharp edge across a band, unlike a thin in-focus streak,
    # and faint, as bright as its intensity at most where bands overlap little.
    sharpest = np.abs(np.diff(thin, axis=1)).max()
    assert np.abs(np.diff(near, axis=1)).max() < 0.25 * sharpest
    assert np.quantile(near, 0.99) < 2.0 * NEAR["near_intensity"]
    assert np.mean(near > 2.0 / 255.0) > 0.2


def test_fine_rain_is_dense_and_short():
    rng = np.random.default_rng(0)
    fine = render_rain_layer((128, 128), streak_rain(density=0.0, **FINE), rng)
    assert np.mean(fine > 2.0 / 255.0) > 0.3
    # Short dashes: the layer decorrelates within a few pixels along the fall,
    # where a 30 px streak layer stays correlated.
    streaks = render_rain_layer((128, 128), streak_rain(layers=1),
                                np.random.default_rng(0))

    def along(layer, shift):
        layer = layer - layer.mean()
        return np.sum(layer * np.roll(layer, shift, axis=0)) / np.sum(layer**2)

    assert along(fine, 8) < 0.2 < along(streaks, 8)


def test_splashes_are_round_bright_blobs():
    rng = np.random.default_rng(0)
    splash = render_rain_layer((128, 128), streak_rain(density=0.0, **SPLASH), rng)
    vertical, horizontal = gradient_energies(splash)
    assert 0.4 < vertical / horizontal < 1.0  # nearly isotropic, slightly long
    assert splash.max() > 0.6


def test_veil_gradient_thickens_the_veil_toward_the_bottom():
    bg = make_background()
    flat = streak_rain(density=0.0, accumulation=0.3)
    graded = streak_rain(density=0.0, accumulation=0.3, veil_gradient=0.8)
    a = render_frame(bg, flat, np.random.default_rng(0)) - bg
    b = render_frame(bg, graded, np.random.default_rng(0)) - bg
    rows = np.abs(b).mean(axis=(1, 2)) / np.abs(a).mean(axis=(1, 2))
    assert rows[:10].mean() < 0.4 and rows[-10:].mean() > 1.5
    # No veil, no gradient: the field changes nothing.
    plain = streak_rain()
    assert np.array_equal(
        render_frame(bg, plain, np.random.default_rng(1)),
        render_frame(bg, streak_rain(veil_gradient=0.8), np.random.default_rng(1)),
    )


def test_sampler_draws_effects_only_when_asked():
    rng = np.random.default_rng(0)
    off = [RainSampler().sample_scene(rng) for _ in range(3)]
    rng = np.random.default_rng(0)
    same = RainSampler(near_density_range=(1e-4, 2e-4), fine_length_range=(2, 3))
    assert [same.sample_scene(rng) for _ in range(3)] == off
    sampler = RainSampler(near_prob=1.0, fine_prob=1.0, splash_prob=1.0,
                          accumulation_prob=1.0, veil_gradient_range=(0.2, 0.6))
    rng = np.random.default_rng(1)
    for _ in range(20):
        scene = sampler.sample_scene(rng)
        rain = sampler.sample_frame(scene, rng)
        for name in ("near_density", "fine_density", "splash_density"):
            lo, hi = getattr(sampler, f"{name}_range")
            assert lo <= scene[name] <= hi
            assert getattr(rain, name) > 0
        veiled = scene["accumulation"] > 0
        assert (0.2 <= rain.veil_gradient <= 0.6) if veiled else rain.veil_gradient == 0


def test_sampler_effect_probability_is_per_scene():
    sampler = RainSampler(near_prob=0.3)
    rng = np.random.default_rng(2)
    scenes = [sampler.sample_scene(rng) for _ in range(400)]
    share = np.mean([s.get("near_density", 0.0) > 0 for s in scenes])
    assert 0.22 < share < 0.38
    assert all(s.get("fine_density", 0.0) == 0 for s in scenes)


BG = make_background(32, 32)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: render_scene(BG[..., :2], 2, RainSampler(), 0), r"\(H, W, 3\)"),
        (lambda: render_scene(BG[0], 2, RainSampler(), 0), r"\(H, W, 3\)"),
        (
            lambda: render_scene((BG * 255).astype(np.uint8), 2, RainSampler(), 0),
            "float",
        ),
        (lambda: render_scene(BG * 2.0, 2, RainSampler(), 0), r"\[0, 1\]"),
        (lambda: render_scene(BG.tolist(), 2, RainSampler(), 0), "numpy array"),
        (lambda: render_scene(BG, 0, RainSampler(), 0), "n_frames"),
        (lambda: render_scene(BG, 2, {}, 0), "RainSampler"),
        (lambda: render_scene(BG, 2, RainSampler(), 1.5), "seed"),
        (lambda: streak_rain(density=-0.1), "density"),
        (lambda: streak_rain(angle=120.0), "angle"),
        (lambda: streak_rain(width=0.0), "width"),
        (lambda: streak_rain(intensity=1.5), "intensity"),
        (lambda: streak_rain(layers=0), "layers"),
        (lambda: streak_rain(layers=2.0), "layers"),
        (lambda: streak_rain(accumulation=0.7), "accumulation"),
        (lambda: streak_rain(noise=float("nan")), "noise"),
        (lambda: streak_rain(jpeg_quality=101), "jpeg_quality"),
        (lambda: RainSampler(length_range=(45.0, 10.0)), "length_range"),
        (lambda: RainSampler(density_range=(0.001,)), "density_range"),
        (lambda: RainSampler(accumulation_prob=1.5), "accumulation_prob"),
        (lambda: RainSampler(jpeg_range=(60.5, 90)), "jpeg_range"),
        (lambda: streak_rain(near_width=0.0), "near_width"),
        (lambda: streak_rain(fine_density=2.0), "fine_density"),
        (lambda: streak_rain(splash_intensity=-0.1), "splash_intensity"),
        (lambda: streak_rain(veil_gradient=1.5), "veil_gradient"),
        (lambda: RainSampler(near_prob=1.5), "near_prob"),
        (lambda: RainSampler(splash_size_range=(2.0, 1.0)), "splash_size_range"),
        (lambda: RainSampler(veil_gradient_range=(-2.0, 0.0)), "veil_gradient_range"),
        (
            lambda: render_rain_layer((0, 10), streak_rain(), np.random.default_rng()),
            "shape",
        ),
        (lambda: render_frame(BG, streak_rain(), 0), "Generator"),
        (lambda: jpeg_roundtrip(BG, 0), "quality"),
        (lambda: rain_statistics(BG, BG), r"\(N, H, W, 3\)"),
        (lambda: rain_statistics(np.stack([BG, BG])[:, :16], BG), "does not match"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
