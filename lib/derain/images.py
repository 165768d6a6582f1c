"""Image files and colour spaces: where pixels enter and leave the project.

Every image inside the project is ``rgb: (H, W, 3) float32 in [0, 1]``; this module
turns files into that form (and back) and refuses, with an :class:`ImageError` that
names the file, anything it cannot read faithfully.

The YCbCr transforms follow ITU-R BT.601 in the form of MATLAB's ``rgb2ycbcr``, which is
what the deraining literature evaluates on (PSNR/SSIM on Y)::

    Y  = (16  +  65.481 R + 128.553 G +  24.966 B) / 255
    Cb = (128 -  37.797 R -  74.203 G + 112.000 B) / 255
    Cr = (128 + 112.000 R -  93.786 G -  18.214 B) / 255

with R, G, B in [0, 1], so Y lies in [16/255, 235/255] and Cb, Cr in [16/255, 240/255].
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageError",
    "list_images",
    "load_image",
    "load_image_with_alpha",
    "rgb_to_y",
    "rgb_to_y_torch",
    "rgb_to_ycbcr",
    "rgb_to_ycbcr_torch",
    "save_image",
    "ycbcr_to_rgb",
    "ycbcr_to_rgb_torch",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
"""File suffixes (lower case) that :func:`list_images` treats as images."""

class ImageError(ValueError):
    """An unusable image file or folder; the message names it and the problem."""


# --------------------------------------------------------------------------- reading

# Pillow signals undecodable data through several unrelated exception types.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)

# Modes that hold 8-bit samples but need converting to L / LA / RGB / RGBA first.
_CONVERT_8BIT = {
    "1": "L",
    "La": "LA",
    "PA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
}


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB, dropping any alpha channel.

    See :func:`load_image_with_alpha` for the formats, bit depths and errors.

    Returns:
        rgb: (H, W, 3) float32 in [0, 1].
    """
    rgb, _ = load_image_with_alpha(path)
    return rgb


