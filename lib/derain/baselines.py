"""The neighbouring methods of SPEC section 5, rebuilt small enough to train on the
same time-lapse data as the paper's network, plus the no-learning floors.

- SPANet (Wang et al., CVPR 2019): a clean target per static sequence by temporal
  percentile filtering (:func:`percentile_target`) and a spatial attentive network
  whose attention comes from four-direction identity-initialised recurrent sweeps
  (:class:`SpatialAttentiveNet`).
- GT-Rain (Ba et al., ECCV 2022): reconstruction plus a rain-invariant contrastive
  loss between the encoder features of a rainy image and of its clean image
  (:func:`rain_invariant_loss`, :func:`gt_rain_loss`).
- Rain O'er Me (Lin et al., TIP 2020): rain-to-clean pairs (rainy image, filtered
  coarse label) and clean-to-rain pairs (unpaired clean image plus the removed
  rain) (:func:`coarse_clean_label`, :func:`transfer_rain`,
  :class:`RainOerMePairs`).
- Rain2Avoid (Peng et al.): self-supervision from single rainy images, ignoring
  the pixels that a locally dominant gradient prior marks as rain
  (:func:`ldgp_mask`, :func:`masked_l1`, :func:`stochastic_fill`,
  :class:`Rain2AvoidPairs`).
- Floors without learning: :func:`single_image_filter`, :func:`temporal_mean`,
  :func:`temporal_median`.

The seeds describe these methods only in outline; every detail chosen here is
named in the docstring of the function that makes it. Images are numpy arrays
(H, W, C) in [0, 1] and tensors (N, C, H, W) in [0, 1] unless stated otherwise.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from derain.data import load_manifest, to_channels
from derain.images import (
    list_images,
    load_image,
    rgb_to_y,
    rgb_to_ycbcr,
    rgb_to_ycbcr_torch,
    ycbcr_to_rgb,
    ycbcr_to_rgb_torch,
)

# --------------------------------------------------------------- no-learning floors


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be (T, H, W, C), got shape {frames.shape}")
    if frames.shape[0] < 2:
        raise ValueError(f"need at least two frames, got {frames.shape[0]}")
    return frames


def temporal_mean(frames: np.ndarray) -> np.ndarray:
    """Per-pixel mean over time. frames: (T, H, W, C) in [0, 1] -> (H, W, C)
    float32 in [0, 1]."""
    return _check_frames(frames).mean(axis=0).astype(np.float32)


def temporal_median(frames: np.ndarray) -> np.ndarray:
    """Per-pixel median over time. frames: (T, H, W, C) in [0, 1] -> (H, W, C)
    float32 in [0, 1]."""
    return np.median(_check_frames(frames), axis=0).astype(np.float32)


def percentile_target(frames: np.ndarray, low: float = 0.25,
                      high: float = 0.5) -> np.ndarray:
    """SPANet's clean image of a static sequence by temporal percentile filtering.

    Rain only brightens a pixel, and only in a minority of frames, so the values
    above the temporal median are the contaminated ones while the lowest are the
    tail of sensor noise. At each pixel the frames are ranked by luminance and the
    frames whose percentile rank ``k / (T - 1)`` lies in ``[low, high]`` are
    averaged (all channels of the same frames, so every output colour is a mean of
    observed colours). If no rank falls in the band (small T) the single rank
    nearest its centre is used; T = 2 gives the darker frame.

    Choices where the seed is open: SPANet picks the band per sequence with a
    person in the loop; here one band is used for all scenes, the lower-middle
    quartile (0.25, 0.5) by default. Luminance is BT.601 Y for C = 3, the channel
    itself for C = 1 and the channel mean otherwise.

    frames: (T, H, W, C) in [0, 1], T >= 2 -> (H, W, C) float32 in [0, 1].
    """
    frames = _check_frames(frames)
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got {low}, {high}")
    t = frames.shape[0]
    if frames.shape[-1] == 3:
        lum = rgb_to_y(frames.astype(np.float32))
    else:
        lum = frames.mean(axis=-1)
    q = np.arange(t) / (t - 1)
    ranks = np.flatnonzero((q >= low - 1e-9) & (q <= high + 1e-9))
    if ranks.size == 0:
        ranks = np.array([int(round((low + high) / 2 * (t - 1)))])
    order = np.argsort(lum, axis=0, kind="stable")[ranks]  # (K, H, W)
    picked = np.take_along_axis(frames, order[..., None], axis=0)
    return picked.mean(axis=0).astype(np.float32)


def coarse_clean_label(rainy: np.ndarray, size: int = 5) -> np.ndarray:
    """Rain O'er Me's "rain-to-clean" soft label: the rainy image after a simple
    filter that removes thin bright streaks.

    The seed says only "a simple filtering technique" (the reference code reads
    precomputed "blurred" labels). Chosen here: a ``size`` x ``size`` median
    filter per channel, which removes any structure narrower than half the
    window (streaks up to 2 px wide at size 5), then the pixelwise minimum with
    the input, because rain only adds light and a label brighter than its rainy
    image cannot be cleaner.

    rainy: (H, W, C) or (H, W) in [0, 1] -> same shape, float32 in [0, 1], never
    above ``rainy``.
    """
    rainy = np.asarray(rainy, dtype=np.float32)
    if rainy.ndim not in (2, 3):
        raise ValueError(f"rainy must be (H, W) or (H, W, C), got {rainy.shape}")
    window = (size, size) if rainy.ndim == 2 else (size, size, 1)
    smooth = ndimage.median_filter(rainy, size=window, mode="reflect")
    return np.minimum(rainy, smooth)


def single_image_filter(rainy: np.ndarray, size: int = 5) -> np.ndarray:
    """A deraining floor without learning: :func:`coarse_clean_label` on the
    BT.601 luminance, the input's Cb and Cr kept (as the networks do).

    rainy: (H, W, 3) RGB in [0, 1] -> (H, W, 3) float32 RGB in [0, 1].
    """
    rainy = np.asarray(rainy, dtype=np.float32)
    if rainy.ndim != 3 or rainy.shape[-1] != 3:
        raise ValueError(f"rainy must be (H, W, 3), got {rainy.shape}")
    ycbcr = rgb_to_ycbcr(rainy)
    ycbcr[..., 0] = coarse_clean_label(ycbcr[..., 0], size)
    return ycbcr_to_rgb(ycbcr).astype(np.float32)


# ------------------------------------------------------------ colour interface


@torch.no_grad()
def derain_rgb_any(net: nn.Module,
                   rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Derain colour images with any network whose forward maps rainy (N, C, H, W)
    to ``(background, rain)`` and that has an ``in_channels`` attribute (1 or 3).

    A luminance network (in_channels 1) replaces Y of BT.601 YCbCr and keeps the
    input's Cb, Cr, exactly as :meth:`derain.models.DerainNet.derain_rgb`.
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


# ---------------------------------------------------------------------- SPANet

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
    :class:`~derain.models.DerainNet` does.

    forward(rainy: (N, C, H, W) in [0, 1]) -> ``(background, rain)``, both
    (N, C, H, W); background = clamp(rainy - predicted rain, 0, 1) and
    rain = rainy - background.
    """

    def __init__(self, in_channels: int = 1, channels: int = 16, blocks: int = 1,
                 sabs: int = 2, sarbs: int = 2):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
        if min(channels, sabs, sarbs) < 1 or blocks < 0:
            raise ValueError("channels, sabs, sarbs must be >= 1 and blocks >= 0")
        self.config = {"in_channels": in_channels, "channels": channels,
                       "blocks": blocks, "sabs": sabs, "sarbs": sarbs,
                       "arch": "spanet"}
        self.in_channels = in_channels
        self.head = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.pre = nn.ModuleList(_Residual(channels) for _ in range(blocks))
        self.attentive = nn.ModuleList(
            _AttentiveBlock(channels, sarbs) for _ in range(sabs))
        self.post = nn.ModuleList(_Residual(channels) for _ in range(blocks))
        self.tail = nn.Conv2d(channels, in_channels, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

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
        """See :func:`derain_rgb_any`."""
        return derain_rgb_any(self, rgb)


# ---------------------------------------------------------------------- GT-Rain


def rain_invariant_loss(features_rainy: list[torch.Tensor],
                        features_clean: list[torch.Tensor],
                        temperature: float = 0.25, pool: int = 2) -> torch.Tensor:
    """GT-Rain's rain-invariant (rain-robust) loss: an InfoNCE / NT-Xent loss in
    which each rainy image and its clean image form the positive pair and every
    other image of the batch, rainy or clean, is a negative.

    Each feature map is average-pooled to ``pool`` x ``pool`` and flattened (as
    GT-Rain's projection does, 2 x 2); the maps of the list are concatenated into
    one vector per image and L2-normalised. With z the 2N vectors, the loss is the
    mean over all 2N anchors of ``-log softmax_j(z_i . z_j / temperature)`` at the
    partner j, the softmax running over j != i. GT-Rain's temperature is 0.25.

    A batch needs distinct scenes for the negatives to mean anything (GT-Rain's
    sampler draws one image per scene); with N = 1 there are no negatives and the
    loss is 0.

    features_rainy, features_clean: equally long lists of (N, C_k, h_k, w_k)
    tensors -> scalar tensor >= 0.
    """
    if len(features_rainy) != len(features_clean) or not features_rainy:
        raise ValueError("need two equally long, non-empty lists of feature maps")

    def embed(features):
        flat = [F.adaptive_avg_pool2d(f, pool).flatten(1) for f in features]
        return F.normalize(torch.cat(flat, dim=1), dim=1)

    z_rainy, z_clean = embed(features_rainy), embed(features_clean)
    if z_rainy.shape != z_clean.shape:
        raise ValueError(f"feature shapes differ: {tuple(z_rainy.shape)} vs "
                         f"{tuple(z_clean.shape)}")
    n = z_rainy.shape[0]
    z = torch.cat([z_rainy, z_clean], dim=0)
    logits = z @ z.T / temperature
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_pairs, float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, partner)


