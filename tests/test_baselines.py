import math

import numpy as np
import pytest
import torch

from derain.baselines import (
    DIRECTIONS,
    IRNN,
    Rain2AvoidPairs,
    RainOerMePairs,
    SpatialAttentiveNet,
    coarse_clean_label,
    derain_rgb_any,
    dominant_orientation,
    feature_taps,
    gt_rain_loss,
    ldgp_mask,
    masked_l1,
    percentile_target,
    rain2avoid_loss,
    rain_invariant_loss,
    single_image_filter,
    stochastic_fill,
    temporal_mean,
    temporal_median,
    transfer_rain,
)
from derain.images import rgb_to_ycbcr_torch
from derain.models import DerainNet, count_parameters
from derain.prenet import PReNet


def smooth_background(h, w, channels=None):
    rows, cols = np.mgrid[0:h, 0:w]
    bg = 0.3 + 0.05 * np.sin(rows / 11.0) + 0.05 * np.cos(cols / 13.0)
    bg = bg.astype(np.float32)
    return bg if channels is None else np.repeat(bg[..., None], channels, axis=2)


def streak_profile(h, w, degrees, spacing=12, sigma=0.8):
    """Parallel anti-aliased streaks (Gaussian cross-section of ``sigma`` px),
    ``degrees`` from vertical (lower end to the right), one every ``spacing``
    columns; (h, w) in [0, 1]."""
    rows, cols = np.mgrid[0:h, 0:w]
    offset = cols - rows * math.tan(math.radians(degrees))
    offset = (offset + spacing / 2) % spacing - spacing / 2
    distance = offset * math.cos(math.radians(degrees))
    return np.exp(-(distance**2) / (2 * sigma**2)).astype(np.float32)


# ------------------------------------------------------------------ floors


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


def test_transfer_rain_adds_exactly_the_positive_removed_rain():
    rng = np.random.default_rng(2)
    rainy = rng.uniform(0.0, 0.5, (8, 8, 3)).astype(np.float32)
    coarse = rng.uniform(0.0, 0.5, (8, 8, 3)).astype(np.float32)
    clean = rng.uniform(0.0, 0.5, (8, 8, 3)).astype(np.float32)
    out = transfer_rain(rainy, coarse, clean)
    assert np.allclose(out - clean, np.maximum(rainy - coarse, 0.0), atol=1e-6)
    bright = transfer_rain(rainy, coarse, np.ones_like(clean))
    assert bright.max() <= 1.0
    with pytest.raises(ValueError):
        transfer_rain(rainy, coarse, clean[:4])


# ------------------------------------------------------------------ Rain2Avoid


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


def test_masked_l1_ignores_masked_pixels():
    rainy = torch.rand(2, 1, 8, 8)
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    mask[:, :, 2:4, 3:6] = True
    pred = rainy.clone()
    pred[mask] += 0.7
    assert masked_l1(pred, rainy, mask) == 0
    pred[0, 0, 0, 0] += 0.5
    assert masked_l1(pred, rainy, mask) > 0
    assert masked_l1(pred, rainy, torch.ones_like(mask)) == 0


def test_stochastic_fill_draws_masked_pixels_from_unmasked_neighbours():
    rainy = torch.arange(100, dtype=torch.float32).view(1, 1, 10, 10) / 100
    mask = torch.zeros(1, 1, 10, 10, dtype=torch.bool)
    mask[0, 0, 4:6, 4:6] = True
    gen = torch.Generator().manual_seed(0)
    out = stochastic_fill(rainy, mask, window=3, generator=gen)
    assert torch.equal(out[~mask], rainy[~mask])
    for r, c in [(4, 4), (4, 5), (5, 4), (5, 5)]:
        window = rainy[0, 0, r - 1:r + 2, c - 1:c + 2]
        allowed = window[~mask[0, 0, r - 1:r + 2, c - 1:c + 2]]
        assert out[0, 0, r, c] in allowed
    everything = torch.ones_like(mask)
    assert torch.equal(stochastic_fill(rainy, everything), rainy)


