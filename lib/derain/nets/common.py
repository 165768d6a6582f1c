"""What every network of the book shares: padding to the encoders' stride and the
colour interface (a luminance network derains an RGB image through BT.601 YCbCr).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from derain.images import rgb_to_ycbcr_torch, ycbcr_to_rgb_torch


def pad_to_multiple(x: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """Pads the bottom and right of (N, C, H, W) to multiples of ``multiple``.

    Reflection keeps image statistics at the border; it needs the pad to be
    smaller than the side, which replication does not, so tiny inputs replicate.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


@torch.no_grad()
def derain_rgb_any(net: nn.Module,
                   rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Derain colour images with any network whose forward maps rainy (N, C, H, W)
    to ``(background, rain)`` and that has an ``in_channels`` attribute (1 or 3).

    A luminance network (in_channels 1) replaces Y of BT.601 YCbCr and keeps the
    input's Cb, Cr, exactly as :meth:`derain.nets.DerainNet.derain_rgb`.
    rgb: (N, 3, H, W) in [0, 1] -> (background_rgb (N, 3, H, W) in [0, 1],
    rain (N, in_channels, H, W)).
    """
    channels = getattr(net, "in_channels", None)
    if channels not in (1, 3):
        raise ValueError(f"net.in_channels must be 1 or 3, got {channels!r}")
    if channels == 3:
        return net(rgb)
    ycbcr = rgb_to_ycbcr_torch(rgb)
    y, rain = net(ycbcr[:, :1])
    out = ycbcr_to_rgb_torch(torch.cat([y, ycbcr[:, 1:]], dim=1))
    return out.clamp(0.0, 1.0), rain


INITS = ("default", "kaiming")


def initialise(net: nn.Module, init: str, zero: tuple[nn.Module, ...] = (),
               keep: tuple[nn.Module, ...] = (), slope: float = 0.0) -> None:
    """Initialises the convolutions of ``net``: ``"default"`` keeps PyTorch's,
    ``"kaiming"`` draws He normal weights (fan in, the gain of a leaky ReLU of
    ``slope``; 0 is a ReLU) and zero biases. The convolutions in ``zero`` start
    at exactly zero either way (the last layer of a network that starts from the
    identity) and those in ``keep`` keep their own initialisation."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    for module in net.modules():
        if not isinstance(module, nn.Conv2d) or module in keep:
            continue
        if module in zero:
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
        elif init == "kaiming":
            nn.init.kaiming_normal_(module.weight, a=slope, nonlinearity="leaky_relu")
            nn.init.zeros_(module.bias)
