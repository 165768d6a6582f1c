"""The deraining network (Fig. 4, Tables I-II) of Cho et al., "Single Image Deraining
Using Time-Lapse Data", TIP 2020.

Shapes follow the paper with a channel ``width`` (64 in the paper): each encoder has
``width``, ``2*width`` and ``4*width`` channels at scales 1, 1/2 and 1/4, and a
``4*width`` output at 1/8.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from derain.nets.common import INITS, derain_rgb_any, initialise, pad_to_multiple

FUSIONS = ("dynamic", "concat", "sum", "product")
KERNEL_SETS = {"3/5/7": (3, 5, 7), "1/3/5": (1, 3, 5)}


def _conv(cin: int, cout: int, kernel: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2)


def _act(slope: float) -> nn.Module:
    """The paper's ReLU (slope 0), or a leaky ReLU whose units cannot all die."""
    return nn.ReLU(inplace=True) if slope == 0 else nn.LeakyReLU(slope, inplace=True)


class Encoder(nn.Module):
    """One VGG-like branch E_k of Table I (three of them differ only in kernel size).

    forward(x: (N, C_in, H, W)) with H, W divisible by 8 returns the skip features
    ``[f1 (N, w, H, W), f2 (N, 2w, H/2, W/2), f3 (N, 4w, H/4, W/4)]`` and the
    bottleneck ``(N, 4w, H/8, W/8)``.
    """

    def __init__(self, in_channels: int, width: int, kernel: int, slope: float = 0.0):
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width
        k = kernel
        self.stage1 = nn.Sequential(
            _conv(in_channels, w1, k), _act(slope),
            _conv(w1, w1, k), _act(slope),
        )
        self.stage2 = nn.Sequential(
            nn.MaxPool2d(2),
            _conv(w1, w2, k), _act(slope),
            _conv(w2, w2, k), _act(slope),
        )
        self.stage3 = nn.Sequential(
            nn.MaxPool2d(2),
            _conv(w2, w3, k), _act(slope),
            _conv(w3, w3, k), _act(slope),
            _conv(w3, w3, k), _act(slope),
        )
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        f1 = self.stage1(x)
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        return [f1, f2, f3], self.pool(f3)


