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
# is small, and both better with more frames.
#
# For each r this chapter measures, on the held-out test scenes:
#
# - **time-averaging**: the median of the scene's first r frames against its clean
#   background (a multi-frame method: it sees r frames, the networks one);
# - **time-lapse training with r frames**: the full method of chapter 6, each
#   training scene limited to its first r frames (r = all frames is chapter 6's
#   run);
# - **supervision by the time-averaged pseudo ground truth**: the same network
#   and frames, trained with an L1 loss to the per-pixel median of each training
#   scene's r frames;
# - beside them, the supervised control of chapter 6 (the clean background as
#   the target), for scale: it is not called a bound unless no other row beats it.

# %% tags=["parameters"]
frames = [2, 3]
pseudo_target = "median"
workers = 1

# %%
import pandas as pd

from derain.book import plots, tables
from derain.book.study import FULL, SUPERVISED, Study
from derain.data import load_manifest, split_scenes
from derain.evaluation.floors import averaging_quality, averaging_scores

study = Study.load("time_averaging")
out, floor = study.out_dir, study.floor
manifest = load_manifest(study.data_dir)
n_frames = min(len(s["frames"]) for s in split_scenes(manifest, "train"))
frames = sorted({min(int(r), n_frames) for r in frames})
print(f"training scenes of {n_frames} frames; r = {frames}")

# %% [markdown]
# ## Averaging r frames: the pseudo ground truth
#
# PSNR and SSIM (Y channel) of the mean and the median of the first r frames of
# each *training* scene against its clean background (the clean backgrounds are
# used for this measurement only): how good the pseudo ground truth is. r = 1 is a
# single rainy frame.

# %%
averaging = averaging_quality(study.data_dir, manifest, frames)
averaging.to_csv(out / "averaging_quality.csv")
averaging.unstack(0)

# %% [markdown]
# ## The networks and the averages on the test scenes

# %%
PSEUDO = f"{pseudo_target} pseudo-GT"
configs = {}
for r in frames:
    if r < n_frames:
        configs[f"time-lapse r={r}"] = {"frames": r}
    configs[f"{PSEUDO} r={r}"] = {"frames": r, "objective": "supervised",
                                  "target": pseudo_target}
trained = study.run(configs, workers)
runs = pd.concat([trained, study.reuse({FULL: f"time-lapse r={n_frames}",
                                        SUPERVISED: SUPERVISED}, "design")],
                 ignore_index=True)
runs.to_csv(out / "runs.csv", index=False)
names = study.scores("rainy input")[1]
for r in frames:
    study.add_fixed(f"median of r={r}",
                    averaging_scores(study.data_dir, manifest, names, r))
table = tables.time_averaging_table(study, frames, ["time-lapse", PSEUDO, "median of"],
                                    SUPERVISED)
table.to_csv(out / "table_time_averaging.csv")
table

# %% [markdown]
# ## PSNR gain against r (Fig. 14)
#
# Gains over the rainy input on the test scenes, with 95 % intervals: the
# single-image networks against the median of r frames of the same scene.

# %%
plots.savefig(plots.gain_vs_frames(study, frames, ["time-lapse", PSEUDO,
                                                   "median of"], SUPERVISED),
              out / "fig14_psnr_vs_frames.png")

# %% [markdown]
# ## Visual comparison (Fig. 13)
#
# One training scene: the median of r frames (top row) against the time-lapse
# network trained with r frames applied to the scene's first frame alone (bottom
# row).

# %%
nets = {r: study.model(FULL, stage="design") if r >= n_frames
        else study.model(f"time-lapse r={r}") for r in frames}
plots.savefig(plots.time_averaging_grid(study.data_dir,
                                        split_scenes(manifest, "train")[0], nets),
              out / "fig13_time_averaging.png")

# %% [markdown]
# ## Claims
#
# Three claims, each over every r: the network beats the median of r frames (C8),
# the network improves with r (C9, the smallest r against all frames), and
# time-lapse training beats supervision by the median pseudo ground truth (C10).
# A claim "at every r" holds when every r holds and does not hold when any r does
# not.

# %%
beats_average = [study.claim("", f"the network (r = {r}) beats the median of r "
                             "frames", f"time-lapse r={r}", f"median of r={r}")
                 for r in frames]
study.claim_all("C8", "the network trained with r frames beats time-averaging of "
                "r frames, at every r", beats_average, paper="Figs. 13-14")
study.claim("C9", f"the network improves with r ({frames[0]} -> {n_frames})",
            f"time-lapse r={n_frames}", f"time-lapse r={frames[0]}",
            paper="Fig. 14")
beats_pseudo = [study.claim("", f"time-lapse training beats {PSEUDO}, r = {r}",
                            f"time-lapse r={r}", f"{PSEUDO} r={r}")
                for r in frames]
study.claim_all("C10", "time-lapse training beats supervision by the time-averaged "
                "pseudo ground truth, at every r", beats_pseudo, paper="Fig. 14")
claims = study.claims()
claims.to_csv(out / "claims.csv", index=False)
print(f"smallest difference this chapter can decide: "
      f"{claims['detectable (dB)'].median():.2f} dB (median over its comparisons)")
claims

# %%
study.save_metrics(runs, trained, **{f"averaging/{how}/r={r}/psnr": float(s["psnr"])
                                     for (how, r), s in averaging.iterrows()})
