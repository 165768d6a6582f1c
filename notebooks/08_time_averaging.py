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
# # Time-averaging against learning from the sequence
#
# A static scene filmed through rain offers a simpler answer than learning: average
# its frames, or take their per-pixel median (the way SPANet builds its clean
# images from sequences). That needs many frames at test time. It can also make
# *pseudo ground truth* for training a single-image network with full
# supervision. The paper (Figs. 13 and 14) compares these against its network
# trained on r frames per scene, and finds the network better, most clearly when r
# is small.
#
# For each r this chapter measures:
#
# - **averaging itself**: the mean and the median of the first r frames of each
#   training scene against its clean background (how good the pseudo ground truth
#   is; the clean backgrounds are used for this measurement only);
# - **time-lapse training with r frames**: the network and losses of the loss
#   ablation chapter, each scene limited to its first r frames;
# - **supervised on the time-averaged pseudo ground truth**: the same network, the
#   same frames, trained with an L1 loss to the per-pixel median of the scene's r
#   frames;
# - **supervised on the clean background** (ground truth, independent of r): the
#   upper bound of what this network learns from this data.
#
# The networks are scored on the held-out test scenes and on Rain100L when present.
# The time-lapse run with every frame is the loss-ablation chapter's full model,
# read from its results.

# %% tags=["parameters"]
ablation_dir = "results/loss_ablation"
out_dir = "results/time_averaging"
frames = [2, 3]
pseudo_target = "median"
workers = 1

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from derain.data import load_manifest
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
from derain.images import load_image
from derain.inference import derain, load_model
from derain.metrics import psnr, ssim
from derain.plots import image_grid, savefig

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
base = load_base(ablation_dir)
run, seeds, evaluation = base["run"], base["seeds"], base["evaluation"]
data_dir = base["data_dir"]
manifest = load_manifest(data_dir)
train_scenes = [s for s in manifest["scenes"] if s["split"] == "train"]
n_frames = min(len(s["frames"]) for s in train_scenes)
frames = sorted({min(int(r), n_frames) for r in frames})
FULL = "Lr+Lb+Ls+Lv+Dyn"  # the loss-ablation run with every frame
print(f"{len(train_scenes)} training scenes of {n_frames} frames; r = {frames}")

# %% [markdown]
# ## Averaging r frames, without learning
#
# PSNR and SSIM (Y channel) of the mean and the median of the first r frames
# against the clean background, over the training scenes. r = 1 is a single rainy
# frame.

# %%
def scene_frames(scene):
    folder = Path(data_dir) / "frames" / "train" / scene["name"]
    return np.stack([load_image(p) for p in sorted(folder.iterdir())])


def clean_of(scene):
    return load_image(Path(data_dir) / "clean" / "train" / f"{scene['name']}.png")


rows = []
for scene in train_scenes:
    stack, clean = scene_frames(scene), clean_of(scene)
    for r in sorted({1, *frames}):
        for how, image in [("mean", stack[:r].mean(0)),
                           ("median", np.median(stack[:r], axis=0))]:
            rows.append({"r": r, "how": how, "psnr": psnr(image, clean),
                         "ssim": ssim(image, clean)})
averaging = pd.DataFrame(rows).groupby(["how", "r"])[["psnr", "ssim"]].mean()
averaging.to_csv(out / "averaging_quality.csv")
averaging.unstack(0)

# %% [markdown]
# ## The networks

# %%
specs = []
for seed in seeds:
    for r in frames:
        if r < n_frames:
            specs.append(make_spec(f"time-lapse r={r}", seed, run,
                                   frames_per_scene=r))
        specs.append(make_spec(f"{pseudo_target} pseudo-GT r={r}", seed, run,
                               frames_per_scene=r, target=pseudo_target))
    specs.append(make_spec("clean ground truth", seed, run, target="clean"))
trained = run_all(specs, out, data_dir, evaluation, workers=workers)
full = load_runs(ablation_dir, {FULL: f"time-lapse r={n_frames}"})
runs = pd.concat([trained, full], ignore_index=True)
runs.to_csv(out / "runs.csv", index=False)
floor = input_scores(data_dir, evaluation)


def label_r(name):
    return int(name.split("r=")[1]) if "r=" in name else None


runs["r"] = runs["name"].map(label_r)
runs["method"] = runs["name"].str.split(" r=").str[0]
summary = summarise(runs)
table = []
for name, s in summary.iterrows():
    table.append({
        "method": name.split(" r=")[0], "r": label_r(name), "seeds": int(s["seeds"]),
        **score_columns(s, rain100l_ssim=False),
    })
table = pd.DataFrame(table).sort_values(["method", "r"]).set_index(["method", "r"])
table.to_csv(out / "table_time_averaging.csv")
print(f"rainy input: synthetic {floor['test_psnr']:.2f} dB" +
      (f", Rain100L {floor['rain100l_psnr']:.2f} dB" if "rain100l_psnr" in floor
       else ""))
