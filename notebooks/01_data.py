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
# # The time-lapse data
#
# The paper trains on 186 real time-lapse sequences of 30 frames each: a static
# camera, a static scene, and rain that changes from frame to frame. That set was
# never published, so this chapter builds its stand-in. Each scene is one clean
# photograph; every frame gets an independent rain realisation (streak layers at
# several depths, with their own direction, length, width, density and brightness,
# and in heavier scenes a veil of rain accumulation) plus the nuisances of real
# time-lapse footage: a small illumination drift, sensor noise and JPEG
# compression. The clean photograph is written to a folder of its own and is read
# only by evaluation code; training sees the rainy frames alone, as in the paper.

# %% tags=["parameters"]
data_root = "datasets"
train_frames = 4
test_frames = 2
experiment_test_frames = 3
scene_size = 96
test_size = 96
n_val = 2
crops_per_image = 1
max_train_scenes = 6
seed = 0
rain = {}
experiment_rain = {}

# %%
import json

import pandas as pd

from derain.book import plots, tables
from derain.book.chapters import stage_dir
from derain.data import render_dataset, rendered_rain, scene_statistics

out = stage_dir("data")
sizes = dict(train_frames=train_frames, test_frames=test_frames,
             scene_size=scene_size, test_size=test_size, n_val=n_val,
             crops_per_image=crops_per_image, max_train_scenes=max_train_scenes,
             seed=seed)

# %% [markdown]
# ## Rendering the scenes
#
# Backgrounds come from the folder `data_root` when the user has filled it (see the
# README): natural scenes (Sun and Hays) and urban scenes (Urban100) for training
# and validation, the Kodak photographs as the held-out test split. When it is
# empty, scikit-image's bundled photographs stand in, and the book says so below.

# %%
manifest = render_dataset(out, data_root, rain=rain, **sizes)
experiments = render_dataset(out / "experiments", data_root, rain=experiment_rain,
                             **{**sizes, "test_frames": experiment_test_frames})
pd.Series(manifest["sets"], name="present").to_frame()

# %%
if manifest["bundled_fallback"]:
    print("The background sets were absent: scenes are built on scikit-image's "
          "bundled photographs, so every number in this book is a smoke-scale one.")
else:
    print("Backgrounds: sun_hays80 + urban100 (train/val), kodak24 (test).")
missing = [name for name, present in manifest["sets"].items() if not present]
print("Absent sets:", ", ".join(missing) if missing else "none")

# %% [markdown]
# ## Our Table III
#
# The paper's Table III counts the training pairs of the synthetic sets of its
# time and of its own time-lapse set (186 scenes x C(30, 2) frame pairs). The
# same count for the scenes rendered here follows; the paper's counts are
# reference values, labelled as such.

# %%
summary, table3 = tables.table3(manifest)
table3.to_csv(out / "table3_datasets.csv", index=False)
display(summary)  # noqa: F821
table3

# %% [markdown]
# ## What a scene looks like (a Fig. 6 analogue)
#
# Four frames of one scene, its clean background (never used for training) and the
# per-pixel temporal median of all its frames, the multi-frame estimate that the
# structure-similarity loss implicitly targets.

# %%
plots.savefig(plots.scene_examples(out, manifest), out / "fig6_timelapse_examples.png")

# %% [markdown]
# ## Rain statistics
#
# Coverage is the fraction of pixels where a frame is brighter than the clean
# background by more than 2/255 in luminance. It counts rain, and also sensor noise
# and an upward illumination drift, so it overstates the rain alone. The temporal
# median's PSNR against the clean background, beside a single frame's, shows how
# well the frames alone determine the background: the premise of training without
# clean images. The veil of rain accumulation is in every frame of a scene, so the
# median keeps it; scenes with a veil are where the median helps least.

# %%
stats = pd.DataFrame(scene_statistics(out, manifest))
stats.drop(columns=["scene"]).groupby("split").mean()

# %% [markdown]
# ## The rain as rendered
#
# Each frame draws its rain from the ranges of `data.rain` in `params.yaml`; a
# frame whose streaks would cover more than `max_coverage` of the image is thinned
# to that coverage, so dense draws render lighter than drawn. The percentiles below
# are of the rain each training frame was rendered with (after thinning): the rain
# this book means when it describes its data. The experiment chapters (6-12) train
# on a second set of the same scenes with heavier rain (`data.experiment_rain`),
# so that every gain they compare is large enough to measure.

# %%
pd.concat({"main set": rendered_rain(manifest),
           "experiment set": rendered_rain(experiments)}, axis=1).round(4)

# %%
experiment_stats = pd.DataFrame(scene_statistics(out / "experiments", experiments))
experiment_stats.drop(columns=["scene"]).groupby("split").mean()

# %%
plots.savefig(plots.rain_parameter_histograms(manifest),
              out / "fig_rain_parameters.png")

# %%
metrics = {
    "scenes": {k: int(v) for k, v in summary["scenes"].items()},
    "training_pairs": int(summary.loc["train", "pairs"]),
    "coverage": float(stats["coverage"].mean()),
    "median_psnr": float(stats["median_psnr"].mean()),
    "single_frame_psnr": float(stats["frame_psnr"].mean()),
    "experiment_single_frame_psnr": float(experiment_stats["frame_psnr"].mean()),
    "experiment_median_psnr": float(experiment_stats["median_psnr"].mean()),
    "bundled_fallback": manifest["bundled_fallback"],
}
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
metrics
