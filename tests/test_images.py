"""Reading, writing and listing image files; BT.601 colour transforms."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from derain.images import (
    ImageError,
    list_images,
    load_image,
    load_image_with_alpha,
    rgb_to_y,
    rgb_to_y_torch,
    rgb_to_ycbcr,
    rgb_to_ycbcr_torch,
    save_image,
    ycbcr_to_rgb,
    ycbcr_to_rgb_torch,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _write_png16_colour(path: Path, samples: np.ndarray) -> None:
    """Minimal 16-bit RGB PNG writer: Pillow cannot write one itself."""
    h, w, _ = samples.shape
    rows = b"".join(b"\x00" + samples[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# ----------------------------------------------------------------------- load / save


def test_png_8bit_round_trip(tmp_path, rng):
    rgb = rng.integers(0, 256, (12, 17, 3)).astype(np.float32) / 255
    save_image(tmp_path / "a.png", rgb)
    back = load_image(tmp_path / "a.png")
    assert back.dtype == np.float32 and back.shape == (12, 17, 3)
    np.testing.assert_array_equal(back, rgb)


def test_png_16bit_grayscale_keeps_full_precision(tmp_path, rng):
    samples = rng.integers(0, 65536, (9, 13)).astype(np.uint16)
    samples[0, 0], samples[0, 1] = 65535, 257  # top of the scale; not an 8-bit value
    Image.fromarray(samples).save(tmp_path / "g16.png")
    rgb = load_image(tmp_path / "g16.png")
    assert rgb.shape == (9, 13, 3) and rgb.dtype == np.float32
    assert rgb[0, 0, 0] == 1.0
    # Values that differ only in the low byte must stay distinct: real 16-bit data.
    np.testing.assert_array_equal(np.round(rgb[..., 0] * 65535), samples)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_tiff_16bit_grayscale(tmp_path, rng):
    samples = rng.integers(0, 65536, (7, 5)).astype(np.uint16)
    Image.fromarray(samples).save(tmp_path / "g16.tif")
    rgb = load_image(tmp_path / "g16.tif")
    np.testing.assert_array_equal(np.round(rgb[..., 1] * 65535), samples)


def test_png_16bit_colour_has_the_right_scale(tmp_path, rng):
    # Pillow decodes 16-bit colour to 8 bits per sample (documented in load_image):
    # the scale must still be 65535, i.e. within one 8-bit step of the true value.
    samples = rng.integers(0, 65536, (6, 8, 3)).astype(np.uint16)
    _write_png16_colour(tmp_path / "c16.png", samples)
    rgb = load_image(tmp_path / "c16.png")
    np.testing.assert_allclose(rgb, samples / 65535.0, atol=1 / 255)


def test_grayscale_becomes_three_equal_channels(tmp_path, rng):
    grey = rng.integers(0, 256, (10, 11)).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    rgb = load_image(tmp_path / "g.png")
    assert rgb.shape == (10, 11, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey / np.float32(255))


def test_rgba_alpha_is_kept_separately(tmp_path, rng):
    rgb = rng.integers(0, 256, (8, 9, 3)).astype(np.float32) / 255
    alpha = rng.integers(0, 256, (8, 9)).astype(np.float32) / 255
    save_image(tmp_path / "a.png", rgb, alpha)
    back_rgb, back_alpha = load_image_with_alpha(tmp_path / "a.png")
    np.testing.assert_array_equal(back_rgb, rgb)
    assert back_alpha is not None and back_alpha.shape == (8, 9)
    np.testing.assert_array_equal(back_alpha, alpha)
    # load_image drops the alpha channel.
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb)
    assert load_image_with_alpha(_saved_opaque(tmp_path))[1] is None


def _saved_opaque(tmp_path: Path) -> Path:
    save_image(tmp_path / "opaque.png", np.zeros((3, 3, 3), np.float32))
    return tmp_path / "opaque.png"


def test_palette_image_is_expanded(tmp_path):
    img = Image.new("P", (4, 3))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((1, 1), 1)
    img.save(tmp_path / "p.png")
    rgb = load_image(tmp_path / "p.png")
    np.testing.assert_array_equal(rgb[0, 0], [1, 0, 0])
    np.testing.assert_array_equal(rgb[1, 1], [0, 0, 1])


@pytest.mark.parametrize("suffix", [".jpg", ".JPEG"])
def test_jpeg_round_trip_is_close(tmp_path, suffix):
    # Smooth content: JPEG at quality 95 should then be within a few 8-bit levels.
    y, x = np.mgrid[0:32, 0:48] / 48.0
    rgb = np.stack([x, y, 0.5 * (x + y)], axis=-1).astype(np.float32)
    path = tmp_path / f"smooth{suffix}"
    save_image(path, rgb)
    with Image.open(path) as img:
        assert img.format == "JPEG"
    back = load_image(path)
    assert back.shape == rgb.shape
    assert np.abs(back - rgb).max() < 4 / 255


def test_bmp_is_read(tmp_path, rng):
    data = rng.integers(0, 256, (5, 6, 3)).astype(np.uint8)
    Image.fromarray(data).save(tmp_path / "x.bmp")
    back = load_image(tmp_path / "x.bmp")
    np.testing.assert_array_equal(back, data / np.float32(255))


def test_save_creates_folders_and_clips(tmp_path):
    path = tmp_path / "deep" / "er" / "out.png"
    save_image(path, np.full((2, 2, 3), 1.5, np.float32))
    np.testing.assert_array_equal(load_image(path), np.ones((2, 2, 3), np.float32))


def test_save_refuses_bad_input(tmp_path):
    rgb = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(ImageError, match="out.gif"):
        save_image(tmp_path / "out.gif", rgb)
    with pytest.raises(ImageError, match="alpha"):
        save_image(tmp_path / "out.jpg", rgb, np.ones((4, 4), np.float32))
    with pytest.raises(ImageError, match="NaN"):
        save_image(tmp_path / "out.png", np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(ImageError, match="dtype"):
        save_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))


# ----------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="nothere.png"):
        load_image(tmp_path / "nothere.png")


def test_random_bytes_are_not_an_image(tmp_path, rng):
    path = tmp_path / "corrupt.png"
    path.write_bytes(rng.integers(0, 256, 2000).astype(np.uint8).tobytes())
    with pytest.raises(ImageError, match="corrupt.png") as info:
        load_image(path)
    assert "\n" not in str(info.value)


def test_truncated_png(tmp_path, rng):
    path = tmp_path / "truncated.png"
    noise = rng.random((64, 64, 3)).astype(np.float32)  # incompressible: a long IDAT
    save_image(path, noise)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated.png") as info:
        load_image(path)
    assert "\n" not in str(info.value)


def test_folder_is_not_an_image(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match="dir.png"):
        load_image(tmp_path / "dir.png")


def test_unsupported_mode(tmp_path):
    Image.fromarray(np.zeros((3, 3), np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(ImageError, match=r"float\.tif.*mode"):
        load_image(tmp_path / "float.tif")


# ----------------------------------------------------------------------- folders


def test_list_images_sorted_filtered(tmp_path):
    files = ["b.PNG", "a.jpg", "c.tiff", "10.png", "2.bmp", "notes.txt", ".hidden.png"]
    for name in files:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["10.png", "2.bmp", "a.jpg", "b.PNG", "c.tiff"]


def test_list_images_missing_folder(tmp_path):
    with pytest.raises(ImageError, match="no_such_folder"):
        list_images(tmp_path / "no_such_folder")


def test_list_images_empty_folder(tmp_path):
    folder = tmp_path / "empty_folder"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here")
    with pytest.raises(ImageError, match="empty_folder"):
        list_images(folder)


# ----------------------------------------------------------------------- colour


def test_ycbcr_reference_values():
    assert rgb_to_y(np.ones(3)) == pytest.approx(235 / 255, abs=1e-12)
    assert rgb_to_y(np.zeros(3)) == pytest.approx(16 / 255, abs=1e-12)
    np.testing.assert_allclose(
        rgb_to_ycbcr(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])),
        np.array([[235, 128, 128], [16, 128, 128]]) / 255,
        atol=1e-12,
    )
    # Pure blue gives the largest Cb, pure red the largest Cr (240 in 8-bit terms).
    assert rgb_to_ycbcr(np.array([0.0, 0.0, 1.0]))[1] == pytest.approx(240 / 255)
    assert rgb_to_ycbcr(np.array([1.0, 0.0, 0.0]))[2] == pytest.approx(240 / 255)


def test_ycbcr_round_trip_numpy(rng):
    for dtype in (np.float32, np.float64):
        rgb = rng.random((50, 7, 3)).astype(dtype)
        ycbcr = rgb_to_ycbcr(rgb)
        assert ycbcr.dtype == dtype and ycbcr.shape == rgb.shape
        np.testing.assert_allclose(ycbcr_to_rgb(ycbcr), rgb, atol=1e-6, rtol=0)
        np.testing.assert_allclose(rgb_to_y(rgb), ycbcr[..., 0], atol=1e-6, rtol=0)


def test_ycbcr_rejects_integer_input():
    with pytest.raises(TypeError):
        rgb_to_ycbcr(np.zeros((2, 3), np.uint8))


def test_ycbcr_torch_matches_numpy_and_round_trips(rng):
    rgb = torch.from_numpy(rng.random((2, 3, 9, 11)).astype(np.float32))
    ycbcr = rgb_to_ycbcr_torch(rgb)
    expected = rgb_to_ycbcr(rgb.permute(0, 2, 3, 1).numpy()).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(ycbcr.numpy(), expected, atol=1e-6, rtol=0)
    back = ycbcr_to_rgb_torch(ycbcr)
    np.testing.assert_allclose(back.numpy(), rgb.numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(
        rgb_to_y_torch(rgb).numpy(), ycbcr[:, :1].numpy(), atol=1e-6, rtol=0
    )
    # Unbatched (3, H, W) works too.
    np.testing.assert_allclose(rgb_to_ycbcr_torch(rgb[0]).numpy(), ycbcr[0].numpy())


def test_ycbcr_torch_is_differentiable():
    # Away from 0 and 1 so that finite differences never cross the output clamp.
    rgb = (0.1 + 0.8 * torch.rand(1, 3, 4, 4, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(rgb_to_ycbcr_torch, (rgb,))
    # Inside the RGB gamut the inverse is linear too, so its gradient is exact.
    ycbcr = rgb_to_ycbcr_torch(rgb).detach().requires_grad_(True)
    assert torch.autograd.gradcheck(ycbcr_to_rgb_torch, (ycbcr,))
