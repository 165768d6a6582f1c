"""Figure helpers shared by the chapters, so every figure has the same style."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def image_grid(rows, col_titles=None, row_titles=None, size: float = 2.2,
               cmap: str = "gray"):
    """A grid of images without axes. rows: list of lists of (H, W, 3) or (H, W)
    arrays in [0, 1] (or None for an empty cell)."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            image = row[j] if j < len(row) else None
            if image is None:
                continue
            image = np.asarray(image)
            if image.ndim == 3 and image.shape[2] == 1:
                image = image[..., 0]
            ax.imshow(np.clip(image, 0, 1), cmap=cmap if image.ndim == 2 else None,
                      vmin=0, vmax=1, interpolation="nearest")
            if i == 0 and col_titles:
                ax.set_title(col_titles[j], fontsize=9)
            if j == 0 and row_titles:
                ax.set_ylabel(row_titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def savefig(fig, path: str | Path, dpi: int = 110):
    """Writes the figure (creating its folder) and leaves it open for display."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig


def absent_figure(message: str):
    """A small figure that states why a figure could not be made (a data set the
    user has not supplied), so the page and the pipeline's outputs stay complete."""
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11)
    return fig
