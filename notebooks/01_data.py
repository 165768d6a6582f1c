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
from derain.book.captions import Page
from derain.book.chapters import stage_dir
from derain.data import render_dataset, rendered_rain, scene_statistics

out = stage_dir("data")
sizes = dict(train_frames=train_frames, test_frames=test_frames,
             scene_size=scene_size, test_size=test_size, n_val=n_val,
             crops_per_image=crops_per_image, max_train_scenes=max_train_scenes,
             seed=seed)
page = Page("data", data_root=data_root, experiment_test_frames=experiment_test_frames,
            rain=rain, experiment_rain=experiment_rain, **sizes)


def ranges(block: str, *keys: str) -> list[str]:
    """The parameters ``block.key`` a caption names (those the block sets)."""
    return [f"{block}.{k}" for k in keys if k in page.parameters[block]]


# %% [markdown]
# ## Rendering the scenes
#
# Backgrounds come from the folder `data_root` when the user has filled it (see the
# README): natural scenes (Sun and Hays) and urban scenes (Urban100) for training
# and validation, the Kodak photographs as the held-out test split. When it is
# empty, scikit-image's bundled photographs stand in, and the book says so. For
# this run: {glue:text}`data_backgrounds` Sets absent from `data_root`:
# {glue:text}`data_absent` ({numref}`data_sets`).

# %%
manifest = render_dataset(out, data_root, rain=rain, **sizes)
experiments = render_dataset(out / "experiments", data_root, rain=experiment_rain,
                             **{**sizes, "test_frames": experiment_test_frames})
page.table(pd.Series(manifest["sets"], name="present").rename_axis("set")
           .map({True: "yes", False: "no"}).to_frame(), "data_sets",
           "The data sets this chapter looked for under `data_root`, and whether "
           "each was there.", params=["data_root"])
if manifest["bundled_fallback"]:
    backgrounds = ("the background sets were absent, so the scenes are built on "
                   "scikit-image's bundled photographs and every number in this "
                   "book is a smoke-scale one.")
else:
    backgrounds = ("the scenes are built on sun_hays80 and urban100 (training "
                   "and validation) and kodak24 (test).")
missing = [name for name, present in manifest["sets"].items() if not present]
page.number("data_backgrounds", backgrounds, "{}")
page.number("data_absent", ", ".join(missing) if missing else "none", "{}")

# %% [markdown]
# ## Our Table III
#
# The paper's Table III counts the training pairs of the synthetic sets of its
# time and of its own time-lapse set (scenes x pairs of frames within a scene).
# {numref}`data_splits` counts the scenes rendered here per split, and
# {numref}`table3_datasets` sets this book's training split beside the paper's
# counts, which are reference values, labelled as such: {glue:text}`data_pairs`
# training pairs from {glue:text}`data_train_scenes` scenes.

# %%
summary, table3 = tables.table3(manifest)
page.table(summary, "data_splits",
           "Scenes, frames and pairs of frames of one scene (the training "
           "signal) in each split of the rendered data.",
           params=["max_train_scenes", "train_frames", "test_frames", "n_val"])
page.table(table3, "table3_datasets",
           "Training pairs of the synthetic sets the paper lists and of its "
           "time-lapse set (the paper's values, for reference), with this book's "
           "training split in the last row; \"–\" where the paper gives no "
           "count.", paper="Table III",
           params=["max_train_scenes", "train_frames"])
page.number("data_pairs", int(summary.loc["train", "pairs"]), "{:,d}")
page.number("data_train_scenes", int(summary.loc["train", "scenes"]), "{:d}")

# %% [markdown]
# ## What a scene looks like (a Fig. 6 analogue)
#
# {numref}`fig6_timelapse_examples` shows four frames of three training scenes
# (the lightest, a median and the heaviest rain), the clean background (never
# used for training) and the per-pixel temporal median of all the scene's frames,
# the multi-frame estimate that the structure-similarity loss implicitly targets.

# %%
stats = pd.DataFrame(scene_statistics(out, manifest))
page.figure(plots.scene_examples(out, manifest), "fig6_timelapse_examples",
            "Three training scenes (rows: the lightest, a median and the heaviest "
            "rain by density x streak length): the first frames, the clean "
            "background and the temporal median of the scene's frames. The data "
            "are the statistics of every scene.", paper="Fig. 6",
            data=stats, params=["train_frames", "scene_size", "seed"])

# %% [markdown]
# ## Rain statistics
#
# Coverage is the fraction of pixels where a frame is brighter than the clean
# background by more than 2/255 in luminance. It counts rain, and also sensor noise
# and an upward illumination drift, so it overstates the rain alone. The temporal
# median's PSNR against the clean background, beside a single frame's, shows how
# well the frames alone determine the background: the premise of training without
# clean images ({numref}`data_scene_statistics`). On the training scenes a single
# frame scores {glue:text}`data_train_frame_psnr` and the median of the frames
# {glue:text}`data_train_median_psnr`. The veil of rain accumulation is in every
# frame of a scene, so the median keeps it; scenes with a veil are where the
# median helps least. The validation and test scenes are scored on the frames
# they have.

