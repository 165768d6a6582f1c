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
# # Fusion of the three encoders
#
# The three encoders (3x3, 5x5 and 7x7 kernels) meet at 1/8 resolution. The paper's
# Table VII compares four ways of merging their features: element-wise sum,
# element-wise product, concatenation followed by a 1x1 convolution, and the
# dynamic fusion module, whose 1x1 filters are generated from the features
# themselves at each position. All four are trained here with all four losses and
# the budget of chapter 6. The concatenation and dynamic runs *are* Table VI's rows
# "Lr+Lb+Ls+Lv" (chapter 7) and "Lr+Lb+Ls+Lv+Dyn" (chapter 6): they are read from
# those chapters, not trained again, and the claim that the dynamic fusion beats
# the concatenation is decided here, once.

# %% tags=["parameters"]
fusions = ["sum", "product"]
workers = 1

# %%
import pandas as pd

from derain import paper
from derain.book import plots, tables
from derain.book.captions import Page
from derain.book.study import FULL, Study

study = Study.load("fusion")
out, floor = study.out_dir, study.floor
page = Page("fusion", fusions=fusions, workers=workers)
trained = study.run({f: {"model": {"fusion": f}} for f in fusions}, workers)
runs = pd.concat([trained, study.reuse({"Lr+Lb+Ls+Lv": "concat"}, "loss_ablation"),
                  study.reuse({FULL: "dynamic"}, "design")], ignore_index=True)
runs.to_csv(out / "runs.csv", index=False)

# %% [markdown]
# ## Table VII
#
# Each fusion's paired gain over the rainy input (95 % interval, seed sd), its
# absolute scores and the paper's values as a reference
# ({numref}`table7_fusion`); the rainy input scores {glue:text}`fusion_input` on
# the synthetic test scenes. {numref}`fig_table7_fusion` draws the gains.

# %%
table7 = tables.table7(study, runs, fusions)
page.table(table7, "table7_fusion",
           "The four fusions: where each run was trained, its paired gain over "
           "the rainy input (95 % interval, seed sd), absolute scores (seed mean "
           "± half the seed range) and the paper's values on its own test set "
           "as reference.", paper="Table VII", params=["fusions"])
page.number("fusion_input", floor["test_psnr"], "{:.2f} dB")

# %%
page.figure(plots.gain_intervals(study, list(table7.index),
                                 "Table VII: gain over the rainy input"),
            "fig_table7_fusion",
            "Each fusion's PSNR gain over the rainy input on the test scenes: mean "
            "(dot), 95 % paired interval (bar) and each seed (black dots).",
            paper="Table VII", data=tables.gains(study, list(table7.index)),
            params=["fusions"])

# %% [markdown]
# ## The effect of the dynamic fusion on an image (Fig. 12)
#
# The same held-out crop derained by the first seed of each fusion
# ({numref}`fig12_fusion_effect`).

# %%
nets = {"concat": study.model("Lr+Lb+Ls+Lv", stage="loss_ablation"),
        "dynamic": study.model(FULL, stage="design"),
        **{f: study.model(f) for f in fusions}}
page.figure(plots.derained_rows(study.test_scene(), nets, size=2.0),
            "fig12_fusion_effect",
            "One held-out test scene derained by the first seed of each fusion "
            "(rows): the rainy input, the background B, the estimated rain S (x4) "
            "and the clean background.", paper="Fig. 12", params=["fusions"])

# %% [markdown]
# ## Claims
#
# The dynamic fusion against the concatenation (claim C6) and against the better
# of sum and product by seed-mean PSNR (claim C7: beating the better one is
# beating both); the concatenation against the sum is the book's own check
# ({numref}`claims_fusion`).

# %%
ref = {name: value[0] for name, value in paper.TABLE7.items()}
means = runs.groupby("name")["test_psnr"].mean()
best_simple = max(fusions, key=lambda f: means[f])
study.claim("C6", "dynamic fusion beats concatenation (Tables VI-VII)", "dynamic",
            "concat", paper=f"{ref['dynamic'] - ref['concat']:+.2f} dB")
study.claim("C7", f"dynamic fusion beats {best_simple}, the better of sum and "
            "product", "dynamic", best_simple,
            paper=f"{ref['dynamic'] - ref[best_simple]:+.2f} dB")
study.claim("", "concatenation beats sum", "concat", "sum",
            paper=f"{ref['concat'] - ref['sum']:+.2f} dB")
claims = study.claims()
page.claims(claims, "The claims of the fusion comparison: the paper's difference "
            "(on its test set), ours (paired, 95 % interval, seed sd), the verdict "
            "by the rule of chapter 6 and the smallest difference each comparison "
            "could decide.", paper="Table VII")
page.number("fusion_best_simple", best_simple, "{}")

# %%
study.save_metrics(runs, trained)
gain = tables.gains(study, list(table7.index)).set_index("run")["gain (dB)"]
page.number("fusion_dynamic_gain", gain.get("dynamic"), "{:+.2f} dB")
page.number("fusion_best", gain.idxmax(), "{}")

# %% [markdown]
# ## What this chapter found
#
# The dynamic fusion gains {glue:text}`fusion_dynamic_gain` over the rainy input;
# the fusion that gains most here is {glue:text}`fusion_best`. The claim that the
# dynamic fusion beats the concatenation (C6) {glue:text}`C6_verdict`
# ({glue:text}`C6_ours`); the claim that it beats {glue:text}`fusion_best_simple`,
# the better of sum and product (C7), {glue:text}`C7_verdict`
# ({glue:text}`C7_ours`). The median smallest difference these comparisons could
# decide is {glue:text}`claims_detectable`.