def _pad_to_8(x: torch.Tensor) -> torch.Tensor:
    """Pads the bottom and right to multiples of 8 the way DerainNet.forward does."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % 8, (-w) % 8
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def feature_taps(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The bottlenecks of a :class:`~derain.models.DerainNet`'s three encoders.
    x: (N, C, H, W) in [0, 1] -> three (N, 4w, ceil(H/8), ceil(W/8)) tensors."""
    x = _pad_to_8(x)
    return [encoder(x)[1] for encoder in net.encoders]


def gt_rain_loss(net: nn.Module, rainy: torch.Tensor, target: torch.Tensor,
                 weight: float = 0.02, temperature: float = 0.25
                 ) -> tuple[torch.Tensor, dict[str, float]]:
    """The GT-Rain-style objective for a DerainNet:
    ``mean |B - target| + weight * rain_invariant_loss(taps(rainy), taps(target))``.

    The clean target goes through the encoders too, and gradients flow through
    both branches, as in GT-Rain. The rainy taps are caught by hooks during the
    ordinary forward, so the encoders run once per input.

    Choices where the seed is open: GT-Rain weights L1 5, MS-SSIM 1 and the
    rain-robust loss 0.1; this project trains with L1 only, so the default weight
    0.02 keeps GT-Rain's ratio of the contrastive term to L1 (0.1 / 5). Weight 0
    skips the contrastive term.

    rainy, target: (N, C, H, W) in [0, 1] -> ``(total, parts)`` with parts
    ``L_l1``, ``L_ri`` (when weight > 0), ``total`` and ``contrast`` (the
    background's spatial std over the input's) as floats.
    """
    if weight < 0:
        raise ValueError(f"weight must be >= 0, got {weight}")
    taps: list[torch.Tensor] = []
    hooks = []
    if weight > 0:
        hooks = [enc.register_forward_hook(lambda _m, _i, out: taps.append(out[1]))
                 for enc in net.encoders]
    try:
        background, _ = net(rainy)
    finally:
        for hook in hooks:
            hook.remove()
    loss_l1 = (background - target).abs().mean()
    total = loss_l1
    parts = {"L_l1": loss_l1.item()}
    if weight > 0:
        loss_ri = rain_invariant_loss(taps, feature_taps(net, target), temperature)
        total = total + weight * loss_ri
        parts["L_ri"] = loss_ri.item()
    parts["total"] = total.item()
    # The training loop's collapse check; imported here because train imports
    # this module.
    from derain.train import contrast_ratio

    parts["contrast"] = contrast_ratio(background.detach(), rainy)
    return total, parts


