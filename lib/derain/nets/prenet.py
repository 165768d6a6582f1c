"""A progressive recurrent deraining network after PReNet (Ren et al., CVPR 2019):
the supervised baseline the paper compares against, and the reference network of
the timing chapter (a known, small cost measured beside ours in the same run).

One stage, applied ``stages`` times with shared weights: the rainy image and the
current estimate (concatenated) go through a 3x3 conv, a convolutional LSTM, five
residual blocks and a 3x3 conv back to an image, which is the next estimate.
"""

from __future__ import annotations

import torch
from torch import nn

from derain.nets.common import initialise


class _ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class PReNet(nn.Module):
    """forward(rainy: (N, C, H, W) in [0, 1]) -> (background (N, C, H, W) in
    [0, 1], rain = rainy - background). ``channels`` 32, ``stages`` 6 and
    ``blocks`` 5 are PReNet's defaults (about 0.17 M parameters at C = 3).

    ``init="default"`` is PyTorch's initialisation of every convolution, as in
    PReNet: the first estimate is the input plus a random image.
    ``init="kaiming"`` draws He normal weights
    (:func:`~derain.nets.common.initialise`) and starts the last convolution at
    exactly zero, so that training starts from the identity, as the other
    networks of this project do."""

    def __init__(self, in_channels: int = 3, channels: int = 32, stages: int = 6,
                 blocks: int = 5, init: str = "default"):
        super().__init__()
        self.config = {"arch": "prenet", "in_channels": in_channels,
                       "channels": channels, "stages": stages, "blocks": blocks}
        if init != "default":  # saved models of the default init stay loadable
            self.config["init"] = init
        self.in_channels = in_channels
        self.stages = stages
        self.channels = channels
        self.head = nn.Sequential(
            nn.Conv2d(2 * in_channels, channels, 3, padding=1), nn.ReLU(inplace=True)
        )
        # One conv yields the input, forget, cell and output gates of the LSTM.
        self.gates = nn.Conv2d(2 * channels, 4 * channels, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(channels) for _ in range(blocks)])
        self.tail = nn.Conv2d(channels, in_channels, 3, padding=1)
        initialise(self, init, zero=(self.tail,) if init != "default" else ())

    def forward(self, rainy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = rainy.shape
        estimate = rainy
        hidden = rainy.new_zeros(n, self.channels, h, w)
        cell = torch.zeros_like(hidden)
        for _ in range(self.stages):
            x = self.head(torch.cat([rainy, estimate], dim=1))
            i, f, g, o = self.gates(torch.cat([x, hidden], dim=1)).chunk(4, dim=1)
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
            hidden = torch.sigmoid(o) * torch.tanh(cell)
            estimate = rainy + self.tail(self.body(hidden))
        background = estimate.clamp(0.0, 1.0)
        return background, rainy - background
