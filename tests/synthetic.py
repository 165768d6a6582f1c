"""Small synthetic images with known structure, shared by the tests."""

import math

import numpy as np


def smooth_background(h, w, channels=None):
    rows, cols = np.mgrid[0:h, 0:w]
    bg = 0.3 + 0.05 * np.sin(rows / 11.0) + 0.05 * np.cos(cols / 13.0)
    bg = bg.astype(np.float32)
    return bg if channels is None else np.repeat(bg[..., None], channels, axis=2)


def streak_profile(h, w, degrees, spacing=12, sigma=0.8):
    """Parallel anti-aliased streaks (Gaussian cross-section of ``sigma`` px),
    ``degrees`` from vertical (lower end to the right), one every ``spacing``
    columns; (h, w) in [0, 1]."""
    rows, cols = np.mgrid[0:h, 0:w]
    offset = cols - rows * math.tan(math.radians(degrees))
    offset = (offset + spacing / 2) % spacing - spacing / 2
    distance = offset * math.cos(math.radians(degrees))
    return np.exp(-(distance**2) / (2 * sigma**2)).astype(np.float32)