# ----------------------------------------------------------------- Rain O'er Me


def transfer_rain(rainy: np.ndarray, coarse: np.ndarray,
                  clean: np.ndarray) -> np.ndarray:
    """Rain O'er Me's "clean-to-rain" input: the rain that the coarse filter
    removed, ``max(rainy - coarse, 0)``, added onto an unpaired clean image and
    clipped to [0, 1].

    The three arrays must have one shape: callers crop the clean image to the
    rainy crop's size (no resizing, which would change the streak width).
    Rain O'er Me itself later swaps this filter residual for the network's own
    (detached) rain estimate; the fixed residual keeps the data independent of
    the model.

    rainy, coarse, clean: (H, W, C) in [0, 1] -> (H, W, C) float32 in [0, 1].
    """
    rainy, coarse, clean = (np.asarray(a, dtype=np.float32)
                            for a in (rainy, coarse, clean))
    if not rainy.shape == coarse.shape == clean.shape:
        raise ValueError(f"shapes differ: {rainy.shape}, {coarse.shape}, "
                         f"{clean.shape}")
    rain = np.maximum(rainy - coarse, 0.0)
    return np.clip(clean + rain, 0.0, 1.0)


def _quantise(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _batch(crops: list[np.ndarray]) -> torch.Tensor:
    """list of (h, w, C) float or uint8 -> (N, C, h, w) float32 tensor in [0, 1]."""
    stack = np.stack(crops)
    if stack.dtype == np.uint8:
        stack = stack.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(stack.transpose(0, 3, 1, 2),
                                                 dtype=np.float32))


