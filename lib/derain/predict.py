"""Deraining image files of any size: the ``derain predict`` command.

Large images go through the network in overlapping tiles (:func:`derain_tiled`), so
memory stays bounded by the tile size whatever the image size; :func:`predict_files`
turns input files and folders into ``<output>/<stem>.png`` and reports every bad file
in one line without stopping the others.

Two inputs whose results would have the same name (``<stem>.png``; stems compared
ignoring case, since macOS and Windows folders do) are *not* disambiguated: the first
is derained, the second is reported as an error that names both, so a result's name
always tells which input it came from.

Photographs are derained the way a viewer shows them: the EXIF orientation of a
phone photograph is applied first, and the result is written upright (without a
tag). A result already in the output folder is kept unless ``overwrite`` is given,
and the skipped inputs are named. Ctrl-C stops after one line; every result is
written under a temporary name and renamed when complete, so no partial file is
left.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from derain.images import (
    IMAGE_SUFFIXES,
    ImageError,
    list_images,
    load_image_with_alpha,
    save_image,
)

__all__ = [
    "ALIGN",
    "check_tiling",
    "derain_tiled",
    "predict_files",
    "tile_spans",
    "tile_weights",
]

ALIGN = 8
"""Tile origins are multiples of this: the network pools three times by 2, so a tile
that starts on this grid sees the same pooling windows as the whole image does, and
away from its edges computes exactly what the whole image would."""

# Errors that concern one file only: the others are still processed. ImageError is a
# ValueError; RuntimeError covers torch (out of memory on one huge tile, say).
_FILE_ERRORS = (ValueError, OSError, RuntimeError, MemoryError)
# Skipped inputs named on their line; more are counted.
_NAMED = 10


# --------------------------------------------------------------------------- tiling


def check_tiling(tile: int, overlap: int) -> None:
    """Raise ValueError unless ``tile`` and ``overlap`` (pixels) can tile an image:
    ``overlap >= 0`` and a stride ``tile - overlap`` of at least :data:`ALIGN`."""
    if overlap < 0:
        raise ValueError(f"--overlap must be >= 0, got {overlap}")
    if tile - overlap < ALIGN:
        raise ValueError(
            f"--tile minus --overlap must be at least {ALIGN} pixels, got "
            f"{tile} - {overlap} = {tile - overlap}"
        )


def tile_spans(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Tiles along one axis of ``size`` pixels, as ``(start, stop)`` pairs.

    One span ``(0, size)`` when ``size <= tile``. Otherwise starts are multiples of
    :data:`ALIGN`, the stride is ``tile - overlap`` rounded down to a multiple of
    :data:`ALIGN`, and the last tile ends at ``size``: its start is rounded down to
    the grid too, so it is up to ``ALIGN - 1`` pixels longer than ``tile``.
    Neighbours overlap by at least ``overlap`` pixels; every pixel is covered.
    """
    check_tiling(tile, overlap)
    if size <= tile:
        return [(0, size)]
    stride = (tile - overlap) // ALIGN * ALIGN
    last = (size - tile) // ALIGN * ALIGN
    starts = list(range(0, last, stride)) + [last]
    return [(s, s + tile) for s in starts[:-1]] + [(last, size)]


def tile_weights(spans: Sequence[tuple[int, int]], overlap: int) -> list[np.ndarray]:
    """Blending weights along one axis for the tiles ``spans`` (from
    :func:`tile_spans`).

    On a side that a neighbouring tile covers, the outer ``overlap // 4`` pixels get
    weight 0 (the network saw too little context there: zero padding inside the
    image) and the weight then rises linearly to 1 over the middle of the overlap,
    so two neighbours' weights sum to 1 across an overlap of exactly ``overlap``.
    Sides on the image border keep weight 1. Every pixel has a positive total weight
    because neighbours overlap by at least ``overlap``.

    Returns:
        one (stop - start,) float32 array in [0, 1] per span.
    """
    margin = overlap // 4
    ramp = max(overlap - 2 * margin, 1)
    weights = []
    for i, (start, stop) in enumerate(spans):
        pos = np.arange(stop - start, dtype=np.float32)
        rise = np.clip((pos - margin + 0.5) / ramp, 0.0, 1.0)
        w = np.ones(stop - start, dtype=np.float32)
        if overlap > 0 and i > 0:
            w = np.minimum(w, rise)
        if overlap > 0 and i < len(spans) - 1:
            w = np.minimum(w, rise[::-1])
        weights.append(w)
    return weights


