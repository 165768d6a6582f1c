"""Figure helpers shared by the chapters, so every figure has the same style."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def centre_window(shape, size: int = 128) -> tuple[slice, slice]:
    """The central ``size`` x ``size`` window of an image of ``shape`` (H, W, ...),
    the whole image when it is smaller: the crop of every close-up figure."""
    h, w = shape[:2]
    if min(h, w) < size:
        return slice(None), slice(None)
    half = size // 2
    return slice(h // 2 - half, h // 2 + half), slice(w // 2 - half, w // 2 + half)


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


def derained_rows(scene, nets: dict, size: float = 1.9, window: int = 128,
                  gain: float = 4.0):
    """One held-out scene derained by each network: a row per network with the
    rainy input, the background B, the estimated rain S (x ``gain``) and the clean
    background, cropped to the central ``window`` pixels. ``scene``: ``(name,
    rainy, clean)``; ``nets``: row title -> network."""
    from derain.evaluation import derain

    _, rainy, clean = scene
    crop = centre_window(rainy.shape, window)
    rows = []
    for net in nets.values():
        background, rain = derain(net, rainy)
        rows.append([rainy[crop], background[crop],
                     np.clip(gain * rain[crop], 0, 1), clean[crop]])
    return image_grid(rows, col_titles=["rainy", "background B",
                                        f"rain S (x{gain:g})", "clean (not used)"],
                      row_titles=list(nets), size=size)


def psnr_vs_frames(averaging, runs, floor: dict, methods: list[str],
                   path: str | Path) -> None:
    """Fig. 14: PSNR against r, frames per scene. Left: time-averaging itself on
    the training scenes (``averaging``, indexed by (how, r)); then one panel per
    scored set with each network method's seed mean and range against r, the
    rainy input and the network supervised with the clean background dashed.
    Run names are ``"<method> r=<r>"``."""
    runs = runs.copy()
    runs["r"] = runs["name"].map(
        lambda n: int(n.split("r=")[1]) if "r=" in n else None)
    runs["method"] = runs["name"].str.split(" r=").str[0]
    panels = [("test_psnr", "synthetic test scenes")]
    if "rain100l_psnr" in runs:
        panels.append(("rain100l_psnr", "Rain100L"))
    fig, axes = plt.subplots(1, 1 + len(panels),
                             figsize=(4.6 * (1 + len(panels)), 3.6))
    for how in ["mean", "median"]:
        part = averaging.loc[how]
        axes[0].plot(part.index, part["psnr"], marker="o", label=f"{how} of r frames")
    axes[0].set_title("time-averaging (training scenes)", fontsize=10)
    for ax, (metric, title) in zip(axes[1:], panels, strict=True):
        for method in methods:
            part = runs[runs["method"] == method].groupby("r")[metric]
            mean = part.mean()
            ax.plot(mean.index, mean, marker="o", label=f"{method} network")
            ax.fill_between(mean.index, part.min(), part.max(), alpha=0.2)
        gt = runs.loc[runs["name"] == "clean ground truth", metric].mean()
        ax.axhline(gt, color="green", ls="--", lw=1, label="supervised, clean GT")
        ax.axhline(floor[metric], color="gray", ls="--", lw=1, label="rainy input")
        ax.set_title(f"single-image networks ({title})", fontsize=10)
    for ax in axes:
        ax.set_xlabel("r, frames per scene")
        ax.set_ylabel("PSNR (dB)")
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=7)
    fig.tight_layout()
    savefig(fig, path)


def time_averaging_grid(data_dir, scene: dict, nets: dict, size: float = 2.0):
    """Fig. 13: one training scene, the median of its first r frames (top row)
    against the network trained with r frames applied to the first frame alone
    (bottom row); ``nets`` maps r to the network."""
    from derain.data import load_clean, load_frames
    from derain.evaluation import derain

    stack = load_frames(data_dir, scene)
    crop = centre_window(stack.shape[1:])
    top = [np.median(stack[:r], axis=0)[crop] for r in nets]
    bottom = [derain(net, stack[0])[0][crop] for net in nets.values()]
    return image_grid([[stack[0][crop], *top],
                       [load_clean(data_dir, scene)[crop], *bottom]],
                      col_titles=["frame 1 | clean"] + [f"r = {r}" for r in nets],
                      row_titles=["median of r frames", "network, one frame"],
                      size=size)


def gain_vs_parameters(runs, floor: dict, groups: dict[str, list[str]]):
    """Fig. 17 as the quantity compared: each size's PSNR gain over the rainy
    input against its number of parameters (log scale), one line per group of
    run names (seed mean, seed range shaded), one panel per scored set. ``runs``
    has a ``parameters`` column; ``floor`` the input's PSNR per metric."""
    panels = [("test_psnr", "synthetic test scenes")]
    if "rain100l_psnr" in runs:
        panels.append(("rain100l_psnr", "Rain100L"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8),
                             squeeze=False)
    for ax, (metric, title) in zip(axes[0], panels, strict=True):
        for label, names in groups.items():
            gain = runs[runs["name"].isin(names)].assign(
                gain=lambda r, m=metric: r[m] - floor[m])
            part = gain.groupby("parameters")["gain"]
            mean = part.mean()
            ax.plot(mean.index, mean, marker="o", label=label)
            ax.fill_between(mean.index, part.min(), part.max(), alpha=0.2)
        ax.axhline(0, color="gray", ls="--", lw=1, label="rainy input")
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("PSNR gain over the rainy input (dB)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def feature_maps(net, scene, size: float = 2.0, window: int = 160):
    """Fig. 15: a test scene's input, output, estimated rain (x4) and clean
    background, then the four most varied maps of the first layer of each encoder
    (after its activation) and of the decoder's second-to-last convolution (the
    last one turns them into the rain estimate), each scaled to its own range.
    ``net``: a :class:`~derain.nets.DerainNet`; ``scene``: (name, rainy, clean)."""
    import torch

    from derain.evaluation import derain

    _, rainy, clean = scene
    features = {}

    def keep(key):
        def hook(_module, _inputs, output):
            features[key] = output.detach()[0]
        return hook

    hooks = [enc.stage1[1].register_forward_hook(keep(f"E{k}"))
             for k, enc in zip(("3", "5", "7"), net.encoders, strict=True)]
    hooks.append(net.dec1[-2].register_forward_hook(keep("last")))
    try:
        background, rain = derain(net, rainy)
    finally:
        for hook in hooks:
            hook.remove()

    def norm(fmap):
        fmap = fmap.numpy()
        lo, hi = np.percentile(fmap, [1, 99])
        return np.clip((fmap - lo) / max(hi - lo, 1e-6), 0, 1)

    crop = centre_window(rainy.shape, window)
    grid = [[rainy[crop], background[crop], np.clip(4 * rain[crop], 0, 1),
             clean[crop]]]
    for key in ["E3", "E5", "E7", "last"]:
        fmaps = features[key]
        order = torch.argsort(fmaps.flatten(1).std(1), descending=True)[:4]
        grid.append([norm(fmaps[i])[crop] for i in order])
    return image_grid(grid, col_titles=["input | map 1", "output | map 2",
                                        "rain x4 | map 3", "clean | map 4"],
                      row_titles=["images", "first layer, E3", "first layer, E5",
                                  "first layer, E7", "last layer"], size=size)


def gain_vs_density(table):
    """Fig. 19 as numbers: the model's PSNR gain over the input against streak
    density, one line per veil."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for veil, part in table.groupby("veil"):
        ax.plot(part["density"], part["gain (dB)"], marker="o", label=f"veil {veil}")
    ax.axhline(0, color="gray", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("streak density (drops per pixel, nearest layer)")
    ax.set_ylabel("PSNR gain over the input (dB)")
    ax.legend(fontsize=8)
    ax.set_title("gain of the main model as rain gets heavier", fontsize=10)
    fig.tight_layout()
    return fig


def set_gains(scores, names: list[str]):
    """One panel per set of ``scores`` (rows with ``name``, ``set``, ``seed``,
    ``psnr``, the input as ``name == "rainy input"``): each method of ``names``
    as its seed-mean PSNR gain over the rainy input of that set (marker), the
    seeds' range (line) and each seed (dots), drawn from zero."""
    sets = list(dict.fromkeys(scores["set"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(3.6 * len(sets) + 1.6,
                                                    0.4 * len(names) + 1.4),
                             squeeze=False, sharey=True)
    for ax, set_name in zip(axes[0], sets, strict=True):
        part = scores[scores["set"] == set_name]
        floor = part.loc[part["name"] == "rainy input", "psnr"].mean()
        for i, name in enumerate(names):
            gains = part.loc[part["name"] == name, "psnr"].to_numpy(float) - floor
            if not gains.size:
                continue
            ax.plot([gains.min(), gains.max()], [i, i], color="#4477aa", lw=4,
                    alpha=0.4, solid_capstyle="butt")
            ax.plot(gains.mean(), i, "o", color="#4477aa")
            ax.plot(gains, [i] * len(gains), "k.", ms=4)
        ax.axvline(0, color="gray", ls="--", lw=1)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.set_xlabel("PSNR gain over the input (dB)", fontsize=8)
        ax.set_title(set_name, fontsize=10)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    return fig


def set_panels(scores, names: list[str], path: str | Path) -> None:
    """One :func:`score_bars` panel per set of ``scores`` (rows with ``name``,
    ``set``, ``psnr``) for the methods ``names``, the rainy input dashed."""
    sets = list(dict.fromkeys(scores["set"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 4), squeeze=False)
    for ax, set_name in zip(axes[0], sets, strict=True):
        part = scores[(scores["set"] == set_name) & scores["name"].isin(names)]
        floor = scores[(scores["set"] == set_name) & (scores["name"] == "rainy input")]
        score_bars(ax, part, "psnr", floor=float(floor["psnr"].iloc[0]),
                   title=f"{set_name}: PSNR (dB)")
    fig.tight_layout()
    savefig(fig, path)


def dark_channel(image: np.ndarray, size: int = 15) -> float:
    """The mean of the per-pixel minimum colour over ``size`` x ``size`` windows:
    how hazy a photograph is (He et al.'s dark channel prior)."""
    from scipy.ndimage import minimum_filter

    return float(minimum_filter(image.min(axis=2), size=size).mean())


def real_rain_grid(paths: list[Path], methods: dict, limit: int,
                   max_side: int = 360, size: float = 2.1):
    """Real rainy photographs (no ground truth) derained by every method: the
    first ``limit`` photographs and, last, the haziest of them all by
    :func:`dark_channel` (the rain-with-haze case of the paper's Fig. 10).
    ``methods`` maps a column title to a function of an RGB image. Returns the
    figure and a line naming the hazy photograph."""
    from derain.images import load_image

    haze = {path.name: dark_channel(load_image(path)) for path in paths}
    hazy = max(haze, key=haze.get)
    chosen = [p for p in paths if p.name != hazy][:limit]
    chosen += [p for p in paths if p.name == hazy]
    grid = []
    for path in chosen:
        image = load_image(path)
        scale = max(1, int(np.ceil(max(image.shape[:2]) / max_side)))
        image = image[::scale, ::scale]
        grid.append([image] + [fn(image) for fn in methods.values()])
    fig = image_grid(grid, col_titles=["rainy", *methods],
                     row_titles=[p.name for p in chosen[:-1]] + [f"{hazy} (haze)"],
                     size=size)
    note = (f"hazy photograph: {hazy} (dark channel {haze[hazy]:.2f}; median of the "
            f"set {np.median(list(haze.values())):.2f})")
    return fig, note


def closeup(pair, nets: dict, per_row: int = 5, size: float = 2.6):
    """A 128 x 128 close-up of one paired image (``(name, rainy, target)``): the
    rainy input, the clean target and each network's output with its PSNR."""
    from derain.evaluation import derain
    from derain.metrics import psnr

    _, rainy, target = pair
    h, w = rainy.shape[:2]
    crop = (slice(h // 4, h // 4 + 128), slice(w // 4, w // 4 + 128))
    cells, titles = [rainy[crop], target[crop]], ["rainy", "clean"]
    for method, net in nets.items():
        pred = derain(net, rainy)[0]
        cells.append(pred[crop])
        titles.append(f"{method}\n{psnr(pred, target):.2f} dB")
    fig = image_grid([cells[i:i + per_row] for i in range(0, len(cells), per_row)],
                     size=size)
    for ax, title in zip(fig.axes, titles, strict=False):
        ax.set_title(title, fontsize=8)
    return fig


def scene_examples(data_dir, manifest: dict, frames: int = 4):
    """A Fig. 6 analogue: the lightest, a median and the heaviest training scene
    (by mean density x length of its frames' rain), each as its first ``frames``
    frames, its clean background (never used for training) and the per-pixel
    temporal median of all its frames."""
    from derain.data import load_clean, load_frames, split_scenes

    train_scenes = split_scenes(manifest, "train")
    regimes = [np.mean([f["density"] * f["length"] for f in s["frames"]])
               for s in train_scenes]
    order = np.argsort(regimes)
    picked = [train_scenes[order[0]], train_scenes[order[len(order) // 2]],
              train_scenes[order[-1]]]
    rows = []
    for scene in picked:
        stack = load_frames(data_dir, scene)
        rows.append([*stack[:frames], load_clean(data_dir, scene),
                     np.median(stack, axis=0)])
    titles = [f"frame {i}" for i in range(len(rows[0]) - 2)] + ["clean", "median"]
    return image_grid(rows, col_titles=titles,
                      row_titles=["lightest", "median", "heaviest"])


def rain_parameter_histograms(manifest: dict):
    """Histograms of the sampled angle, streak length and density of every
    rendered frame."""
    import pandas as pd

    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    params = pd.DataFrame([f for s in manifest["scenes"] for f in s["frames"]])
    for ax, col, label in zip(axes, ["angle", "length", "density"],
                              ["angle (degrees from vertical)", "streak length (px)",
                               "drops per pixel (nearest layer)"], strict=True):
        ax.hist(params[col], bins=30, color="#4477aa")
        ax.set_xlabel(label)
    axes[0].set_ylabel("frames")
    return fig


def training_curves(log, val, val_input: float, paper_log=None):
    """Chapter 2's curves: this book's loss terms (log scale), the background
    contrast ratio against the collapse line (beside the paper's weights when
    ``paper_log`` is given), and the validation PSNR against the rainy input.
    ``log``/``val``: the ``train``/``val`` histories as tables."""
    from derain.metrics import COLLAPSE_RATIO

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for name in ["L_b", "L_s", "L_v", "L_r"]:
        if name in log:
            axes[0].semilogy(log["step"], log[name], label=name)
    axes[0].set_title("this book's recipe: loss terms")
    axes[0].set_xlabel("step")
    axes[0].legend()
    axes[1].plot(log["step"], log["contrast"], label="this book")
    axes[2].plot(val["step"], val["psnr"], marker="o", label="this book")
    axes[2].axhline(val_input, color="gray", ls="--", lw=1, label="rainy input")
    if paper_log is not None:
        axes[1].plot(paper_log["step"], paper_log["contrast"], label="paper's weights")
    axes[1].axhline(COLLAPSE_RATIO, color="gray", ls="--", lw=1, label="collapse line")
    axes[1].set_title("background contrast / input contrast")
    axes[1].set_xlabel("step")
    axes[1].legend()
    axes[2].set_title("validation PSNR, this book's recipe (dB)")
    axes[2].set_xlabel("step")
    axes[2].legend()
    return fig


def runtime_bars(inference, paper_seconds: float):
    """Seconds per image of every measured network, variant and device (log
    scale), the paper's time dashed."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    shown = inference[inference.seconds.notna()]
    labels = [f"{r.network}\n{r.variant} ({r.device}, {r.image})"
              for r in shown.itertuples()]
    ax.barh(labels, shown.seconds, color="#4477aa")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per image (log scale)")
    ax.axvline(paper_seconds, color="#cc6677", ls="--", lw=1)
    ax.text(paper_seconds, len(labels) - 0.5, f" paper: {paper_seconds} s (1080 Ti)",
            color="#cc6677", fontsize=8, va="top")
    return fig


def speedup_bars(table, column: str = "x eager", label: str = "setting"):
    """Throughput of each setting relative to the baseline (the first row), one
    bar each; the baseline and twice it marked."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.0))
    shown = table[table[column].notna()]
    ax.barh(list(shown[label]), shown[column], color="#4477aa")
    ax.invert_yaxis()
    for x, style in ((1.0, "-"), (2.0, "--")):
        ax.axvline(x, color="#555555", ls=style, lw=0.8)
    for y, value in enumerate(shown[column]):
        ax.text(value, y, f" {value:.2f}x", va="center", fontsize=8)
    ax.set_xlabel("training pairs per second, relative to the eager baseline")
    return fig


def examples_figure(title: str, items, size: float = 3.0):
    """Rainy input, output and clean target of each example ``(name, rainy, pred,
    target)``."""
    grid = [[rainy, pred, target] for _, rainy, pred, target in items]
    fig = image_grid(grid, col_titles=["rainy input", "ours", "clean target"],
                     row_titles=[n for n, *_ in items], size=size)
    fig.suptitle(title, y=1.02)
    return fig


def real_rain_rows(net, photos, size: float = 3.0, gain: float = 4.0):
    """Real rainy photographs (no ground truth): each with the model's output and
    the rain layer it estimated (x ``gain``). ``photos`` iterates ``(name,
    image)``."""
    from derain.evaluation import derain

    grid = []
    for _, image in photos:
        background, rain = derain(net, image)
        grid.append([image, background, np.clip(rain[..., 0] * gain, 0, 1)])
    return image_grid(grid, col_titles=["real rainy photo", "ours",
                                        f"estimated rain (x{gain:g})"], size=size)


def layers_diagram(layers: list[str], modules: dict[str, list[str]] | None = None):
    """The library's layers as a picture, top layer first: one row per layer of
    the import contract (``"a | b"``: independent packages side by side), each box
    listing the modules inside (``modules``: package -> module names). Arrows
    point down, the only direction an import may go."""
    import textwrap

    from matplotlib.patches import FancyBboxPatch

    rows = [[name.strip() for name in layer.split("|")] for layer in layers]
    modules = modules or {}
    height, step = 0.85, 1.05
    fig, ax = plt.subplots(figsize=(10, 0.2 + 0.8 * len(rows)))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, step * len(rows))
    ax.axis("off")
    for i, row in enumerate(rows):
        y = step * (len(rows) - 1 - i) + 0.1
        width = 10 / len(row)
        for j, package in enumerate(row):
            x = j * width + 0.08
            ax.add_patch(FancyBboxPatch((x, y), width - 0.16, height,
                                        boxstyle="round,pad=0.02", fc="#eef3fa",
                                        ec="#4477aa", lw=1))
            ax.text(x + (width - 0.16) / 2, y + 0.6, package, ha="center",
                    fontsize=9, weight="bold")
            inside = textwrap.fill(", ".join(modules.get(package, [])),
                                   int(11 * width))
            if inside:
                ax.text(x + (width - 0.16) / 2, y + 0.45, inside, ha="center",
                        va="top", fontsize=7, color="#333333")
        if i < len(rows) - 1:
            ax.annotate("", xy=(5, y - step + height + 0.1), xytext=(5, y),
                        arrowprops={"arrowstyle": "-|>", "color": "#888888"})
    fig.tight_layout()
    return fig


def learning_curves(curves, controls: list[str]):
    """Validation gain over the rainy input against training CPU-seconds, one
    panel per control, one line per budget (the chosen budget: seed mean, the
    seeds' range shaded)."""
    fig, axes = plt.subplots(1, len(controls), figsize=(5.2 * len(controls), 3.6),
                             squeeze=False)
    for ax, control in zip(axes[0], controls, strict=True):
        part = curves[curves["control"] == control]
        for budget, rows in part.groupby("budget", sort=False):
            by_step = rows.groupby("step")
            seconds, gain = by_step["seconds"].mean(), by_step["val_gain"]
            style = {"lw": 2.2, "color": "black"} if budget == "chosen" else {}
            ax.plot(seconds, gain.mean(), marker="o", ms=3, label=budget, **style)
            if rows["seed"].nunique() > 1:
                ax.fill_between(seconds, gain.min(), gain.max(), alpha=0.2,
                                color="gray")
        ax.axhline(0, color="gray", ls="--", lw=1)
        ax.set_xlabel("training CPU seconds")
        ax.set_ylabel("validation PSNR gain over the input (dB)")
        ax.set_title(control, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def seed_spread(runs, budgets: dict[str, str], floor: float,
                book_seeds: list[int], target: float = 0.15):
    """Left: each seed's test gain over the rainy input at each budget
    (``budgets[label] = run name``), a marker per seed (the book's seeds filled);
    right: the seed-to-seed standard deviation at each budget, with its 95 %
    interval (chi-square), against the target."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.4, 3.6))
    labels = list(budgets)
    x = np.arange(len(labels))
    seeds = sorted(runs["seed"].unique())
    for i, seed in enumerate(seeds):
        gains = [runs.loc[(runs["name"] == budgets[b]) & (runs["seed"] == seed),
                          "test_psnr"].mean() - floor for b in labels]
        # Points only: the budgets are not one axis (steps, then a slope).
        book = seed in book_seeds
        left.plot(x + 0.04 * (i - (len(seeds) - 1) / 2), gains,
                  marker="o" if book else "s", ms=5, ls="none", label=f"seed {seed}",
                  fillstyle="full" if book else "none")
    left.axhline(0, color="gray", ls=":", lw=1)
    left.set_ylabel("test PSNR gain over the input (dB)")
    left.legend(fontsize=7, ncol=2)
    from matplotlib.ticker import LogLocator

    from derain.evaluation.claims import sd_interval

    sds, bars = [], []
    for b in labels:
        sd, low, high = sd_interval(runs.loc[runs["name"] == budgets[b], "test_psnr"])
        sds.append(sd)
        bars.append((sd - low, high - sd))
    right.errorbar(x, sds, yerr=np.array(bars).T, fmt="o", color="tab:blue",
                   capsize=4, label="seed sd, 95 % interval")
    right.axhline(target, color="black", ls="--", lw=1, label=f"target {target:g} dB")
    right.set_ylabel("seed-to-seed sd of test PSNR (dB)")
    if all(v > 0 for v in sds):  # one seed unlike the rest outweighs them all
        right.set_yscale("log")
        right.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        right.yaxis.set_major_formatter(plt.FormatStrFormatter("%g"))
        right.yaxis.set_minor_formatter(plt.NullFormatter())
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_xlabel("budget")
    fig.tight_layout()
    return fig


def gain_intervals(study, names: list[str], title: str, test_set: str = "test"):
    """Each run's paired gain over the rainy input with its 95 % interval (bar),
    each seed's gain (dots): the quantity a chapter compares, drawn from zero."""
    rows = [n for n in names if n != "rainy input"]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    for i, name in enumerate(rows):
        gain = study.compare(name, "rainy input", test_set=test_set)
        ax.plot([gain["low"], gain["high"]], [i, i], color="#4477aa", lw=6,
                alpha=0.5, solid_capstyle="butt")
        ax.plot(gain["effect"], i, "o", color="#4477aa")
        scores, _ = study.scores(name, test_set=test_set)
        floor, _ = study.scores("rainy input", test_set=test_set)
        ax.plot(scores.mean(axis=1) - floor.mean(), [i] * len(scores), "k.", ms=4)
    ax.axvline(0, color="gray", ls="--", lw=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("PSNR gain over the rainy input (dB): mean, 95 % interval, seeds")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def gain_vs_frames(study, frames: list[int], methods: list[str], reference: str):
    """Fig. 14: each method's paired gain over the rainy input against r, frames
    per scene (run names ``"<method> r=<r>"``), with 95 % intervals; the
    ``reference`` run (independent of r) as a dashed band."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for method in methods:
        gains = [study.compare(f"{method} r={r}", "rainy input") for r in frames]
        ax.errorbar(frames, [g["effect"] for g in gains],
                    yerr=[[g["effect"] - g["low"] for g in gains],
                          [g["high"] - g["effect"] for g in gains]],
                    marker="o", capsize=3, label=method)
    ref = study.compare(reference, "rainy input")
    ax.axhspan(ref["low"], ref["high"], color="green", alpha=0.15)
    ax.axhline(ref["effect"], color="green", ls="--", lw=1, label=reference)
    ax.axhline(0, color="gray", ls="--", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_xticks(frames)
    ax.set_xticklabels([str(r) for r in frames])
    ax.set_xlabel("r, frames per scene")
    ax.set_ylabel("PSNR gain over the rainy input (dB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
