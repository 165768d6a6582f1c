"""What a network learns from: one small class per method, behind one interface.

An objective knows what the network sees at a training step (it owns the batch
sampler) and what the loss compares. :meth:`Objective.step` draws a batch with the
run's numpy Generator, runs the network and returns the loss to minimise with its
logged parts (every part a float, ``contrast`` always among them: the collapse
check of :func:`~derain.metrics.contrast_ratio`).

- :class:`TimeLapse`: the paper (Eqs. 2-8), two frames m != n of one scene and
  :class:`~derain.losses.TimeLapseLoss`; no clean image is read.
- :class:`Supervised`: L1 to a per-scene target, the clean background (ground
  truth) or a pseudo ground truth from the scene's frames (time-averaging,
  SPANet's percentile).
- :class:`GTRain`: L1 to the clean background plus GT-Rain's rain-invariant loss
  on the encoders' bottlenecks.
- :class:`RainOerMe` and :class:`Rain2Avoid`: single rainy frames only.

Each step sees ``2 * batch_size`` crops whatever the method, as many as a
time-lapse step's two frames of ``batch_size`` pairs. In a data-parallel run
(:mod:`~derain.training.distributed`) every process draws that batch and keeps
its slice (:meth:`Objective.shard`).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from derain.config import TrainConfig
from derain.data import Rain2AvoidPairs, RainOerMePairs, shared_frames
from derain.losses import (
    TimeLapseLoss,
    rain2avoid_loss,
    rain_invariant_loss,
    supervised_l1,
)
from derain.metrics import contrast_ratio

Parts = dict[str, float]


def fast_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 at speed: a CUDA GPU that supports
    it, or a CPU with AVX-512 (oneDNN's bfloat16 kernels). On a CPU with AVX2
    only, bfloat16 autocast is emulated: a training step of the default network
    was measured about ten times slower than in float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run of ``precision`` trains in on ``device``: ``auto``
    is ``bf16`` where the device computes it at speed (:func:`fast_bf16`) and
    ``fp32`` elsewhere; ``bf16`` asked for on a device without it stays
    ``bf16``, with a warning that says what it costs."""
    fast = fast_bf16(device)
    if precision == "auto":
        return "bf16" if fast else "fp32"
    if precision == "bf16" and not fast:
        where = (torch.backends.cpu.get_cpu_capability()
                 if device.type == "cpu" else device.type)
        warnings.warn(f"precision 'bf16' on a device without fast bfloat16 "
                      f"({device.type}: {where}): bfloat16 is emulated here and "
                      "a step can take ten times as long as in fp32; set "
                      "precision: auto (bf16 only where it is fast) or fp32",
                      stacklevel=2)
    return precision


