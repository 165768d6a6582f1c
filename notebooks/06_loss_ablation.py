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
# The runs are short and small (see the settings below): a few minutes each on a
# CPU, against the paper's two days on a GPU. Runs this short may hardly leave the
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
data_dir = "results/data"
data_root = "datasets"
out_dir = "results/loss_ablation"
seeds = [0, 1]
workers = 1
run = {"model": {"width": 2, "kernels": "3/5/7", "fusion": "dynamic",
                 "in_channels": 1, "slope": 0.01},
       "loss": {"lambda_b": 0.1, "lambda_s": 1.0, "lambda_v": 0.01,
                "lambda_r": 0.001, "gamma_start": 1.0, "gamma_end": 1.0,
                "gamma_decay": 0.3},
       "steps": 2, "batch_size": 2, "crop": 32, "lr": 0.001, "beta1": 0.9,
       "checkpoint_every": 1}
test_frames = 1
rain100l_limit = 2
device = "auto"

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from derain import paper
from derain.data import SceneTestSet
from derain.experiments import (
    HOLDS,
    INCONCLUSIVE,
    claims_table,
    evaluation_sets,
    input_scores,
    make_spec,
    run_all,
    run_dir,
    save_base,
    score_columns,
    summarise,
    verdict,
)
from derain.inference import derain, load_model
from derain.plots import image_grid, savefig, score_bars

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
evaluation = evaluation_sets(data_root, test_frames, rain100l_limit, device)
base = {"run": run, "seeds": list(seeds), "evaluation": evaluation,
        "data_dir": data_dir}
save_base(out, base)
print("settings shared by every experiment run:")
print(json.dumps(run, indent=1))
print("Rain100L:", evaluation["rain100l"] or "absent (synthetic test scenes only)")

# %% [markdown]
# ## The configurations
#
# A term is switched off by setting its weight to 0; the weights of the terms that
# remain are this book's recipe (chapter 2). "Dyn." rows use the dynamic fusion,
# the others the concatenation: the concatenation rows are also the "concat" row of
# the fusion chapter, as in the paper, where Table VI's row without Dyn. equals
# Table VII's concatenation row.

# %%
WEIGHT = {"b": "lambda_b", "s": "lambda_s", "v": "lambda_v", "r": "lambda_r"}


def row_changes(row):
    loss = {name: (run["loss"][name] if term in row["terms"] else 0.0)
            for term, name in WEIGHT.items()}
    return {"loss": loss,
            "model": {"fusion": "dynamic" if row["dynamic"] else "concat"}}


configs = {row["row"]: row_changes(row) for row in paper.TABLE6}
configs["m=n control"] = {"loss": {"same_frame": True}}
specs = [make_spec(name, seed, run, **changes)
         for name, changes in configs.items() for seed in seeds]
pd.DataFrame([{"configuration": name, "fusion": c["model"]["fusion"]
               if "model" in c else run["model"]["fusion"],
               **{k: v for k, v in {**run["loss"], **c["loss"]}.items()
                  if k.startswith("lambda") or k == "same_frame"}}
              for name, c in configs.items()]).fillna(False)

# %%
runs = run_all(specs, out, data_dir, evaluation, workers=workers)
runs.to_csv(out / "runs.csv", index=False)
floor = input_scores(data_dir, evaluation)
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
IDENTITY_DB = 0.05
summary = summarise(runs)
rows = [{"configuration": "rainy input", "seeds": "",
         "synthetic PSNR": f"{floor['test_psnr']:.2f}",
         "synthetic SSIM": f"{floor['test_ssim']:.3f}",
         **({"Rain100L PSNR": f"{floor['rain100l_psnr']:.2f}",
             "Rain100L SSIM": f"{floor['rain100l_ssim']:.3f}"}
            if "rain100l_psnr" in floor else {}),
         "collapsed": "", "moved": "", "paper's PSNR (reference)": "",
         "paper's SSIM (reference)": ""}]
reference = {row["row"]: row["paper"] for row in paper.TABLE6}
for name, s in summary.iterrows():
    collapsed = int(runs.loc[runs["name"] == name, "collapsed"].sum())
    moved = int((runs.loc[runs["name"] == name, "test_psnr"]
                 - floor["test_psnr"]).abs().gt(IDENTITY_DB).sum())
    ref = reference.get(name, ("", ""))
    rows.append({
        "configuration": name, "seeds": int(s["seeds"]),
        **score_columns(s),
        "collapsed": f"{collapsed}/{int(s['seeds'])}",
        "moved": f"{moved}/{int(s['seeds'])}",
        "paper's PSNR (reference)": ref[0], "paper's SSIM (reference)": ref[1],
    })
table6 = pd.DataFrame(rows).set_index("configuration")
table6.to_csv(out / "table6_loss_ablation.csv")
stuck = (runs["test_psnr"] - floor["test_psnr"]).abs().le(IDENTITY_DB)
print(f"{int(stuck.sum())} of {len(runs)} runs ended within {IDENTITY_DB} dB of the "
      f"rainy input on the synthetic test scenes; {int(runs['collapsed'].sum())} "
      "collapsed.")
table6

