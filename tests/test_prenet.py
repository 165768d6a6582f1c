import torch

from derain.models import count_parameters
from derain.prenet import PReNet


def test_parameter_count_of_prenet_defaults():
    # conv 6->32, LSTM gates 64->128, 5 residual blocks of two 32->32 convs,
    # conv 32->3, all 3x3 with biases.
    expected = (6 * 32 * 9 + 32) + (64 * 128 * 9 + 128) + 10 * (32 * 32 * 9 + 32) + (
        32 * 3 * 9 + 3)
    assert count_parameters(PReNet()) == expected == 168_963


def test_shapes_range_and_stages():
    net = PReNet(in_channels=1, channels=8, stages=3, blocks=1)
    rainy = torch.rand(2, 1, 13, 17)
    background, rain = net(rainy)
    assert background.shape == rain.shape == rainy.shape
    assert background.min() >= 0 and background.max() <= 1
    assert torch.allclose(background + rain, rainy)


def test_gradients_reach_the_first_layer():
    net = PReNet(in_channels=3, channels=8, stages=2, blocks=1)
    background, _ = net(torch.rand(1, 3, 16, 16) * 0.5 + 0.25)
    background.mean().backward()
    assert net.head[0].weight.grad.abs().sum() > 0
