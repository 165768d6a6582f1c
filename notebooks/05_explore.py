# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Explore the models
#
# Every model the pipeline trained, on an image of your choice. This page has two
# views of them. The first, {numref}`offline-control`, works in the rendered book
# as it is, offline: a rain-strength slider, a model menu and a before/after slider
# pick among outputs computed when the chapter ran. The second, the live explorer,
# runs the models as you move its controls; it needs Python, so it runs in
# JupyterLab (`make lab` opens this notebook, paired with its `.py` file), not on
# this page.
#
# Images are downscaled to at most {glue:text}`explore_max_side` pixels on their
# long side, so that the live view follows the sliders; the scores here are
# therefore those of the downscaled images, not the numbers of chapter 3's tables.

# %% tags=["parameters"]
data_root = "datasets"
max_side = 160
seed = 0
device = "auto"

# %%
import pandas as pd

from derain.book.captions import Page
from derain.book.chapters import RESULTS, stage_dir
from derain.book.explore import (
    DEFAULT_RAIN,
    RAIN_STRENGTHS,
    REAL,
    SYNTHETIC,
    Explorer,
    OfflineControl,
    find_models,
    precompute,
    states_figure,
)
from derain.book.plots import absent_figure

page = Page("explore", data_root=data_root, max_side=max_side, seed=seed)
page.number("explore_max_side", max_side, "{:d}")
data_dir = stage_dir("data")
models = find_models(RESULTS)
print("models:", {label: str(path) for label, path in models.items()})
explorer = Explorer(models, data_root=data_root, data_dir=data_dir,
                    max_side=max_side, seed=seed, device=device)
for source, why in explorer.absent.items():
    print(f"{source}: absent ({why})")
page.number("explore_models", len(models), "{:d}")

# %% [markdown]
# ## Rain strength, model, before and after
#
# {numref}`offline-control` holds the output of each of the
# {glue:text}`explore_models` trained models on the first held-out synthetic scene
# under three rain settings: light rain, the live explorer's default, and heavy
# slanted rain under a veil ({numref}`explore_strengths` gives the settings).
# Slide from *before* (the rainy input) to *after* (the derained output) to see
# what a model removed, and change the model or the rain to compare. The note under
# the image gives its PSNR and SSIM against the clean scene.

# %%
page.table(
    pd.DataFrame([{"strength": name, **rain} for name, rain in
                  RAIN_STRENGTHS.items()]).rename(columns={
                      "angle": "angle (°)", "density": "density (drops/px)",
                      "length": "length (px)", "accumulation": "veil"}),
    "explore_strengths",
    "The rain settings of the precomputed views: streak angle from vertical, "
    "density of the nearest of three depth layers, streak length and veil (rain "
    "accumulation).", params=["seed"])

# %%
if SYNTHETIC in explorer.names:
    offline = OfflineControl(precompute(explorer))
    page.control(offline, "offline-control",
                 "Precomputed views: the rain slider, the model menu and the "
                 "before/after slider choose among outputs computed when this "
                 "chapter ran, so they work in the rendered book with no Python "
                 "and no network.", params=["max_side", "seed"])
else:
    print(f"no synthetic scenes in {data_dir}: nothing to precompute")

# %% [markdown]
# ## A few states
#
# The same explorer, set by code: the first synthetic scene with the sliders' default
# rain (angle 15°, density 0.002, length 25 px, no veil) for every model, and with
# heavy slanted rain under a veil for the main model; then the first Rain100L pair
# and the first real photograph when those sets are present
# ({numref}`explore_states`). Scores are "–" where there is no ground truth;
# {numref}`fig_explore_states` shows the same states as images: rainy input,
# output, the rain the model estimated and the error against the clean image.

# %%
main = next(iter(models))
states, labels = [], []
if SYNTHETIC in explorer.names:
    scene = explorer.names[SYNTHETIC][0]
    for model in models:
        states.append(explorer.set(model=model, source=SYNTHETIC, image=scene,
                                   **DEFAULT_RAIN))
        labels.append("synthetic, default rain")
    states.append(explorer.set(model=main, **RAIN_STRENGTHS["heavy"]))
    labels.append("synthetic, heavy slanted rain and veil")
for source in ("Rain100L", REAL):
    if explorer.names.get(source):
        states.append(explorer.set(model=main, source=source,
                                   image=explorer.names[source][0]))
        labels.append(source)
scores = pd.DataFrame([{"state": label, "image": v.name, "model": v.model,
                        "PSNR (dB)": v.psnr, "SSIM": v.ssim,
                        "input PSNR (dB)": v.input_psnr, "input SSIM": v.input_ssim}
                       for label, v in zip(labels, states, strict=True)])
page.table(scores, "explore_states",
           "Scores of the explorer's states (Y channel, on the downscaled "
           "images; \"–\" where the image has no ground truth).",
           params=["max_side", "seed"],
           formats={c: "{:.3f}" for c in ("SSIM", "input SSIM")}
           | {c: "{:.2f}" for c in ("PSNR (dB)", "input PSNR (dB)")})

# %%
page.figure(states_figure(states) if states else
            absent_figure(f"no images: neither {data_dir} nor {data_root} has any"),
            "fig_explore_states",
            "States of the explorer, one per row: rainy input, derained output, "
            "the estimated rain layer and the error against the clean image "
            "(both x4).", data=scores, params=["max_side", "seed"])

# %% [markdown]
# ## The live explorer
#
# In JupyterLab (`make lab`, then this notebook) the explorer below runs the models
# as its controls move. Choose a model, a source (a Rain100L pair, a real rainy
# photograph, a held-out synthetic scene or a file you upload) and an image; on the
# synthetic source the sliders set the rain's angle (degrees from vertical),
# density (drops per pixel of the nearest of three depth layers), streak length and
# veil (rain accumulation). Changing a slider redraws the same drops with the new
# setting, except density, which draws more or fewer of them. The training scenes
# drew these within the ranges of chapter 1 (`data.rain` in `params.yaml`);
# settings outside them show how the models extrapolate. An uploaded image has no
# ground truth. The rendered book leaves the explorer out: with no Python behind
# the page its controls could not change anything.

# %% tags=["remove-output"]
if SYNTHETIC in explorer.names:
    explorer.set(model=main, source=SYNTHETIC, image=explorer.names[SYNTHETIC][0],
                 **DEFAULT_RAIN)
explorer

# %% [markdown]
# ## What this chapter found
#
# Nothing new is measured here: the page shows the models of chapters 2 and 3 on
# single images. On the synthetic scene the main model raised PSNR from
# {glue:text}`explore_input_psnr` dB (the rainy input) to
# {glue:text}`explore_output_psnr` dB under the default rain, and to
# {glue:text}`explore_heavy_psnr` dB (from {glue:text}`explore_heavy_input_psnr`
# dB) under heavy rain, on the downscaled image.

# %%
first = states[0] if states else None
heavy = next((v for label, v in zip(labels, states, strict=True)
              if label.startswith("synthetic, heavy")), None)
page.number("explore_input_psnr", first.input_psnr if first else None)
page.number("explore_output_psnr", first.psnr if first else None)
page.number("explore_heavy_input_psnr", heavy.input_psnr if heavy else None)
page.number("explore_heavy_psnr", heavy.psnr if heavy else None)