# %%
STATS = {"coverage": "coverage", "mean_abs_diff": "mean |frame - clean|",
         "median_psnr": "median of frames PSNR (dB)",
         "frame_psnr": "single frame PSNR (dB)"}
FORMATS = {"coverage": "{:.3f}", "mean |frame - clean|": "{:.4f}",
           "median of frames PSNR (dB)": "{:.2f}", "single frame PSNR (dB)": "{:.2f}"}
by_split = stats.drop(columns=["scene"]).groupby("split").mean().rename(
    columns=STATS)
page.table(by_split, "data_scene_statistics",
           "Mean statistics of the main set's scenes per split: rain coverage, "
           "mean absolute difference to the clean background, and the PSNR "
           "(Y channel) of the temporal median and of a single frame against "
           "it.", params=[*ranges("rain", "density_range"), "seed"], formats=FORMATS)
page.number("data_train_frame_psnr", by_split.loc["train", STATS["frame_psnr"]],
            "{:.2f} dB")
page.number("data_train_median_psnr", by_split.loc["train", STATS["median_psnr"]],
            "{:.2f} dB")

# %% [markdown]
# ## The rain as rendered
#
# Each frame draws its rain from the ranges of `data.rain` in `params.yaml`; a
# frame whose streaks would cover more than `max_coverage` of the image is thinned
# to that coverage, so dense draws render lighter than drawn. The percentiles of
# {numref}`data_rendered_rain` are of the rain each training frame was rendered
# with (after thinning): the rain this book means when it describes its data. The
# experiment chapters (6-12) train on a second set of the same scenes with
# heavier rain (`data.experiment_rain`), so that every gain they compare is large
# enough to measure; {numref}`data_experiment_statistics` gives that set's
# statistics and {numref}`fig_rain_parameters` the distribution of the main
# set's streaks.

# %%
rendered = pd.concat({"main set": rendered_rain(manifest),
                      "experiment set": rendered_rain(experiments)}, axis=1)
rendered.columns = [f"{group}, {q}" for group, q in rendered.columns]
page.table(rendered.rename_axis("parameter"), "data_rendered_rain",
           "The 5th, 50th and 95th percentile of each rain parameter over the "
           "training frames of the main set and of the experiment set, as "
           "rendered (after the coverage cap).",
           params=ranges("rain", "density_range")
           + ranges("experiment_rain", "density_range"),
           formats={c: "{:.4g}" for c in rendered.columns})

# %%
experiment_stats = pd.DataFrame(scene_statistics(out / "experiments", experiments))
experiment_split = experiment_stats.drop(columns=["scene"]).groupby("split").mean() \
    .rename(columns=STATS)
page.table(experiment_split, "data_experiment_statistics",
           "The statistics of the experiment set's scenes per split, as in "
           "the main set's table.",
           params=[*ranges("experiment_rain", "density_range"),
                   "experiment_test_frames"],
           formats=FORMATS)

# %%
frames_rain = pd.DataFrame([{"split": s["split"], "scene": s["name"],
                             **{k: f[k] for k in ("angle", "length", "density")}}
                            for s in manifest["scenes"] for f in s["frames"]])
page.figure(plots.rain_parameter_histograms(manifest), "fig_rain_parameters",
            "Histograms of the streak angle, streak length and density (nearest "
            "layer) of every frame of the main set.", data=frames_rain,
            params=[*ranges("rain", "angle_range", "length_range", "density_range"),
                    "seed"])

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
page.number("data_coverage", metrics["coverage"], "{:.1%}")
page.number("data_frame_psnr", metrics["single_frame_psnr"], "{:.2f} dB")
page.number("data_median_psnr", metrics["median_psnr"], "{:.2f} dB")
page.number("data_experiment_frame_psnr", metrics["experiment_single_frame_psnr"],
            "{:.2f} dB")
page.number("data_experiment_median_psnr", metrics["experiment_median_psnr"],
            "{:.2f} dB")
page.number("data_scenes", sum(metrics["scenes"].values()), "{:d}")

# %% [markdown]
# ## What this chapter found
#
# The chapter rendered {glue:text}`data_scenes` scenes (main set), giving
# {glue:text}`data_pairs` training pairs. Over all the main set's scenes a single
# rainy frame scores {glue:text}`data_frame_psnr` against its clean background and
# the temporal median of the frames {glue:text}`data_median_psnr`; in the heavier
# experiment set, {glue:text}`data_experiment_frame_psnr` and
# {glue:text}`data_experiment_median_psnr`. The difference between the two is how
# much the frames alone say about the background. The coverage measure (rain,
# noise and drift together) averages {glue:text}`data_coverage` of the pixels.
