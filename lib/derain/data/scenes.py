"""Time-lapse scenes: where their backgrounds come from (the splits) and how they
are rendered to disk with their manifest.

The clean backgrounds are written to a folder of their own and are read only by
evaluation code and by the supervised comparisons: time-lapse training
(:class:`~derain.data.samplers.TimeLapseFrames` without a target) never opens them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from derain.images import list_images, load_image, rgb_to_ycbcr
from derain.rain import RainSampler, rain_statistics, render_frames, render_scene

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


def set_sizes(data_root: str | Path | None) -> dict[str, int]:
    """Images in each data set present under ``data_root`` (Rain100L: its input
    images), absent sets left out."""
    found = available_sets(data_root)
    sizes = {}
    for name, present in found.items():
        if present:
            folder = Path(data_root) / name
            sizes[name] = len(list_images(folder / "input" if name == RAIN100L
                                          else folder))
    return sizes


def data_root_summary(data_root: str | Path, limits: dict[str, int | None]
                      | None = None) -> str:
    """One line: which sets ``data_root`` holds and how many images of each a run
    uses (``limits``: a set's name to the images it is cut to, None for all), and
    what the scenes are built on."""
    sizes = set_sizes(data_root)
    limits = limits or {}
    used = []
    for name, count in sizes.items():
        limit = limits.get(name)
        shown = f"{min(limit, count)} of {count}" if limit is not None else f"{count}"
        used.append(f"{name} ({shown} images)")
    backgrounds = TRAIN_SETS + TEST_SETS
    absent = [s for s in backgrounds if s not in sizes]
    if absent:
        scenes = (f"scenes on scikit-image's {sum(map(len, BUNDLED.values()))} "
                  f"bundled photographs (absent: {', '.join(absent)})")
    else:
        scenes = "scenes on " + " + ".join(Path(s).name for s in backgrounds)
    held = ", ".join(used) if used else "no data set (an empty folder)"
    return f"data_root {data_root}: {held}; {scenes}"


def scenes_summary(data_dir: str | Path) -> str:
    """One line: the scenes rendered under ``data_dir`` per split and the
    backgrounds they were built on (from its manifest)."""
    manifest = load_manifest(data_dir)
    counts = {split: 0 for split in SPLITS}
    sources: dict[str, int] = {}
    for scene in manifest["scenes"]:
        counts[scene["split"]] += 1
        sources[scene["source"]] = sources.get(scene["source"], 0) + 1
    splits = ", ".join(f"{n} {split}" for split, n in counts.items())
    built = ", ".join(f"{n} on {'bundled photographs' if s == 'skimage' else s}"
                      for s, n in sources.items())
    return f"{data_dir}: scenes {splits} ({built})"


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
    train_frames: int,
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
    scenes have ``train_frames`` frames; val and test scenes ``test_frames``.
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
        count = train_frames if split == "train" else test_frames
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


def load_frames(data_dir: str | Path, scene: dict) -> np.ndarray:
    """Every rainy frame of a manifest scene: (T, H, W, 3) float32 in [0, 1]."""
    folder = Path(data_dir) / "frames" / scene["split"] / scene["name"]
    return np.stack([load_image(p) for p in sorted(folder.iterdir())])


def load_clean(data_dir: str | Path, scene: dict) -> np.ndarray:
    """The clean background of a manifest scene (evaluation only): (H, W, 3)."""
    return load_image(Path(data_dir) / "clean" / scene["split"]
                      / f"{scene['name']}.png")


def split_scenes(manifest: dict, split: str) -> list[dict]:
    """The manifest's scenes of one split, in order."""
    return [s for s in manifest["scenes"] if s["split"] == split]


def to_channels(rgb: np.ndarray, channels: int) -> np.ndarray:
    """(…, 3) RGB in [0, 1] -> (…, channels): BT.601 Y for 1 channel (the paper's
    luminance input), the RGB itself for 3."""
    if channels == 1:
        return rgb_to_ycbcr(rgb)[..., :1]
    return rgb


def render_variant(data_dir: str | Path, out_dir: str | Path, rain: dict,
                   frames: int = 4, seed: int = 0, split: str = "test") -> Path:
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
        rendered, _ = render_scene(clean, frames, sampler, scene_rng)
        folder = out / "frames" / scene["name"]
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(rendered):
            _save_uint8(folder / f"{i:02d}", frame, None)
        _save_uint8(out / "input" / scene["name"], rendered[0], None)
        _save_uint8(out / "target" / scene["name"], clean, None)
    return out


def rendered_variant(data_dir: str | Path, out_dir: str | Path, rain: dict,
                     frames: int = 4, seed: int = 0) -> Path:
    """:func:`render_variant` unless ``out_dir`` already holds the variant of
    these settings (recorded in its ``settings.json``): a chapter that reruns
    keeps its rendered test sets."""
    out = Path(out_dir)
    settings = {**json.loads(json.dumps(rain)), "n_frames": frames, "seed": seed}
    stamp = out / "settings.json"
    if not stamp.is_file() or json.loads(stamp.read_text()) != settings:
        render_variant(data_dir, out, rain, frames=frames, seed=seed)
        stamp.write_text(json.dumps(settings))
    return out


def scene_statistics(data_dir: str | Path, manifest: dict,
                     max_train: int = 40) -> list[dict]:
    """:func:`~derain.rain.rain_statistics` of the scenes (the first
    ``max_train`` training scenes, every validation and test scene): one row per
    scene with its split and name."""
    rows, n_train = [], 0
    for scene in manifest["scenes"]:
        if scene["split"] == "train":
            if n_train >= max_train:
                continue
            n_train += 1
        row = rain_statistics(load_frames(data_dir, scene), load_clean(data_dir, scene))
        rows.append({"split": scene["split"], "scene": scene["name"], **row})
    return rows


def rendered_rain(manifest: dict, split: str = "train"):
    """The rain as rendered in one split (each frame's parameters after the
    coverage cap thinned its density): the 5th, 50th and 95th percentile of
    every numeric frame parameter, one row per parameter. What a chapter quotes
    as "the rain" comes from here, not from the sampler's ranges."""
    import pandas as pd

    frames = pd.DataFrame([f for s in split_scenes(manifest, split)
                           for f in s["frames"]])
    numeric = frames.select_dtypes("number").drop(columns=["jpeg_quality"],
                                                  errors="ignore")
    return numeric.quantile([0.05, 0.5, 0.95]).T.rename(
        columns={0.05: "5 %", 0.5: "median", 0.95: "95 %"})
