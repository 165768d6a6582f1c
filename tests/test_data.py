import json

import numpy as np
import pytest
import torch
from conftest import data_sets
from PIL import Image

from derain.data import (
    PairedFolder,
    SceneTestSet,
    TimeLapseFrames,
    UnpairedFolder,
    collect_backgrounds,
    render_dataset,
)
from derain.images import ImageError


def test_manifest_and_layout(tiny_data):
    manifest = json.loads((tiny_data / "manifest.json").read_text())
    assert manifest["bundled_fallback"] is True
    splits = {s["split"] for s in manifest["scenes"]}
    assert splits == {"train", "val", "test"}
    for scene in manifest["scenes"]:
        folder = tiny_data / "frames" / scene["split"] / scene["name"]
        assert len(list(folder.iterdir())) == len(scene["frames"])
        assert (tiny_data / "clean" / scene["split"] / f"{scene['name']}.png").is_file()
    train = [s for s in manifest["scenes"] if s["split"] == "train"]
    assert len(train) == 4 and all(len(s["frames"]) == 4 for s in train)


def test_render_is_deterministic_by_seed(tmp_path, tiny_data):
    kwargs = dict(train_frames=4, test_frames=2, scene_size=48, test_size=48, n_val=1,
                  crops_per_image=1, max_train_scenes=4, rain={})
    render_dataset(tmp_path / "same", None, seed=0, **kwargs)
    render_dataset(tmp_path / "other", None, seed=1, **kwargs)
    name = sorted((tiny_data / "frames" / "train").iterdir())[0].name
    frame = sorted((tiny_data / "frames" / "train" / name).iterdir())[0]
    again = tmp_path / "same" / "frames" / "train" / name / frame.name
    assert np.array_equal(np.asarray(Image.open(frame)), np.asarray(Image.open(again)))
    other = sorted((tmp_path / "other" / "frames" / "train").iterdir())[0]
    first_other = sorted(other.iterdir())[0]
    assert not np.array_equal(np.asarray(Image.open(frame)),
                              np.asarray(Image.open(first_other)))


def test_frames_of_a_scene_share_background_but_not_rain(tmp_path):
    # Without drift, noise and JPEG, a frame differs from the clean background only
    # where it rains: the background is identical across frames, the rain is not.
    rain = dict(drift_sigma=0.0, noise_range=[0.0, 0.0], jpeg_prob=0.0,
                accumulation_prob=0.0)
    render_dataset(tmp_path, None, train_frames=7, test_frames=1, scene_size=64,
                   test_size=48, n_val=1, crops_per_image=1, max_train_scenes=1,
                   rain=rain, seed=3)
    frames = TimeLapseFrames(tmp_path, "train", channels=3).scenes[0] / 255.0
    _, _, clean = next(iter(SceneTestSet(tmp_path, "train")))
    rainy = np.abs(frames - clean).max(axis=-1) > 1.5 / 255
    assert 0.0 < rainy.mean() < 0.5
    assert not np.array_equal(rainy[0], rainy[1])
    # Rain only brightens, so un-rained pixels equal the background exactly (up to
    # 8-bit rounding) and the temporal median recovers it almost everywhere.
    assert np.all(frames >= clean - 1.5 / 255)
    median_err = np.abs(np.median(frames, axis=0) - clean).mean()
    frame_err = np.abs(frames[0] - clean).mean()
    assert median_err < frame_err / 3


def test_pairs_are_two_different_frames_of_one_scene(tiny_data):
    frames = TimeLapseFrames(tiny_data, "train", channels=1)
    rng = np.random.default_rng(0)
    m, n = frames.sample(16, 32, rng)
    assert m.shape == n.shape == (16, 1, 32, 32)
    assert m.dtype == torch.float32 and 0 <= m.min() and m.max() <= 1
    assert all(not torch.equal(a, b) for a, b in zip(m, n, strict=True))


def test_training_loader_never_reads_clean(tiny_data, monkeypatch):
    import derain.data.samplers as samplers

    opened = []
    real = samplers.load_image
    monkeypatch.setattr(samplers, "load_image",
                        lambda p: opened.append(str(p)) or real(p))
    TimeLapseFrames(tiny_data, "train")
    assert opened and not any("/clean/" in p for p in opened)


