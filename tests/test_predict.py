"""The ``derain predict`` command and the tiled inference behind it."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from derain.cli import main
from derain.evaluation import derain, load_model, save_model
from derain.nets import DerainNet
from derain.predict import ALIGN, derain_tiled, predict_files, tile_spans, tile_weights


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The models here are tiny: one thread is as fast, and much faster when other
    processes keep the cores busy (threads then wait on each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A tiny model whose rain estimate is not zero, so its output differs from its
    input."""
    torch.manual_seed(0)
    net = DerainNet(width=2)
    torch.nn.init.normal_(net.dec1[-1].weight, std=0.05)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, net)
    return path


@pytest.fixture(scope="module")
def net(ckpt) -> DerainNet:
    return load_model(ckpt)


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(h, w, 3) float32 in [0, 1]: smooth colour gradients, bright streaks, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w, 1)
    img = np.stack([0.3 + 0.4 * yy, 0.5 + 0.3 * xx, 0.4 + 0.2 * np.sin(8 * xx)], -1)
    streaks = (rng.random((h, w)) < 0.02)[..., None] * 0.4
    img = img + streaks + 0.1 * rng.random((h, w, 3))
    return np.clip(img, 0, 1).astype(np.float32)


def _u8(rgb: np.ndarray) -> np.ndarray:
    """rgb: any shape, float in [0, 1] -> same shape, uint8 in [0, 255]."""
    return np.round(rgb * 255).astype(np.uint8)