def derain_tiled(
    net, rgb: np.ndarray, tile: int = 512, overlap: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Derain an image of any size in overlapping tiles, blended without seams.

    An image no larger than ``tile`` on both sides goes through the network whole.
    Otherwise the tiles are those of :func:`tile_spans` on each axis (origins on the
    8-pixel pooling grid, side ``tile`` or up to 7 more for the last one) and their
    outputs are averaged with the separable weights of :func:`tile_weights` (tile
    borders inside the image dropped, then a linear ramp over the middle of the
    overlap), normalised by the summed weight. One tile is on the network at a
    time, so its memory is bounded by the tile size; only the accumulators are the
    size of the image.

    The result is close to, not identical with, the whole-image one: the network's
    receptive field (about 180 px across) is larger than any useful overlap.
    Measured on CPU with the trained cpu-profile model on a 2848x4288 photograph:
    tile 512 / overlap 32 differ from the whole image by 0.008/255 on average and
    by under 1.2/255 at 99.9% of pixels (a few isolated pixels by up to 28/255);
    overlap 64 brings these to 0.002, 0.4 and 11/255.

    Args:
        net: a :class:`derain.nets.DerainNet` in eval mode, on any device.
        rgb: (H, W, 3) float32 in [0, 1], H, W >= 1.
        tile: tile side in pixels.
        overlap: overlap of neighbouring tiles in pixels, ``tile - overlap >= 8``.

    Returns:
        background: (H, W, 3) float32 in [0, 1].
        rain: (H, W, C) float32, C the model's input channels (1: luminance).
    """
    from derain.evaluation import derain

    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or 0 in rgb.shape:
        raise ValueError(f"expected an (H, W, 3) image, got shape {rgb.shape}")
    check_tiling(tile, overlap)
    height, width = rgb.shape[:2]
    if height <= tile and width <= tile:
        return derain(net, rgb)

    rows, cols = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
    row_w, col_w = tile_weights(rows, overlap), tile_weights(cols, overlap)
    background = np.zeros((height, width, 3), dtype=np.float32)
    rain = None
    total = np.zeros((height, width, 1), dtype=np.float32)
    for (y0, y1), wy in zip(rows, row_w, strict=True):
        for (x0, x1), wx in zip(cols, col_w, strict=True):
            bg, rn = derain(net, rgb[y0:y1, x0:x1])
            w = np.outer(wy, wx)[..., None]
            if rain is None:
                rain = np.zeros((height, width, rn.shape[-1]), dtype=np.float32)
            background[y0:y1, x0:x1] += w * bg
            rain[y0:y1, x0:x1] += w * rn
            total[y0:y1, x0:x1] += w
    # A weighted mean of values in [0, 1] stays there up to rounding.
    background = np.clip(background / total, 0.0, 1.0)
    return background, rain / total


# --------------------------------------------------------------------------- files


def _one_line(err: BaseException, path: Path | None = None) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if path is not None and not text.startswith(str(path)):
        text = f"{path}: {text}"
    return text


def _expand(inputs: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Image files named by ``inputs`` (files, or folders: their images directly
    inside), each once, in order; and one error line per unusable argument."""
    files, errors, seen = [], [], set()
    for arg in inputs:
        if arg.is_dir():
            try:
                found = list_images(arg)
            except ImageError as err:
                errors.append(_one_line(err))
                continue
        elif not arg.exists():
            errors.append(f"{arg}: no such file or folder")
            continue
        elif arg.suffix.lower() not in IMAGE_SUFFIXES:
            errors.append(
                f"{arg}: unsupported format {arg.suffix or '(no suffix)'!r} "
                f"(use one of {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
            continue
        else:
            found = [arg]
        for path in found:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                files.append(path)
    return files, errors


def _plan(
    files: Sequence[Path], output: Path
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """``(input, result path)`` pairs, and one error line per input whose result would
    overwrite an input file or another input's result."""
    inputs = {p.resolve() for p in files}
    jobs, errors, claimed = [], [], {}
    for path in files:
        dst = output / f"{path.stem}.png"
        first = claimed.get(path.stem.casefold())
        if first is not None:
            errors.append(
                f"{path}: its result {dst} would overwrite that of {first} "
                "(same name); rename one or derain them separately"
            )
        elif dst.resolve() in inputs:
            errors.append(f"{path}: refusing to overwrite the input file {dst}")
        else:
            claimed[path.stem.casefold()] = path
            jobs.append((path, dst))
    return jobs, errors


def _check_output(inputs: Sequence[Path], output: Path) -> None:
    """Raise ValueError if ``output`` is not usable as a folder or is the folder of
    an input (a folder argument or the folder holding a file argument): results
    next to their inputs would be read as inputs next time, or overwrite them."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output}: the output exists and is not a folder")
    out = output.resolve()
    for arg in inputs:
        if not arg.exists():
            continue
        folder = arg.resolve() if arg.is_dir() else arg.resolve().parent
        if folder == out:
            raise ValueError(
                f"{output}: the output folder is the folder of the input {arg}; "
                "choose another output folder"
            )


def _save(dst: Path, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    # Written beside and renamed into place, so an interrupted run never leaves a
    # truncated result under the final name. A stale temporary is removed first:
    # saving through a symbolic link would write to whatever it points at.
    tmp = dst.with_name(f".{dst.stem}.partial.png")
    tmp.unlink(missing_ok=True)
    try:
        save_image(tmp, rgb, alpha)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def predict_files(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    checkpoint: str | os.PathLike,
    *,
    tile: int = 512,
    overlap: int = 64,
    device: str = "auto",
    progress: bool | None = None,
    prog: str = "derain predict",
    overwrite: bool = False,
) -> int:
    """Derain image files and folders into ``output/<stem>.png``.

    Inputs are PNG, JPEG, TIFF (and BMP) files, 8- or 16-bit, grayscale, RGB or
    RGBA, or folders of them (images directly inside). Each result is an 8-bit RGB
    PNG, RGBA when the input had alpha (kept as it was). Results with the same name
    are refused (see the module docstring); no input file is ever overwritten.

    A file that cannot be read, derained or written gets one line on stderr,
    ``"<prog>: error: <path>: <problem>"``, and the others are still processed; so
    does an input path that is missing or an empty folder. An input whose result
    already exists is skipped unless ``overwrite`` (one line names the skipped
    ones). A final line on stderr reads ``"N derained, M failed"`` (and
    ``", K skipped"``). A progress bar (tqdm) runs over the files when there is
    more than one and ``progress`` is True (None: stderr is a terminal). Ctrl-C
    ends the loop with one line; the results written so far stay, and no partial
    file is left.

    Returns:
        0 when every input was derained or skipped, 1 when any failed, 130 when
        interrupted.

    Raises:
        ValueError, FileNotFoundError: problems that stop everything before any file
            is processed (bad tiling, unusable output folder, missing or bad
            checkpoint, unavailable device), one line naming the cause.
    """
    from tqdm.auto import tqdm

    from derain.evaluation import load_model, pick_device

    check_tiling(tile, overlap)
    paths, output = [Path(p) for p in inputs], Path(output)
    _check_output(paths, output)
    try:
        dev = pick_device(device)
    except ValueError as err:
        raise ValueError(f"--device: {err}") from None
    net = load_model(checkpoint, dev)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(_one_line(err, output)) from None

    def fail(line: str) -> None:
        tqdm.write(f"{prog}: error: {line}", file=sys.stderr)

    files, errors = _expand(paths)
    jobs, clashes = _plan(files, output)
    for line in errors + clashes:
        fail(line)
    kept = [(src, dst) for src, dst in jobs if dst.exists()] if not overwrite else []
    if kept:
        names = ", ".join(str(src) for src, _ in kept[:_NAMED])
        more = f" and {len(kept) - _NAMED} more" if len(kept) > _NAMED else ""
        print(f"{prog}: skipped {len(kept)} whose result is already in {output} "
              f"(--overwrite replaces them): {names}{more}", file=sys.stderr)
        jobs = [job for job in jobs if job not in kept]
    failed, done = len(errors) + len(clashes), 0
    if progress is None:
        progress = sys.stderr.isatty()
    bar = tqdm(jobs, desc="deraining", unit="image", file=sys.stderr,
               disable=not progress or len(jobs) < 2, leave=False)
    try:
        for src, dst in bar:
            try:
                rgb, alpha = load_image_with_alpha(src, upright=True)
                background, _ = derain_tiled(net, rgb, tile, overlap)
                _save(dst, background, alpha)
            except _FILE_ERRORS as err:
                fail(_one_line(err, src))
                failed += 1
            else:
                done += 1
    except KeyboardInterrupt:
        bar.close()
        print(f"{prog}: interrupted after {done} of {len(jobs)} images; the "
              f"results written so far are kept, no partial file is left",
              file=sys.stderr)
        return 130
    summary = f"{done} derained, {failed} failed"
    print(summary + (f", {len(kept)} skipped" if kept else ""), file=sys.stderr)
    return 1 if failed else 0
