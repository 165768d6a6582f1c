"""Loading trained models and running them on images: the code that the notebooks,
the training loop's validation and the ``derain`` command share."""

from __future__ import annotations

import pickle
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from derain.metrics import psnr, ssim
from derain.nets import DerainNet, build_model, derain_rgb_any


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` or
    ``cuda:N``. Raises ValueError for another name or for CUDA on a machine
    without it (torch would fail later with an AssertionError)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        picked = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r}: not a device (use auto, cpu, cuda or "
                         "cuda:N)") from None
    if picked.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this "
                         "machine (use auto or cpu)")
    return picked


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


def read_checkpoint(path: str | Path) -> dict:
    """The dict a checkpoint file holds (:func:`save_model`'s or a training
    checkpoint), read safely: tensors and plain values only, never arbitrary
    Python objects.

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming the file and the problem: empty, not a file
            that ``torch.save`` writes, a damaged or truncated archive, or one
            that holds Python objects besides weights.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    with path.open("rb") as file:
        head = file.read(4)
    if not head:
        raise ValueError(f"{path}: empty file, not a checkpoint")
    # torch.save writes a zip archive ("PK"); files of old torch versions are a
    # bare pickle (protocol marker 0x80). Anything else is some other file.
    if head[:2] != b"PK" and head[:1] != b"\x80":
        raise ValueError(f"{path}: not a checkpoint (not a file that torch.save "
                         "writes)")
    if head[:2] == b"PK":
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: corrupt checkpoint (the archive is "
                             "truncated)")
        # torch does not verify the archive's checksums: damaged weights would
        # load as wrong numbers without a word.
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            damaged = "its index"
        if damaged is not None:
            raise ValueError(f"{path}: corrupt checkpoint ({damaged} fails its "
                             "checksum)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's own message suggests an unsafe load: never repeated here.
        if "Weights only load failed" in str(err):
            raise ValueError(f"{path}: holds Python objects besides weights, which "
                             "are not loaded (only files written by derain load: "
                             "a saved model or a training checkpoint)") from None
        raise ValueError(f"{path}: corrupt checkpoint (its contents cannot be "
                         "read)") from None
    except (RuntimeError, EOFError, OSError, KeyError, ValueError):
        raise ValueError(f"{path}: corrupt checkpoint (the archive is damaged)") \
            from None
    if not isinstance(blob, dict):
        raise ValueError(f"{path}: not a derain checkpoint (it holds a "
                         f"{type(blob).__name__}, not a dict of weights)")
    return blob


def load_weights(net: nn.Module, state: dict, source: str | Path) -> None:
    """``net.load_state_dict(state)`` after checking that every tensor is there
    with the network's shape. Raises ValueError naming ``source``, the first
    mismatching tensor with both shapes and how many differ (torch's message is
    cut to its first line elsewhere, which names nothing)."""
    own = net.state_dict()
    differ = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in own.items()
              if k in state and hasattr(state[k], "shape")
              and tuple(state[k].shape) != tuple(v.shape)]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if not (differ or missing or unexpected):
        net.load_state_dict(state)
        return
    problems = []
    if differ:
        key, theirs, ours = differ[0]
        problems.append(f"{key} is {theirs} there but {ours} here"
                        + (f" ({len(differ)} tensors differ)" if len(differ) > 1
                           else ""))
    if missing:
        problems.append(f"{len(missing)} tensors missing (first {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} tensors unknown here (first "
                        f"{unexpected[0]})")
    config = getattr(net, "config", {})
    raise ValueError(f"{source}: weights of another architecture than "
                     f"{config}: {'; '.join(problems)}")


def model_config(blob: dict, path: str | Path) -> dict:
    """The network settings a checkpoint was made with: ``config`` of a saved
    model, ``settings["model"]`` of a training checkpoint."""
    if "config" in blob:
        return blob["config"]
    settings = blob.get("settings")
    if isinstance(settings, dict) and isinstance(settings.get("model"), dict):
        return settings["model"]
    raise ValueError(f"{path}: not a derain checkpoint (no network settings: "
                     "neither 'config' nor a training checkpoint's 'settings')")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> DerainNet:
    """Rebuilds the network (a :class:`DerainNet` or a baseline, see
    :func:`~derain.nets.build_model`) from a file written by :func:`save_model`
    or from a training ``checkpoint.pt`` (its weights at the step it was saved),
    in eval mode on ``device``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming the file and the problem (see
            :func:`read_checkpoint` and :func:`load_weights`), or settings that
            build no network.
    """
    blob = read_checkpoint(path)
    config = model_config(blob, path)
    if "state_dict" not in blob:
        raise ValueError(f"{path}: not a derain checkpoint (no weights, "
                         "'state_dict')")
    try:
        net = build_model(config)
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: its network settings {config} build no "
                         f"network ({_first_line(err)})") from None
    load_weights(net, blob["state_dict"], path)
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
    rgb: bool = False,
) -> dict:
    """PSNR/SSIM (Y channel, SPEC protocol) of ``net`` on ``(name, rainy, target)``
    pairs; ``net=None`` scores the rainy input itself. Returns ``{"psnr", "ssim",
    "n", "seconds_per_image", "per_image": [...], "examples": [...]}`` where
    examples holds the first ``keep`` (name, rainy, pred, target) tuples. With
    ``rgb`` the same over the three RGB channels as well (``psnr_rgb``,
    ``ssim_rgb``): the literature reports both, and they differ by a dB or more."""
    per_image, examples, seconds = [], [], 0.0
    total = len(pairs) if hasattr(pairs, "__len__") else None
    for name, rainy, target in tqdm(pairs, desc=desc, total=total,
                                    disable=not progress, leave=False):
        start = time.perf_counter()
        pred = rainy if net is None else derain(net, rainy)[0]
        seconds += time.perf_counter() - start
        scores = {"name": name, "psnr": psnr(pred, target), "ssim": ssim(pred, target)}
        if rgb:
            scores.update(psnr_rgb=psnr(pred, target, y_channel=False),
                          ssim_rgb=ssim(pred, target, y_channel=False))
        per_image.append(scores)
        if len(examples) < keep:
            examples.append((name, rainy, pred, target))
    if not per_image:
        raise ValueError("nothing to evaluate: the set is empty")
    def mean_psnr(key: str) -> float:
        finite = [r[key] for r in per_image if np.isfinite(r[key])]
        return float(np.mean(finite)) if finite else float("inf")

    extra = ({"psnr_rgb": mean_psnr("psnr_rgb"),
              "ssim_rgb": float(np.mean([r["ssim_rgb"] for r in per_image]))}
             if rgb else {})
    return {
        "psnr": mean_psnr("psnr"),
        "ssim": float(np.mean([r["ssim"] for r in per_image])),
        **extra,
        "n": len(per_image),
        "seconds_per_image": seconds / len(per_image),
        "per_image": per_image,
        "examples": examples,
    }