def load_image_with_alpha(
    path: str | os.PathLike, upright: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a PNG / JPEG / TIFF / BMP file as RGB plus its alpha channel, if it has one.

    8-bit samples are divided by 255 and 16-bit samples by 65535 (the maximum of the
    stored type, never the image's own maximum, so a dark image stays dark). Grayscale
    is replicated to three channels. Palette images are expanded. By default EXIF
    orientation is *not* applied: pixels are returned as stored, so a rainy file and
    its target stay aligned. ``upright=True`` applies it (a phone photograph is then
    the way a viewer shows it, and an image written from the array needs no tag).

    16-bit grayscale PNG/TIFF keeps its full precision. 16-bit *colour* PNG/TIFF is
    decoded by Pillow to the high byte of each sample: the scale is right but the
    precision is 8 bits (Pillow has no 16-bit RGB mode).

    Args:
        path: the image file.
        upright: apply the EXIF orientation tag (0x0112) when the file has one.

    Returns:
        rgb: (H, W, 3) float32 in [0, 1], (W, H, 3) for an upright image stored
            on its side.
        alpha: (H, W) float32 in [0, 1] (1 = opaque), or None without an alpha channel.

    Raises:
        ImageError: ``"<path>: <problem>"`` for a missing file, a file that is not an
            image or is corrupt or truncated, an unsupported pixel mode, or a zero-size
            image.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if not path.is_file():
        raise ImageError(f"{path}: not a regular file")
    try:
        with Image.open(path) as img:
            # Image.open only parses the header; load() decodes every pixel, which is
            # what exposes corrupt and truncated files here rather than later.
            img.load()
            rgb, alpha = _to_float_rgb_alpha(img, path)
            turn = _ORIENT.get(img.getexif().get(_ORIENTATION, 1)) if upright \
                else None
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not a recognised image file") from None
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{path}: cannot decode image ({_one_line(exc)})") from exc
    if turn is not None:
        rgb = np.ascontiguousarray(turn(rgb))
        alpha = np.ascontiguousarray(turn(alpha)) if alpha is not None else None
    return rgb, alpha


_ORIENTATION = 0x0112  # the EXIF tag
# What each EXIF orientation asks of the stored pixels (as Pillow's exif_transpose
# does: 2 mirror, 3 half turn, 4 flip, 5 transpose, 6 quarter turn clockwise, 7
# transverse, 8 quarter turn anticlockwise), on (H, W, ...) arrays.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _to_float_rgb_alpha(
    img: Image.Image, path: Path
) -> tuple[np.ndarray, np.ndarray | None]:
    width, height = img.size
    if width == 0 or height == 0:
        raise ImageError(f"{path}: zero-size image ({width}x{height})")

    mode = img.mode
    if mode == "P":
        # A palette may carry transparency; expanding to RGBA keeps it as alpha.
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in _CONVERT_8BIT:
        img = img.convert(_CONVERT_8BIT[mode])
    mode = img.mode

    if mode in ("L", "LA", "RGB", "RGBA"):
        data = np.asarray(img, dtype=np.float32) / np.float32(255.0)
        if data.ndim == 2:
            data = data[..., None]
        colour = data[..., :-1] if mode in ("LA", "RGBA") else data
        alpha = data[..., -1].copy() if mode in ("LA", "RGBA") else None
    elif mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        colour = np.asarray(img).astype(np.float32)[..., None] / np.float32(65535.0)
        alpha = None
    elif mode == "I" and _source_bits(img) == 16:
        # Some Pillow versions open 16-bit grayscale as 32-bit 'I'; the file's own bit
        # depth, not the pixel values, decides the scale.
        colour = np.asarray(img).astype(np.float32)[..., None] / np.float32(65535.0)
        alpha = None
    else:
        raise ImageError(f"{path}: unsupported pixel mode {mode!r}")

    if colour.shape[-1] == 1:
        colour = np.repeat(colour, 3, axis=-1)
    rgb = np.ascontiguousarray(colour, dtype=np.float32)
    return rgb, alpha


def _source_bits(img: Image.Image) -> int | None:
    """Bits per sample recorded in the file, where Pillow exposes it (PNG, TIFF)."""
    if img.format == "PNG":
        return 16  # Pillow only uses 'I' for 16-bit PNG grayscale.
    tags = getattr(img, "tag_v2", None)
    if tags is not None:
        bits = tags.get(258)  # TIFF BitsPerSample
        if isinstance(bits, tuple):
            bits = bits[0] if len(set(bits)) == 1 else None
        return int(bits) if bits is not None else None
    return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------- writing

_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def save_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
) -> None:
    """Write an 8-bit PNG or JPEG (quality 95), the format chosen by the suffix.

    Values are clipped to [0, 1] and rounded to the nearest of 256 levels. Parent
    folders are created. An existing file is overwritten.

    Args:
        path: destination ending in ``.png``, ``.jpg`` or ``.jpeg`` (any case).
        rgb: (H, W, 3) or (H, W) float in [0, 1].
        alpha: optional (H, W) float in [0, 1]; PNG only.

    Raises:
        ImageError: unsupported suffix, alpha with JPEG, wrong shape, non-finite values.
    """
    path = Path(path)
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"{path}: cannot save with suffix {path.suffix!r} "
            f"(use one of {sorted(_SAVE_FORMATS)})"
        )
    rgb = np.asarray(rgb)
    if not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[-1] == 3)):
        raise ImageError(f"{path}: expected (H, W, 3) or (H, W) array, got {rgb.shape}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"{path}: zero-size image {rgb.shape}")
    channels = [_to_uint8(rgb, path, "image")]
    if alpha is not None:
        if fmt == "JPEG":
            raise ImageError(f"{path}: JPEG cannot store an alpha channel")
        alpha = np.asarray(alpha)
        if alpha.shape != rgb.shape[:2]:
            raise ImageError(
                f"{path}: alpha shape {alpha.shape} does not match the image "
                f"{rgb.shape[:2]}"
            )
        channels.append(_to_uint8(alpha, path, "alpha")[..., None])
    if rgb.ndim == 2:
        channels[0] = np.repeat(channels[0][..., None], 3, axis=-1)
    data = np.concatenate(channels, axis=-1) if len(channels) > 1 else channels[0]

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(data)
    if fmt == "JPEG":
        # 4:4:4 keeps full chroma resolution: default 4:2:0 would blur the colour of
        # one-pixel-wide rain streaks in saved results.
        img.save(path, format="JPEG", quality=95, subsampling=0)
    else:
        img.save(path, format="PNG")


def _to_uint8(x: np.ndarray, path: Path, what: str) -> np.ndarray:
    if not np.issubdtype(x.dtype, np.floating):
        raise ImageError(f"{path}: {what} must be float in [0, 1], got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ImageError(f"{path}: {what} contains NaN or infinite values")
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


# --------------------------------------------------------------------------- folders


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by file name.

    A file counts as an image by its suffix (:data:`IMAGE_SUFFIXES`, any case). Hidden
    files (name starting with ".") are skipped: they are usually macOS "._" metadata
    with an image suffix but no image inside. Sub-folders are not searched.

    Returns:
        paths: sorted list of files (plain string order of the names, so "10.png"
        comes before "2.png").

    Raises:
        ImageError: the folder does not exist, is not a folder, or holds no images.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ImageError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder")
    paths = sorted(
        (
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES
            and not p.name.startswith(".")
            and p.is_file()
        ),
        key=lambda p: p.name,
    )
    if not paths:
        raise ImageError(
            f"{folder}: no image files "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder"
        )
    return paths


# --------------------------------------------------------------------------- colour

# Rows give Y, Cb, Cr per unit of R, G, B in [0, 1]; both sides on the [0, 1] scale.
_YCBCR_MATRIX = (
    np.array(
        [
            [65.481, 128.553, 24.966],
            [-37.797, -74.203, 112.0],
            [112.0, -93.786, -18.214],
        ],
        dtype=np.float64,
    )
    / 255.0
)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64) / 255.0
_YCBCR_INVERSE = np.linalg.inv(_YCBCR_MATRIX)


def _check_float_last3(x: np.ndarray, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ValueError(f"{name}: expected shape (..., 3), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        # An 8-bit array would silently be read as values up to 255.
        raise TypeError(f"{name}: expected float values in [0, 1], got dtype {x.dtype}")


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """BT.601 RGB to YCbCr as MATLAB's ``rgb2ycbcr``, on the [0, 1] scale.

    Args:
        rgb: (..., 3) float in [0, 1].

    Returns:
        ycbcr: (..., 3) same float dtype; Y in [16/255, 235/255], Cb and Cr in
        [16/255, 240/255].
    """
    rgb = np.asarray(rgb)
    _check_float_last3(rgb, "rgb")
    out = rgb.astype(np.float64) @ _YCBCR_MATRIX.T + _YCBCR_OFFSET
    return out.astype(rgb.dtype, copy=False)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Exact inverse of :func:`rgb_to_ycbcr`, clipped to [0, 1].

    Args:
        ycbcr: (..., 3) float on the [0, 1] scale (Y in [16/255, 235/255] for colours
            that came from valid RGB).

    Returns:
        rgb: (..., 3) same float dtype, in [0, 1].
    """
    ycbcr = np.asarray(ycbcr)
    _check_float_last3(ycbcr, "ycbcr")
    out = (ycbcr.astype(np.float64) - _YCBCR_OFFSET) @ _YCBCR_INVERSE.T
    return np.clip(out, 0.0, 1.0).astype(ycbcr.dtype, copy=False)


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Luma Y of BT.601 (MATLAB ``rgb2ycbcr``), on the [0, 1] scale.

    Args:
        rgb: (..., 3) float in [0, 1].

    Returns:
        y: (...) same float dtype, in [16/255, 235/255].
    """
    rgb = np.asarray(rgb)
    _check_float_last3(rgb, "rgb")
    out = rgb.astype(np.float64) @ _YCBCR_MATRIX[0] + _YCBCR_OFFSET[0]
    return np.asarray(out).astype(rgb.dtype, copy=False)


def _check_tensor(x: torch.Tensor, name: str) -> None:
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(
            f"{name}: expected shape (N, 3, H, W) or (3, H, W), got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected float values in [0, 1], got {x.dtype}")


def _apply_3x3(matrix: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    import torch  # Deferred: numpy-only users of this module need not load torch.

    m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def _offset(x: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.as_tensor(_YCBCR_OFFSET, dtype=x.dtype, device=x.device).view(3, 1, 1)


def rgb_to_ycbcr_torch(rgb: torch.Tensor) -> torch.Tensor:
    """Differentiable :func:`rgb_to_ycbcr` for channel-first tensors.

    Args:
        rgb: (N, 3, H, W) or (3, H, W) float tensor in [0, 1], any device.

    Returns:
        ycbcr: same shape, dtype and device, on the [0, 1] scale.
    """
    _check_tensor(rgb, "rgb")
    return _apply_3x3(_YCBCR_MATRIX, rgb) + _offset(rgb)


def ycbcr_to_rgb_torch(ycbcr: torch.Tensor) -> torch.Tensor:
    """Differentiable :func:`ycbcr_to_rgb` (clipped to [0, 1]; zero gradient outside).

    Args:
        ycbcr: (N, 3, H, W) or (3, H, W) float tensor on the [0, 1] scale.

    Returns:
        rgb: same shape, dtype and device, in [0, 1].
    """
    _check_tensor(ycbcr, "ycbcr")
    return _apply_3x3(_YCBCR_INVERSE, ycbcr - _offset(ycbcr)).clamp(0.0, 1.0)


def rgb_to_y_torch(rgb: torch.Tensor) -> torch.Tensor:
    """Differentiable :func:`rgb_to_y` for channel-first tensors.

    Args:
        rgb: (N, 3, H, W) or (3, H, W) float tensor in [0, 1].

    Returns:
        y: (N, 1, H, W) or (1, H, W), same dtype and device, in [16/255, 235/255].
    """
    _check_tensor(rgb, "rgb")
    return _apply_3x3(_YCBCR_MATRIX[:1], rgb) + float(_YCBCR_OFFSET[0])
