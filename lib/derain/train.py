"""Training from time-lapse frames (Sec. III-B, IV-A): Adam, random crops of two
frames m != n of one scene, the losses of :mod:`derain.losses`.

A run lives in a folder: ``checkpoint.pt`` (everything needed to continue,
rewritten atomically every ``checkpoint_every`` steps), ``history.json`` (the
logged losses and validation scores) and, at the end, ``model.pt``. Starting a run
whose folder holds a checkpoint continues it; with a fixed seed on a CPU the result
equals that of an uninterrupted run.
"""

from __future__ import annotations

import functools
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from derain.baselines import gt_rain_loss
from derain.data import SceneTestSet, shared_frames
from derain.inference import evaluate, pick_device, save_model
from derain.losses import TimeLapseLoss, supervised_l1
from derain.models import build_model

# A background whose spatial contrast falls below this fraction of the input's has
# lost the scene: the collapse of the literal recipe (SPEC, "a pitfall") drives it
# towards 0, while a working deraining model stays close to 1.
COLLAPSE_RATIO = 0.5


def contrast_ratio(background: torch.Tensor, rainy: torch.Tensor) -> float:
    """Mean per-image spatial std of the predicted background over that of the
    input; (N, C, H, W) tensors. About 1 for a sane model, about 0 for a constant."""
    b = background.flatten(1).std(dim=1)
    r = rainy.flatten(1).std(dim=1).clamp_min(1e-6)
    return float((b / r).mean())


