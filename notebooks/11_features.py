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
# # Architecture, learned features and failures
#
# Tables I and II of the paper list the layers of the network; here they are read
# off the model object itself at the paper's width (64 channels; this run uses
# `paper_width` = {glue:text}`features_width`), so they cannot drift from the
# code. Fig. 15 of the paper shows what the trained network computes: the
# input, the output, the estimated rain and feature maps of the first and last
# layers. Fig. 19 shows where it fails: heavy rain. Both are redone with the main
# model of chapter 2; the heavy-rain cases are rendered by the book's rain model
# well past the range it was trained on. (Table III, the data sets, is in the data
# chapter.)

# %% tags=["parameters"]
paper_width = 64
table_size = 64
densities = [0.001, 0.004, 0.016]
veils = [0.0, 0.3]
heavy = {"angle": 10.0, "length": 30.0, "width": 1.0, "intensity": 0.6,
         "layers": 3}
seed = 0

# %%
import json

import pandas as pd

from derain.book import plots, tables
from derain.book.captions import Page
from derain.book.chapters import stage_dir
from derain.data import SceneTestSet
from derain.evaluation import NO_GAIN_DB, load_model
from derain.evaluation.stress import heavy_rain_sweep
from derain.images import rgb_to_ycbcr
from derain.nets import DerainNet, count_parameters, layer_table

out = stage_dir("features")
out.mkdir(parents=True, exist_ok=True)
page = Page("features", paper_width=paper_width, table_size=table_size,
            densities=densities, veils=veils, heavy=heavy, seed=seed)
page.number("features_width", paper_width, "{:d}")

# %% [markdown]
# ## Tables I and II: the layers
#
# Every convolution, pooling and upsampling layer in the order an input meets
# them, at the width above ({numref}`table1_encoders` for the first encoder,
# {numref}`table2_fusion_decoder` for the fusion and the decoder). Scale is the
# output's size relative to the input. The three encoders differ only in kernel
# size; the filter generator of the dynamic fusion holds most of the parameters
# (at the paper's width its output is a 256 x 768 filter at every
# 1/8-resolution position). The network has {glue:text}`features_parameters`
# parameters at this width, {glue:text}`features_largest` of them in its largest
# layer.

# %%
paper_net = DerainNet(width=paper_width)
layers = pd.DataFrame(layer_table(paper_net, size=table_size))
layers["kernel"] = layers["kernel"].astype("Int64")
encoder_rows = layers["layer"].str.startswith("encoders.")
layers[encoder_rows].to_csv(out / "table1_encoders.csv", index=False)
layers[~encoder_rows].to_csv(out / "table2_fusion_decoder.csv", index=False)
total = count_parameters(paper_net)
assert layers["parameters"].sum() == total  # every parameter is in some row
page.number("features_parameters", total, "{:,d}")
page.number("features_largest", layers.loc[layers["type"] == "Conv2d",
                                           "parameters"].max(), "{:,d}")
page.table(layers[encoder_rows & layers["layer"].str.startswith("encoders.0")]
           .reset_index(drop=True), "table1_encoders_shown",
           "The layers of the first encoder (3x3 kernels; the other two differ "
           "only in kernel size): type, kernel, input and output channels, scale "
           "relative to the input, parameters (\"–\": the layer has no kernel).",
           paper="Table I", params=["paper_width", "table_size"],
           label="table1_encoders", csv=False, formats={"parameters": "{:,d}"})

# %%
page.table(layers[~encoder_rows].reset_index(drop=True), "table2_shown",
           "The layers of the dynamic fusion and the decoder, as in the "
           "encoder's table.", paper="Table II",
           params=["paper_width", "table_size"], label="table2_fusion_decoder",
           csv=False, formats={"parameters": "{:,d}"})

# %% [markdown]
# ## What the trained network computes (Fig. 15)
#
# The main model of chapter 2 on a held-out test scene
# ({numref}`fig15_features`). The first-layer maps are the outputs of the first
# convolution (after its activation) of each encoder, the last-layer maps those
# of the decoder's second-to-last convolution, which the last one turns into the
# rain estimate. Each map is scaled to its own range.