def test_rain2avoid_loss_is_finite_with_parts():
    rainy = torch.rand(2, 1, 12, 12)
    mask = torch.rand(2, 1, 12, 12) > 0.8
    pred = rainy.clone().requires_grad_(True)
    total, parts = rain2avoid_loss(pred, rainy, mask)
    total.backward()
    assert torch.isfinite(total) and set(parts) == {"L_clear", "total"}
    assert parts["L_clear"] == 0  # pred equals the input off the mask
    assert torch.isfinite(pred.grad).all()


# ---------------------------------------------------------------------- SPANet


def test_irnn_identity_init_carries_an_impulse_along_each_direction():
    irnn = IRNN(1)
    x = torch.zeros(1, 1, 8, 10)
    x[0, 0, 3, 5] = 1.0
    out = dict(zip(DIRECTIONS, irnn.directions(x), strict=True))
    expected = {d: torch.zeros(8, 10) for d in DIRECTIONS}
    expected["right"][3, 5:] = 1
    expected["left"][3, :6] = 1
    expected["down"][3:, 5] = 1
    expected["up"][:4, 5] = 1
    for d in DIRECTIONS:
        assert torch.equal(out[d][0, 0], expected[d]), d
    assert irnn(x).shape == (1, 4, 8, 10)


def test_spanet_shapes_range_identity_start_and_gradients():
    torch.manual_seed(0)
    net = SpatialAttentiveNet(channels=8)
    rainy = torch.rand(2, 1, 20, 24)
    background, rain = net(rainy)
    assert background.shape == rain.shape == rainy.shape
    assert torch.equal(background, rainy)  # zero tail: starts at the identity
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.5)
    background, rain = net(rainy)
    assert background.min() >= 0 and background.max() <= 1
    assert torch.allclose(background + rain, rainy)
    background.mean().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    assert net.head.weight.grad.abs().sum() > 0
    assert net.attentive[0].attention.irnn1.weight.grad.abs().sum() > 0
    maps = net.attention_maps(rainy)
    assert len(maps) == 2 and maps[0].shape == (2, 1, 20, 24)
    assert maps[0].min() > 0 and maps[0].max() < 1


def test_spanet_default_size_and_config():
    net = SpatialAttentiveNet()
    assert 10_000 < count_parameters(net) < 200_000
    assert net.config["arch"] == "spanet" and net.in_channels == 1
    rebuilt = SpatialAttentiveNet(
        **{k: v for k, v in net.config.items() if k != "arch"})
    assert count_parameters(rebuilt) == count_parameters(net)
    with pytest.raises(ValueError):
        SpatialAttentiveNet(in_channels=2)


def test_derain_rgb_changes_luminance_only():
    torch.manual_seed(1)
    net = SpatialAttentiveNet(channels=8)
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.02)
    rgb = torch.rand(1, 3, 16, 16) * 0.3 + 0.35
    out, rain = net.derain_rgb(rgb)
    assert out.shape == rgb.shape and rain.shape == (1, 1, 16, 16)
    before, after = rgb_to_ycbcr_torch(rgb), rgb_to_ycbcr_torch(out)
    assert (after[:, 0] - before[:, 0]).abs().max() > 1e-3
    assert torch.allclose(after[:, 1:], before[:, 1:], atol=1e-5)


def test_derain_rgb_any_serves_prenet():
    net = PReNet(in_channels=1, channels=4, stages=1, blocks=1)
    out, rain = derain_rgb_any(net, torch.rand(2, 3, 12, 12))
    assert out.shape == (2, 3, 12, 12) and rain.shape == (2, 1, 12, 12)
    assert out.min() >= 0 and out.max() <= 1
    rgb_net = PReNet(in_channels=3, channels=4, stages=1, blocks=1)
    rgb = torch.rand(1, 3, 8, 8)
    assert torch.equal(derain_rgb_any(rgb_net, rgb)[0], rgb_net(rgb)[0])