def test_frames_limit_keeps_the_first_r(tiny_data):
    frames = TimeLapseFrames(tiny_data, "train", frames=2)
    assert all(s.shape[0] == 2 for s in frames.scenes)


def test_paired_folder(tmp_path):
    for sub in ("input", "target"):
        (tmp_path / sub).mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "input" / name)
        Image.fromarray(np.ones((8, 8, 3), np.uint8)).save(tmp_path / "target" / name)
    items = list(PairedFolder(tmp_path))
    assert [n for n, *_ in items] == ["a.png", "b.png"]
    assert items[0][1].shape == (8, 8, 3)
    (tmp_path / "target" / "b.png").unlink()
    with pytest.raises(ImageError, match="b.png"):
        PairedFolder(tmp_path)


def test_paired_folder_size_mismatch(tmp_path):
    for sub, size in (("input", 8), ("target", 9)):
        (tmp_path / sub).mkdir()
        image = Image.fromarray(np.zeros((size, size, 3), np.uint8))
        image.save(tmp_path / sub / "x.png")
    with pytest.raises(ImageError, match="x.png"):
        list(PairedFolder(tmp_path))


def test_unpaired_folder(tmp_path):
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(tmp_path / "p.jpg")
    items = list(UnpairedFolder(tmp_path))
    assert items[0][0] == "p.jpg" and items[0][1].shape == (5, 7, 3)
    with pytest.raises(ImageError):
        UnpairedFolder(tmp_path / "missing")


def test_bundled_backgrounds_when_folder_empty(tmp_path):
    splits = collect_backgrounds(tmp_path, n_val=1)
    assert all(b.source == "skimage" for s in splits.values() for b in s)
    names = [{b.name for b in splits[s]} for s in ("train", "val", "test")]
    assert not (names[0] & names[1]) and not (names[0] & names[2])


def test_real_backgrounds_split_keeps_kodak_for_test():
    root = data_sets()
    if root is None or not (root / "backgrounds" / "kodak24").is_dir():
        pytest.skip("background sets not present")
    splits = collect_backgrounds(root, n_val=8)
    assert len(splits["val"]) == 8
    assert all(b.source == "backgrounds/kodak24" for b in splits["test"])
    assert not any(b.source == "backgrounds/kodak24" for b in splits["train"])
    assert not {b.name for b in splits["train"]} & {b.name for b in splits["val"]}


def test_targets_of_the_supervised_comparisons(tiny_data):
    import numpy as np

    from derain.data import TimeLapseFrames

    plain = TimeLapseFrames(tiny_data, "train", 1)
    assert len(plain.sample(2, 16, np.random.default_rng(0))) == 2
    for target in ("clean", "mean", "median", "percentile"):
        frames = TimeLapseFrames(tiny_data, "train", 1, target=target)
        rainy_m, rainy_n, goal = frames.sample(3, 16, np.random.default_rng(0))
        assert goal.shape == rainy_m.shape == (3, 1, 16, 16)
        assert 0.0 <= float(goal.min()) and float(goal.max()) <= 1.0
    # The median of frames lies between their min and max at every pixel.
    median = TimeLapseFrames(tiny_data, "train", 1, target="median")
    stack = median.scenes[0].astype(np.float32) / 255.0
    # (targets come from the unrounded frames: half a grey level of slack)
    assert np.all(median.targets[0] >= stack.min(0) - 0.5 / 255 - 1e-6)
    assert np.all(median.targets[0] <= stack.max(0) + 0.5 / 255 + 1e-6)
    with pytest.raises(ValueError, match="target must be one of"):
        TimeLapseFrames(tiny_data, "train", 1, target="oracle")


def test_render_variant_writes_paired_folders(tiny_data, tmp_path):
    from derain.data import PairedFolder, render_variant

    out = render_variant(tiny_data, tmp_path / "heavy",
                         {"density_range": [0.003, 0.006], "accumulation_prob": 1.0},
                         frames=3, seed=0)
    pairs = PairedFolder(out)
    assert len(pairs) == len(list((tiny_data / "clean" / "test").iterdir()))
    name, rainy, clean = next(iter(pairs))
    assert rainy.shape == clean.shape and not (rainy == clean).all()
    assert len(list((out / "frames" / name.removesuffix(".png")).iterdir())) == 3