# %%
net = load_model(stage_dir("train") / "model.pt")
scene = next(iter(SceneTestSet(stage_dir("data"), "test", 1)))
page.figure(plots.feature_maps(net, scene), "fig15_features",
            "The main model on a held-out test scene: input, output, estimated "
            "rain (x4) and clean background (top row), then the four most varied "
            "maps of the first layer of each encoder and of the decoder's "
            "second-to-last convolution.", paper="Fig. 15")

# %% [markdown]
# ## Heavy rain (Fig. 19)
#
# The same test scene under rain of growing density, with and without a veil
# (rain accumulation), in {numref}`table_heavy_rain` and
# {numref}`fig19_heavy_rain_gain`. The training data's densities lie in
# `data.rain.density_range` of `params.yaml`; the larger ones here are outside it.
# The gain is the output's PSNR minus the input's: where it turns negative the
# model harms the image.

# %%
heavy_table, examples = heavy_rain_sweep(net, scene[2], densities, veils, heavy,
                                         seed)
page.table(heavy_table, "table_heavy_rain",
           "The main model on one test scene under rain of growing density, with "
           "and without a veil: the input's and the output's PSNR and the gain.",
           paper="Fig. 19", params=["densities", "veils", "heavy", "seed"],
           formats={c: "{:.2f}" for c in heavy_table.columns
                    if "dB" in str(c) or "PSNR" in str(c)})

# %%
page.figure(plots.gain_vs_density(heavy_table), "fig19_heavy_rain_gain",
            "The main model's PSNR gain over the rainy input against streak "
            "density (log scale), one line per veil.", paper="Fig. 19",
            data=heavy_table, params=["densities", "veils", "heavy", "seed"])

# %%
worst = heavy_table["gain (dB)"].idxmin()
chosen = sorted({0, worst, len(examples) - 1})
crop = plots.centre_window(scene[1].shape, 160)
fig = plots.image_grid([[examples[i][1][crop], examples[i][2][crop]] for i in chosen],
                       col_titles=["rainy", "derained"],
                       row_titles=[examples[i][0] for i in chosen], size=2.6)
page.figure(fig, "fig19_failure_cases",
            "The lightest case, the case with the smallest gain and the heaviest "
            "case of the sweep: rainy input and derained output.",
            paper="Fig. 19", data=heavy_table.loc[chosen],
            params=["densities", "veils", "heavy", "seed"])
luma = rgb_to_ycbcr(examples[worst][1])[..., 0].mean()
page.number("features_worst", examples[worst][0], "{}")
page.number("features_worst_gain", heavy_table.loc[worst, "gain (dB)"],
            "{:+.2f} dB")
page.number("features_worst_luma", luma, "{:.2f}")

# %% [markdown]
# {numref}`fig19_failure_cases` shows three cases; the one with the smallest gain
# is {glue:text}`features_worst` ({glue:text}`features_worst_gain`; mean
# luminance of its input {glue:text}`features_worst_luma`).
#
# ## Claim
#
# The paper shows failures in heavy rain without a number. Read here as: at the
# heaviest rain the model's gain over the input falls below
# {glue:text}`features_no_gain` (it leaves the rain as it was) or turns negative
# ({numref}`claims_features`).

# %%
claims = tables.heavy_rain_claim(heavy_table, "11_features")
page.number("features_no_gain", NO_GAIN_DB, "{:g} dB")
page.claims(claims, "The heavy-rain claim: the gain at the lightest and at the "
            "heaviest density, and the verdict (one scene, no seeds: no "
            "smallest decidable difference).", paper="Fig. 19",
            params=["densities", "veils"])

# %%
metrics = {"paper_width_parameters": total,
           "heavy_rain_worst_gain_db": float(heavy_table["gain (dB)"].min()),
           "heavy_rain_best_gain_db": float(heavy_table["gain (dB)"].max())}
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
page.number("features_verdict", claims["verdict"].iloc[0], "{}")
page.number("features_best_gain", metrics["heavy_rain_best_gain_db"], "{:+.2f} dB")
page.number("features_worst_db", metrics["heavy_rain_worst_gain_db"], "{:+.2f} dB")

# %% [markdown]
# ## What this chapter found
#
# At width {glue:text}`features_width` the network has
# {glue:text}`features_parameters` parameters. Under rain of growing density the
# main model's gain over the input on one test scene ranges from
# {glue:text}`features_worst_db` to {glue:text}`features_best_gain`; the reading
# of the paper's Fig. 19 that the model fails in heavy rain
# {glue:text}`features_verdict` here.
