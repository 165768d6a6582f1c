"""The methods without learning, scored the way the networks are: time-averaging
of a scene's frames (the multi-frame answer the paper compares against) and any
function of a rainy image or of a scene's frames on paired test sets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from derain.data import PairedFolder, load_clean, load_frames, split_scenes
from derain.images import list_images, load_image
from derain.metrics import psnr, ssim


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
