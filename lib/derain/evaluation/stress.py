"""A trained model under rain outside its training range (the paper's Fig. 19:
failures in heavy rain): one clean scene rendered with growing streak density,
with and without a veil, scored before and after deraining."""

from __future__ import annotations

import numpy as np
import pandas as pd
from torch import nn

from derain.evaluation.inference import derain
from derain.metrics import psnr, ssim
from derain.rain import FrameRain, render_frame


def heavy_rain_sweep(net: nn.Module, clean: np.ndarray, densities: list[float],
                     veils: list[float], streaks: dict, seed: int = 0
                     ) -> tuple[pd.DataFrame, list[tuple[str, np.ndarray,
                                                         np.ndarray]]]:
    """``clean`` (H, W, 3) under rain of each density (drops per pixel of the
    nearest layer) and veil (rain accumulation), the other streak settings fixed
    by ``streaks`` (keyword arguments of :class:`~derain.rain.FrameRain`).
    Returns the table (input and output PSNR/SSIM, ``gain (dB)``) and the
    ``(label, rainy, derained)`` examples in the same order."""
    rng = np.random.default_rng(seed)
    rows, examples = [], []
    for veil in veils:
        for density in densities:
            frame = FrameRain(density=density, accumulation=veil, **streaks)
            rainy = render_frame(clean, frame,
                                 np.random.default_rng(rng.integers(2**31)))
            pred, _ = derain(net, rainy)
            rows.append({"density": density, "veil": veil,
                         "input PSNR": psnr(rainy, clean),
                         "output PSNR": psnr(pred, clean),
                         "input SSIM": ssim(rainy, clean),
                         "output SSIM": ssim(pred, clean)})
            examples.append((f"density {density}, veil {veil}", rainy, pred))
    table = pd.DataFrame(rows)
    table["gain (dB)"] = table["output PSNR"] - table["input PSNR"]
    return table, examples
