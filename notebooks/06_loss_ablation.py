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
# # Loss ablation
#
# The paper's Table VI trains the network with subsets of its four losses, with and
# without the dynamic fusion module ("Dyn."; without it the three encoders' features
# are concatenated and mixed by a 1x1 convolution). This chapter trains all seven
# rows as configurations of the same training code, plus the control the paper
# states in its text: L_s computed between a frame and its *own* output (m = n),
# with which "the network learns not to remove rain".
#
# The runs are short and small (see the settings below), against the paper's two
# days on a GPU. Runs this short may hardly leave the
# identity they start from (the rain estimate starts at exactly zero); the table
# counts, for each configuration, the seeds that did. Each configuration is
# trained with several seeds; a difference between two rows counts only when it
# is larger than the seed-to-seed spread, otherwise the verdict is
# *inconclusive*. Scores are on the
# held-out synthetic test scenes (Kodak backgrounds) and on Rain100L when present.
# The paper's numbers (on its own real test set) are a reference column, not a
# result of this book. The runs of this chapter are reused by the fusion,
# time-averaging and model-size chapters: their settings are the settings of every
# experiment chapter.

# %% tags=["parameters"]
data_root = "datasets"
seeds = [0, 1]
workers = 1
training = {  # the smoke size; params.yaml gives the book's
    "model": {"width": 2, "fusion": "dynamic", "slope": 0.01},
    "loss": {"lambda_b": 0.1, "lambda_s": 1.0, "lambda_v": 0.01, "lambda_r": 0.001,
             "gamma_start": 1.0, "gamma_end": 1.0},
    "steps": 2, "batch_size": 2, "crop": 32, "lr": 0.001, "checkpoint_every": 1,
}
eval_frames = 1
rain100l_limit = 2
device = "auto"

# %%
import json

import pandas as pd

from derain import paper
from derain.book import plots, tables
from derain.book.study import Study, pair_claims, seed_means
from derain.evaluation import MIN_DIFFERENCE

study = Study.create("loss_ablation", training, seeds, data_root, eval_frames,
                     rain100l_limit, device)
out, floor = study.out_dir, study.floor
print("settings shared by every experiment run:")
print(study.settings_note())
print("Rain100L:", study.evaluation["rain100l"] or "absent (synthetic test only)")

# %% [markdown]
# ## The configurations
#
# A term is switched off by setting its weight to 0; the weights of the terms that
# remain are this book's recipe (chapter 2). "Dyn." rows use the dynamic fusion,
# the others the concatenation: the concatenation rows are also the "concat" row of
# the fusion chapter, as in the paper, where Table VI's row without Dyn. equals
# Table VII's concatenation row.

# %%
configs = tables.table6_configs(training["loss"])
tables.describe_configs(configs, training)

# %%
runs = study.run(configs, workers)
runs.to_csv(out / "runs.csv", index=False)
print(f"{len(runs)} runs; training speed {runs['steps_per_second'].mean():.2f} "
      "steps/s per run")

# %% [markdown]
# ## Table VI
#
# Mean over seeds ± half the range (max - min) of the seeds; the rainy input's own
# score is the first row. "collapsed" counts the seeds whose background lost the
# scene (contrast below half the input's, chapter 2); "moved" counts the seeds
# whose synthetic PSNR differs from the input's by more than 0.05 dB, that is,
# the runs that left the identity they start from (the rain estimate starts at
# exactly zero).

# %%
table6 = tables.table6(runs, floor)
table6.to_csv(out / "table6_loss_ablation.csv")
stuck = (runs["test_psnr"] - floor["test_psnr"]).abs().le(MIN_DIFFERENCE)
print(f"{int(stuck.sum())} of {len(runs)} runs ended within {MIN_DIFFERENCE} dB of "
      f"the rainy input on the synthetic test scenes; "
      f"{int(runs['collapsed'].sum())} collapsed.")
table6

# %%
plots.score_panels(runs, floor, "Table VI: seed means (bars), seeds (dots) and range",
                   out / "fig_table6_loss_ablation.png", width=6.5, height=4)

# %% [markdown]
# ## What each loss does to an image (Figs. 3 and 11)
#
# One held-out test scene derained by the first seed of each configuration: the
# background B and the estimated rain S (brighter = more rain removed). The paper's
# Fig. 3 shows the background consistency loss alone keeping rain-free but
# flattened images, and Fig. 11 shows L_v removing oriented streaks that the other
# terms leave.

# %%
fig = plots.derained_rows(study.test_scene(), {c: study.model(c) for c in configs})
plots.savefig(fig, out / "fig3_loss_effects.png")

# %% [markdown]
# ## Claims
#
# Each claim compares two configurations on the synthetic test scenes (and on
# Rain100L when present, reported beside). A claim holds when the difference of the
# seed means has the paper's sign and exceeds the seed range of both
# configurations.

# %%
pairs = [
    ("adding L_s to L_r + L_b improves (Table VI rows 1-2)", "Lr+Lb+Ls", "Lr+Lb"),
    ("adding L_v improves, concatenation (rows 2, 4)", "Lr+Lb+Ls+Lv", "Lr+Lb+Ls"),
    ("adding L_v improves, Dyn. (rows 5, 7)", "Lr+Lb+Ls+Lv+Dyn", "Lr+Lb+Ls+Dyn"),
    ("adding L_r improves, concatenation (rows 3, 4)", "Lr+Lb+Ls+Lv", "Lb+Ls+Lv"),
    ("adding L_r improves, Dyn. (rows 6, 7)", "Lr+Lb+Ls+Lv+Dyn", "Lb+Ls+Lv+Dyn"),
    ("dynamic fusion beats concatenation, all losses (rows 4, 7)",
     "Lr+Lb+Ls+Lv+Dyn", "Lr+Lb+Ls+Lv"),
    ("with m = n the network does not learn to remove rain",
     "Lr+Lb+Ls+Lv+Dyn", "m=n control"),
]
ref_psnr = {row["row"]: row["paper"][0] for row in paper.TABLE6}
claims, details = pair_claims(runs, pairs, "06_loss_ablation", ref_psnr)

extra = [tables.control_claim(runs, floor, "m=n control", "06_loss_ablation"),
         *tables.lr_claim(runs, "06_loss_ablation")]
claims = pd.concat([claims, pd.DataFrame(extra)], ignore_index=True)
claims.to_csv(out / "claims.csv", index=False)
details.to_csv(out / "claims_detail.csv", index=False)
claims

# %%
metrics = {"runs": len(runs), "seeds": len(seeds), "steps_per_run": training["steps"],
           "steps_per_second": float(runs["steps_per_second"].mean()),
           "input_test_psnr": floor["test_psnr"]}
metrics |= seed_means(runs, rain100l=True)
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
print(claims["verdict"].value_counts().to_string())
