"""The methods without learning, scored the way the networks are: time-averaging
of a scene's frames (the multi-frame answer the paper compares against) and any
function of a rainy image or of a scene's frames on paired test sets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from derain.data import (
    PairedFolder,
    coarse_clean_label,
    ldgp_mask,
    load_clean,
    load_frames,
    percentile_target,
    split_scenes,
    to_channels,
)
from derain.images import list_images, load_image
from derain.losses import stochastic_fill
from derain.metrics import psnr, ssim

# The training targets of the neighbours that learn from no clean image, named
# as :func:`target_quality` returns them.
PSEUDO_TARGETS = ("percentile", "coarse label", "stochastic fill")


def averaging_quality(data_dir: str | Path, manifest: dict,
                      frames: list[int]) -> pd.DataFrame:
    """PSNR and SSIM (Y channel) of the per-pixel mean and median of the first r
    frames of each training scene against its clean background, averaged over
    the scenes, for r = 1 (a single rainy frame) and every r of ``frames``.
    Indexed by (how, r)."""
    rows = []
    for scene in split_scenes(manifest, "train"):
        stack, clean = load_frames(data_dir, scene), load_clean(data_dir, scene)
        for r in sorted({1, *frames}):
            for how, image in [("mean", stack[:r].mean(0)),
                               ("median", np.median(stack[:r], axis=0))]:
                rows.append({"r": r, "how": how, "psnr": psnr(image, clean),
                             "ssim": ssim(image, clean)})
    return pd.DataFrame(rows).groupby(["how", "r"])[["psnr", "ssim"]].mean()


def target_quality(data_dir: str | Path, manifest: dict, split: str = "train",
                   limit: int | None = None, rain_step: float = 2.0 / 255.0,
                   seed: int = 0) -> pd.DataFrame:
    """How close the pseudo targets of the neighbours are to the clean
    background they stand in for, frame by frame over the first ``limit`` scenes
    of ``split`` (all when None), on the luminance the networks see (BT.601 Y).

    Columns: ``scene``, ``frame``; the PSNR against the clean background of
    ``input`` (the rainy frame: the identity's target), ``percentile``
    (SPANet-style: :func:`~derain.data.percentile_target` of the scene's
    frames), ``coarse label`` (Rain O'er Me-style's rain-to-clean target:
    :func:`~derain.data.coarse_clean_label` of the frame) and ``stochastic
    fill`` (Rain2Avoid-style: :func:`~derain.losses.stochastic_fill` of the
    frame and its :func:`~derain.data.ldgp_mask`, one draw); and the LDGP mask's
    ``mask recall`` (share of the rain pixels it marks; a rain pixel is one the
    rain brightens by more than ``rain_step``), ``mask precision`` (share of
    its marks that are rain) and ``marked`` (share of the frame it marks). A
    network trained towards a deterministic target is not expected to end much
    closer to the background than the target itself is."""
    scenes = split_scenes(manifest, split)[:limit]
    if not scenes:
        raise ValueError(f"{data_dir}: no {split!r} scenes in the manifest")
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for scene in scenes:
        stack = load_frames(data_dir, scene)
        clean = to_channels(load_clean(data_dir, scene), 1)[..., 0]
        frames = to_channels(stack, 1)
        percentile = percentile_target(frames)[..., 0]
        for index, (rgb, frame) in enumerate(zip(stack, frames[..., 0], strict=True)):
            mask = ldgp_mask(rgb)
            fill = stochastic_fill(torch.from_numpy(frame)[None, None],
                                   torch.from_numpy(mask)[None, None],
                                   generator=generator)[0, 0].numpy()
            rain = frame - clean > rain_step
            hits = float((mask & rain).sum())
            rows.append({
                "scene": scene["name"], "frame": index,
                "input": psnr(frame, clean),
                "percentile": psnr(percentile, clean),
                "coarse label": psnr(coarse_clean_label(frame), clean),
                "stochastic fill": psnr(fill, clean),
                "mask recall": hits / max(float(rain.sum()), 1.0),
                "mask precision": hits / max(float(mask.sum()), 1.0),
                "marked": float(mask.mean())})
    return pd.DataFrame(rows)


def score_floor(fn: Callable[[np.ndarray], np.ndarray], pairs: PairedFolder,
                multi: bool = False) -> dict:
    """Mean PSNR/SSIM of ``fn`` on paired images: ``fn(rainy)`` of each input, or
    with ``multi`` ``fn(frames)`` of all frames of its scene (the folder
    ``frames/<stem>/`` beside ``input/``, as :func:`~derain.data.render_variant`
    writes it)."""
    values = []
    for image_name, rainy, target in pairs:
        if multi:
            folder = pairs.input_dir.parent / "frames" / Path(image_name).stem
            pred = fn(np.stack([load_image(p) for p in list_images(folder)]))
        else:
            pred = fn(rainy)
        values.append((psnr(pred, target), ssim(pred, target)))
    return {"psnr": float(np.mean([v[0] for v in values])),
            "ssim": float(np.mean([v[1] for v in values]))}


def score_floors(floors: dict[str, tuple[Callable, bool]], sets: dict[str, Path],
                 limits: dict[str, int | None]) -> list[dict]:
    """:func:`score_floor` of every method without learning on every set:
    ``floors`` maps a name to ``(fn, multi)``; a multi-frame method skips the sets
    without a ``frames/`` folder (Rain100L has one frame per scene). One row
    ``{"name", "seed": 0, "set", "psnr", "ssim"}`` each."""
    rows = []
    for name, (fn, multi) in floors.items():
        for set_name, folder in sets.items():
            if multi and not (Path(folder) / "frames").is_dir():
                continue
            pairs = PairedFolder(folder, limit=limits.get(set_name))
            rows.append({"name": name, "seed": 0, "set": set_name,
                         **score_floor(fn, pairs, multi)})
    return rows


def averaging_scores(data_dir: str | Path, manifest: dict, names: list[str],
                     frames: int, how: str = "median", split: str = "test"
                     ) -> dict[str, list]:
    """Per-image scores of time-averaging on held-out scenes: for each test image
    ``"scene/frame"`` of ``names``, the per-pixel mean or median of the first
    ``frames`` frames of its scene against the clean background (the same value
    for every frame of a scene: averaging uses the whole sequence). Returns
    ``{"name", "psnr", "ssim"}`` lists in the order of ``names``, the form of a
    run's per-image scores."""
    scenes = {s["name"]: s for s in split_scenes(manifest, split)}
    cache: dict[str, tuple[float, float]] = {}
    out = {"name": list(names), "psnr": [], "ssim": []}
    for name in names:
        scene = name.split("/")[0]
        if scene not in cache:
            stack = load_frames(data_dir, scenes[scene])
            if len(stack) < frames:
                raise ValueError(f"{scene}: {len(stack)} frames, fewer than r = "
                                 f"{frames}; render more test frames")
            image = (np.median(stack[:frames], axis=0) if how == "median"
                     else stack[:frames].mean(axis=0))
            clean = load_clean(data_dir, scenes[scene])
            cache[scene] = (psnr(image, clean), ssim(image, clean))
        out["psnr"].append(cache[scene][0])
        out["ssim"].append(cache[scene][1])
    return out