def train(
    run_dir: str | Path,
    data_dir: str | Path,
    model: dict,
    loss: dict,
    steps: int,
    batch_size: int = 4,
    crop: int = 64,
    lr: float = 1e-4,
    beta1: float = 0.9,
    beta2: float = 0.999,
    seed: int = 0,
    frames_per_scene: int | None = None,
    target: str | None = None,
    objective: str = "l1",
    checkpoint_every: int = 200,
    log_every: int = 20,
    val_every: int = 500,
    val_frames: int | None = 2,
    device: str = "auto",
    progress: bool = True,
    stop_after: int | None = None,
) -> dict:
    """Trains ``DerainNet(**model)`` with ``TimeLapseLoss(**loss)`` for ``steps``
    steps and returns the history. ``stop_after`` ends the call early (as if the
    process were killed after that step's checkpoint) and is used by tests.

    ``target`` (``"clean"``, ``"mean"``, ``"median"`` or ``"percentile"``, see
    :class:`~derain.data.TimeLapseFrames`) trains with full supervision instead,
    an L1 loss between each frame's background and the scene's target
    (:func:`~derain.losses.supervised_l1`), or with ``objective="gt_rain"`` that
    loss plus GT-Rain's rain-invariant feature loss; ``loss`` is then ignored.
    Each step sees the same two frames per scene either way. Two targets come
    from single rainy frames only: ``"rain_oer_me"`` (coarse filtered labels and
    rain moved onto unpaired clean images) and ``"rain2avoid"`` (the LDGP mask and
    its stochastic fill); their steps see ``2 * batch_size`` crops, as many as a
    time-lapse step. ``model`` may name another network with ``arch`` (see
    :func:`~derain.models.build_model`)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    torch.manual_seed(seed)
    net = build_model(model).to(dev)
    criterion = TimeLapseLoss(**loss).to(dev) if target is None else nn.Module()
    params = list(net.parameters()) + list(criterion.parameters())
    optimizer = torch.optim.Adam(params, lr=lr, betas=(beta1, beta2))
    rng = np.random.default_rng(seed)
    history: dict = {"train": [], "val": [], "seconds": 0.0}
    step = 0

    ckpt_path = run_dir / "checkpoint.pt"
    settings = {"model": net.config, "loss": loss, "steps": steps,
                "batch_size": batch_size, "crop": crop, "lr": lr, "beta1": beta1,
                "beta2": beta2, "seed": seed, "frames_per_scene": frames_per_scene}
    if target not in TRAIN_TARGETS:
        raise ValueError(f"target must be one of {TRAIN_TARGETS}, got {target!r}")
    if objective not in ("l1", "gt_rain"):
        raise ValueError(f"objective must be 'l1' or 'gt_rain', got {objective!r}")
    if target is not None:
        settings["target"] = target
        settings["loss"] = f"{objective} to target"
    ckpt = None
    if ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if ckpt["settings"] != settings:
            # A checkpoint of other settings (a changed params.yaml) is not this
            # run's past: start over rather than continue a different experiment.
            warnings.warn(f"{ckpt_path}: made with other settings; starting over",
                          stacklevel=2)
            ckpt = None
    if ckpt is not None:
        net.load_state_dict(ckpt["state_dict"])
        criterion.load_state_dict(ckpt["criterion"])
        optimizer.load_state_dict(ckpt["optimizer"])
        rng.bit_generator.state = ckpt["rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        history, step = ckpt["history"], ckpt["step"]

    if target in SINGLE_IMAGE_TARGETS:
        frames = _single_image_sampler(target, str(data_dir), net.in_channels)
    else:
        frames = shared_frames(data_dir, "train", net.in_channels, frames_per_scene,
                               target=target)
    val_set = SceneTestSet(data_dir, "val", val_frames)

    def checkpoint() -> None:
        blob = {
            "settings": settings, "step": step,
            "state_dict": net.state_dict(), "criterion": criterion.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(), "history": history,
        }
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(blob, tmp)
        tmp.replace(ckpt_path)
        (run_dir / "history.json").write_text(json.dumps(history, indent=1))

    def validate() -> None:
        net.eval()
        scores = evaluate(net, val_set, progress=False)
        net.train()
        history["val"].append({"step": step, "psnr": scores["psnr"],
                               "ssim": scores["ssim"]})

    bar = tqdm(total=steps, initial=step, desc="training", unit="step",
               disable=not progress)
    net.train()
    window: list[dict] = []
    while step < steps:
        start = time.perf_counter()
        if target in SINGLE_IMAGE_TARGETS:
            total, parts, rainy_m, out_m = _single_image_step(
                net, frames, target, batch_size, crop, rng, dev)
        else:
            rainy_m, rainy_n, *goal = (
                t.to(dev) for t in frames.sample(batch_size, crop, rng)
            )
            if objective == "gt_rain":
                both = torch.cat([rainy_m, rainy_n])
                total, parts = gt_rain_loss(net, both, torch.cat([goal[0]] * 2))
            else:
                out = net(torch.cat([rainy_m, rainy_n]))
                out_m = tuple(t[:batch_size] for t in out)
                out_n = tuple(t[batch_size:] for t in out)
                if target is None:
                    total, parts = criterion(rainy_m, rainy_n, out_m, out_n, step,
                                             steps)
                else:
                    total, parts = supervised_l1(out_m, out_n, goal[0])
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        step += 1
        if "contrast" not in parts:
            parts["contrast"] = contrast_ratio(out_m[0].detach(), rainy_m)
        window.append(parts)
        history["seconds"] += time.perf_counter() - start
        if step % log_every == 0 or step == steps:
            mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            history["train"].append({"step": step, **mean})
            bar.set_postfix(loss=f"{mean['total']:.4f}",
                            contrast=f"{mean['contrast']:.2f}")
            window = []
        if val_every and (step % val_every == 0 or step == steps):
            validate()
        if step % checkpoint_every == 0 or step == steps:
            checkpoint()
        bar.update(1)
        if stop_after is not None and step >= stop_after:
            break
    bar.close()
    if step >= steps:
        last = history["train"][-1]["contrast"] if history["train"] else 1.0
        history["collapsed"] = last < COLLAPSE_RATIO
        history["steps_per_second"] = steps / max(history["seconds"], 1e-9)
        checkpoint()
        save_model(run_dir / "model.pt", net, steps=steps, seed=seed,
                   collapsed=history["collapsed"])
    return history


# Targets of train(): None is time-lapse training; the others are supervised or
# self-supervised baselines.
TRAIN_TARGETS = (None, "clean", "mean", "median", "percentile", "rain_oer_me",
                 "rain2avoid")
SINGLE_IMAGE_TARGETS = ("rain_oer_me", "rain2avoid")


@functools.lru_cache(maxsize=2)
def _single_image_sampler(target: str, data_dir: str, channels: int):
    """The samplers of the single-image baselines, kept between the runs of one
    process (their labels and masks take a while to compute)."""
    from derain.baselines import Rain2AvoidPairs, RainOerMePairs

    if target == "rain_oer_me":
        return RainOerMePairs(data_dir, channels)
    return Rain2AvoidPairs(data_dir, channels)


def _single_image_step(net, sampler, target, batch_size, crop, rng, dev):
    """One step's loss for a single-image baseline: ``2 * batch_size`` crops."""
    from derain.baselines import rain2avoid_loss

    if target == "rain_oer_me":
        inputs, goal = (t.to(dev) for t in sampler.sample(2 * batch_size, crop, rng))
        out = net(inputs)
        loss = (out[0] - goal).abs().mean()
        return loss, {"L_sup": loss.item(), "total": loss.item()}, inputs, out
    rainy, mask = (t.to(dev) for t in sampler.sample(2 * batch_size, crop, rng))
    out = net(rainy)
    generator = torch.Generator(device=dev).manual_seed(int(rng.integers(2**31)))
    total, parts = rain2avoid_loss(out[0], rainy, mask, generator=generator)
    return total, parts, rainy, out
