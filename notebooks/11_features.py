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
# off the model object itself at the paper's width (64), so they cannot drift from
# the code. Fig. 15 of the paper shows what the trained network computes: the
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
from derain.book.chapters import stage_dir
from derain.data import SceneTestSet
from derain.evaluation import load_model
from derain.evaluation.stress import heavy_rain_sweep
from derain.images import rgb_to_ycbcr
from derain.nets import DerainNet, count_parameters, layer_table

out = stage_dir("features")
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Tables I and II: the layers
#
# Every convolution, pooling and upsampling layer in the order an input meets
# them, at the paper's width. Scale is the output's size relative to the input.
# The three encoders differ only in kernel size; the filter generator of the
# dynamic fusion holds most of the parameters (its output is a 256 x 768 filter
# at every 1/8-resolution position).

# %%
paper_net = DerainNet(width=paper_width)
layers = pd.DataFrame(layer_table(paper_net, size=table_size))
layers["kernel"] = layers["kernel"].astype("Int64")
encoder_rows = layers["layer"].str.startswith("encoders.")
layers[encoder_rows].to_csv(out / "table1_encoders.csv", index=False)
layers[~encoder_rows].to_csv(out / "table2_fusion_decoder.csv", index=False)
total = count_parameters(paper_net)
assert layers["parameters"].sum() == total  # every parameter is in some row
print(f"width {paper_width}: {total:,} parameters, "
      f"{layers.loc[layers['type'] == 'Conv2d', 'parameters'].max():,} in the "
      "largest layer")
layers[encoder_rows & layers["layer"].str.startswith("encoders.0")]

# %%
layers[~encoder_rows]

# %% [markdown]
# ## What the trained network computes (Fig. 15)
#
# The main model of chapter 2 on a held-out test scene. The first-layer maps are
# the outputs of the first convolution (after its activation) of each encoder,
# the last-layer maps those of the decoder's second-to-last convolution, which
# the last one turns into the rain estimate. Each map is scaled to its own range.

# %%
net = load_model(stage_dir("train") / "model.pt")
scene = next(iter(SceneTestSet(stage_dir("data"), "test", 1)))
plots.savefig(plots.feature_maps(net, scene), out / "fig15_features.png")

# %% [markdown]
# ## Heavy rain (Fig. 19)
#
# The same test scene under rain of growing density, with and without a veil
# (rain accumulation). The training data's densities lie in
# `data.rain.density_range` of `params.yaml`; the larger ones here are outside it.
# The gain is the output's PSNR minus the input's: where it turns negative the
# model harms the image.

# %%
heavy_table, examples = heavy_rain_sweep(net, scene[2], densities, veils, heavy,
                                         seed)
heavy_table.to_csv(out / "table_heavy_rain.csv", index=False)
heavy_table

# %%
plots.gain_vs_density(heavy_table, out / "fig19_heavy_rain_gain.png")

# %%
worst = heavy_table["gain (dB)"].idxmin()
chosen = sorted({0, worst, len(examples) - 1})
crop = plots.centre_window(scene[1].shape, 160)
fig = plots.image_grid([[examples[i][1][crop], examples[i][2][crop]] for i in chosen],
                       col_titles=["rainy", "derained"],
                       row_titles=[examples[i][0] for i in chosen], size=2.6)
plots.savefig(fig, out / "fig19_failure_cases.png")
luma = rgb_to_ycbcr(examples[worst][1])[..., 0].mean()
print(f"worst case: {examples[worst][0]}, gain "
      f"{heavy_table.loc[worst, 'gain (dB)']:+.2f} dB (mean luminance {luma:.2f})")

# %% [markdown]
# ## Claim
#
# The paper shows failures in heavy rain without a number. Read here as: at the
# heaviest rain the model's gain over the input falls below 0.1 dB (it leaves the
# rain as it was) or turns negative.

# %%
claims = tables.heavy_rain_claim(heavy_table, "11_features")
claims.to_csv(out / "claims.csv", index=False)
claims

# %%
metrics = {"paper_width_parameters": total,
           "heavy_rain_worst_gain_db": float(heavy_table["gain (dB)"].min()),
           "heavy_rain_best_gain_db": float(heavy_table["gain (dB)"].max())}
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