def _split_frames(data_dir: str | Path, split: str, channels: int):
    """Yields (scene name, [(H, W, channels) float32 frames]) for one split."""
    manifest = load_manifest(data_dir)
    for scene in manifest["scenes"]:
        if scene["split"] != split:
            continue
        folder = Path(data_dir) / "frames" / split / scene["name"]
        frames = [to_channels(load_image(p), channels) for p in list_images(folder)]
        yield scene["name"], frames


def _window(shape, c: int, rng: np.random.Generator) -> tuple[slice, slice]:
    top = int(rng.integers(0, shape[0] - c + 1))
    left = int(rng.integers(0, shape[1] - c + 1))
    return slice(top, top + c), slice(left, left + c)


class RainOerMePairs:
    """Training pairs of Rain O'er Me from the rainy frames of one split.

    Every frame is an independent rainy image (the sequence is not used). At
    construction each frame's coarse label (:func:`coarse_clean_label`, window
    ``size``) is computed once. The unpaired clean pool is the clean backgrounds
    under ``clean/<split>/``: a clean-to-rain pair for a frame of scene s always
    draws the clean image of another scene, so no frame meets its own
    background. Those images are clean photographs of the same kind as the
    scenes, which is what the method assumes of its pool (it is still more than a
    purely rainy collection offers, and the chapter says so).

    ``sample(batch, crop, rng)`` -> ``(inputs, targets)``, each
    (batch, channels, c, c) float32 in [0, 1], c = min(crop, smallest image
    side). The first ceil(batch / 2) rows are rain-to-clean pairs (rainy crop,
    coarse label); the rest are clean-to-rain pairs (clean crop +
    :func:`transfer_rain` of the rain of one of those rainy crops, clean crop),
    so each rainy crop's rain is reused on a clean image, as in the paper.
    """

    def __init__(self, data_dir: str | Path, channels: int = 1,
                 split: str = "train", size: int = 5):
        self.channels = channels
        self.rainy: list[np.ndarray] = []
        self.coarse: list[np.ndarray] = []
        self.scene_of: list[int] = []
        self.clean: list[np.ndarray] = []
        self.names: list[str] = []
        for name, frames in _split_frames(data_dir, split, channels):
            scene = len(self.names)
            self.names.append(name)
            for frame in frames:
                rainy = _quantise(frame)
                self.rainy.append(rainy)
                self.coarse.append(_quantise(
                    coarse_clean_label(rainy.astype(np.float32) / 255.0, size)))
                self.scene_of.append(scene)
            clean = load_image(Path(data_dir) / "clean" / split / f"{name}.png")
            self.clean.append(_quantise(to_channels(clean, channels)))
        if len(self.names) < 2:
            raise ValueError(f"{data_dir}: Rain O'er Me needs at least two "
                             f"{split!r} scenes (the clean pool is unpaired)")
        self.side = min(min(a.shape[:2]) for a in self.rainy + self.clean)

    def __len__(self) -> int:
        return len(self.rainy)

    def sample(self, batch: int, crop: int, rng: np.random.Generator):
        c = min(crop, self.side)
        n_rainy = (batch + 1) // 2
        inputs, targets, c2r_inputs, c2r_targets = [], [], [], []
        for i in range(n_rainy):
            f = int(rng.integers(len(self.rainy)))
            win = _window(self.rainy[f].shape, c, rng)
            rainy = self.rainy[f][win].astype(np.float32) / 255.0
            coarse = self.coarse[f][win].astype(np.float32) / 255.0
            inputs.append(rainy)
            targets.append(coarse)
            if i < batch - n_rainy:
                other = int(rng.integers(len(self.clean) - 1))
                other += other >= self.scene_of[f]
                clean_img = self.clean[other]
                clean = clean_img[_window(clean_img.shape, c, rng)]
                clean = clean.astype(np.float32) / 255.0
                c2r_inputs.append(transfer_rain(rainy, coarse, clean))
                c2r_targets.append(clean)
        return _batch(inputs + c2r_inputs), _batch(targets + c2r_targets)


