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
from derain.book.captions import Page
from derain.book.study import FULL, SUPERVISED, Study
from derain.data import load_manifest, split_scenes
from derain.evaluation.floors import averaging_quality, averaging_scores

page = Page("time_averaging", frames=frames, pseudo_target=pseudo_target,
            workers=workers)
study = Study.load("time_averaging")
out, floor = study.out_dir, study.floor
manifest = load_manifest(study.data_dir)
n_frames = min(len(s["frames"]) for s in split_scenes(manifest, "train"))
frames = sorted({min(int(r), n_frames) for r in frames})
page.number("averaging_n_frames", n_frames, "{:d}")
page.number("averaging_frames", ", ".join(str(r) for r in frames), "{}")

# %% [markdown]
# The training scenes have {glue:text}`averaging_n_frames` frames each; this run
# measures r = {glue:text}`averaging_frames` (a value of r above the scenes'
# frames is read as all of them).
#
# ## Averaging r frames: the pseudo ground truth
#
# PSNR and SSIM (Y channel) of the mean and the median of the first r frames of
# each *training* scene against its clean background (the clean backgrounds are
# used for this measurement only): how good the pseudo ground truth is
# ({numref}`averaging_quality`). r = 1 is a single rainy frame.

# %%
averaging = averaging_quality(study.data_dir, manifest, frames)
averaging.to_csv(out / "averaging_quality.csv")
quality = averaging.unstack(0)
quality.columns = [f"{how} {metric.upper()}" for metric, how in quality.columns]
page.table(quality, "averaging_quality",
           "The mean and the median of the first r frames of each training scene "
           "against its clean background (PSNR in dB, SSIM; Y channel; mean over "
           "the training scenes). r = 1 is a single frame.",
           params=["frames"], csv=False,
           formats={c: "{:.2f}" if "PSNR" in c else "{:.3f}"
                    for c in quality.columns})

# %% [markdown]
# ## The networks and the averages on the test scenes
#
# Every method at every r on the held-out test scenes, with the supervised
# control for scale ({numref}`table_time_averaging`).

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
page.table(table, "table_time_averaging",
           "Each method at each r on the held-out test scenes: its paired gain "
           "over the rainy input (95 % interval, seed sd; the median of r frames "
           "has no seeds) and its PSNR (mean over seeds and images); the "
           "supervised control, trained on the clean backgrounds, for scale.",
           paper="Figs. 13-14", params=["frames", "pseudo_target"],
           formats={"r": "{:.0f}", "PSNR": "{:.2f}"})

# %% [markdown]
# ## PSNR gain against r (Fig. 14)
#
# Gains over the rainy input on the test scenes, with 95 % intervals: the
# single-image networks against the median of r frames of the same scene
# ({numref}`fig14_psnr_vs_frames`).

# %%
METHODS = ["time-lapse", PSEUDO, "median of"]
page.figure(plots.gain_vs_frames(study, frames, METHODS, SUPERVISED),
            "fig14_psnr_vs_frames",
            "PSNR gain over the rainy input against r, the frames per scene: the "
            "network trained on r frames, the network supervised by the median "
            "of r frames, and the median of r frames of the test scene itself "
            "(95 % intervals); the supervised control as a dashed band.",
            paper="Fig. 14", params=["frames", "pseudo_target"],
            data=tables.gains(study, [f"{m} r={r}" for m in METHODS
                                      for r in frames] + [SUPERVISED]))

# %% [markdown]
# ## Visual comparison (Fig. 13)
#
# One training scene: the median of r frames (top row) against the time-lapse
# network trained with r frames applied to the scene's first frame alone (bottom
# row), in {numref}`fig13_time_averaging`.

# %%
nets = {r: study.model(FULL, stage="design") if r >= n_frames
        else study.model(f"time-lapse r={r}") for r in frames}
page.figure(plots.time_averaging_grid(study.data_dir,
                                      split_scenes(manifest, "train")[0], nets),
            "fig13_time_averaging",
            "One training scene: its first frame and clean background (left), the "
            "median of its first r frames (top) and the network trained with r "
            "frames applied to the first frame alone (bottom).", paper="Fig. 13",
            params=["frames"])

# %% [markdown]
# ## Claims
#
# Three claims, each over every r: the network beats the median of r frames (C8),
# the network improves with r (C9, the smallest r against all frames), and
# time-lapse training beats supervision by the median pseudo ground truth (C10).
# A claim "at every r" holds when every r holds and does not hold when any r does
# not ({numref}`claims_time_averaging`).

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
page.claims(claims, "The claims of the time-averaging comparison: ours (paired, "
            "95 % interval, seed sd, or the count of verdicts of a claim over "
            "every r), the verdict by the rule of chapter 6 and the smallest "
            "difference each comparison could decide.", paper="Figs. 13-14",
            params=["frames", "pseudo_target"])

# %%
study.save_metrics(runs, trained, **{f"averaging/{how}/r={r}/psnr": float(s["psnr"])
                                     for (how, r), s in averaging.iterrows()})
gain = tables.gains(study, [f"{m} r={r}" for m in METHODS for r in frames]) \
    .set_index("run")["gain (dB)"]
last = frames[-1]
page.number("averaging_r", last, "{:d}")
page.number("averaging_network_gain", gain.get(f"time-lapse r={last}"), "{:+.2f} dB")
page.number("averaging_pseudo_gain", gain.get(f"{PSEUDO} r={last}"), "{:+.2f} dB")
page.number("averaging_median_gain", gain.get(f"median of r={last}"), "{:+.2f} dB")

# %% [markdown]
# ## What this chapter found
#
# At r = {glue:text}`averaging_r`, the network trained on the time-lapse frames
# gains {glue:text}`averaging_network_gain` over the rainy input, the network
# supervised by the median pseudo ground truth {glue:text}`averaging_pseudo_gain`,
# and the median of the test scene's r frames (a multi-frame method)
# {glue:text}`averaging_median_gain`. The claim that the network beats
# time-averaging at every r (C8) {glue:text}`C8_verdict`; that it improves with r
# (C9) {glue:text}`C9_verdict` ({glue:text}`C9_ours`); that time-lapse training
# beats supervision by the pseudo ground truth at every r (C10)
# {glue:text}`C10_verdict`. The median smallest difference these comparisons
# could decide is {glue:text}`claims_detectable`.