class DynamicFusion(nn.Module):
    """The dynamic fusion module (Eq. 9, Table II "mk_dyn_filter" and "dyn_filter").

    A 1x1 filter generator maps the concatenated features x (N, 3c, h, w) to a
    per-position 1x1 filter of shape (c, 3c), which is then applied to x itself:
    ``out[o, p] = sum_i W[o, i, p] * x[i, p]`` with ``W[:, :, p] = A x[:, p] + b``.

    The filters are never materialised for all output channels at once: they are
    generated ``chunk`` output channels at a time, so memory stays bounded at the
    paper's width (768 * 256 values per position). ``forward_direct`` is the literal
    computation, kept for tests.
    """

    def __init__(self, channels: int, out_channels: int, chunk: int = 32):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels
        self.chunk = chunk
        self.generator = nn.Conv2d(channels, channels * out_channels, 1)
        # The bias alone is a static 1x1 fusion (like "concat"); the input-conditioned
        # part starts small so early training is stable and learns to grow.
        with torch.no_grad():
            bound = 1.0 / math.sqrt(channels)
            self.generator.weight.uniform_(-0.1 * bound, 0.1 * bound)
            self.generator.bias.uniform_(-bound, bound)

    def forward_direct(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        filters = self.generator(x).view(n, self.out_channels, c, h, w)
        return torch.einsum("noihw,nihw->nohw", filters, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        weight = self.generator.weight.view(self.out_channels, c, c)
        bias = self.generator.bias.view(self.out_channels, c)
        outs = []
        for start in range(0, self.out_channels, self.chunk):
            stop = min(start + self.chunk, self.out_channels)
            a = weight[start:stop].reshape(-1, c, 1, 1)
            b = bias[start:stop].reshape(-1)
            filters = F.conv2d(x, a, b).view(n, stop - start, c, h, w)
            outs.append(torch.einsum("noihw,nihw->nohw", filters, x))
        return torch.cat(outs, dim=1)


class Fusion(nn.Module):
    """Fusion of the three encoder bottlenecks (Table VII): ``sum``, ``product``,
    ``concat`` (concatenation then a 1x1 conv) or ``dynamic`` (Eq. 9).

    forward(feats: three (N, c, h, w) tensors) -> (N, c, h, w).
    """

    def __init__(self, mode: str, channels: int, chunk: int = 32):
        super().__init__()
        if mode not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {mode!r}")
        self.mode = mode
        if mode == "concat":
            self.mix = nn.Conv2d(3 * channels, channels, 1)
        elif mode == "dynamic":
            self.mix = DynamicFusion(3 * channels, channels, chunk=chunk)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        if self.mode == "sum":
            return feats[0] + feats[1] + feats[2]
        if self.mode == "product":
            return feats[0] * feats[1] * feats[2]
        return self.mix(torch.cat(feats, dim=1))


class BilinearUp(nn.Module):
    """x2 upsampling by a transposed convolution with a fixed bilinear kernel (the
    paper's "deconv" layers; no learned weights). (N, C, h, w) -> (N, C, 2h, 2w)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
        kernel = torch.outer(taps, taps).expand(channels, 1, 4, 4).clone()
        self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(
                x.device.type):
            # float32 even under bfloat16 autocast: oneDNN has no fast bfloat16
            # depthwise transposed convolution on a CPU (about 10x slower than
            # float32 at these sizes, 15 % of a bfloat16 training step).
            with torch.autocast(x.device.type, enabled=False):
                out = F.conv_transpose2d(x.float(), self.kernel, stride=2,
                                         padding=1, groups=self.channels)
            return out.to(x.dtype)
        return F.conv_transpose2d(x, self.kernel, stride=2, padding=1,
                                  groups=self.channels)


def _decoder_stage(cin: int, mid: int, cout: int, slope: float,
                   relu_last: bool = True):
    layers = [
        _conv(cin, mid, 3), _act(slope),
        _conv(mid, mid, 3), _act(slope),
        _conv(mid, cout, 3),
    ]
    if relu_last:
        layers.append(_act(slope))
    return nn.Sequential(*layers)


class DerainNet(nn.Module):
    """The deraining network of Fig. 4: three encoders, fusion, decoder, then the
    subtraction and clipping layers, ``background = clip(rainy - rain, 0, 1)``.

    Args:
        width: channels of the first encoder stage (64 in the paper).
        kernels: kernel sizes of the three encoders, ``"3/5/7"`` (paper) or
            ``"1/3/5"`` (the smaller variant of Fig. 17), or a list of three ints.
        fusion: ``"dynamic"`` (paper), ``"concat"``, ``"sum"`` or ``"product"``.
        in_channels: 1 works on luminance as the paper does (``derain_rgb`` puts the
            input's chroma back); 3 works on RGB.
        chunk: output channels per chunk in the dynamic fusion (memory bound only).
        slope: negative slope of the activations; 0 is the paper's ReLU. A small
            slope keeps the thin full-resolution decoder of a narrow network from
            dying, which leaves the network stuck at the identity (chapter 2).
        init: ``"default"`` (PyTorch's initialisation of every convolution) or
            ``"kaiming"`` (He normal for the activations' slope; see below).

    forward(rainy: (N, C, H, W) in [0, 1]), any H, W >= 1, returns
    ``(background, rain)``, both (N, C, H, W); background in [0, 1].
    """

    def __init__(
        self,
        width: int = 64,
        kernels: str | list[int] = "3/5/7",
        fusion: str = "dynamic",
        in_channels: int = 1,
        chunk: int = 32,
        slope: float = 0.0,
        init: str = "default",
    ):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        ks = KERNEL_SETS[kernels] if isinstance(kernels, str) else tuple(kernels)
        if len(ks) != 3 or any(k < 1 or k % 2 == 0 for k in ks):
            raise ValueError(f"kernels must be three odd sizes, got {kernels!r}")
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        self.config = {
            "width": width,
            "kernels": kernels if isinstance(kernels, str) else list(kernels),
            "fusion": fusion,
            "in_channels": in_channels,
            "chunk": chunk,
            "slope": slope,
        }
        if init != "default":  # saved models of the default init stay loadable
            self.config["init"] = init
        self.in_channels = in_channels
        w1, w2, w3 = width, 2 * width, 4 * width
        if slope < 0:
            raise ValueError(f"slope must be >= 0, got {slope}")
        self.encoders = nn.ModuleList(
            Encoder(in_channels, width, k, slope) for k in ks
        )
        self.fusion = Fusion(fusion, w3, chunk=chunk)
        self.up3, self.up2, self.up1 = BilinearUp(w3), BilinearUp(w2), BilinearUp(w1)
        # Each stage sees the upsampled features plus the skips of all three encoders
        # at that scale: 4*w3 = 1024, 4*w2 = 512, 4*w1 = 256 channels at width 64.
        self.dec3 = nn.Sequential(
            _conv(4 * w3, w3, 3), _act(slope),
            _conv(w3, w3, 3), _act(slope),
            _conv(w3, w3, 3), _act(slope),
            _conv(w3, w2, 3), _act(slope),
        )
        self.dec2 = _decoder_stage(4 * w2, w2, w1, slope)
        self.dec1 = _decoder_stage(4 * w1, w1, in_channels, slope, relu_last=False)
        # The rain estimate starts at exactly zero, so training starts from the
        # identity (background = input) instead of from a random image; this is one
        # of the measures against the collapse to a constant background.
        # He initialisation (fan in, the activations' slope) keeps the scale of
        # the features through the ~20 layers between the input and the last
        # convolution; PyTorch's default shrinks it about 2.4x per layer, so the
        # zero-initialised rain estimate takes ~150 steps to leave the identity.
        # The fusion's filter generator keeps its own small initialisation.
        generator = getattr(getattr(self.fusion, "mix", None), "generator", None)
        initialise(self, init, zero=(self.dec1[-1],),
                   keep=(generator,) if generator is not None else (), slope=slope)
        # channels_last weights and activations: oneDNN's fastest layout for these
        # thin layers on a CPU (training 1.35x, inference 1.8x the speed of NCHW);
        # load_state_dict copies into these tensors and keeps their layout.
        self.use_layout("channels_last")

    def use_layout(self, layout: str) -> DerainNet:
        """``"channels_last"`` (the default) or ``"nchw"``, PyTorch's default
        layout: of the weights, and of the activations the forward pass makes.
        The two compute the same network (the benchmark chapter times both)."""
        formats = {"channels_last": torch.channels_last,
                   "nchw": torch.contiguous_format}
        if layout not in formats:
            raise ValueError(f"layout must be one of {sorted(formats)}, "
                             f"got {layout!r}")
        self.memory_format = formats[layout]
        return self.to(memory_format=self.memory_format)

    def predict_rain(self, rainy: torch.Tensor) -> torch.Tensor:
        """rainy: (N, C, H, W) with H, W divisible by 8 -> rain: (N, C, H, W)."""
        skips, bottlenecks = zip(*(enc(rainy) for enc in self.encoders), strict=True)
        x = self.fusion(list(bottlenecks))
        for level, (up, dec) in enumerate(
            [(self.up3, self.dec3), (self.up2, self.dec2), (self.up1, self.dec1[:-1])]
        ):
            scale = 2 - level
            x = dec(torch.cat([up(x)] + [s[scale] for s in skips], dim=1))
        last = self.dec1[-1]
        if x.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(
                x.device.type):
            # The rain estimate in float32 even under bfloat16 autocast: the
            # last layer starts at zero, and with bfloat16's 8-bit mantissa its
            # first small updates were lost often enough that one seed in three
            # of a supervised run stayed at the identity (26.9 dB where float32
            # reached 31.0 dB; a full-resolution 1-channel convolution, cheap).
            with torch.autocast(x.device.type, enabled=False):
                return last(x.float())
        return last(x)

    def forward(self, rainy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if rainy.dim() != 4 or rainy.shape[1] != self.in_channels:
            raise ValueError(
                f"expected input (N, {self.in_channels}, H, W), "
                f"got {tuple(rainy.shape)}"
            )
        h, w = rainy.shape[-2:]
        x = pad_to_multiple(rainy, 8).contiguous(memory_format=self.memory_format)
        rain = self.predict_rain(x)[..., :h, :w]
        background = torch.clamp(rainy - rain, 0.0, 1.0)
        return background, rain

    def bottlenecks(self, rainy: torch.Tensor) -> list[torch.Tensor]:
        """The 1/8-resolution outputs of the three encoders, the features GT-Rain's
        rain-invariant loss compares. rainy: (N, C, H, W), any H, W -> three
        (N, 4w, ceil(H/8), ceil(W/8)) tensors."""
        x = pad_to_multiple(rainy, 8)
        return [encoder(x)[1] for encoder in self.encoders]

    def derain_rgb(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Derain colour images. rgb: (N, 3, H, W) in [0, 1] -> (background_rgb
        (N, 3, H, W) in [0, 1], rain (N, C, H, W)). A luminance model replaces Y of
        BT.601 YCbCr and keeps the input's Cb, Cr (:func:`derain_rgb_any`)."""
        return derain_rgb_any(self, rgb)


def layer_table(net: DerainNet, size: int = 64) -> list[dict]:
    """Tables I and II of the paper, read off a network: one row per convolution,
    transposed convolution and pooling layer in the order a ``size`` x ``size``
    input meets them, with its module name, kernel, input and output channels, the
    scale of its output relative to the input and its parameter count. The
    dynamic fusion's filter generator appears as a 1x1 convolution, its per-position
    filtering as the row ``fusion.dynamic (per-position 1x1 filters)``."""
    rows: list[dict] = []
    hooks = []

    def record(name, module):
        def hook(_module, inputs, output):
            x = inputs[0]
            kernel = getattr(module, "kernel_size", None)
            if isinstance(module, BilinearUp):
                kernel = module.kernel.shape[-1]
            kernel = kernel if isinstance(kernel, int) or kernel is None else kernel[0]
            rows.append({
                "layer": name, "type": type(module).__name__, "kernel": kernel,
                "in": x.shape[1], "out": output.shape[1],
                "scale": f"1/{size // output.shape[-1]}"
                if output.shape[-1] < size else "1",
                "parameters": sum(p.numel() for p in module.parameters()),
            })
        return hook

    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.MaxPool2d) and \
                not name.endswith("mix.generator"):
            hooks.append(module.register_forward_hook(record(name, module)))
        elif isinstance(module, DynamicFusion):
            # Its generator is applied in chunks without calling the module, so
            # both of its steps are recorded here.
            def fusion_hook(module, inputs, output, name=name):
                x = inputs[0]
                scale = f"1/{size // output.shape[-1]}"
                rows.append({"layer": f"{name}.generator (makes the filters)",
                             "type": "Conv2d", "kernel": 1, "in": x.shape[1],
                             "out": module.channels * module.out_channels,
                             "scale": scale,
                             "parameters": sum(p.numel() for p in
                                               module.generator.parameters())})
                rows.append({"layer": f"{name} (applies per-position 1x1 filters)",
                             "type": "DynamicFilter", "kernel": 1, "in": x.shape[1],
                             "out": output.shape[1], "scale": scale,
                             "parameters": 0})
            hooks.append(module.register_forward_hook(fusion_hook))
        elif isinstance(module, BilinearUp):
            hooks.append(module.register_forward_hook(record(name, module)))
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, net.in_channels, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    return rows
