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

import pandas as pd

from derain import paper
from derain.benchmark import time_inference
from derain.book import tables
from derain.book.captions import Page
from derain.book.chapters import stage_dir
from derain.book.plots import absent_figure, examples_figure, real_rain_rows
from derain.data import RAIN100L, REAL_RAIN, PairedFolder, SceneTestSet, UnpairedFolder
from derain.evaluation import load_model, pick_device
from derain.metrics import psnr, ssim

out, data_dir = stage_dir("evaluate"), stage_dir("data")
out.mkdir(parents=True, exist_ok=True)
page = Page("evaluate", data_root=data_root, rain100l_limit=rain100l_limit,
            real_limit=real_limit, device=device)
net = load_model(stage_dir("train") / "model.pt", pick_device(device))
root = Path(data_root)
has_rain100l = (root / RAIN100L / "input").is_dir()
has_real = (root / REAL_RAIN).is_dir()
page.number("evaluate_sets", "the synthetic test scenes"
            + (" and Rain100L" if has_rain100l else " (Rain100L is absent)"), "{}")

# %% [markdown]
# ## Scores
#
# Each set is scored twice: the rainy input as it is (the floor any deraining
# method must beat) and the output of our model ({numref}`table5_ours`). The
# paper's values are reference columns, not results of this book; like the
# deraining literature's tables they are on the Y channel (the protocol above),
# and so are our main columns. The columns marked "(RGB)" score the same images
# over the three RGB channels, the convention of some other papers: the network
# derains the luminance only and keeps the colour of the input. On the same
# outputs the two conventions differ by {glue:text}`evaluate_y_minus_rgb` for our
# model on {glue:text}`evaluate_y_minus_rgb_set`, so a number from elsewhere can
# only be compared on its own convention. This run scored {glue:text}`evaluate_sets`.

# %%
sets = {"synthetic": ("synthetic test (Kodak scenes)", SceneTestSet(data_dir, "test"))}
if has_rain100l:
    sets["rain100l"] = ("Rain100L", PairedFolder(root / RAIN100L, limit=rain100l_limit))
reference = {"rain100l": paper.TABLE5["ours"]["Rain100L"]}  # Table V, "JORDER"
table, examples = tables.ours_table(net, sets, reference)
page.table(table, "table5_ours",
           "PSNR and SSIM (Y channel) of the rainy input and of our model on each "
           "test set, with the paper's values for its own model as reference "
           "(\"–\": the paper has no value for that set), and the same scores "
           "over the RGB channels.", paper="Table V",
           params=["rain100l_limit"],
           formats={c: "{:.3f}" for c in ("input SSIM", "ours SSIM",
                                          "input SSIM (RGB)", "ours SSIM (RGB)")}
           | {c: "{:.2f}" for c in ("input PSNR", "ours PSNR", "input PSNR (RGB)",
                                    "ours PSNR (RGB)")})
last = table.iloc[-1]  # Rain100L when present, else the synthetic set
page.number("evaluate_y_minus_rgb", last["ours PSNR"] - last["ours PSNR (RGB)"],
            "{:+.2f} dB")
page.number("evaluate_y_minus_rgb_set", last["test set"], "{}")

# %% [markdown]
# ## Claims
#
# A verdict per claim, from the numbers above ({numref}`evaluate_claims`):
# "holds" when our model beats the rainy input on both PSNR and SSIM (the minimum
# a deraining method must do), and the paper's absolute numbers compared with
# ours.

# %%
page.table(tables.ours_claims(table, reference), "evaluate_claims",
           "The evaluation's claims, with this book's numbers and a verdict.",
           paper="Table V", params=["rain100l_limit"], csv=False)

# %% [markdown]
# ## Examples
#
# Rainy input, our output and the clean target of the first images of each set
# ({numref}`fig9_examples_synthetic` and {numref}`fig9_examples_rain100l`), with
# the per-image scores in each figure's data.

# %%
for slug, title in [("synthetic", "synthetic"), ("rain100l", "Rain100L")]:
    if slug not in examples:
        page.figure(absent_figure(f"{title}: set absent from {data_root}"),
                    f"fig9_examples_{slug}", f"{title}: the set is absent.",
                    paper="Fig. 9", params=["data_root"])
for slug, (name, items) in examples.items():
    scores = pd.DataFrame([{"image": n, "input PSNR (dB)": psnr(rainy, target),
                            "ours PSNR (dB)": psnr(pred, target),
                            "input SSIM": ssim(rainy, target),
                            "ours SSIM": ssim(pred, target)}
                           for n, rainy, pred, target in items])
    page.figure(examples_figure(name, items), f"fig9_examples_{slug}",
                f"{name}: rainy input, our output and the clean target of the "
                "set's first images.", paper="Fig. 9", data=scores,
                params=["rain100l_limit"] if slug == "rain100l" else None)

# %% [markdown]
# ## Real rainy photographs
#
# Real photographs (collected by Wei et al., CVPR 2019) have no ground truth, so
# they show only whether the model removes streaks that look like real rain and
# what it does to the rest of the picture; they support no number
# ({numref}`fig7_real_rain`).

# %%
if has_real:
    page.figure(real_rain_rows(net, UnpairedFolder(root / REAL_RAIN,
                                                   limit=real_limit)),
                "fig7_real_rain",
                "Real rainy photographs (no ground truth): each with our output "
                "and the rain it removed (x4).", paper="Fig. 7",
                params=["real_limit"])
else:
    page.figure(absent_figure(f"no real rainy photographs in {data_root}"),
                "fig7_real_rain", "The real rainy photographs are absent.",
                paper="Fig. 7", params=["data_root"])

# %% [markdown]
# ## Inference time
#
# One 512 x 512 luminance image on this machine takes {glue:text}`evaluate_seconds`
# (median of five runs after a warm-up, on {glue:text}`evaluate_device`); the
# paper reports 0.39 s on a GTX 1080 Ti for its full-width model.

# %%
where = next(net.parameters()).device
seconds = time_inference(net, 512, where, repeats=5)["median_s"]
page.number("evaluate_seconds", seconds, "{:.3f} s")
page.number("evaluate_device", str(where), "{}")

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
for slug in ("synthetic", "rain100l"):
    s = metrics.get(slug, {})
    page.number(f"evaluate_{slug}_psnr", s.get("psnr"), "{:.2f} dB")
    page.number(f"evaluate_{slug}_input", s.get("input_psnr"), "{:.2f} dB")
    page.number(f"evaluate_{slug}_gain", s["psnr"] - s["input_psnr"] if s else None,
                "{:+.2f} dB")

# %% [markdown]
# ## What this chapter found
#
# On the held-out synthetic test scenes the model scores
# {glue:text}`evaluate_synthetic_psnr` against the rainy input's
# {glue:text}`evaluate_synthetic_input` ({glue:text}`evaluate_synthetic_gain`). On
# Rain100L it scores {glue:text}`evaluate_rain100l_psnr` against the input's
# {glue:text}`evaluate_rain100l_input` ({glue:text}`evaluate_rain100l_gain`); the
# paper reports 37.89 dB there. {numref}`evaluate_claims` gives the verdicts.