# --------------------------------------------------------------------- GT-Rain


def test_rain_invariant_loss_prefers_matching_features():
    gen = torch.Generator().manual_seed(0)

    def feats():
        return [torch.randn(8, 16, 3, 3, generator=gen),
                torch.randn(8, 32, 2, 2, generator=gen)]

    rainy, other = feats(), feats()
    same = rain_invariant_loss(rainy, rainy)
    unrelated = rain_invariant_loss(rainy, other)
    assert same < 0.5 < math.log(15) - 0.5 < unrelated
    single = rain_invariant_loss([f[:1] for f in rainy], [f[:1] for f in other])
    assert single == 0  # no negatives in a batch of one
    leaves = [f.clone().requires_grad_(True) for f in rainy + other]
    rain_invariant_loss(leaves[:2], leaves[2:]).backward()
    assert all(torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0
               for f in leaves)


def test_feature_taps_are_the_three_padded_bottlenecks():
    net = DerainNet(width=2, fusion="concat")
    taps = feature_taps(net, torch.rand(2, 1, 20, 17))
    assert [tuple(t.shape) for t in taps] == [(2, 8, 3, 3)] * 3


def test_gt_rain_loss_total_parts_and_gradients():
    torch.manual_seed(0)
    net = DerainNet(width=2, fusion="concat")
    with torch.no_grad():
        net.dec1[-1].weight.normal_(0, 0.1)
    rainy, target = torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16)
    total, parts = gt_rain_loss(net, rainy, target, weight=0.5)
    assert set(parts) == {"L_l1", "L_ri", "total", "contrast"}
    assert math.isclose(parts["total"], parts["L_l1"] + 0.5 * parts["L_ri"],
                        rel_tol=1e-5)
    total.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert all(not enc._forward_hooks for enc in net.encoders)
    total0, parts0 = gt_rain_loss(net, rainy, target, weight=0.0)
    assert set(parts0) == {"L_l1", "total", "contrast"}
    assert parts0["total"] == parts0["L_l1"]


# --------------------------------------------------------------- the samplers


def test_rain_oer_me_pairs_mix_both_directions(tiny_data):
    pairs = RainOerMePairs(tiny_data)
    inputs, targets = pairs.sample(5, 32, np.random.default_rng(0))
    assert inputs.shape == targets.shape == (5, 1, 32, 32)
    assert inputs.dtype == targets.dtype == torch.float32
    for t in (inputs, targets):
        assert t.min() >= 0 and t.max() <= 1
    # Rows 0-2 are rain-to-clean (label never brighter than the rainy crop),
    # rows 3-4 clean-to-rain (rainy input never darker than its clean target).
    assert torch.all(targets[:3] <= inputs[:3] + 1e-6)
    assert torch.all(inputs[3:] >= targets[3:] - 1e-6)
    for rainy, label in zip(inputs[:3], targets[:3], strict=True):
        # Away from the crop border the label is the filter of the crop itself.
        expected = coarse_clean_label(rainy[0].numpy())
        assert np.allclose(label[0, 2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-6)
    rgb_inputs, _ = RainOerMePairs(tiny_data, channels=3).sample(
        2, 64, np.random.default_rng(1))
    assert rgb_inputs.shape == (2, 3, 48, 48)


def test_rain2avoid_pairs_return_crops_and_masks(tiny_data):
    pairs = Rain2AvoidPairs(tiny_data)
    assert len(pairs) == 16  # four train scenes of four frames
    rainy, mask = pairs.sample(4, 32, np.random.default_rng(0))
    assert rainy.shape == mask.shape == (4, 1, 32, 32)
    assert rainy.min() >= 0 and rainy.max() <= 1
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert any(m.any() for m in pairs.masks)
