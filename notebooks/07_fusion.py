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
# the settings of the loss-ablation chapter. The concatenation and dynamic runs
# *are* that chapter's rows "Lr+Lb+Ls+Lv" and "Lr+Lb+Ls+Lv+Dyn": they are read from
# its results, not trained again.

# %% tags=["parameters"]
fusions = ["sum", "product"]
workers = 1

# %%
import pandas as pd

from derain import paper
from derain.book import plots, tables
from derain.book.study import Study, pair_claims

study = Study.load("fusion")
out, floor = study.out_dir, study.floor
# The loss-ablation rows that are also fusion rows, by their Table VII name.
SHARED = {"concat": "Lr+Lb+Ls+Lv", "dynamic": "Lr+Lb+Ls+Lv+Dyn"}

# %%
trained = study.run({f: {"model": {"fusion": f}} for f in fusions}, workers)
runs = pd.concat([trained, study.reuse({v: k for k, v in SHARED.items()})],
                 ignore_index=True)
runs.to_csv(out / "runs.csv", index=False)

# %% [markdown]
# ## Table VII

# %%
table7 = tables.table7(runs, fusions)
table7.to_csv(out / "table7_fusion.csv")
print(f"rainy input: synthetic {floor['test_psnr']:.2f} dB")
table7

# %%
plots.score_panels(runs, floor, "Table VII: fusion methods",
                   out / "fig_table7_fusion.png")

# %% [markdown]
# ## The effect of the dynamic fusion on an image (Fig. 12)
#
# The same held-out crop derained by the first seed of each fusion.

# %%
nets = {f: study.model(SHARED[f], stage="loss_ablation") if f in SHARED
        else study.model(f) for f in table7.index}
plots.savefig(plots.derained_rows(study.test_scene(), nets, size=2.0),
              out / "fig12_fusion_effect.png")

# %% [markdown]
# ## Claims

# %%
present = set(runs["name"])
pairs = [(f"dynamic fusion beats {other}", "dynamic", other)
         for other in ["concat", "sum", "product"] if other in present]
reference = {name: value[0] for name, value in paper.TABLE7.items()}
claims, _ = pair_claims(runs, pairs, "07_fusion", reference)
# The concatenation is the paper's second-best fusion: a synthetic-only check.
sum_claim, _ = pair_claims(runs, [("concatenation beats sum", "concat", "sum")],
                           "07_fusion", reference, with_rain100l=False)
claims = pd.concat([claims, sum_claim], ignore_index=True)
claims.to_csv(out / "claims.csv", index=False)
claims

# %%
study.save_metrics(runs, trained)
