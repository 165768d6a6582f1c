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
# Every run uses the budget of chapter 6 and its seeds; the full model (all four
# losses, Dyn.) is chapter 6's run. A term is switched off by setting its weight
# to 0; the terms that remain keep this book's weights (chapter 2). The table
# shows, for every term of every row, its share of the gradient that reaches the
# network's rain estimate, averaged over training: a row that "adds" a term is an
# ablation of that term only if the term acts. Scores are on the held-out
# synthetic test scenes; each claim is a paired comparison judged by the rule of
# chapter 6. {numref}`loss_ablation_configs` lists the configurations. The
# paper's numbers (on its own real test set) are a reference column, not a
# result of this book. Whether the dynamic fusion beats the
# concatenation is decided once, in chapter 8, from the same runs.

# %% tags=["parameters"]
workers = 1

# %%
import json

import pandas as pd

from derain import paper
from derain.book import plots, tables
from derain.book.captions import Page
from derain.book.study import FULL, Study, seed_means
from derain.evaluation import NO_GAIN_DB

study = Study.load("loss_ablation")
out, floor = study.out_dir, study.floor
page = Page("loss_ablation", workers=workers)
configs = tables.table6_configs(study.training["loss"])
page.table(tables.describe_configs(configs, study.training), "loss_ablation_configs",
           "The configurations of this chapter: the rows of the paper's Table VI "
           "and the m = n control, as the fusion and the loss weights each "
           "trains with (a weight of 0 leaves the term out).", paper="Table VI",
           csv=False)

# %%
trained = study.run({k: v for k, v in configs.items() if k != FULL}, workers)
runs = pd.concat([trained, study.reuse({FULL: FULL}, "design")], ignore_index=True)
runs.to_csv(out / "runs.csv", index=False)
page.number("ablation_trained", len(trained), "{:d}")
page.number("ablation_speed", runs["steps_per_second"].mean(), "{:.2f}")

# %% [markdown]
# This chapter trained {glue:text}`ablation_trained` runs (the full model's come
# from chapter 6), at {glue:text}`ablation_speed` steps per second per run.
#
# ## Table VI
#
# Each configuration's gain over the rainy input (seed-mean PSNR, paired over the
# test images, with its 95 % interval), its absolute PSNR and SSIM (seed mean ±
# half the seed range), how many seeds collapsed (background contrast below half
# the input's, chapter 2), each term's mean share of the gradient, and the
# paper's values as reference columns ({numref}`table6_loss_ablation`).
# {numref}`fig_table6_loss_ablation` draws the gains with their intervals: the
# quantity each claim compares.

# %%
table6 = tables.table6(study, runs)
page.table(table6, "table6_loss_ablation",
           "Every row of Table VI and the m = n control: the paired gain over the "
           "rainy input (95 % interval, seed sd), absolute scores (seed mean ± "
           "half the seed range), collapsed seeds, each loss term's share of the "
           "gradient, and the paper's values on its own test set as reference "
           "(\"–\" where a row has no such value).", paper="Table VI",
           params=["workers"])

# %%
page.figure(plots.gain_intervals(study, list(table6.index),
                                 "Table VI: gain over the rainy input"),
            "fig_table6_loss_ablation",
            "Each configuration's PSNR gain over the rainy input on the test "
            "scenes: mean (dot), 95 % paired interval (bar) and each seed "
            "(black dots).", paper="Table VI",
            data=tables.gains(study, list(table6.index)))

# %% [markdown]
# ## What each loss does to an image (Figs. 3 and 11)
#
# One held-out test scene derained by the first seed of each configuration
# ({numref}`fig3_loss_effects`): the background B and the estimated rain S
# (brighter = more rain removed). The paper's Fig. 3 shows the background
# consistency loss alone keeping rain-free but flattened images, and Fig. 11
# shows L_v removing oriented streaks that the other terms leave.

# %%
nets = {c: study.model(FULL, stage="design") if c == FULL else study.model(c)
        for c in configs}
page.figure(plots.derained_rows(study.test_scene(), nets), "fig3_loss_effects",
            "One held-out test scene derained by the first seed of each "
            "configuration (rows): the rainy input, the background B, the "
            "estimated rain S (x4) and the clean background.",
            paper="Figs. 3 and 11")

