"""Targets and labels from rainy frames alone: time-averaging, SPANet's
percentile, Rain O'er Me's coarse label, Rain2Avoid's LDGP mask."""

import numpy as np
import pytest
from synthetic import smooth_background, streak_profile

from derain.data import (
    coarse_clean_label,
    dominant_orientation,
    ldgp_mask,
    percentile_target,
    single_image_filter,
    temporal_mean,
    temporal_median,
)


def test_temporal_mean_and_median_shapes():
    frames = np.random.default_rng(0).random((5, 6, 7, 3)).astype(np.float32)
    assert temporal_mean(frames).shape == temporal_median(frames).shape == (6, 7, 3)
    assert np.allclose(temporal_mean(frames), frames.mean(axis=0))
    with pytest.raises(ValueError):
        temporal_median(frames[:1])


def test_percentile_target_recovers_background_under_minority_streaks():
    rng = np.random.default_rng(1)
    bg = rng.uniform(0.1, 0.6, size=(16, 16, 3)).astype(np.float32)
    frames = np.repeat(bg[None], 10, axis=0)
    for t in (1, 4, 7):  # three of ten frames carry (different) streaks
        frames[t] += 0.4 * streak_profile(16, 16, 10 * t, spacing=5)[..., None]
    target = percentile_target(frames)
    assert target.shape == (16, 16, 3) and target.dtype == np.float32
    assert np.abs(target - bg).max() < 1e-6
    assert np.abs(temporal_mean(frames) - bg).max() > 0.1  # the test has teeth


def test_percentile_target_with_two_frames_takes_the_darker():
    dark = np.full((4, 4, 1), 0.2, np.float32)
    frames = np.stack([dark + 0.3, dark])
    assert np.allclose(percentile_target(frames), dark)
    with pytest.raises(ValueError):
        percentile_target(frames, low=0.6, high=0.4)


def test_coarse_clean_label_suppresses_a_thin_bright_streak():
    bg = smooth_background(32, 32, channels=3)
    rainy = bg.copy()
    rainy[:, 10] += 0.5
    coarse = coarse_clean_label(rainy)
    assert coarse.shape == rainy.shape
    assert np.all(coarse <= rainy)
    amplitude = (coarse - bg)[:, 10].max()
    assert amplitude < 0.05 * 0.5
    assert coarse_clean_label(rainy[..., 0]).shape == (32, 32)


def test_single_image_filter_darkens_streaks_and_keeps_range():
    rainy = smooth_background(24, 24, channels=3) * np.array([1.0, 0.8, 0.6],
                                                              np.float32)
    rainy[:, 5] += 0.4
    out = single_image_filter(rainy)
    assert out.shape == rainy.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert out[:, 5].mean() < rainy[:, 5].mean() - 0.2


def test_dominant_orientation_is_perpendicular_to_the_streaks():
    for degrees in (0, 20, -25):
        image = smooth_background(64, 64) + 0.4 * streak_profile(64, 64, degrees)
        theta = dominant_orientation(image)
        expected = (-degrees) % 180.0  # gradient angle of a streak at `degrees`
        diff = abs((theta - expected + 90) % 180 - 90)
        assert diff <= 5.0, (degrees, theta)


def test_ldgp_marks_oriented_streaks_not_smooth_background():
    profile = streak_profile(64, 64, 15)
    rainy = smooth_background(64, 64, channels=3) + 0.4 * profile[..., None]
    mask = ldgp_mask(rainy)
    assert mask.shape == (64, 64) and mask.dtype == bool
    assert mask[profile > 0.5].mean() > 0.8  # streak cores
    assert mask[profile < 0.01].mean() < 0.02  # background, > 2.4 px away


def test_target_quality_scores_each_pseudo_target_against_the_background(tiny_data):
    from derain.data import (
        ldgp_mask,
        load_clean,
        load_frames,
        load_manifest,
        split_scenes,
        to_channels,
    )
    from derain.evaluation.floors import PSEUDO_TARGETS, target_quality
    from derain.metrics import psnr

    manifest = load_manifest(tiny_data)
    scene = split_scenes(manifest, "train")[0]
    table = target_quality(tiny_data, manifest, limit=1)
    frames = load_frames(tiny_data, scene)
    assert len(table) == len(frames) and set(table["scene"]) == {scene["name"]}
    assert set(PSEUDO_TARGETS) <= set(table.columns)
    y = to_channels(frames[1], 1)[..., 0]
    clean = to_channels(load_clean(tiny_data, scene), 1)[..., 0]
    row = table.iloc[1]
    assert row["input"] == pytest.approx(psnr(y, clean))
    assert row["marked"] == pytest.approx(ldgp_mask(frames[1]).mean())
    assert 0 <= row["mask recall"] <= 1 and 0 <= row["mask precision"] <= 1
    # Rain only brightens, so the darker-than-median frames the percentile
    # target averages are closer to the background than a rainy frame.
    whole = target_quality(tiny_data, manifest)
    assert whole["percentile"].mean() > whole["input"].mean()
    assert whole["scene"].nunique() == len(split_scenes(manifest, "train"))
    with pytest.raises(ValueError, match="no 'nowhere' scenes"):
        target_quality(tiny_data, manifest, split="nowhere")
