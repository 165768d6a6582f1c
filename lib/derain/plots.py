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


def savefig(fig, path: str | Path, dpi: int = 110) -> None:
    """Writes the figure (creating its folder) and leaves it open, so the notebook
    shows it once, at the end of the cell. Returns nothing: a returned figure would
    be displayed a second time when the call ends a cell."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")


def absent_figure(message: str):
    """A small figure that states why a figure could not be made (a data set the
    user has not supplied), so the page and the pipeline's outputs stay complete."""
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11)
    return fig


def method_overview():
    """A diagram of the method: two frames of one scene through the same network,
    and which loss ties which outputs together (the paper's Figs. 2 and 4)."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 3.7)
    ax.axis("off")

    def box(x, y, w, h, text, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05",
                                    fc=color, ec="#333333", lw=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)

    def arrow(x0, y0, x1, y1, style="-|>", color="#333333"):
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle=style,
                                     mutation_scale=10, color=color, lw=1))

    for y, tag in ((2.5, "m"), (0.5, "n")):
        box(0.1, y, 1.4, 0.7, f"rainy frame $I^{tag}$\n(same scene)", "#ddeeff")
        box(2.1, y - 0.1, 3.0, 0.9,
            "encoders $E_3, E_5, E_7$\n-> dynamic fusion -> decoder", "#eeeeee")
        box(5.7, y, 1.2, 0.7, f"rain $S^{tag}$", "#f5e6cc")
        box(7.4, y, 1.6, 0.7, f"$B^{tag}$ = clip($I^{tag} - S^{tag}$)", "#dff0d8")
        arrow(1.5, y + 0.35, 2.1, y + 0.35)
        arrow(5.1, y + 0.35, 5.7, y + 0.35)
        arrow(6.9, y + 0.35, 7.4, y + 0.35)
    ax.text(3.6, 1.85, "shared weights", ha="center", fontsize=8, style="italic")
    arrow(3.6, 2.35, 3.6, 1.35, style="<|-|>", color="#888888")
    arrow(8.2, 2.5, 8.2, 1.2, style="<|-|>", color="#cc6677")
    ax.text(8.3, 1.85, "$L_b$: $B^m$ = $B^n$", fontsize=9, color="#cc6677")
    arrow(1.5, 2.6, 7.4, 0.95, style="-|>", color="#4477aa")
    ax.text(4.5, 1.5, "$L_s$: $B^n$ close to $I^m$ (m != n)", fontsize=9,
            color="#4477aa")
    ax.text(6.3, 3.45, "$L_v$: few rain orientations;  $L_r$: $I = B + S$",
            fontsize=9, ha="center")
    fig.tight_layout()
    return fig


def score_bars(ax, table, metric: str, labels=None, floor: float | None = None,
               title: str = ""):
    """Seed means of ``metric`` as bars with the seed range as error bars.
    ``table``: per-seed rows with ``name`` and ``metric`` columns; bars in the
    order of first appearance; ``floor`` (the rainy input) as a dashed line."""
    names = list(dict.fromkeys(table["name"]))
    groups = [table.loc[table["name"] == n, metric].to_numpy(float) for n in names]
    means = np.array([g.mean() for g in groups])
    low = means - np.array([g.min() for g in groups])
    high = np.array([g.max() for g in groups]) - means
    x = np.arange(len(names))
    ax.bar(x, means, yerr=[low, high], capsize=3, color="#4C72B0", alpha=0.85)
    for i, g in enumerate(groups):
        ax.plot(np.full(len(g), x[i]), g, "k.", ms=4)
    if floor is not None:
        ax.axhline(floor, color="gray", ls="--", lw=1, label="rainy input")
        ax.legend(fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels(labels or names, rotation=30, ha="right", fontsize=8)
    finite = np.concatenate(groups + ([np.array([floor])] if floor else []))
    finite = finite[np.isfinite(finite)]
    if finite.size:
        pad = 0.1 * (finite.max() - finite.min() + 1e-3)
        ax.set_ylim(finite.min() - pad, finite.max() + pad)
    ax.set_title(title, fontsize=10)
    return ax
