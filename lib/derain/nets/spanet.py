"""A small SPANet (Wang et al., CVPR 2019), the spatial attentive network of the
SPANet-style neighbour: identity-initialised recurrent sweeps in four directions
give an attention map that weights residual blocks.

The seed describes SPANet in outline; every detail chosen here is named in the
docstring of the class or function that makes it.
"""

from __future__ import annotations

import torch
from torch import nn

from derain.nets.common import derain_rgb_any, initialise

DIRECTIONS = ("right", "left", "down", "up")


def irnn_sweep(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
               direction: str) -> torch.Tensor:
    """One recurrent sweep of an IRNN (Le et al., 2015) across the image:
    ``h_t = relu(x_t + weight * h_{t-1} + bias)`` with ``h_{-1} = 0``, t running
    over columns (``"right"``: left to right, ``"left"``: right to left) or rows
    (``"down"``, ``"up"``). With the identity initialisation (weight 1, bias 0)
    a positive value is carried unchanged to the end of its row or column, which
    is how the attention sees context far along each direction.

    x: (N, C, H, W); weight, bias: (C,) -> (N, C, H, W), non-negative.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    dim = 3 if direction in ("right", "left") else 2
    reverse = direction in ("left", "up")
    steps = list((x + bias.view(1, -1, 1, 1)).unbind(dim))
    if reverse:
        steps.reverse()
    w = weight.view(1, -1, 1)
    h = torch.relu(steps[0])
    out = [h]
    for step in steps[1:]:
        h = torch.relu(torch.addcmul(step, w, h))
        out.append(h)
    if reverse:
        out.reverse()
    return torch.stack(out, dim=dim)


class IRNN(nn.Module):
    """Four identity-initialised sweeps (:func:`irnn_sweep`), one per direction,
    each with its own per-channel recurrent weight and bias.
    forward(x: (N, C, H, W)) -> (N, 4C, H, W), directions in :data:`DIRECTIONS`
    order."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(len(DIRECTIONS), channels))
        self.bias = nn.Parameter(torch.zeros(len(DIRECTIONS), channels))

    def directions(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [irnn_sweep(x, self.weight[k], self.bias[k], d)
                for k, d in enumerate(DIRECTIONS)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.directions(x), dim=1)


class SpatialAttention(nn.Module):
    """SPANet's spatial attentive module: two rounds of four-direction IRNN, each
    direction weighted by a learned per-pixel direction attention, then a 1x1 conv
    and a sigmoid. The sweeps run on ``width`` channels (a 1x1 conv maps the
    input there); the recurrences are the costly part on a CPU.
    forward(x: (N, C, H, W)) -> attention (N, 1, H, W) in (0, 1)."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.enter = nn.Conv2d(channels, width, 1)
        self.direction = nn.Conv2d(channels, len(DIRECTIONS), 3, padding=1)
        self.irnn1, self.irnn2 = IRNN(width), IRNN(width)
        self.mix1 = nn.Conv2d(len(DIRECTIONS) * width, width, 1)
        self.mix2 = nn.Conv2d(len(DIRECTIONS) * width, width, 1)
        self.out = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.direction(x)).unbind(1)
        a = torch.relu(self.enter(x))
        for irnn, mix in ((self.irnn1, self.mix1), (self.irnn2, self.mix2)):
            swept = [s * w.unsqueeze(1)
                     for s, w in zip(irnn.directions(a), weights, strict=True)]
            a = torch.relu(mix(torch.cat(swept, dim=1)))
        return torch.sigmoid(self.out(a))


class _Residual(nn.Module):
    """relu(x + conv(relu(conv(x))) * attention); attention 1 is a plain block."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, attention: torch.Tensor | None = None):
        body = self.conv2(torch.relu(self.conv1(x)))
        if attention is not None:
            body = body * attention
        return torch.relu(x + body)


class _AttentiveBlock(nn.Module):
    """SPANet's spatial attentive block: one attention map, shared by ``sarbs``
    spatial attentive residual blocks."""

    def __init__(self, channels: int, sarbs: int):
        super().__init__()
        self.attention = SpatialAttention(channels, max(4, channels // 4))
        self.body = nn.ModuleList(_Residual(channels) for _ in range(sarbs))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attention = self.attention(x)
        for block in self.body:
            x = block(x, attention)
        return x, attention


class SpatialAttentiveNet(nn.Module):
    """A small SPANet (Wang et al., CVPR 2019): conv head, ``blocks`` residual
    blocks, ``sabs`` spatial attentive blocks (each an IRNN attention map shared
    by ``sarbs`` attentive residual blocks), ``blocks`` residual blocks, conv tail.

    Choices where the seed is open: SPANet (32 channels, 3 + 4 x 3 + 3 blocks,
    predicting the background) is shrunk to 16 channels, 1 + 2 x 2 + 1 blocks and
    attention sweeps on channels / 4 (about 30k parameters at C = 1; a batch of
    16 crops of 64 x 64 takes about 0.6 s of one CPU core forward and backward,
    most of it in the recurrent sweeps); the tail predicts the rain and starts at
    exactly zero, so training starts from the identity as
    :class:`~derain.nets.DerainNet` does. ``init="kaiming"`` draws the other
    convolutions He normal (:func:`~derain.nets.common.initialise`), as
    DerainNet's ``init="kaiming"`` does; the recurrent sweeps keep their identity
    initialisation.

    forward(rainy: (N, C, H, W) in [0, 1]) -> ``(background, rain)``, both
    (N, C, H, W); background = clamp(rainy - predicted rain, 0, 1) and
    rain = rainy - background.
    """

    def __init__(self, in_channels: int = 1, channels: int = 16, blocks: int = 1,
                 sabs: int = 2, sarbs: int = 2, init: str = "default"):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
        if min(channels, sabs, sarbs) < 1 or blocks < 0:
            raise ValueError("channels, sabs, sarbs must be >= 1 and blocks >= 0")
        self.config = {"in_channels": in_channels, "channels": channels,
                       "blocks": blocks, "sabs": sabs, "sarbs": sarbs,
                       "arch": "spanet"}
        if init != "default":  # saved models of the default init stay loadable
            self.config["init"] = init
        self.in_channels = in_channels
        self.head = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.pre = nn.ModuleList(_Residual(channels) for _ in range(blocks))
        self.attentive = nn.ModuleList(
            _AttentiveBlock(channels, sarbs) for _ in range(sabs))
        self.post = nn.ModuleList(_Residual(channels) for _ in range(blocks))
        self.tail = nn.Conv2d(channels, in_channels, 3, padding=1)
        initialise(self, init, zero=(self.tail,))

    def _run(self, rainy: torch.Tensor):
        if rainy.dim() != 4 or rainy.shape[1] != self.in_channels:
            raise ValueError(f"expected input (N, {self.in_channels}, H, W), "
                             f"got {tuple(rainy.shape)}")
        x = torch.relu(self.head(rainy))
        for block in self.pre:
            x = block(x)
        maps = []
        for block in self.attentive:
            x, attention = block(x)
            maps.append(attention)
        for block in self.post:
            x = block(x)
        return self.tail(x), maps

    def forward(self, rainy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        predicted, _ = self._run(rainy)
        background = torch.clamp(rainy - predicted, 0.0, 1.0)
        return background, rainy - background

    @torch.no_grad()
    def attention_maps(self, rainy: torch.Tensor) -> list[torch.Tensor]:
        """The attention of each attentive block, ``sabs`` tensors
        (N, 1, H, W) in (0, 1), for figures."""
        return self._run(rainy)[1]

    def derain_rgb(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See :func:`~derain.nets.common.derain_rgb_any`."""
        return derain_rgb_any(self, rgb)
