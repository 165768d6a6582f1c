"""The training losses: those of Cho et al. (Eqs. 2-8), computed on two frames
m != n of one time-lapse scene, the directional gradient network behind L_v
(Fig. 5), and the losses of the neighbouring methods (supervised L1, GT-Rain's
rain-invariant loss, Rain2Avoid's masked reconstruction and stochastic fill).

Every term is a per-pixel mean rather than the paper's sum over pixels: the two
differ by a constant factor common to all terms, which Adam's update ignores, and
the mean does not depend on the crop size. Setting a weight to 0 switches its term
off (and skips its computation), so each row of Table VI is a configuration.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DirectionalGradientNet(nn.Module):
    """The directional gradient network (Fig. 5, Eqs. 4-6), a training regulariser.

    theta = atan(d_y S / d_x S) in (-pi/2, pi/2] per pixel; a 3x3 conv with
    ``clusters`` filters and a softmax give the soft assignment alpha_k(theta); the
    cluster centres c_k are parameters. Returns ``L_v = sum_k |V(k)|`` with
    ``V(k) = sum_i m_i alpha_k(theta_i) |theta_i - c_k| / sum_i m_i``.

    m_i masks out flat pixels (gradient magnitude below ``eps``, or with ``rel``
    below ``rel`` times the image's mean gradient magnitude), where the
    orientation is undefined; sanitising the atan2 inputs there keeps every
    gradient finite. Averaging instead of summing over pixels makes the loss
    independent of the crop size.

    With ``across_ranks`` (set by a data-parallel run, where each process holds
    a slice of the batch) the sums over i run over the whole batch: the
    processes add up their numerators and mask counts before dividing, and
    each returns the whole batch's L_v with a gradient that, averaged over the
    processes as DDP does, is the gradient of that L_v.

    forward(rain: (N, 1, H, W)) -> scalar tensor.
    """

    across_ranks = False

    def __init__(self, clusters: int = 4, eps: float = 1e-2,
                 rel: float | None = None):
        super().__init__()
        self.eps = eps
        self.rel = rel
        self.assign = nn.Conv2d(1, clusters, 3, padding=1)
        # Centres spread over the orientation range so no cluster starts empty.
        centres = torch.linspace(-math.pi / 2, math.pi / 2, clusters + 2)[1:-1]
        self.centres = nn.Parameter(centres.clone())

    def orientation(self, rain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rain: (N, C, H, W) -> (theta (N, 1, H-1, W-1), mask (N, 1, H-1, W-1))."""
        s = rain.mean(dim=1, keepdim=True)
        gx = s[..., :-1, 1:] - s[..., :-1, :-1]
        gy = s[..., 1:, :-1] - s[..., :-1, :-1]
        mag2 = gx * gx + gy * gy
        if self.rel is None:
            threshold = self.eps**2
        else:
            # theta does not change when S is scaled, so neither should the mask:
            # keep the pixels whose gradient exceeds ``rel`` times the image's mean
            # gradient magnitude (a floor of 1e-6 drops round-off only). An
            # absolute eps leaves L_v off while the rain estimate, which starts at
            # exactly zero, is still faint.
            scale = mag2.detach().sqrt().mean(dim=(1, 2, 3), keepdim=True)
            threshold = torch.clamp((self.rel * scale) ** 2, min=1e-12)
        mask = mag2 > threshold
        gx_safe = torch.where(mask, gx, torch.ones_like(gx))
        gy_safe = torch.where(mask, gy, torch.zeros_like(gy))
        theta = torch.atan2(gy_safe, gx_safe)
        # Fold to (-pi/2, pi/2]: atan of the ratio, an orientation not a direction.
        theta = torch.where(theta > math.pi / 2, theta - math.pi, theta)
        theta = torch.where(theta <= -math.pi / 2, theta + math.pi, theta)
        theta = torch.where(mask, theta, torch.zeros_like(theta))
        return theta, mask.to(theta.dtype)

    def forward(self, rain: torch.Tensor) -> torch.Tensor:
        theta, mask = self.orientation(rain)
        alpha = torch.softmax(self.assign(theta), dim=1)  # (N, K, h, w)
        dist = (theta - self.centres.view(1, -1, 1, 1)).abs()
        if self.across_ranks:
            return _across_ranks((mask * alpha * dist).sum(dim=(0, 2, 3)),
                                 mask.sum())
        total = mask.sum().clamp_min(1.0)
        v = (mask * alpha * dist).sum(dim=(0, 2, 3)) / total
        return v.abs().sum()


def _across_ranks(numerator: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``sum_k |sum_r numerator_r[k] / sum_r count_r|`` over the processes r of
    a data-parallel run (``numerator``: (K,), this process's sums; ``count``:
    its masked pixels). The value is the whole batch's; the gradient is this
    process's share of the whole batch's, times the number of processes, so
    that DDP's average over the processes gives the whole batch's gradient."""
    import torch.distributed as dist

    stats = torch.cat([numerator.detach(), count.detach().view(1)])
    dist.all_reduce(stats)
    numerators, total = stats[:-1], stats[-1].clamp_min(1.0)
    value = (numerators / total).abs().sum()
    share = dist.get_world_size() * (torch.sign(numerators) * numerator).sum() / total
    return share - share.detach() + value


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

    ``lv_rel`` switches L_v's mask from the absolute gradient threshold to a
    relative one (see :class:`DirectionalGradientNet`).

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
        lv_rel: float | None = None,
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
        self.directional = (DirectionalGradientNet(clusters, rel=lv_rel)
                            if lambda_v > 0 else None)

    def forward(
        self,
        rainy_m: torch.Tensor,
        rainy_n: torch.Tensor,
        out_m: tuple[torch.Tensor, torch.Tensor],
        out_n: tuple[torch.Tensor, torch.Tensor],
        step: int,
        total_steps: int,
        shares: bool = False,
        shares_wrt: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """With ``shares`` the parts also hold ``share_<term>``: each weighted
        term's share of the gradient that reaches the network's rain estimates
        (the norm of d(lambda * L)/dS over the sum of the norms): whether a term
        acts at all, and how much next to the others. ``shares_wrt`` names the
        tensors the backgrounds were computed from (the network's whole rain
        output when the two frames went through it as one batch: the slices
        ``rain_m``, ``rain_n`` are not on the backgrounds' path, so the
        gradient of L_b and L_s with respect to them is zero)."""
        bg_m, rain_m = out_m
        bg_n, rain_n = out_n
        total = rainy_m.new_zeros(())
        parts: dict[str, float] = {}
        weighted: dict[str, torch.Tensor] = {}
        if self.lambda_b > 0:
            loss_b = (bg_m - bg_n).abs().mean()
            total = total + self.lambda_b * loss_b
            parts["L_b"] = loss_b.item()
            weighted["L_b"] = self.lambda_b * loss_b
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
            weighted["L_s"] = self.lambda_s * gamma * loss_s
        if self.lambda_r > 0:
            loss_r = (
                (rainy_m - bg_m - rain_m).abs().mean()
                + (rainy_n - bg_n - rain_n).abs().mean()
            ) / 2
            total = total + self.lambda_r * loss_r
            parts["L_r"] = loss_r.item()
            weighted["L_r"] = self.lambda_r * loss_r
        if self.directional is not None:
            loss_v = (self.directional(rain_m) + self.directional(rain_n)) / 2
            total = total + self.lambda_v * loss_v
            parts["L_v"] = loss_v.item()
            weighted["L_v"] = self.lambda_v * loss_v
        parts["total"] = total.item()
        if shares and rain_m.requires_grad:
            parts.update(gradient_shares(weighted, shares_wrt or [rain_m, rain_n]))
        return total, parts


def gradient_shares(terms: dict[str, torch.Tensor],
                    wrt: list[torch.Tensor]) -> dict[str, float]:
    """``share_<name>`` of each loss term: the norm of its gradient with respect
    to ``wrt`` over the sum of all terms' norms (the graph is kept for the real
    backward pass)."""
    norms = {}
    for name, term in terms.items():
        grads = torch.autograd.grad(term, wrt, retain_graph=True,
                                    allow_unused=True)
        norms[name] = float(sum(g.pow(2).sum() for g in grads
                                if g is not None) ** 0.5) if any(
            g is not None for g in grads) else 0.0
    total = sum(norms.values())
    return {f"share_{name}": (n / total if total > 0 else 0.0)
            for name, n in norms.items()}


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
