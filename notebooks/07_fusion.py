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
ablation_dir = "results/loss_ablation"
out_dir = "results/fusion"
fusions = ["sum", "product"]
workers = 1

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from derain import paper
from derain.data import SceneTestSet
from derain.experiments import (
    claims_table,
    input_scores,
    load_base,
    load_runs,
    make_spec,
    run_all,
    run_dir,
    score_columns,
    summarise,
    verdict,
)
from derain.inference import derain, load_model
from derain.plots import image_grid, savefig, score_bars

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
base = load_base(ablation_dir)
run, seeds, evaluation = base["run"], base["seeds"], base["evaluation"]
data_dir = base["data_dir"]
# The loss-ablation rows that are also fusion rows, by their Table VII name.
SHARED = {"concat": "Lr+Lb+Ls+Lv", "dynamic": "Lr+Lb+Ls+Lv+Dyn"}

# %%
specs = [make_spec(fusion, seed, run, model={"fusion": fusion})
         for fusion in fusions for seed in seeds]
trained = run_all(specs, out, data_dir, evaluation, workers=workers)
shared = load_runs(ablation_dir, {v: k for k, v in SHARED.items()})
runs = pd.concat([trained, shared], ignore_index=True)
runs.to_csv(out / "runs.csv", index=False)
floor = input_scores(data_dir, evaluation)

# %% [markdown]
# ## Table VII

# %%
summary = summarise(runs)
rows = []
for name, s in summary.iterrows():
    ref = paper.TABLE7.get(name, ("", ""))
    rows.append({
        "fusion": name, "seeds": int(s["seeds"]),
        "trained in": "this chapter" if name in fusions else "loss ablation",
        **score_columns(s),
        "paper's PSNR (reference)": ref[0], "paper's SSIM (reference)": ref[1],
    })
table7 = pd.DataFrame(rows).set_index("fusion")
table7.to_csv(out / "table7_fusion.csv")
print(f"rainy input: synthetic {floor['test_psnr']:.2f} dB")
table7

# %%
metric_sets = [("test_psnr", "synthetic test, PSNR (dB)")]
if "rain100l_psnr" in runs:
    metric_sets.append(("rain100l_psnr", "Rain100L, PSNR (dB)"))
fig, axes = plt.subplots(1, len(metric_sets), figsize=(5 * len(metric_sets), 3.6),
                         squeeze=False)
for ax, (metric, title) in zip(axes[0], metric_sets, strict=True):
    score_bars(ax, runs, metric, floor=floor[metric], title=title)
fig.suptitle("Table VII: fusion methods", fontsize=10)
fig.tight_layout()
savefig(fig, out / "fig_table7_fusion.png")

# %% [markdown]
# ## The effect of the dynamic fusion on an image (Fig. 12)
#
# The same held-out crop derained by the first seed of each fusion.

# %%
name, rainy, clean = next(iter(SceneTestSet(data_dir, "test", 1)))
h, w = rainy.shape[:2]
crop = (slice(h // 2 - 64, h // 2 + 64), slice(w // 2 - 64, w // 2 + 64)) \
    if min(h, w) >= 128 else (slice(None), slice(None))
image_rows, titles = [], []
for fusion in list(summary.index):
    folder = (ablation_dir, {"name": SHARED[fusion], "seed": seeds[0]}) \
        if fusion in SHARED else (out, {"name": fusion, "seed": seeds[0]})
    net = load_model(run_dir(*folder) / "model.pt")
    background, rain = derain(net, rainy)
    image_rows.append([background[crop], np.clip(4 * rain[crop], 0, 1)])
    titles.append(fusion)
fig = image_grid([[rainy[crop], clean[crop]]] + image_rows,
                 col_titles=["background B", "rain S (x4)"],
                 row_titles=["input | clean"] + titles, size=2.0)
savefig(fig, out / "fig12_fusion_effect.png")

# %% [markdown]
# ## Claims

# %%
claims = []
for other in ["concat", "sum", "product"]:
    if other not in set(runs["name"]):
        continue
    result = verdict(runs, "dynamic", other, "test_psnr")
    paper_diff = paper.TABLE7["dynamic"][0] - paper.TABLE7[other][0]
    ours = f"{result['difference']:+.2f} dB (seed range {result['spread']:.2f})"
    if "rain100l_psnr" in runs:
        r100 = verdict(runs, "dynamic", other, "rain100l_psnr")
        ours += f"; Rain100L {r100['difference']:+.2f} ({r100['verdict']})"
    claims.append({"claim": f"dynamic fusion beats {other}",
                   "paper": f"{paper_diff:+.2f} dB", "ours": ours,
                   "verdict": result["verdict"], "chapter": "07_fusion"})
result = verdict(runs, "concat", "sum", "test_psnr")
claims.append({"claim": "concatenation beats sum",
               "paper": f"{paper.TABLE7['concat'][0] - paper.TABLE7['sum'][0]:+.2f} dB",
               "ours": f"{result['difference']:+.2f} dB (seed range "
               f"{result['spread']:.2f})",
               "verdict": result["verdict"], "chapter": "07_fusion"})
claims = claims_table(claims)
claims.to_csv(out / "claims.csv", index=False)
claims

# %%
metrics = {f"{name}/test_psnr": float(s["test_psnr"])
           for name, s in summary.iterrows()}
metrics["runs_trained_here"] = len(trained)
metrics["steps_per_second"] = float(trained["steps_per_second"].mean())
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
