"""The networks of the book, each mapping rainy (N, C, H, W) in [0, 1] to
``(background, rain)``: the paper's :class:`DerainNet`, and the SPANet- and
PReNet-style networks of the neighbouring methods. :func:`build_model` rebuilds any
of them from the ``config`` a saved model carries.
"""

from __future__ import annotations

from torch import nn

from derain.nets.common import INITS, derain_rgb_any, pad_to_multiple
from derain.nets.derainnet import (
    FUSIONS,
    KERNEL_SETS,
    BilinearUp,
    DerainNet,
    DynamicFusion,
    Encoder,
    Fusion,
    layer_table,
)
from derain.nets.prenet import PReNet
from derain.nets.spanet import SpatialAttentiveNet

# The ``arch`` key of a model config names its class; DerainNet when absent.
ARCHS = {"derain": DerainNet, "spanet": SpatialAttentiveNet, "prenet": PReNet}

__all__ = ["ARCHS", "FUSIONS", "INITS", "KERNEL_SETS", "BilinearUp", "DerainNet",
           "DynamicFusion", "Encoder", "Fusion", "PReNet", "SpatialAttentiveNet",
           "build_model", "count_parameters", "derain_rgb_any", "layer_table",
           "pad_to_multiple"]


def build_model(config: dict) -> nn.Module:
    """A network from its stored config: ``arch`` picks the class from
    :data:`ARCHS` (``"derain"`` when absent), the other keys are its
    constructor's keyword arguments."""
    config = dict(config)
    arch = config.pop("arch", "derain")
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {tuple(ARCHS)}, got {arch!r}")
    return ARCHS[arch](**config)


def count_parameters(net: nn.Module, trainable_only: bool = True) -> int:
    return sum(
        p.numel() for p in net.parameters() if p.requires_grad or not trainable_only
    )
