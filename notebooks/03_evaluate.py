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
# # Evaluation
#
# The model of the previous chapter on the held-out synthetic test scenes (Kodak
# backgrounds, never seen in training or validation) and on the Rain100L test set
# (Yang et al., CVPR 2017; the "JORDER" column of the paper's Table V) when it is
# present. Rain100L is used for nothing but this final measurement: no setting of
# the renderer or of training was chosen by looking at it. Scores are PSNR and
# SSIM on the Y channel of BT.601 YCbCr (data range 255, Gaussian SSIM window of
# 11 x 11, sigma 1.5), the protocol of the deraining literature.

# %% tags=["parameters"]
data_root = "datasets"
rain100l_limit = 4
real_limit = 2
device = "auto"

# %%
import json
from pathlib import Path

from derain import paper
from derain.benchmark import time_inference
from derain.book import tables
from derain.book.chapters import stage_dir
from derain.book.plots import absent_figure, examples_figure, real_rain_rows, savefig
from derain.data import RAIN100L, REAL_RAIN, PairedFolder, SceneTestSet, UnpairedFolder
from derain.evaluation import load_model, pick_device

out, data_dir = stage_dir("evaluate"), stage_dir("data")
out.mkdir(parents=True, exist_ok=True)
net = load_model(stage_dir("train") / "model.pt", pick_device(device))
root = Path(data_root)
has_rain100l = (root / RAIN100L / "input").is_dir()
has_real = (root / REAL_RAIN).is_dir()
print(f"Rain100L present: {has_rain100l}; real rainy photos present: {has_real}")

# %% [markdown]
# ## Scores
#
# Each set is scored twice: the rainy input as it is (the floor any deraining
# method must beat) and the output of our model. The paper's values are reference
# columns, not results of this book; like the deraining literature's tables they
# are on the Y channel (the protocol above), and so are our main columns. The
# columns marked "(RGB)" score the same images over the three RGB channels, the
# convention of some other papers: the network derains the luminance only and
# keeps the colour of the input. The line printed under the table gives the
# difference between the two conventions on the same outputs: a number from
# elsewhere can only be compared on its own convention.

# %%
sets = {"synthetic": ("synthetic test (Kodak scenes)", SceneTestSet(data_dir, "test"))}
if has_rain100l:
    sets["rain100l"] = ("Rain100L", PairedFolder(root / RAIN100L, limit=rain100l_limit))
reference = {"rain100l": paper.TABLE5["ours"]["Rain100L"]}  # Table V, "JORDER"
table, examples = tables.ours_table(net, sets, reference)
table.to_csv(out / "table5_ours.csv")
for _, row in table.iterrows():
    print(f"{row['test set']}: ours {row['ours PSNR']:.2f} dB on Y, "
          f"{row['ours PSNR (RGB)']:.2f} dB on RGB "
          f"({row['ours PSNR'] - row['ours PSNR (RGB)']:+.2f} dB); input "
          f"{row['input PSNR']:.2f} / {row['input PSNR (RGB)']:.2f} dB")
table.set_index("test set").round(3)

# %% [markdown]
# ## Claims
#
# A verdict per claim, from the numbers above: "holds" when our model beats the
# rainy input on both PSNR and SSIM (the minimum a deraining method must do), and
# the paper's absolute numbers compared with ours.

# %%
tables.ours_claims(table, reference)

# %% [markdown]
# ## Examples
#
# Rainy input, our output and the clean target, with the per-image PSNR.

# %%
for slug, title in [("synthetic", "synthetic"), ("rain100l", "Rain100L")]:
    if slug not in examples:
        savefig(absent_figure(f"{title}: set absent from {data_root}"),
                out / f"fig9_examples_{slug}.png")
for slug, (name, items) in examples.items():
    savefig(examples_figure(name, items), out / f"fig9_examples_{slug}.png")

# %% [markdown]
# ## Real rainy photographs
#
# Real photographs (collected by Wei et al., CVPR 2019) have no ground truth, so
# they show only whether the model removes streaks that look like real rain and
# what it does to the rest of the picture; they support no number.

# %%
if has_real:
    savefig(real_rain_rows(net, UnpairedFolder(root / REAL_RAIN, limit=real_limit)),
            out / "fig7_real_rain.png")
else:
    message = f"no real rainy photographs in {data_root}"
    print(message)
    savefig(absent_figure(message), out / "fig7_real_rain.png")

# %% [markdown]
# ## Inference time
#
# One 512 x 512 luminance image on this machine (median of five runs after a
# warm-up); the paper reports 0.39 s on a GTX 1080 Ti for its full-width model.

# %%
seconds = time_inference(net, 512, next(net.parameters()).device, repeats=5)["median_s"]
print(f"{seconds:.3f} s per 512x512 image on {next(net.parameters()).device}")

# %%
metrics = {
    slug: {"input_psnr": row["input PSNR"], "input_ssim": row["input SSIM"],
           "psnr": row["ours PSNR"], "ssim": row["ours SSIM"],
           "input_psnr_rgb": row["input PSNR (RGB)"],
           "psnr_rgb": row["ours PSNR (RGB)"], "ssim_rgb": row["ours SSIM (RGB)"],
           "n": int(row["images"])}
    for slug, row in table.iterrows()
}
metrics["seconds_per_512"] = seconds
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
metrics
