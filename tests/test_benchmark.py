import pytest
import torch
from torch import nn

from derain.benchmark import (
    count_flops,
    grid_cost,
    measure_in_subprocess,
    time_inference,
    training_flops,
)
from derain.nets import DerainNet


def test_flops_of_a_single_conv():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))
    assert count_flops(net, (1, 3, 10, 10)) == 2 * 10 * 10 * 8 * 3 * 9


def test_paper_width_costs_about_two_and_a_half_teraflop_per_512_image():
    with torch.device("meta"):
        net = DerainNet(width=64)
    flops = count_flops(net, (1, 1, 512, 512))
    # The generator alone: 768 x (768 * 256) multiply-adds at each of 64 x 64
    # positions, about half of the total.
    generator = 2 * 768 * 768 * 256 * 64 * 64
    assert 2.3e12 < flops < 2.7e12
    assert 0.4 < generator / flops < 0.6


def test_flops_grow_with_area():
    net = DerainNet(width=2)
    assert count_flops(net, (1, 1, 64, 64)) == pytest.approx(
        4 * count_flops(net, (1, 1, 32, 32)), rel=1e-6)


def test_time_inference_runs():
    result = time_inference(DerainNet(width=2), 32, torch.device("cpu"), repeats=2)
    assert 0 < result["min_s"] <= result["median_s"] and len(result["times_s"]) == 2


def test_measure_in_subprocess_and_its_errors():
    ok = measure_in_subprocess({"kind": "prenet", "config": {"channels": 4,
                                "stages": 2, "blocks": 1}, "task": "inference",
                                "size": 32, "repeats": 1})
    assert ok["median_s"] > 0 and ok["peak_memory_mb"] > 0
    bad = measure_in_subprocess({"kind": "nope", "config": {}, "task": "inference",
                                 "size": 8})
    assert "network must be one of" in bad["error"]


def test_training_step_flops_and_the_cost_of_a_grid():
    config = {"width": 2, "kernels": "3/5/7", "fusion": "dynamic",
              "in_channels": 1, "slope": 0.0}
    with torch.device("meta"):
        net = DerainNet(**config)
    # Both frames of 4 pairs, forward and (twice the forward) backward.
    assert training_flops(config, 4, 32) == pytest.approx(
        3 * 8 * count_flops(net, (1, 1, 32, 32)))
    cost = grid_cost(1e12, steps=3600, runs=10, gpu_tflops=1.0, efficiency=0.5,
                     gpus=4)
    assert list(cost["GPU-hours"]) == pytest.approx([10.0, 20.0])
    assert list(cost["hours on 4 GPUs"]) == pytest.approx([2.5, 5.0])
    assert len(grid_cost(1e12, 1, 1, 1.0, None, 1)) == 1