# -------------------------------------------------------------------- Rain2Avoid


def dominant_orientation(gray: np.ndarray, patch: int = 80, bins: int = 36,
                         sigma: float = 1.5) -> float:
    """The locally dominant gradient orientation of Rain2Avoid, in degrees in
    [0, 180): the angle of (d/dx, d/dy) with x along columns and y down rows.

    The image is cut into ``patch`` x ``patch`` tiles (one tile if the image is
    smaller); each tile votes for the peak of its gradient-magnitude-weighted
    orientation histogram (``bins`` bins over 180 degrees, 5 degrees at 36, a
    HOG-like histogram without block normalisation), and the most frequent vote
    wins (ties: the smaller angle). Flat tiles do not vote. The gradients are
    derivatives of a Gaussian of ``sigma`` px rather than HOG's [-1, 0, 1]
    differences, which pull the orientation of thin streaks toward the axes by
    up to 10 degrees.

    gray: (H, W) in [0, 1] -> angle in degrees.
    """
    gray = np.asarray(gray, dtype=np.float64)
    gx = ndimage.gaussian_filter(gray, sigma, order=(0, 1), mode="reflect")
    gy = ndimage.gaussian_filter(gray, sigma, order=(1, 0), mode="reflect")
    magnitude = np.hypot(gx, gy)
    width = 180.0 / bins
    angle = np.degrees(np.arctan2(gy, gx)) % 180.0
    idx = np.rint(angle / width).astype(np.int64) % bins
    h, w = gray.shape
    p = min(patch, h, w)
    votes = np.zeros(bins, dtype=np.int64)
    for top in range(0, h - p + 1, p):
        for left in range(0, w - p + 1, p):
            hist = np.bincount(idx[top:top + p, left:left + p].ravel(),
                               magnitude[top:top + p, left:left + p].ravel(),
                               minlength=bins)
            if hist.max() > 0:
                votes[hist.argmax()] += 1
    return float(votes.argmax() * width)