# %% [markdown]
# ## Claims
#
# Each claim compares two rows on the same test images
# ({numref}`claims_loss_ablation`). The L_v and L_r claims are decided on the
# rows with the dynamic fusion (the paper's full model); the concatenation rows
# are shown beside as the book's own check. "Does not learn to remove rain"
# (m = n) is read as a gain over the input below {glue:text}`ablation_no_gain`:
# the claim holds when the whole interval of that gain lies below it.

# %%
ref = {row["row"]: row["paper"][0] for row in paper.TABLE6}
page.number("ablation_no_gain", NO_GAIN_DB, "{:g} dB")


def shown(better, worse):
    return f"{ref[better] - ref[worse]:+.2f} dB"


study.claim("C1", "adding L_s to L_r + L_b improves (rows 1-2)", "Lr+Lb+Ls", "Lr+Lb",
            paper=shown("Lr+Lb+Ls", "Lr+Lb"))
study.claim("C2", "adding L_v improves, Dyn. (rows 5, 7)", FULL, "Lr+Lb+Ls+Dyn",
            paper=shown(FULL, "Lr+Lb+Ls+Dyn"))
study.claim("", "adding L_v improves, concatenation (rows 2, 4)", "Lr+Lb+Ls+Lv",
            "Lr+Lb+Ls", paper=shown("Lr+Lb+Ls+Lv", "Lr+Lb+Ls"))
study.claim("C3", "adding L_r improves, Dyn. (rows 6, 7)", FULL, "Lb+Ls+Lv+Dyn",
            paper=shown(FULL, "Lb+Ls+Lv+Dyn"))
study.claim("", "adding L_r improves, concatenation (rows 3, 4)", "Lr+Lb+Ls+Lv",
            "Lb+Ls+Lv", paper=shown("Lr+Lb+Ls+Lv", "Lb+Ls+Lv"))
study.claim("C4", "with m = n the network does not learn to remove rain "
            f"(gain below {NO_GAIN_DB} dB)", "m=n control", "rainy input",
            direction=-1, margin=-NO_GAIN_DB, reference=FULL,
            paper="stated in the text")
claims = pd.concat([study.claims(), pd.DataFrame(tables.lr_claim(runs, study))],
                   ignore_index=True)
page.claims(claims, "The claims of the loss ablation: the paper's difference "
            "(on its test set), ours (paired, 95 % interval, seed sd), the "
            "verdict by the rule of chapter 6, and the smallest difference each "
            "comparison could decide.", paper="Table VI")

# %%
metrics = {"runs_trained_here": len(trained), "seeds": len(study.seeds),
           "steps_per_second": float(trained["steps_per_second"].mean()),
           "input_test_psnr": floor["test_psnr"],
           "verdicts": claims["verdict"].value_counts().to_dict()}
metrics |= seed_means(runs, rain100l=True)
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
full_gain = study.compare(FULL, "rainy input")
page.number("ablation_input", floor["test_psnr"], "{:.2f} dB")
page.number("ablation_full_gain", full_gain["effect"], "{:+.2f} dB")
best = tables.gains(study, list(configs)).set_index("run")["gain (dB)"]
page.number("ablation_best", best.idxmax(), "{}")
page.number("ablation_best_gain", best.max(), "{:+.2f} dB")

# %% [markdown]
# ## What this chapter found
#
# On the test scenes (rainy input {glue:text}`ablation_input`) the full model
# gains {glue:text}`ablation_full_gain`; the configuration that gains most is
# {glue:text}`ablation_best` ({glue:text}`ablation_best_gain`). Of the paper's
# claims decided here, adding L_s (C1) {glue:text}`C1_verdict`
# ({glue:text}`C1_ours`), adding L_v (C2) {glue:text}`C2_verdict`, adding L_r (C3)
# {glue:text}`C3_verdict`, the m = n control (C4) {glue:text}`C4_verdict`, and
# L_r's closeness to 0 (C5) {glue:text}`C5_verdict`. Over all
# {glue:text}`claims_count` comparisons: {glue:text}`claims_holds` hold,
# {glue:text}`claims_fails` do not hold and {glue:text}`claims_inconclusive` are
# inconclusive; the median smallest difference they could decide is
# {glue:text}`claims_detectable`.