def _write_png16_rgb(path: Path, samples: np.ndarray) -> None:
    """Minimal 16-bit RGB PNG writer (Pillow cannot write one).
    samples: (H, W, 3) uint16 in [0, 65535]."""
    h, w, _ = samples.shape
    rows = b"".join(b"\x00" + samples[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(
            ">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["predict", *argv])
    return code, capsys.readouterr().err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --------------------------------------------------------------------------- tiling


@pytest.mark.parametrize("size,tile,overlap", [
    (1, 8, 0), (96, 96, 32), (97, 96, 32), (160, 96, 64), (300, 128, 32),
    (1000, 512, 32), (517, 100, 37),
])
def test_tile_spans_cover_on_the_pooling_grid(size, tile, overlap):
    spans = tile_spans(size, tile, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == size
    assert all(start % ALIGN == 0 for start, _ in spans)
    longest = size if size <= tile else tile + ALIGN - 1
    assert all(stop - start <= longest for start, stop in spans)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end - start >= overlap
    total = np.zeros(size)
    for (start, stop), w in zip(spans, tile_weights(spans, overlap), strict=True):
        assert w.shape == (stop - start,) and w.min() >= 0 and w.max() <= 1
        total[start:stop] += w
    assert total.min() > 0


def test_tiling_arguments_are_checked(net):
    with pytest.raises(ValueError, match="overlap"):
        derain_tiled(net, _scene(20, 20), tile=16, overlap=12)
    with pytest.raises(ValueError, match="overlap"):
        derain_tiled(net, _scene(20, 20), tile=16, overlap=-1)


@pytest.fixture(scope="module")
def deep_net() -> DerainNet:
    """A tiny model whose output depends on its whole receptive field, as a trained
    one's does. With PyTorch's default initialisation each layer shrinks the signal,
    so only the last 3x3 layer's neighbourhood reaches the output and any tiling
    would look exact; He initialisation keeps the deep layers' signal alive."""
    torch.manual_seed(0)
    net = DerainNet(width=2)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.nn.init.normal_(net.dec1[-1].weight, std=0.05)
    return net.eval()


@pytest.mark.parametrize("tile,overlap", [(96, 64), (128, 32)])
def test_tiled_matches_whole_image_without_seams(deep_net, tile, overlap):
    # Not a multiple of 8: the whole image is padded, the last tiles are shifted.
    rgb = _scene(164, 205)
    whole, whole_rain = derain(deep_net, rgb)
    assert np.abs(whole - rgb).mean() > 2 / 255  # the model is not the identity
    tiled, tiled_rain = derain_tiled(deep_net, rgb, tile=tile, overlap=overlap)
    assert tiled.shape == whole.shape and tiled_rain.shape == whole_rain.shape
    assert tiled.dtype == np.float32 and 0 <= tiled.min() and tiled.max() <= 1
    diff = tiled - whole
    # Measured (96, 64): 0.34/255 and 0.022/255, (128, 32): 0.61 and 0.027. At
    # (96, 64) without the margin of tile_weights: 1.8 and 0.09; with plain
    # averaging: 17 and 0.7; off the 8-pixel grid: 29 and 0.22; without the ramp
    # on the right and lower sides: 13 and 0.2.
    assert np.abs(diff).max() < 1 / 255
    assert np.abs(diff).mean() < 0.05 / 255
    # A seam is a step of the difference across a tile edge: measured at most
    # 0.06/255 on average along an edge, no more than across other lines.
    for d, size in ((diff, 164), (diff.transpose(1, 0, 2), 205)):
        steps = np.abs(np.diff(d, axis=0)).mean(axis=(1, 2))  # line k to k + 1
        spans = tile_spans(size, tile, overlap)
        edges = {e for span in spans for e in span} - {0, size}
        across = [e - 1 for e in sorted(edges)]
        assert len(across) >= 2
        assert steps[across].max() < 0.15 / 255
        assert steps[across].max() <= np.delete(steps, across).max()


@pytest.mark.parametrize("shape,tile", [
    ((1, 1), 512), ((5, 7), 512), ((5, 7), 8), ((300, 200), 128), ((33, 130), 64),
])
def test_any_size(net, shape, tile):
    rgb = _scene(*shape)
    background, rain = derain_tiled(net, rgb, tile=tile, overlap=min(32, tile - 8))
    assert background.shape == (*shape, 3) and rain.shape == (*shape, 1)
    assert np.isfinite(background).all() and 0 <= background.min()
    assert background.max() <= 1


def test_image_no_larger_than_a_tile_is_processed_whole(net):
    rgb = _scene(64, 48)
    whole = derain(net, rgb)[0]
    assert np.array_equal(derain_tiled(net, rgb, tile=64, overlap=16)[0], whole)


# --------------------------------------------------------------------------- command


def test_formats_bit_depths_and_alpha(tmp_path, ckpt, net, capsys):
    src = tmp_path / "in"
    src.mkdir()
    rgb = _scene(40, 52)
    alpha = np.random.default_rng(1).integers(0, 256, (40, 52), dtype=np.uint8)
    # A dark 16-bit image: its results must stay dark (scale 65535, not its maximum).
    gray16 = np.round(rgb[..., 0] * 0.25 * 65535).astype(np.uint16)
    Image.fromarray(_u8(rgb)).save(src / "rgb8.png")
    Image.fromarray(np.dstack([_u8(rgb), alpha])).save(src / "rgba.png")
    Image.fromarray(_u8(rgb[..., 1])).save(src / "gray8.png")
    Image.fromarray(gray16).save(src / "gray16.png")
    Image.fromarray(gray16).save(src / "gray16t.tif")
    _write_png16_rgb(src / "rgb16.png", np.round(rgb * 65535).astype(np.uint16))
    Image.fromarray(_u8(rgb)).save(src / "photo.jpg", quality=95)
    Image.fromarray(_u8(rgb)).save(src / "scan.tiff")
    out = tmp_path / "out"

    code, err = _run(capsys, "--checkpoint", str(ckpt), str(src), "--output", str(out))
    assert code == 0, err
    assert err.strip().splitlines() == ["8 derained, 0 failed"]
    stems = ["gray16", "gray16t", "gray8", "photo", "rgb16", "rgb8", "rgba", "scan"]
    assert sorted(p.name for p in out.iterdir()) == [f"{s}.png" for s in stems]
    for stem in stems:
        with Image.open(out / f"{stem}.png") as img:
            assert img.format == "PNG" and img.size == (52, 40)
            assert img.mode == ("RGBA" if stem == "rgba" else "RGB")
            data = np.asarray(img)
        assert data.dtype == np.uint8
        if stem.startswith("gray"):  # grey in, grey out (three equal channels)
            spread = data.max(axis=-1).astype(int) - data.min(axis=-1)
            assert spread.max() <= 1
    with Image.open(out / "rgba.png") as img:
        assert np.array_equal(np.asarray(img)[..., 3], alpha)
    for stem in ("gray16", "gray16t"):
        with Image.open(out / f"{stem}.png") as img:
            got = np.asarray(img)[..., 0].astype(int)
        expected = derain(net, np.repeat(gray16[..., None] / 65535, 3, -1))[0]
        assert np.abs(got - _u8(expected)[..., 0]).max() <= 1
    with Image.open(out / "rgb8.png") as img:
        got = np.asarray(img).astype(int)
    assert np.abs(got - _u8(derain(net, _u8(rgb) / np.float32(255))[0])).max() <= 1
    assert np.abs(got - _u8(rgb)).mean() > 1  # derained, not copied


def test_large_image_is_tiled_through_the_command(tmp_path, ckpt, net, capsys):
    rgb = _scene(300, 200)
    Image.fromarray(_u8(rgb)).save(tmp_path / "big.png")
    out = tmp_path / "out"
    code, err = _run(capsys, "--checkpoint", str(ckpt), str(tmp_path / "big.png"),
                     "--output", str(out), "--tile", "128", "--overlap", "32")
    assert code == 0, err
    with Image.open(out / "big.png") as img:
        got = np.asarray(img).astype(int)
    expected = derain_tiled(net, _u8(rgb) / np.float32(255), tile=128, overlap=32)[0]
    assert got.shape == (300, 200, 3)
    assert np.abs(got - _u8(expected)).max() <= 1


def test_tiny_image_through_the_command(tmp_path, ckpt, capsys):
    Image.fromarray(_u8(_scene(5, 7))).save(tmp_path / "tiny.png")
    code, _ = _run(capsys, "--checkpoint", str(ckpt), str(tmp_path / "tiny.png"),
                   "--output", str(tmp_path / "out"))
    assert code == 0
    with Image.open(tmp_path / "out" / "tiny.png") as img:
        assert img.size == (7, 5)


def test_corrupt_and_good_file(tmp_path, ckpt, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_u8(_scene(24, 20))).save(src / "good.png")
    (src / "bad.png").write_bytes(b"not a png at all")
    out = tmp_path / "out"
    code, err = _run(capsys, "--checkpoint", str(ckpt), str(src), "--output", str(out))
    assert code == 1
    assert (out / "good.png").is_file() and not (out / "bad.png").exists()
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err
    assert str(src / "bad.png") in lines[0] and "error" in lines[0]
    assert lines[-1] == "1 derained, 1 failed"


def test_truncated_and_unsupported_files(tmp_path, ckpt, capsys):
    good = tmp_path / "good.jpg"
    Image.fromarray(_u8(_scene(64, 64))).save(good, quality=90)
    cut = tmp_path / "cut.png"
    Image.fromarray(_u8(_scene(64, 64, seed=2))).save(cut)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    gif = tmp_path / "anim.gif"
    Image.fromarray(_u8(_scene(8, 8))).save(gif)
    out = tmp_path / "out"
    code, err = _run(capsys, "--checkpoint", str(ckpt), str(cut), str(gif), str(good),
                     "--output", str(out))
    lines = err.strip().splitlines()
    assert code == 1 and "Traceback" not in err
    assert any(str(cut) in line for line in lines)
    assert any(str(gif) in line and "unsupported format" in line for line in lines)
    assert lines[-1] == "1 derained, 2 failed"
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]


def test_missing_path_and_empty_folder(tmp_path, ckpt, capsys):
    (tmp_path / "empty").mkdir()
    Image.fromarray(_u8(_scene(16, 16))).save(tmp_path / "ok.png")
    code, err = _run(capsys, "--checkpoint", str(ckpt), str(tmp_path / "empty"),
                     str(tmp_path / "nowhere.png"), str(tmp_path / "ok.png"),
                     "--output", str(tmp_path / "out"))
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 3 and "Traceback" not in err
    assert str(tmp_path / "empty") in lines[0] and "no image files" in lines[0]
    assert str(tmp_path / "nowhere.png") in lines[1]
    assert lines[-1] == "1 derained, 2 failed"
    assert (tmp_path / "out" / "ok.png").is_file()


def test_missing_checkpoint_stops_everything(tmp_path, capsys):
    Image.fromarray(_u8(_scene(16, 16))).save(tmp_path / "a.png")
    code, err = _run(capsys, "--checkpoint", str(tmp_path / "nope.pt"),
                     str(tmp_path / "a.png"), "--output", str(tmp_path / "out"))
    assert code == 2 and "nope.pt" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_bad_checkpoint_and_bad_tiling_stop_everything(tmp_path, ckpt, capsys):
    Image.fromarray(_u8(_scene(16, 16))).save(tmp_path / "a.png")
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"\x00" * 10)
    code, err = _run(capsys, "--checkpoint", str(bogus), str(tmp_path / "a.png"),
                     "--output", str(tmp_path / "out"))
    assert code == 2 and "bogus.pt" in err and len(err.strip().splitlines()) == 1
    code, err = _run(capsys, "--checkpoint", str(ckpt), str(tmp_path / "a.png"),
                     "--output", str(tmp_path / "out"), "--tile", "32",
                     "--overlap", "30")
    assert code == 2 and "--overlap" in err and len(err.strip().splitlines()) == 1


def test_output_folder_that_is_an_input_folder_is_refused(tmp_path, ckpt, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_u8(_scene(16, 16))).save(src / "a.png")
    Image.fromarray(_u8(_scene(16, 16, seed=1))).save(src / "b.jpg")
    before = _snapshot(src)
    for argv in ([str(src)], [str(src / "a.png")], [str(src / "b.jpg")]):
        # Also spelled differently: the folder is compared after resolving.
        for output in (src, tmp_path / "in" / ".." / "in"):
            code, err = _run(capsys, "--checkpoint", str(ckpt), *argv,
                             "--output", str(output))
            assert code == 2 and len(err.strip().splitlines()) == 1
            assert "output folder" in err and "Traceback" not in err
            assert _snapshot(src) == before


def test_output_that_is_a_file_is_refused(tmp_path, ckpt, capsys):
    Image.fromarray(_u8(_scene(16, 16))).save(tmp_path / "a.png")
    (tmp_path / "out").write_text("a file")
    code, err = _run(capsys, "--checkpoint", str(ckpt), str(tmp_path / "a.png"),
                     "--output", str(tmp_path / "out"))
    assert code == 2 and "not a folder" in err
    assert (tmp_path / "out").read_text() == "a file"


def test_same_stem_from_two_folders_is_not_overwritten(tmp_path, ckpt, net,
                                                        capsys):
    for sub, seed in (("one", 0), ("two", 1)):
        (tmp_path / sub).mkdir()
        Image.fromarray(_u8(_scene(16, 16, seed))).save(tmp_path / sub / "x.png")
    Image.fromarray(_u8(_scene(16, 16, 2))).save(tmp_path / "two" / "X.jpg")
    out = tmp_path / "out"
    code, err = _run(capsys, "--checkpoint", str(ckpt), str(tmp_path / "one"),
                     str(tmp_path / "two"), "--output", str(out))
    lines = err.strip().splitlines()
    assert code == 1 and lines[-1] == "1 derained, 2 failed"
    first, second = tmp_path / "one" / "x.png", tmp_path / "two" / "x.png"
    assert any(str(second) in line and str(first) in line for line in lines)
    assert any(str(tmp_path / "two" / "X.jpg") in line for line in lines)
    assert [p.name for p in out.iterdir()] == ["x.png"]
    with Image.open(out / "x.png") as img:
        result = np.asarray(img).astype(int)
    expected = _u8(derain(net, _u8(_scene(16, 16, 0)) / np.float32(255))[0])
    assert np.abs(result - expected).max() <= 1  # the first input's result


def test_same_file_twice_is_derained_once(tmp_path, ckpt, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_u8(_scene(16, 16))).save(src / "a.png")
    code, err = _run(capsys, "--checkpoint", str(ckpt), str(src), str(src / "a.png"),
                     "--output", str(tmp_path / "out"))
    assert code == 0 and err.strip() == "1 derained, 0 failed"


def test_progress_bar_over_several_files(tmp_path, ckpt, capsys):
    for name in ("a.png", "b.png"):
        Image.fromarray(_u8(_scene(16, 16))).save(tmp_path / name)
    code = predict_files([tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "out",
                         ckpt, progress=True)
    assert code == 0
    assert capsys.readouterr().err.strip().endswith("2 derained, 0 failed")


def test_result_path_that_resolves_to_an_input_is_refused(tmp_path, ckpt, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    source = tmp_path / "in" / "x.png"
    Image.fromarray(_u8(_scene(16, 16))).save(source)
    before = source.read_bytes()
    (tmp_path / "out" / "x.png").symlink_to(source)
    code, err = _run(capsys, "--checkpoint", str(ckpt), str(source),
                     "--output", str(tmp_path / "out"))
    assert code == 1 and "refusing to overwrite the input file" in err
    assert source.read_bytes() == before