# %%
metric_sets = [("test_psnr", "synthetic test, PSNR (dB)")]
if "rain100l_psnr" in runs:
    metric_sets.append(("rain100l_psnr", "Rain100L, PSNR (dB)"))
fig, axes = plt.subplots(1, len(metric_sets), figsize=(6.5 * len(metric_sets), 4),
                         squeeze=False)
for ax, (metric, title) in zip(axes[0], metric_sets, strict=True):
    score_bars(ax, runs, metric, floor=floor[metric], title=title)
fig.suptitle("Table VI: seed means (bars), seeds (dots) and range", fontsize=10)
fig.tight_layout()
savefig(fig, out / "fig_table6_loss_ablation.png")

# %% [markdown]
# ## What each loss does to an image (Figs. 3 and 11)
#
# One held-out test scene derained by the first seed of each configuration: the
# background B and the estimated rain S (brighter = more rain removed). The paper's
# Fig. 3 shows the background consistency loss alone keeping rain-free but
# flattened images, and Fig. 11 shows L_v removing oriented streaks that the other
# terms leave.

# %%
name, rainy, clean = next(iter(SceneTestSet(data_dir, "test", 1)))
h, w = rainy.shape[:2]
crop = (slice(h // 2 - 64, h // 2 + 64), slice(w // 2 - 64, w // 2 + 64)) \
    if min(h, w) >= 128 else (slice(None), slice(None))
image_rows, titles = [], []
for config in configs:
    net = load_model(run_dir(out, {"name": config, "seed": seeds[0]}) / "model.pt")
    background, rain = derain(net, rainy)
    image_rows.append([rainy[crop], background[crop], np.clip(4 * rain[crop], 0, 1),
                       clean[crop]])
    titles.append(config)
fig = image_grid(image_rows, col_titles=["rainy", "background B", "rain S (x4)",
                                         "clean (not used)"], row_titles=titles,
                 size=1.9)
savefig(fig, out / "fig3_loss_effects.png")

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
claims, details = [], []
for claim, better, worse in pairs:
    result = verdict(runs, better, worse, "test_psnr")
    details.append({"claim": claim, **result})
    paper_diff = (ref_psnr[better] - ref_psnr[worse]) if worse in ref_psnr \
        else None
    ours = (f"{result['difference']:+.2f} dB (seed range {result['spread']:.2f})")
    if "rain100l_psnr" in runs:
        r100 = verdict(runs, better, worse, "rain100l_psnr")
        ours += f"; Rain100L {r100['difference']:+.2f} ({r100['verdict']})"
    claims.append({"claim": claim,
                   "paper": f"{paper_diff:+.2f} dB" if paper_diff is not None
                   else "stated in the text",
                   "ours": ours, "verdict": result["verdict"],
                   "chapter": "06_loss_ablation"})

# The m = n control also needs the input as a floor: "does not remove rain" means
# no gain over the rainy input, not only a loss against the full model.
control = runs.loc[runs["name"] == "m=n control", "test_psnr"].to_numpy()
gain = control - floor["test_psnr"]
claims.append({
    "claim": "with m = n the output stays the rainy input (no gain over it)",
    "paper": "stated in the text", "ours": f"{gain.mean():+.2f} dB over the input "
    f"(seeds {', '.join(f'{g:+.2f}' for g in gain)})",
    "verdict": HOLDS if np.all(np.abs(gain) < 0.1) else
    (INCONCLUSIVE if np.any(np.abs(gain) < 0.1) else "does not hold"),
    "chapter": "06_loss_ablation"})

# The paper: "this loss reaches close to 0 after 10% of training". L_r counts only
# where the clipping acts; runs that collapsed clip most of the image, so they are
# reported apart.
with_r = runs[runs["L_r_at_10pct"].notna()] if "L_r_at_10pct" in runs else runs[:0]
sane = with_r[~with_r["collapsed"].astype(bool)]
if len(sane):
    worst = float(sane["L_r_at_10pct"].max())
    collapsed_r = with_r.loc[with_r["collapsed"].astype(bool), "L_r_at_10pct"]
    note = (f"; the {len(collapsed_r)} collapsed runs: up to {collapsed_r.max():.3f}"
            if len(collapsed_r) else "")
    claims.append({
        "claim": "L_r is close to 0 after 10 % of training",
        "paper": "stated in the text",
        "ours": f"L_r at 10 % at most {worst:.1e} (mean |I - B - S| per pixel, "
                f"{len(sane)} runs that kept the scene){note}",
        "verdict": HOLDS if worst < 1e-4 else "does not hold",
        "chapter": "06_loss_ablation"})
claims = claims_table(claims)
claims.to_csv(out / "claims.csv", index=False)
pd.DataFrame(details).to_csv(out / "claims_detail.csv", index=False)
claims

# %%
metrics = {"runs": len(runs), "seeds": len(seeds),
           "steps_per_run": run["steps"],
           "steps_per_second": float(runs["steps_per_second"].mean()),
           "input_test_psnr": floor["test_psnr"]}
for name, s in summary.iterrows():
    metrics[f"{name}/test_psnr"] = float(s["test_psnr"])
    if "rain100l_psnr" in s:
        metrics[f"{name}/rain100l_psnr"] = float(s["rain100l_psnr"])
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
print(claims["verdict"].value_counts().to_string())
