"""Loading trained models and running them on images: the code that the notebooks,
the training loop's validation and the ``derain`` command share."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from derain.metrics import psnr, ssim
from derain.nets import DerainNet, build_model, derain_rgb_any


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def save_model(path: str | Path, net: DerainNet, **meta) -> None:
    """Saves weights and the constructor arguments (plain types only), so the file
    loads with ``torch.load(weights_only=True)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"config": dict(net.config), "state_dict": state, "meta": meta}, tmp)
    tmp.replace(path)


def _first_line(err: Exception) -> str:
    """The first line of an error's message (torch's run to many), or its type."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def load_model(path: str | Path, device: str | torch.device = "cpu") -> DerainNet:
    """Rebuilds the network (a :class:`DerainNet` or a baseline, see
    :func:`~derain.nets.build_model`) from a file written by :func:`save_model`
    or a training checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle, zip and EOF errors alike
        raise ValueError(f"{path}: not a readable checkpoint ({_first_line(err)})") \
            from None
    try:
        net = build_model(blob["config"])
        net.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise ValueError(f"{path}: not a derain checkpoint ({_first_line(err)})") \
            from None
    return net.to(device).eval()


def derain(net: DerainNet, rgb: np.ndarray,
           device=None) -> tuple[np.ndarray, np.ndarray]:
    """rgb: (H, W, 3) float32 in [0, 1] -> (background (H, W, 3) float32 in [0, 1],
    rain (H, W, C) float32, C the model's input channels)."""
    device = device or next(net.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    if hasattr(net, "derain_rgb"):
        background, rain = net.derain_rgb(x.float().to(device))
    else:
        background, rain = derain_rgb_any(net, x.float().to(device))
    to_np = lambda t: t[0].permute(1, 2, 0).float().cpu().numpy()  # noqa: E731
    return to_np(background), to_np(rain)


def evaluate(
    net: DerainNet | None,
    pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
    *,
    desc: str = "evaluating",
    keep: int = 0,
    progress: bool = True,
) -> dict:
    """PSNR/SSIM (Y channel, SPEC protocol) of ``net`` on ``(name, rainy, target)``
    pairs; ``net=None`` scores the rainy input itself. Returns ``{"psnr", "ssim",
    "n", "seconds_per_image", "per_image": [...], "examples": [...]}`` where
    examples holds the first ``keep`` (name, rainy, pred, target) tuples."""
    per_image, examples, seconds = [], [], 0.0
    total = len(pairs) if hasattr(pairs, "__len__") else None
    for name, rainy, target in tqdm(pairs, desc=desc, total=total,
                                    disable=not progress, leave=False):
        start = time.perf_counter()
        pred = rainy if net is None else derain(net, rainy)[0]
        seconds += time.perf_counter() - start
        per_image.append({"name": name, "psnr": psnr(pred, target),
                          "ssim": ssim(pred, target)})
        if len(examples) < keep:
            examples.append((name, rainy, pred, target))
    if not per_image:
        raise ValueError("nothing to evaluate: the set is empty")
    finite = [r["psnr"] for r in per_image if np.isfinite(r["psnr"])]
    return {
        "psnr": float(np.mean(finite)) if finite else float("inf"),
        "ssim": float(np.mean([r["ssim"] for r in per_image])),
        "n": len(per_image),
        "seconds_per_image": seconds / len(per_image),
        "per_image": per_image,
        "examples": examples,
    }