def _line_footprint(length: int, axis_degrees: float) -> np.ndarray:
    """A one-pixel-wide line of ``length`` pixels (made odd) through the centre of
    a square footprint, at ``axis_degrees`` from vertical (positive: the lower end
    leans to the right)."""
    length = max(1, length) | 1
    half = (length - 1) // 2
    theta = math.radians(axis_degrees)
    drow, dcol = math.cos(theta), math.sin(theta)
    footprint = np.zeros((length, length), dtype=bool)
    for t in range(-half, half + 1):
        footprint[half + round(t * drow), half + round(t * dcol)] = True
    return footprint


def ldgp_mask(rainy: np.ndarray, patch: int = 80, bins: int = 36, window: int = 5,
              length: int | None = None, margin: float = 1.0 / 255.0) -> np.ndarray:
    """Rain2Avoid's locally dominant gradient prior (LDGP): the pixels that are
    brighter than their neighbourhood and belong to a bright line along the
    image's dominant rain direction.

    1. The dominant gradient orientation theta (:func:`dominant_orientation`);
       rain streaks run perpendicular to it. As in the reference code, a dominant
       gradient at exactly 90 degrees (horizontal structure, e.g. a horizon) is
       taken as vertical rain instead.
    2. Bright pixels: above the mean of their ``window`` x ``window``
       neighbourhood by more than ``margin`` (the reference's adaptive mean
       threshold; the margin plays the role of its 8-bit rounding, so smooth
       shading is not marked).
    3. A morphological opening of the bright pixels with a line of ``length``
       pixels along the streak direction keeps only bright runs at least that
       long in that direction. The reference rotates the image so the streaks
       are vertical and opens with a vertical line of H / 30 pixels; opening with
       an oriented line avoids the resampling. Default length: max(5, H // 30).
       Outside the image counts as bright for the erosion, so streaks that leave
       the frame are kept.

    rainy: (H, W, 3) RGB, (H, W, 1) or (H, W) in [0, 1] -> (H, W) bool, True
    where rain is likely.
    """
    rainy = np.asarray(rainy, dtype=np.float32)
    if rainy.ndim == 3 and rainy.shape[-1] == 3:
        gray = rgb_to_y(rainy)
    elif rainy.ndim == 3 and rainy.shape[-1] == 1:
        gray = rainy[..., 0]
    elif rainy.ndim == 2:
        gray = rainy
    else:
        raise ValueError(f"rainy must be (H, W), (H, W, 1) or (H, W, 3), "
                         f"got {rainy.shape}")
    theta = dominant_orientation(gray, patch, bins)
    if abs(theta - 90.0) < 1e-6:
        theta = 0.0
    # The streak axis is the gradient direction turned by 90 degrees.
    axis = -theta
    length = max(5, gray.shape[0] // 30) if length is None else length
    footprint = _line_footprint(length, axis)
    local_mean = ndimage.uniform_filter(gray.astype(np.float64), size=window,
                                        mode="reflect")
    bright = gray > local_mean + margin
    kept = ndimage.binary_erosion(bright, footprint, border_value=1)
    return ndimage.binary_dilation(kept, footprint)


def masked_l1(pred: torch.Tensor, rainy: torch.Tensor,
              mask: torch.Tensor) -> torch.Tensor:
    """Rain2Avoid's reconstruction loss: mean |pred - rainy| over the pixels the
    mask leaves out (mask True or 1 = likely rain, ignored).

    Alone it is minimised by the identity, so it cannot teach deraining unless
    the masked pixels are also supervised (see :func:`stochastic_fill` and
    :func:`rain2avoid_loss`). pred, rainy: (N, C, H, W); mask: (N, 1, H, W) or
    (N, C, H, W), bool or {0, 1} -> scalar tensor (0 if every pixel is masked).
    """
    keep = (1.0 - mask.to(pred.dtype)).expand_as(pred)
    return ((pred - rainy).abs() * keep).sum() / keep.sum().clamp_min(1.0)


def stochastic_fill(rainy: torch.Tensor, mask: torch.Tensor, window: int = 7,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Rain2Avoid's pseudo ground truth (its non-local stochastic sampling): each
    masked pixel takes the value of an unmasked pixel drawn uniformly from its
    ``window`` x ``window`` neighbourhood (7 in the reference); unmasked pixels,
    and masked ones with no unmasked neighbour, keep their value. Fresh draws
    each call make the expected target at a rain pixel the mean of its rain-free
    neighbours.

    rainy: (N, C, H, W) in [0, 1]; mask: (N, 1, H, W) bool or {0, 1} ->
    (N, C, H, W) in [0, 1].
    """
    n, c, h, w = rainy.shape
    k = window | 1
    masked = mask.to(torch.bool).reshape(n, 1, h, w)
    clear = (~masked).to(rainy.dtype)
    values = F.unfold(rainy, k, padding=k // 2).view(n, c, k * k, h * w)
    valid = F.unfold(clear, k, padding=k // 2) > 0.5  # zero padding: invalid
    scores = torch.rand(valid.shape, generator=generator, device=rainy.device)
    scores = scores.masked_fill(~valid, -1.0)
    pick = scores.argmax(dim=1, keepdim=True)  # (N, 1, HW): uniform among valid
    drawn = values.gather(2, pick.unsqueeze(1).expand(n, c, 1, h * w))
    drawn = drawn.view(n, c, h, w)
    has_valid = valid.any(dim=1).view(n, 1, h, w)
    return torch.where(masked & has_valid, drawn, rainy)


def rain2avoid_loss(pred: torch.Tensor, rainy: torch.Tensor, mask: torch.Tensor,
                    window: int = 7, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, dict[str, float]]:
    """The Rain2Avoid objective: mean |pred - stochastic_fill(rainy, mask)| over
    all pixels, i.e. :func:`masked_l1` on rain-free pixels plus a fresh random
    rain-free neighbour as the target of each rain pixel. The reference uses the
    squared error; L1 matches this project's other losses.

    pred, rainy: (N, C, H, W) in [0, 1]; mask: (N, 1, H, W) ->
    ``(total, parts)`` with ``L_clear`` (the masked L1) and ``total`` as floats.
    """
    target = stochastic_fill(rainy, mask, window, generator)
    total = (pred - target).abs().mean()
    parts = {"L_clear": masked_l1(pred, rainy, mask).item(), "total": total.item()}
    return total, parts


class Rain2AvoidPairs:
    """Crops of single rainy frames of one split and their LDGP masks, for
    self-supervised training: no clean image and no sequence information is
    used, each frame being an independent image. Masks are computed once at
    construction (``ldgp`` holds keyword arguments of :func:`ldgp_mask`), on the
    RGB frame whatever ``channels`` is.

    ``sample(batch, crop, rng)`` -> ``(rainy, mask)``: rainy (batch, channels,
    c, c) float32 in [0, 1] and mask (batch, 1, c, c) float32 in {0, 1}
    (1 = likely rain), c = min(crop, smallest frame side).
    """

    def __init__(self, data_dir: str | Path, channels: int = 1,
                 split: str = "train", ldgp: dict | None = None):
        self.channels = channels
        self.rainy: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        for _, frames in _split_frames(data_dir, split, 3):
            for rgb in frames:
                self.rainy.append(_quantise(to_channels(rgb, channels)))
                self.masks.append(ldgp_mask(rgb, **(ldgp or {}))[..., None])
        if not self.rainy:
            raise ValueError(f"{data_dir}: no {split!r} frames in the manifest")
        self.side = min(min(a.shape[:2]) for a in self.rainy)

    def __len__(self) -> int:
        return len(self.rainy)

    def sample(self, batch: int, crop: int, rng: np.random.Generator):
        c = min(crop, self.side)
        rainy, masks = [], []
        for f in rng.integers(0, len(self.rainy), size=batch):
            win = _window(self.rainy[f].shape, c, rng)
            rainy.append(self.rainy[f][win])
            masks.append(self.masks[f][win].astype(np.float32))
        return _batch(rainy), _batch(masks)
