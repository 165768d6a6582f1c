"""Training batches: what each method's network sees at one step.

- :class:`TimeLapseFrames`: two different frames (m != n) of one time-lapse scene,
  cropped at the same place (the paper's sampling), optionally with the crop of a
  per-scene target for the supervised comparisons;
- :class:`RainOerMePairs`: Rain O'er Me's rain-to-clean and clean-to-rain pairs
  from single rainy frames and an unpaired clean pool;
- :class:`Rain2AvoidPairs`: single rainy frames with their LDGP rain masks.

Each ``sample(batch, crop, rng)`` returns float32 tensors (N, C, c, c) in [0, 1];
all randomness comes from the numpy Generator passed in.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from derain.config import TARGETS
from derain.data.scenes import load_manifest, to_channels
from derain.data.targets import coarse_clean_label, ldgp_mask, percentile_target
from derain.images import list_images, load_image


class TimeLapseFrames:
    """The rainy frames of one split, kept in memory as uint8, and a sampler of
    training pairs: two different frames (m != n) of one scene, cropped at the same
    place. Only ``frames/`` is read; the clean backgrounds are never touched.

    ``sample(batch, crop, rng)`` -> ``(rainy_m, rainy_n)``, each
    (batch, channels, crop, crop) float32 in [0, 1]. ``frames`` (r) limits
    each scene to its first r frames (the time-averaging experiment).

    ``target`` adds a third tensor of the same shape, the crop of a per-scene
    target, for the supervised comparisons: ``"clean"`` reads the scene's clean
    background (ground truth), ``"mean"`` and ``"median"`` are the per-pixel
    temporal mean and median of the scene's (first r) frames, the pseudo ground
    truth of time-averaging, ``"percentile"`` SPANet's temporal percentile
    filtering (:func:`~derain.data.targets.percentile_target`). With
    ``target=None`` (time-lapse training) the clean backgrounds are never read.
    """

    def __init__(self, data_dir: str | Path, split: str = "train",
                 channels: int = 1, frames: int | None = None,
                 target: str | None = None):
        if target is not None and target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS} or None, got "
                             f"{target!r}")
        manifest = load_manifest(data_dir)
        self.channels = channels
        self.target = target
        self.scenes: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        self.names: list[str] = []
        for scene in manifest["scenes"]:
            if scene["split"] != split:
                continue
            folder = Path(data_dir) / "frames" / split / scene["name"]
            paths = sorted(folder.iterdir())[:frames]
            stack = np.stack([to_channels(load_image(p), channels) for p in paths])
            self.scenes.append(np.round(stack * 255.0).astype(np.uint8))
            self.names.append(scene["name"])
            if target == "clean":
                clean = load_image(Path(data_dir) / "clean" / split
                                   / f"{scene['name']}.png")
                self.targets.append(to_channels(clean, channels).astype(np.float32))
            elif target == "mean":
                self.targets.append(stack.mean(axis=0).astype(np.float32))
            elif target == "median":
                self.targets.append(np.median(stack, axis=0).astype(np.float32))
            elif target == "percentile":
                self.targets.append(percentile_target(stack))
        if not self.scenes:
            raise ValueError(f"{data_dir}: no {split!r} scenes in the manifest")
        if min(s.shape[0] for s in self.scenes) < 2:
            raise ValueError(f"{data_dir}: a scene needs at least two frames")

    def __len__(self) -> int:
        return len(self.scenes)

    def sample(self, batch: int, crop: int, rng: np.random.Generator):
        pair_m, pair_n, targets = [], [], []
        for idx in rng.integers(0, len(self.scenes), size=batch):
            frames = self.scenes[idx]
            m, n = rng.choice(frames.shape[0], size=2, replace=False)
            _, h, w, _ = frames.shape
            c = min(crop, h, w)
            top = int(rng.integers(0, h - c + 1))
            left = int(rng.integers(0, w - c + 1))
            pair_m.append(frames[m, top:top + c, left:left + c])
            pair_n.append(frames[n, top:top + c, left:left + c])
            if self.target is not None:
                targets.append(self.targets[idx][top:top + c, left:left + c])
        pair = (_to_tensor(np.stack(pair_m)), _to_tensor(np.stack(pair_n)))
        if self.target is None:
            return pair
        target = torch.from_numpy(np.stack(targets)).permute(0, 3, 1, 2).float()
        return (*pair, target.contiguous())


def _to_tensor(batch: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, C, H, W) float32 in [0, 1]."""
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)


def shared_frames(data_dir: str | Path, split: str = "train", channels: int = 1,
                  frames: int | None = None,
                  target: str | None = None) -> TimeLapseFrames:
    """A :class:`TimeLapseFrames` kept in memory between training runs of one
    process (the experiment chapters train dozens of runs on the same frames;
    reading them takes longer than a short run's evaluation). Re-read when the
    data set's manifest changes. Sampling does not modify the object."""
    manifest = Path(data_dir) / "manifest.json"
    stamp = manifest.stat().st_mtime_ns if manifest.is_file() else None
    return _shared_frames(str(Path(data_dir).resolve()), split, channels,
                          frames, target, stamp)


@functools.lru_cache(maxsize=2)
def _shared_frames(data_dir, split, channels, frames, target, _stamp):
    return TimeLapseFrames(data_dir, split, channels, frames, target)


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
    construction each frame's coarse label
    (:func:`~derain.data.targets.coarse_clean_label`, window ``size``) is computed
    once. The unpaired clean pool is the clean backgrounds
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


class Rain2AvoidPairs:
    """Crops of single rainy frames of one split and their LDGP masks, for
    self-supervised training: no clean image and no sequence information is
    used, each frame being an independent image. Masks are computed once at
    construction (``ldgp`` holds keyword arguments of
    :func:`~derain.data.targets.ldgp_mask`), on the RGB frame whatever
    ``channels`` is.

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