class Objective:
    """The interface. ``module`` holds trainable parameters of the loss itself
    (trained with the network and saved in its checkpoint); most objectives have
    none."""

    def __init__(self, config: TrainConfig, data_dir: str | Path, channels: int):
        self.config = config
        self.data_dir = data_dir
        self.channels = channels
        self.module: nn.Module = nn.Module()
        self.world = None  # one process: the whole batch
        # What the network's passes run in (``auto`` resolved by the training
        # loop for its device, see :func:`resolve_precision`).
        self.precision = config.precision

    def shard(self, world) -> None:
        """Trains this process's slice of every batch: ``world`` (a
        :class:`~derain.training.distributed.World`) says which."""
        self.world = world

    def _mine(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This process's slice of a batch just drawn (all of it on one)."""
        return tensors if self.world is None else self.world.shard(*tensors)

    def step(self, net: nn.Module, rng: np.random.Generator, step: int,
             device: torch.device) -> tuple[torch.Tensor, Parts]:
        """The loss of one training step (a scalar tensor) and its parts."""
        raise NotImplementedError

    def autocast(self, device: torch.device):
        """The run's precision for the network's passes (bfloat16 autocast with
        precision ``bf16``; a no-op otherwise)."""
        return torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16")

    def forward(self, net: nn.Module, rainy: torch.Tensor):
        """``(background, rain)`` of ``net`` on ``rainy`` in the run's precision,
        returned as float32 so that every loss is computed in float32."""
        with self.autocast(rainy.device):
            out = net(rainy)
        return tuple(t.float() for t in out)


def _split(out: tuple[torch.Tensor, torch.Tensor], n: int):
    """The network's outputs on ``cat([frames_m, frames_n])``, split back."""
    return tuple(t[:n] for t in out), tuple(t[n:] for t in out)


class TimeLapse(Objective):
    """The paper's objective: ``TimeLapseLoss(**config.loss)`` on two frames of
    one scene (the scene limited to its first ``config.frames`` frames)."""

    def __init__(self, config, data_dir, channels):
        super().__init__(config, data_dir, channels)
        self.module = TimeLapseLoss(**config.loss)
        self.frames = shared_frames(data_dir, "train", channels, config.frames)

    def shard(self, world) -> None:
        super().shard(world)
        if self.module.directional is not None and world.size > 1:
            # L_v averages over the masked pixels of the whole batch.
            self.module.directional.across_ranks = True

    def step(self, net, rng, step, device):
        rainy_m, rainy_n = (t.to(device) for t in self._mine(
            *self.frames.sample(self.config.batch_size, self.config.crop, rng)))
        n = rainy_m.shape[0]
        out = self.forward(net, torch.cat([rainy_m, rainy_n]))
        out_m, out_n = _split(out, n)
        # Each term's share of the gradient, at the steps that close a log window,
        # with respect to the whole rain output (both frames' backgrounds were
        # computed from it, not from its two halves).
        shares = (step + 1) % self.config.log_every == 0
        total, parts = self.module(rainy_m, rainy_n, out_m, out_n, step,
                                   self.config.steps, shares=shares,
                                   shares_wrt=[out[1]])
        parts["contrast"] = contrast_ratio(out_m[0].detach(), rainy_m)
        return total, parts


class Supervised(Objective):
    """L1 between each frame's background and the scene's ``config.target``
    (:func:`~derain.losses.supervised_l1`); the same two frames per scene as a
    time-lapse step."""

    def __init__(self, config, data_dir, channels):
        super().__init__(config, data_dir, channels)
        self.frames = shared_frames(data_dir, "train", channels, config.frames,
                                    target=config.target)

    def step(self, net, rng, step, device):
        rainy_m, rainy_n, target = (t.to(device) for t in self._mine(
            *self.frames.sample(self.config.batch_size, self.config.crop, rng)))
        n = rainy_m.shape[0]
        out_m, out_n = _split(self.forward(net, torch.cat([rainy_m, rainy_n])), n)
        total, parts = supervised_l1(out_m, out_n, target)
        parts["contrast"] = contrast_ratio(out_m[0].detach(), rainy_m)
        return total, parts


class GTRain(Objective):
    """GT-Rain's objective for a :class:`~derain.nets.DerainNet`:
    ``mean |B - clean| + weight * rain_invariant_loss(bottlenecks(rainy),
    bottlenecks(clean))``.

    The clean target goes through the encoders too, and gradients flow through
    both branches, as in GT-Rain. The rainy bottlenecks are caught by hooks during
    the ordinary forward, so the encoders run once per input.

    Choices where the seed is open: GT-Rain weights L1 5, MS-SSIM 1 and the
    rain-robust loss 0.1; this project trains with L1 only, so ``weight`` 0.02
    keeps GT-Rain's ratio of the contrastive term to L1 (0.1 / 5); its
    temperature is GT-Rain's 0.25. Weight 0 skips the contrastive term.
    """

    weight = 0.02
    temperature = 0.25

    def __init__(self, config, data_dir, channels):
        super().__init__(config, data_dir, channels)
        self.frames = shared_frames(data_dir, "train", channels, config.frames,
                                    target="clean")

    def step(self, net, rng, step, device):
        rainy_m, rainy_n, clean = (t.to(device) for t in self._mine(
            *self.frames.sample(self.config.batch_size, self.config.crop, rng)))
        rainy = torch.cat([rainy_m, rainy_n])
        # The encoders are the network's, inside a DDP wrapper or not.
        inner = net.module if isinstance(net, DistributedDataParallel) else net
        target = torch.cat([clean, clean])
        taps: list[torch.Tensor] = []
        hooks = []
        if self.weight > 0:
            hooks = [enc.register_forward_hook(
                lambda _m, _i, out: taps.append(out[1].float()))
                for enc in inner.encoders]
        try:
            background, _ = self.forward(net, rainy)
        finally:
            for hook in hooks:
                hook.remove()
        loss_l1 = (background - target).abs().mean()
        total = loss_l1
        parts = {"L_l1": loss_l1.item()}
        if self.weight > 0:
            with self.autocast(target.device):
                clean_taps = [f.float() for f in inner.bottlenecks(target)]
            loss_ri = rain_invariant_loss(taps, clean_taps, self.temperature)
            total = total + self.weight * loss_ri
            parts["L_ri"] = loss_ri.item()
        parts["total"] = total.item()
        parts["contrast"] = contrast_ratio(background.detach(), rainy)
        return total, parts


@functools.lru_cache(maxsize=2)
def _single_image_pairs(kind: type, data_dir: str, channels: int):
    """The samplers of the single-image methods, kept between the runs of one
    process (their labels and masks take a while to compute)."""
    return kind(data_dir, channels)


class RainOerMe(Objective):
    """Rain O'er Me: L1 to the coarse label of rain-to-clean pairs and to the
    clean image of clean-to-rain pairs (:class:`~derain.data.RainOerMePairs`)."""

    def __init__(self, config, data_dir, channels):
        super().__init__(config, data_dir, channels)
        self.pairs = _single_image_pairs(RainOerMePairs, str(data_dir), channels)

    def step(self, net, rng, step, device):
        inputs, goal = (t.to(device) for t in self._mine(*self.pairs.sample(
            2 * self.config.batch_size, self.config.crop, rng)))
        out = self.forward(net, inputs)
        loss = (out[0] - goal).abs().mean()
        parts = {"L_sup": loss.item(), "total": loss.item(),
                 "contrast": contrast_ratio(out[0].detach(), inputs)}
        return loss, parts


class Rain2Avoid(Objective):
    """Rain2Avoid: each LDGP-marked pixel learns towards a random unmarked
    neighbour, every other pixel towards itself
    (:func:`~derain.losses.rain2avoid_loss`)."""

    def __init__(self, config, data_dir, channels):
        super().__init__(config, data_dir, channels)
        self.pairs = _single_image_pairs(Rain2AvoidPairs, str(data_dir), channels)

    def step(self, net, rng, step, device):
        rainy, mask = (t.to(device) for t in self._mine(*self.pairs.sample(
            2 * self.config.batch_size, self.config.crop, rng)))
        out = self.forward(net, rainy)
        generator = torch.Generator(device=device).manual_seed(
            int(rng.integers(2**31)))
        total, parts = rain2avoid_loss(out[0], rainy, mask, generator=generator)
        parts["contrast"] = contrast_ratio(out[0].detach(), rainy)
        return total, parts


# The ``objective`` key of a TrainConfig names its class.
OBJECTIVES: dict[str, type[Objective]] = {
    "time_lapse": TimeLapse, "supervised": Supervised, "gt_rain": GTRain,
    "rain_oer_me": RainOerMe, "rain2avoid": Rain2Avoid,
}


def make_objective(config: TrainConfig, data_dir: str | Path,
                   channels: int) -> Objective:
    """The objective ``config.objective`` names, reading ``data_dir``'s scenes
    with ``channels`` channels (the network's input)."""
    return OBJECTIVES[config.objective](config, data_dir, channels)
