"""Time-lapse scenes: where their backgrounds come from, how they are rendered to
disk, and the loaders that read them back (pairs of frames of one scene, paired
``input/`` + ``target/`` folders, unpaired folders of real photographs).

The clean backgrounds are written to a folder of their own and are read only by
evaluation code: :class:`TimeLapseFrames` never opens them.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from derain.images import ImageError, list_images, load_image, rgb_to_ycbcr
from derain.rain import RainSampler, render_frames

SPLITS = ("train", "val", "test")

# Folders of a data root (the layout of the shared datasets README). Kodak is the
# held-out test split: its scenes never appear in training or validation.
TRAIN_SETS = ("backgrounds/sun_hays80", "backgrounds/urban100")
TEST_SETS = ("backgrounds/kodak24",)
RAIN100L = "Rain100L"
REAL_RAIN = "real_rain"

# Photographs bundled with scikit-image, used when no data root is filled in.
BUNDLED = {
    "train": ("rocket", "camera", "coins", "moon", "brick", "grass", "gravel",
              "clock", "hubble_deep_field", "retina"),
    "val": ("chelsea",),
    "test": ("astronaut", "coffee"),
}


@dataclass(frozen=True)
class Background:
    """A clean image a scene is built on. ``load()`` -> (H, W, 3) float32 [0, 1]."""

    name: str
    source: str
    path: Path | None = None

    def load(self) -> np.ndarray:
        if self.path is not None:
            return load_image(self.path)
        import skimage.data

        image = getattr(skimage.data, self.name)()
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        return image[..., :3].astype(np.float32) / 255.0


def available_sets(data_root: str | Path | None) -> dict[str, bool]:
    """Which of the optional real sets a data root holds."""
    root = Path(data_root) if data_root else None
    names = TRAIN_SETS + TEST_SETS + (RAIN100L, REAL_RAIN)
    found = {}
    for name in names:
        folder = root / name if root else None
        if name == RAIN100L and folder is not None:
            folder = folder / "input"
        found[name] = bool(folder and folder.is_dir() and any(folder.iterdir()))
    return found


def collect_backgrounds(
    data_root: str | Path | None, n_val: int
) -> dict[str, list[Background]]:
    """Backgrounds per split. With the background sets under ``data_root``: train
    and val from sun_hays80 + urban100 (every k-th image to val, ``n_val`` in all),
    test from kodak24. Without them: scikit-image's bundled photographs."""
    found = available_sets(data_root)
    if all(found[s] for s in TRAIN_SETS + TEST_SETS):
        root = Path(data_root)
        pool = [
            Background(f"{Path(s).name}_{p.stem}", s, p)
            for s in TRAIN_SETS
            for p in list_images(root / s)
        ]
        step = max(len(pool) // max(n_val, 1), 1)
        val_idx = set(range(step // 2, len(pool), step)[:n_val]) if n_val else set()
        test = [
            Background(f"{Path(s).name}_{p.stem}", s, p)
            for s in TEST_SETS
            for p in list_images(root / s)
        ]
        return {
            "train": [b for i, b in enumerate(pool) if i not in val_idx],
            "val": [b for i, b in enumerate(pool) if i in val_idx],
            "test": test,
        }
    return {
        split: [Background(n, "skimage") for n in names]
        for split, names in BUNDLED.items()
    }


def _crop(image: np.ndarray, size: int, rng: np.random.Generator | None):
    """A size x size crop (random with rng, central without); smaller sides are
    kept whole, trimmed to a multiple of 8."""
    h, w = image.shape[:2]
    ch, cw = min(size, h - h % 8 or h), min(size, w - w % 8 or w)
    if rng is None:
        top, left = (h - ch) // 2, (w - cw) // 2
    else:
        top = int(rng.integers(0, h - ch + 1))
        left = int(rng.integers(0, w - cw + 1))
    return image[top:top + ch, left:left + cw]


def _save_uint8(path: Path, rgb: np.ndarray, quality: int | None) -> None:
    """Writes a frame: JPEG at ``quality`` (the compression nuisance of real
    time-lapse footage is this very encoding), PNG when quality is None."""
    array = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    if quality is None:
        Image.fromarray(array).save(path.with_suffix(".png"))
    else:
        Image.fromarray(array).save(path.with_suffix(".jpg"), quality=int(quality))


def render_dataset(
    out_dir: str | Path,
    data_root: str | Path | None,
    n_frames: int,
    test_frames: int,
    scene_size: int,
    test_size: int,
    n_val: int,
    crops_per_image: int,
    max_train_scenes: int | None,
    rain: dict,
    seed: int,
) -> dict:
    """Renders every split's scenes to ``out_dir`` and returns the manifest (also
    written to ``out_dir/manifest.json``).

    Layout: ``frames/<split>/<scene>/NN.jpg`` (rainy frames) and
    ``clean/<split>/<scene>.png`` (the background, for evaluation only). Train
    scenes have ``n_frames`` frames; val and test scenes ``test_frames``.
    """
    out = Path(out_dir)
    sampler = RainSampler(**rain)
    backgrounds = collect_backgrounds(data_root, n_val)
    rng = np.random.default_rng(seed)
    manifest = {
        "seed": seed,
        "sets": available_sets(data_root),
        "bundled_fallback": backgrounds["train"][0].source == "skimage",
        "scenes": [],
    }
    jobs = []
    for split in SPLITS:
        crops = crops_per_image if split == "train" else 1
        for bg in backgrounds[split]:
            jobs.extend((split, bg, k) for k in range(crops))
    if max_train_scenes is not None:
        train_jobs = [j for j in jobs if j[0] == "train"][:max_train_scenes]
        jobs = train_jobs + [j for j in jobs if j[0] != "train"]
    for split, bg, k in tqdm(jobs, desc="rendering scenes", unit="scene"):
        scene_rng = np.random.default_rng(rng.integers(2**63))
        size = scene_size if split == "train" else test_size
        clean = _crop(bg.load(), size, scene_rng if split == "train" else None)
        name = f"{bg.name}_{k}" if split == "train" else bg.name
        scene_dir = out / "frames" / split / name
        scene_dir.mkdir(parents=True, exist_ok=True)
        (out / "clean" / split).mkdir(parents=True, exist_ok=True)
        _save_uint8(out / "clean" / split / name, clean, None)
        scene = sampler.sample_scene(scene_rng)
        count = n_frames if split == "train" else test_frames
        rains = [sampler.sample_frame(scene, scene_rng) for _ in range(count)]
        # JPEG is applied by writing the file at the frame's quality, not by the
        # renderer, so the stored frame is compressed exactly once.
        rendered = render_frames(clean, [replace(r, jpeg_quality=None) for r in rains],
                                 scene_rng)
        for i, (frame, rain) in enumerate(zip(rendered, rains, strict=True)):
            _save_uint8(scene_dir / f"{i:02d}", frame, rain.jpeg_quality)
        frames_info = [_frame_record(r) for r in rains]
        manifest["scenes"].append({
            "name": name, "split": split, "source": bg.source,
            "background": bg.name, "height": clean.shape[0], "width": clean.shape[1],
            "frames": frames_info,
        })
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _frame_record(frame) -> dict:
    return {k: (round(v, 5) if isinstance(v, float) else v)
            for k, v in asdict(frame).items()}


def load_manifest(data_dir: str | Path) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no manifest; run the data stage first (dvc repro data)"
        )
    return json.loads(path.read_text())


def to_channels(rgb: np.ndarray, channels: int) -> np.ndarray:
    """(…, 3) RGB in [0, 1] -> (…, channels): BT.601 Y for 1 channel (the paper's
    luminance input), the RGB itself for 3."""
    if channels == 1:
        return rgb_to_ycbcr(rgb)[..., :1]
    return rgb


# What a supervised run learns towards (None: time-lapse training, no target).
TARGETS = (None, "clean", "mean", "median", "percentile")


class TimeLapseFrames:
    """The rainy frames of one split, kept in memory as uint8, and a sampler of
    training pairs: two different frames (m != n) of one scene, cropped at the same
    place. Only ``frames/`` is read; the clean backgrounds are never touched.

    ``sample(batch, crop, rng)`` -> ``(rainy_m, rainy_n)``, each
    (batch, channels, crop, crop) float32 in [0, 1]. ``frames_per_scene`` limits
    each scene to its first r frames (the time-averaging experiment).

    ``target`` adds a third tensor of the same shape, the crop of a per-scene
    target, for the supervised comparisons: ``"clean"`` reads the scene's clean
    background (ground truth), ``"mean"`` and ``"median"`` are the per-pixel
    temporal mean and median of the scene's (first r) frames, the pseudo ground
    truth of time-averaging, ``"percentile"`` SPANet's temporal percentile
    filtering (:func:`~derain.baselines.percentile_target`). With
    ``target=None`` (time-lapse training) the clean backgrounds are never read.
    """

    def __init__(self, data_dir: str | Path, split: str = "train",
                 channels: int = 1, frames_per_scene: int | None = None,
                 target: str | None = None):
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
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
            paths = sorted(folder.iterdir())[:frames_per_scene]
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
                from derain.baselines import percentile_target

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


class PairedFolder:
    """Rainy images in ``input/`` and their clean targets in ``target/`` with the
    same file names (the Rain100L layout). Iterates ``(name, rainy, target)`` with
    (H, W, 3) float32 arrays in [0, 1]."""

    def __init__(self, root: str | Path | None = None, *, input_dir=None,
                 target_dir=None, limit: int | None = None):
        if root is not None:
            input_dir, target_dir = Path(root) / "input", Path(root) / "target"
        self.input_dir, self.target_dir = Path(input_dir), Path(target_dir)
        inputs = list_images(self.input_dir)
        targets = {p.name for p in list_images(self.target_dir)}
        missing = [p.name for p in inputs if p.name not in targets]
        if missing:
            raise ImageError(
                f"{self.target_dir / missing[0]}: no target for this input "
                f"({len(missing)} missing in all)"
            )
        self.names = [p.name for p in inputs][:limit]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        for name in self.names:
            rainy = load_image(self.input_dir / name)
            target = load_image(self.target_dir / name)
            if rainy.shape != target.shape:
                raise ImageError(
                    f"{self.input_dir / name}: size {rainy.shape[:2]} differs from "
                    f"its target's {target.shape[:2]}"
                )
            yield name, rainy, target


class SceneTestSet:
    """Held-out synthetic scenes as rainy/clean pairs: every frame of each scene of
    ``split`` against the scene's clean background. Iterates like PairedFolder."""

    def __init__(self, data_dir: str | Path, split: str = "test",
                 frames_per_scene: int | None = None):
        self.data_dir = Path(data_dir)
        manifest = load_manifest(data_dir)
        self.items = []
        for scene in manifest["scenes"]:
            if scene["split"] != split:
                continue
            folder = self.data_dir / "frames" / split / scene["name"]
            clean = self.data_dir / "clean" / split / f"{scene['name']}.png"
            for path in sorted(folder.iterdir())[:frames_per_scene]:
                self.items.append((f"{scene['name']}/{path.stem}", path, clean))
        self.names = [item[0] for item in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        for name, path, clean in self.items:
            yield name, load_image(path), load_image(clean)


class UnpairedFolder:
    """A folder of photographs without ground truth (real rain). Iterates
    ``(name, image)``; ``limit`` keeps the first images in name order."""

    def __init__(self, folder: str | Path, limit: int | None = None):
        self.paths = list_images(folder)[:limit]
        self.names = [p.name for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self):
        for path in self.paths:
            yield path.name, load_image(path)


def shared_frames(data_dir: str | Path, split: str = "train", channels: int = 1,
                  frames_per_scene: int | None = None,
                  target: str | None = None) -> TimeLapseFrames:
    """A :class:`TimeLapseFrames` kept in memory between training runs of one
    process (the experiment chapters train dozens of runs on the same frames;
    reading them takes longer than a short run's evaluation). Re-read when the
    data set's manifest changes. Sampling does not modify the object."""
    manifest = Path(data_dir) / "manifest.json"
    stamp = manifest.stat().st_mtime_ns if manifest.is_file() else None
    return _shared_frames(str(Path(data_dir).resolve()), split, channels,
                          frames_per_scene, target, stamp)


@functools.lru_cache(maxsize=2)
def _shared_frames(data_dir, split, channels, frames_per_scene, target, _stamp):
    return TimeLapseFrames(data_dir, split, channels, frames_per_scene, target)


def render_variant(data_dir: str | Path, out_dir: str | Path, rain: dict,
                   n_frames: int = 4, seed: int = 0, split: str = "test") -> Path:
    """The clean backgrounds of ``split`` under other rain (``rain``: keyword
    arguments of :class:`~derain.rain.RainSampler`), e.g. a light and a heavy test
    set for the baseline comparison. Writes ``<out_dir>/input/<scene>.png`` (the
    first frame), ``<out_dir>/target/<scene>.png`` (the clean background; a
    :class:`PairedFolder` reads both) and every frame under
    ``<out_dir>/frames/<scene>/NN.png`` for the multi-frame methods. Frames are
    stored losslessly: JPEG settings in ``rain`` are ignored. Returns ``out_dir``."""
    out = Path(out_dir)
    sampler = RainSampler(**{**rain, "jpeg_prob": 0.0})
    rng = np.random.default_rng(seed)
    scenes = [s for s in load_manifest(data_dir)["scenes"] if s["split"] == split]
    if not scenes:
        raise ValueError(f"{data_dir}: no {split!r} scenes in the manifest")
    for sub in ("input", "target"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for scene in tqdm(scenes, desc="rendering", unit="scene"):
        clean = load_image(Path(data_dir) / "clean" / split / f"{scene['name']}.png")
        scene_rng = np.random.default_rng(rng.integers(2**63))
        draw = sampler.sample_scene(scene_rng)
        rains = [sampler.sample_frame(draw, scene_rng) for _ in range(n_frames)]
        frames = render_frames(clean, rains, scene_rng)
        folder = out / "frames" / scene["name"]
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            _save_uint8(folder / f"{i:02d}", frame, None)
        _save_uint8(out / "input" / scene["name"], frames[0], None)
        _save_uint8(out / "target" / scene["name"], clean, None)
    return out
