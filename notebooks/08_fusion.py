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
from derain.book.study import FULL, Study

study = Study.load("fusion")
out, floor = study.out_dir, study.floor
trained = study.run({f: {"model": {"fusion": f}} for f in fusions}, workers)
runs = pd.concat([trained, study.reuse({"Lr+Lb+Ls+Lv": "concat"}, "loss_ablation"),
                  study.reuse({FULL: "dynamic"}, "design")], ignore_index=True)
runs.to_csv(out / "runs.csv", index=False)

# %% [markdown]
# ## Table VII

# %%
table7 = tables.table7(study, runs, fusions)
table7.to_csv(out / "table7_fusion.csv")
print(f"rainy input: synthetic {floor['test_psnr']:.2f} dB")
table7

# %%
plots.savefig(plots.gain_intervals(study, list(table7.index),
                                   "Table VII: gain over the rainy input"),
              out / "fig_table7_fusion.png")

# %% [markdown]
# ## The effect of the dynamic fusion on an image (Fig. 12)
#
# The same held-out crop derained by the first seed of each fusion.

# %%
nets = {"concat": study.model("Lr+Lb+Ls+Lv", stage="loss_ablation"),
        "dynamic": study.model(FULL, stage="design"),
        **{f: study.model(f) for f in fusions}}
plots.savefig(plots.derained_rows(study.test_scene(), nets, size=2.0),
              out / "fig12_fusion_effect.png")

# %% [markdown]
# ## Claims
#
# The dynamic fusion against the concatenation (claim C6) and against the better
# of sum and product by seed-mean PSNR (claim C7: beating the better one is
# beating both); the concatenation against the sum is the book's own check.

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
claims.to_csv(out / "claims.csv", index=False)
print(f"smallest difference this chapter can decide: "
      f"{claims['detectable (dB)'].median():.2f} dB (median over its comparisons)")
claims

# %%
study.save_metrics(runs, trained)
