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
frames = [2, 3]
pseudo_target = "median"
workers = 1

# %%
import pandas as pd

from derain.book import plots, tables
from derain.book.study import FULL, Study, pair_claims
from derain.data import load_manifest, split_scenes
from derain.evaluation.floors import averaging_quality

study = Study.load("time_averaging")
out, floor = study.out_dir, study.floor
manifest = load_manifest(study.data_dir)
train_scenes = split_scenes(manifest, "train")
n_frames = min(len(s["frames"]) for s in train_scenes)
frames = sorted({min(int(r), n_frames) for r in frames})
print(f"{len(train_scenes)} training scenes of {n_frames} frames; r = {frames}")

# %% [markdown]
# ## Averaging r frames, without learning
#
# PSNR and SSIM (Y channel) of the mean and the median of the first r frames
# against the clean background, over the training scenes. r = 1 is a single rainy
# frame.

# %%
averaging = averaging_quality(study.data_dir, manifest, frames)
averaging.to_csv(out / "averaging_quality.csv")
averaging.unstack(0)

# %% [markdown]
# ## The networks

# %%
PSEUDO = f"{pseudo_target} pseudo-GT"
configs = {}
for r in frames:
    if r < n_frames:
        configs[f"time-lapse r={r}"] = {"frames": r}
    configs[f"{PSEUDO} r={r}"] = {"frames": r, "objective": "supervised",
                                  "target": pseudo_target}
configs["clean ground truth"] = {"objective": "supervised", "target": "clean"}
trained = study.run(configs, workers, seed_major=True)
runs = pd.concat([trained, study.reuse({FULL: f"time-lapse r={n_frames}"})],
                 ignore_index=True)
runs.to_csv(out / "runs.csv", index=False)
table = tables.time_averaging_table(runs)
table.to_csv(out / "table_time_averaging.csv")
print(f"rainy input: synthetic {floor['test_psnr']:.2f} dB" +
      (f", Rain100L {floor['rain100l_psnr']:.2f} dB" if "rain100l_psnr" in floor
       else ""))
# The network supervised by the true background shows what this budget allows:
# no other network here can be expected to gain much more over the input.
bound = runs.loc[runs["name"] == "clean ground truth", "test_psnr"].mean() \
    - floor["test_psnr"]
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
plots.psnr_vs_frames(averaging, runs, floor, ["time-lapse", PSEUDO],
                     out / "fig14_psnr_vs_frames.png")

# %% [markdown]
# ## Visual comparison (Fig. 13)
#
# One training scene: the median of r frames (top row) against the time-lapse
# network trained with r frames applied to the scene's first frame alone (bottom
# row).

# %%
nets = {r: study.model(FULL, stage="loss_ablation") if r >= n_frames
        else study.model(f"time-lapse r={r}") for r in frames}
plots.savefig(plots.time_averaging_grid(study.data_dir, train_scenes[0], nets),
              out / "fig13_time_averaging.png")

# %% [markdown]
# ## Claims

# %%
pairs = [(f"time-lapse training beats supervision by the {pseudo_target} pseudo "
          f"ground truth, r = {r}", f"time-lapse r={r}", f"{PSEUDO} r={r}")
         for r in frames]
claims, _ = pair_claims(runs, pairs, "08_time_averaging", with_rain100l=False)
claims["paper"] = "holds for every r in Fig. 14"
if len(frames) > 1:
    lo, hi = frames[0], frames[-1]
    growth, _ = pair_claims(
        runs, [(f"{method} network improves with r ({lo} -> {hi})",
                f"{method} r={hi}", f"{method} r={lo}")
               for method in ["time-lapse", PSEUDO]],
        "08_time_averaging", with_rain100l=False)
    growth["paper"] = "both improve with r (Figs. 13, 14)"
    claims = pd.concat([claims, growth], ignore_index=True)
claims.to_csv(out / "claims.csv", index=False)
claims

# %%
study.save_metrics(runs, trained, **{f"averaging/{how}/r={r}/psnr": float(s["psnr"])
                                     for (how, r), s in averaging.iterrows()})
