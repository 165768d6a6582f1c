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
# Every model the pipeline trained, on an image of your choice: a Rain100L pair,
# a real rainy photograph, a held-out synthetic scene (a Kodak background of the
# test split) whose rain you set with the sliders, or a file you upload. The four
# panels are the rainy input, the derained output, the rain layer the model
# estimated, and the error of the output against the clean image where there is
# one, with PSNR and SSIM (Y channel, as in chapter 3).
#
# Open this notebook in JupyterLab (`jupyter lab notebooks/05_explore.py`) to use
# the widget; on the rendered page it shows the state it was left in, and the
# figure at the end shows a few states as plain images. Images are downscaled to
# at most `max_side` pixels on their long side so that the view follows the
# sliders; the scores here are therefore those of the downscaled images, not the
# numbers of chapter 3's tables.

# %% tags=["parameters"]
data_root = "datasets"
max_side = 160
seed = 0
device = "auto"

# %%
import pandas as pd

from derain.book.chapters import RESULTS, stage_dir
from derain.book.explore import (
    DEFAULT_RAIN,
    REAL,
    SYNTHETIC,
    Explorer,
    find_models,
    states_figure,
)
from derain.book.plots import absent_figure, savefig

out, data_dir = stage_dir("explore"), stage_dir("data")
out.mkdir(parents=True, exist_ok=True)
models = find_models(RESULTS)
print("models:", {label: str(path) for label, path in models.items()})
explorer = Explorer(models, data_root=data_root, data_dir=data_dir,
                    max_side=max_side, seed=seed, device=device)
for source, why in explorer.absent.items():
    print(f"{source}: absent ({why})")

# %% [markdown]
# ## A few states
#
# The same explorer, set by code: the first synthetic scene with the sliders' default
# rain (angle 15°, density 0.002, length 25 px, no veil) for every model, and with
# heavy slanted rain under a veil (angle −35°, density 0.006, length 50 px, veil
# 0.3) for the main model; then the first Rain100L pair and the first real
# photograph when those sets are present. Scores are empty where there is no
# ground truth. The figure shows the same states; where the page cannot load the
# widget's scripts (offline), it stands in for the explorer below.

# %%
main = next(iter(models))
heavy_rain = {"angle": -35, "density": 0.006, "length": 50, "accumulation": 0.3}
states, labels = [], []
if SYNTHETIC in explorer.names:
    scene = explorer.names[SYNTHETIC][0]
    for model in models:
        states.append(explorer.set(model=model, source=SYNTHETIC, image=scene,
                                   **DEFAULT_RAIN))
        labels.append("synthetic, default rain")
    states.append(explorer.set(model=main, **heavy_rain))
    labels.append("synthetic, heavy slanted rain and veil")
for source in ("Rain100L", REAL):
    if explorer.names.get(source):
        states.append(explorer.set(model=main, source=source,
                                   image=explorer.names[source][0]))
        labels.append(source)
pd.DataFrame([{"state": label, "image": v.name, "model": v.model,
               "PSNR": v.psnr, "SSIM": v.ssim,
               "input PSNR": v.input_psnr, "input SSIM": v.input_ssim}
              for label, v in zip(labels, states, strict=True)]).round(3)

# %%
savefig(states_figure(states) if states else
        absent_figure(f"no images: neither {data_dir} nor {data_root} has any"),
        out / "fig_explore_states.png")

# %% [markdown]
# ## The explorer
#
# Choose a model, a source and an image; on the synthetic source the sliders set
# the rain's angle (degrees from vertical), density (drops per pixel of the
# nearest of three depth layers), streak length and veil (rain accumulation).
# Changing a slider redraws the same drops with the new setting, except density,
# which draws more or fewer of them. The training scenes drew these within the
# ranges of chapter 1 (`data.rain` in `params.yaml`); settings outside them show
# how the models extrapolate. An uploaded image has no ground truth.

# %%
if SYNTHETIC in explorer.names:
    explorer.set(model=main, source=SYNTHETIC, image=explorer.names[SYNTHETIC][0],
                 **DEFAULT_RAIN)
explorer
