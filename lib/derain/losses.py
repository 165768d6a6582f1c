"""The training losses of Cho et al. (Eqs. 2-8), computed on two frames m != n of one
time-lapse scene.

Every term is a per-pixel mean rather than the paper's sum over pixels: the two
differ by a constant factor common to all terms, which Adam's update ignores, and
the mean does not depend on the crop size. Setting a weight to 0 switches its term
off (and skips its computation), so each row of Table VI is a configuration.
"""

from __future__ import annotations

import torch
from torch import nn

from derain.models import DirectionalGradientNet


def gamma_schedule(
    step: int, total_steps: int, start: float, end: float, decay: float
) -> float:
    """gamma of Eq. 3: falls linearly from ``start`` to ``end`` over the first
    ``decay`` fraction of ``total_steps``, then stays at ``end``. The paper uses
    start 0.1, end 0.0001, decay 0.3."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be a fraction in [0, 1], got {decay}")
    decay_steps = decay * total_steps
    if decay_steps <= 0 or step >= decay_steps:
        return float(end)
    t = max(step, 0) / decay_steps
    return float(start + (end - start) * t)


class TimeLapseLoss(nn.Module):
    """The total loss of Eq. 8, ``lambda_b L_b + lambda_s L_s + lambda_v L_v +
    lambda_r L_r``, with gamma of Eq. 3 inside L_s.

    - L_b (Eq. 2) = mean |B^m - B^n|
    - L_s (Eq. 3) = gamma * (mean |I^m - B^n| + mean |I^n - B^m|) / 2; with
      ``same_frame=True`` it pairs each frame with itself (the paper's failing
      control, m = n).
    - L_r (Eq. 7) = mean over both frames of |I - (B + S)| (non-zero only where the
      clipping layer acts).
    - L_v (Eq. 6) from :class:`DirectionalGradientNet` on S of both frames; its
      parameters belong to this module and are trained with the network.

    Defaults are the paper's weights. forward takes the rainy frames
    ``rainy_m, rainy_n`` (N, C, H, W) in [0, 1], the network outputs for each
    (background, rain), and the step; it returns ``(total, parts)`` where parts maps
    each active term's name and ``gamma`` to floats.
    """

    def __init__(
        self,
        lambda_b: float = 1.0,
        lambda_s: float = 0.1,
        lambda_v: float = 0.01,
        lambda_r: float = 0.001,
        gamma_start: float = 0.1,
        gamma_end: float = 1e-4,
        gamma_decay: float = 0.3,
        same_frame: bool = False,
        clusters: int = 4,
    ):
        super().__init__()
        for name, value in [("lambda_b", lambda_b), ("lambda_s", lambda_s),
                            ("lambda_v", lambda_v), ("lambda_r", lambda_r)]:
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if lambda_b == lambda_s == lambda_v == lambda_r == 0:
            raise ValueError("at least one loss weight must be positive")
        self.lambda_b, self.lambda_s = lambda_b, lambda_s
        self.lambda_v, self.lambda_r = lambda_v, lambda_r
        self.gamma_start, self.gamma_end = gamma_start, gamma_end
        self.gamma_decay = gamma_decay
        self.same_frame = same_frame
        self.directional = DirectionalGradientNet(clusters) if lambda_v > 0 else None

    def forward(
        self,
        rainy_m: torch.Tensor,
        rainy_n: torch.Tensor,
        out_m: tuple[torch.Tensor, torch.Tensor],
        out_n: tuple[torch.Tensor, torch.Tensor],
        step: int,
        total_steps: int,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        bg_m, rain_m = out_m
        bg_n, rain_n = out_n
        total = rainy_m.new_zeros(())
        parts: dict[str, float] = {}
        if self.lambda_b > 0:
            loss_b = (bg_m - bg_n).abs().mean()
            total = total + self.lambda_b * loss_b
            parts["L_b"] = loss_b.item()
        if self.lambda_s > 0:
            gamma = gamma_schedule(
                step, total_steps, self.gamma_start, self.gamma_end, self.gamma_decay
            )
            if self.same_frame:
                pairs = [(rainy_m, bg_m), (rainy_n, bg_n)]
            else:
                pairs = [(rainy_m, bg_n), (rainy_n, bg_m)]
            loss_s = sum((i - b).abs().mean() for i, b in pairs) / 2
            total = total + self.lambda_s * gamma * loss_s
            parts["L_s"] = loss_s.item()
            parts["gamma"] = gamma
        if self.lambda_r > 0:
            loss_r = (
                (rainy_m - bg_m - rain_m).abs().mean()
                + (rainy_n - bg_n - rain_n).abs().mean()
            ) / 2
            total = total + self.lambda_r * loss_r
            parts["L_r"] = loss_r.item()
        if self.directional is not None:
            loss_v = (self.directional(rain_m) + self.directional(rain_n)) / 2
            total = total + self.lambda_v * loss_v
            parts["L_v"] = loss_v.item()
        parts["total"] = total.item()
        return total, parts


def supervised_l1(
    out_m: tuple[torch.Tensor, torch.Tensor],
    out_n: tuple[torch.Tensor, torch.Tensor],
    target: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The supervised baseline's loss: mean |B - target| over both frames of a pair,
    target (N, C, H, W) in [0, 1] (the clean background, or a time-averaged pseudo
    ground truth). Returns ``(total, parts)`` like :class:`TimeLapseLoss`."""
    loss = ((out_m[0] - target).abs().mean() + (out_n[0] - target).abs().mean()) / 2
    return loss, {"L_sup": loss.item(), "total": loss.item()}