# The network supervised by the true background shows what this budget allows:
# no other network here can be expected to gain much more over the input.
bound = summary.loc["clean ground truth", "test_psnr"] - floor["test_psnr"]
print(f"supervised by the clean background: {bound:+.2f} dB over the input on the "
      "synthetic test scenes")
table

# %% [markdown]
# ## PSNR against r (Fig. 14)
#
# Left: the quality of time-averaging itself on the training scenes. Middle and
# right: single-image networks on the test scenes and on Rain100L, seed means with
# the seed range; the dashed lines are the rainy input and the network supervised
# with the clean background.

# %%
panels = [("test_psnr", "synthetic test scenes")]
if "rain100l_psnr" in runs:
    panels.append(("rain100l_psnr", "Rain100L"))
fig, axes = plt.subplots(1, 1 + len(panels), figsize=(4.6 * (1 + len(panels)), 3.6))
for how in ["mean", "median"]:
    part = averaging.loc[how]
    axes[0].plot(part.index, part["psnr"], marker="o", label=f"{how} of r frames")
axes[0].set_title("time-averaging (training scenes)", fontsize=10)
for ax, (metric, title) in zip(axes[1:], panels, strict=True):
    for method in ["time-lapse", f"{pseudo_target} pseudo-GT"]:
        part = runs[runs["method"] == method].groupby("r")[metric]
        mean, low, high = part.mean(), part.min(), part.max()
        ax.plot(mean.index, mean, marker="o", label=f"{method} network")
        ax.fill_between(mean.index, low, high, alpha=0.2)
    gt = runs.loc[runs["name"] == "clean ground truth", metric].mean()
    ax.axhline(gt, color="green", ls="--", lw=1, label="supervised, clean GT")
    ax.axhline(floor[metric], color="gray", ls="--", lw=1, label="rainy input")
    ax.set_title(f"single-image networks ({title})", fontsize=10)
for ax in axes:
    ax.set_xlabel("r, frames per scene")
    ax.set_ylabel("PSNR (dB)")
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=7)
fig.tight_layout()
savefig(fig, out / "fig14_psnr_vs_frames.png")

# %% [markdown]
# ## Visual comparison (Fig. 13)
#
# One training scene: the median of r frames (top row) against the time-lapse
# network trained with r frames applied to the scene's first frame alone (bottom
# row).

# %%
scene = train_scenes[0]
stack = scene_frames(scene)
h, w = stack.shape[1:3]
crop = (slice(h // 2 - 64, h // 2 + 64), slice(w // 2 - 64, w // 2 + 64)) \
    if min(h, w) >= 128 else (slice(None), slice(None))
top, bottom = [], []
for r in frames:
    top.append(np.median(stack[:r], axis=0)[crop])
    source = (ablation_dir, FULL) if r >= n_frames else (out, f"time-lapse r={r}")
    net = load_model(run_dir(source[0], {"name": source[1], "seed": seeds[0]})
                     / "model.pt")
    bottom.append(derain(net, stack[0])[0][crop])
fig = image_grid([[stack[0][crop], *top], [clean_of(scene)[crop], *bottom]],
                 col_titles=["frame 1 | clean"] + [f"r = {r}" for r in frames],
                 row_titles=["median of r frames", "network, one frame"], size=2.0)
savefig(fig, out / "fig13_time_averaging.png")

# %% [markdown]
# ## Claims

# %%
claims = []
for r in frames:
    result = verdict(runs, f"time-lapse r={r}", f"{pseudo_target} pseudo-GT r={r}",
                     "test_psnr")
    claims.append({
        "claim": f"time-lapse training beats supervision by the {pseudo_target} "
                 f"pseudo ground truth, r = {r}",
        "paper": "holds for every r in Fig. 14",
        "ours": f"{result['difference']:+.2f} dB (seed range {result['spread']:.2f})",
        "verdict": result["verdict"], "chapter": "08_time_averaging"})
if len(frames) > 1:
    lo, hi = frames[0], frames[-1]
    for method in ["time-lapse", f"{pseudo_target} pseudo-GT"]:
        result = verdict(runs, f"{method} r={hi}", f"{method} r={lo}", "test_psnr")
        claims.append({
            "claim": f"{method} network improves with r ({lo} -> {hi})",
            "paper": "both improve with r (Figs. 13, 14)",
            "ours": f"{result['difference']:+.2f} dB (seed range "
                    f"{result['spread']:.2f})",
            "verdict": result["verdict"], "chapter": "08_time_averaging"})
claims = claims_table(claims)
claims.to_csv(out / "claims.csv", index=False)
claims

# %%
metrics = {f"{name}/test_psnr": float(s["test_psnr"])
           for name, s in summary.iterrows()}
metrics["runs_trained_here"] = len(trained)
metrics["steps_per_second"] = float(trained["steps_per_second"].mean())
for (how, r), s in averaging.iterrows():
    metrics[f"averaging/{how}/r={r}/psnr"] = float(s["psnr"])
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
