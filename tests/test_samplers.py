"""Training batches of the single-image methods."""

import numpy as np
import pytest
import torch

from derain.data import (
    Rain2AvoidPairs,
    RainOerMePairs,
    coarse_clean_label,
    transfer_rain,
)


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
