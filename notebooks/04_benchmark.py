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
# # Speed (Table VIII)
#
# The paper reports 0.39 s for one 512 x 512 image on a GTX 1080 Ti and two days
# of training. This chapter measures the network at the paper's width and at this
# book's default width, on the machine that runs the pipeline, and beside each
# figure the same measurement of a reference network (PReNet's architecture, 0.17 M
# parameters) taken in the same run, so that ratios stay meaningful on a noisy or
# shared machine. Every setting runs in a fresh process; times are medians after
# a warm-up pass. FLOPs are counted from the model (convolutions and the dynamic
# fusion; activations and pooling left out).

# %% tags=["parameters"]
size = 64
repeats = 2
default_model = {"width": 4, "kernels": "3/5/7", "fusion": "dynamic",
                 "in_channels": 1, "slope": 0.0}
paper_model = {"width": 8, "kernels": "3/5/7", "fusion": "dynamic",
               "in_channels": 1, "slope": 0.0}
paper_size = 64
reference = {"in_channels": 1, "channels": 32, "stages": 6, "blocks": 5}
variants = ["fp32", "channels_last", "bf16"]
torch_compile = False
paper_training = {"batch": 4, "crop": 128, "steps": 1}
default_training = {"batch": 8, "crop": 64, "steps": 3}
devices = ["cpu", "cuda"]

# %%
import json
import os
import platform

import matplotlib.pyplot as plt
import pandas as pd
import torch

from derain.benchmark import count_flops, gemm_flops, measure_in_subprocess
from derain.book.chapters import stage_dir
from derain.book.plots import savefig
from derain.nets import DerainNet, PReNet, count_parameters

out = stage_dir("benchmark")
out.mkdir(parents=True, exist_ok=True)
available = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
machine = {
    "cpu": platform.processor() or platform.machine(),
    "cpu_threads": torch.get_num_threads(),
    "cores": os.cpu_count(),
    "torch": torch.__version__,
    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
}
print("measured on:", machine)
if "cuda" not in available:
    print("No CUDA device here: GPU rows are not measured in this run.")

# %% [markdown]
# ## Cost of the networks
#
# At the paper's width the filter generator of the dynamic fusion (a 1x1 conv from
# 768 to 768 x 256 channels at 1/8 resolution) holds most of the parameters and
# about half of the operations.

# %%
with torch.device("meta"):
    nets = {"ours, paper width": (DerainNet(**paper_model), paper_size),
            "ours, default width": (DerainNet(**default_model), size),
            "reference (PReNet)": (PReNet(**reference), size)}
cost = pd.DataFrame([
    {"network": name, "parameters": count_parameters(net),
     "image": f"{s}x{s}",
     "GFLOP per image": count_flops(net, (1, net.in_channels, s, s)) / 1e9}
    for name, (net, s) in nets.items()
]).set_index("network")
cost

# %% [markdown]
# ## Inference time per image

# %%
def spec(kind, config, image, **extra):
    return {"kind": kind, "config": config, "task": "inference", "size": image,
            "repeats": repeats, **extra}


def variant_options(name):
    return {"fp32": {}, "channels_last": {"channels_last": True},
            "bf16": {"dtype": "bf16"}, "fp16": {"dtype": "fp16"},
            "compile": {"compile": True}}[name]


rows = []
for device in available:
    ref = measure_in_subprocess(spec("prenet", reference, size, device=device))
    runs = [("ours, default width", "derain", default_model, size, v)
            for v in variants + (["compile"] if torch_compile else [])]
    runs.append(("ours, paper width", "derain", paper_model, paper_size, "fp32"))
    if device == "cuda":
        runs.append(("ours, paper width", "derain", paper_model, paper_size, "bf16"))
    for label, kind, config, image, variant in runs:
        extra = {"device": device, **variant_options(variant)}
        if label == "ours, paper width" and device == "cpu":
            extra.update(repeats=1, warmup=0)  # tens of seconds per pass on a CPU
        result = measure_in_subprocess(spec(kind, config, image, **extra))
        flops = cost.loc[label, "GFLOP per image"] * 1e9
        rows.append({
            "device": device, "network": label, "variant": variant,
            "image": f"{image}x{image}",
            "seconds": result.get("median_s"),
            "reference seconds (PReNet, same run)": ref.get("median_s"),
            "x reference": (result["median_s"] / ref["median_s"] * (size / image) ** 2
                            if "median_s" in result and "median_s" in ref else None),
            "achieved GFLOP/s": flops / result["median_s"] / 1e9
            if "median_s" in result else None,
            "peak memory (MB)": result.get("peak_memory_mb"),
            "error": result.get("error"),
        })
inference = pd.DataFrame(rows)
inference

# %% [markdown]
# The "x reference" column scales the reference's time to the same image area
# when the two were timed at different sizes.
#
# ## Training throughput
#
# Pairs of frames per second for the time-lapse objective (both frames through the
# network, L_b + L_s, an Adam step): at the paper's settings (width 64, batch 4,
# 128 x 128 crops) and at this book's default.

# %%
train_rows = []
for device in available:
    for label, config, setting in [("ours, paper width", paper_model,
                                    paper_training),
                                   ("ours, default width", default_model,
                                    default_training)]:
        result = measure_in_subprocess({"kind": "derain", "config": config,
                                        "task": "training", "device": device,
                                        **setting})
        pairs = result.get("pairs_per_second")
        train_rows.append({
            "device": device, "network": label, **setting,
            "pairs per second": pairs,
            "hours for 80,910 pairs x 1 epoch": 80910 / pairs / 3600 if pairs else None,
            "error": result.get("error"),
        })
throughput = pd.DataFrame(train_rows)
throughput

# %% [markdown]
# ## Against the hardware
#
# The practical peak of each device is the FLOP/s of a large matrix product measured
# in this run; the networks' achieved FLOP/s (FLOPs per image over seconds) is shown
# against it.

# %%
peaks = {d: gemm_flops(torch.device(d)) / 1e9 for d in available}
inference["fraction of GEMM peak"] = [
    (r["achieved GFLOP/s"] / peaks[r["device"]]) if r["achieved GFLOP/s"] else None
    for _, r in inference.iterrows()
]
pd.Series(peaks, name="GEMM GFLOP/s (fp32)").to_frame()

# %% [markdown]
# ## Our Table VIII
#
# The paper's timings are for 512 x 512 images on a GTX 1080 Ti, with each
# method's released code; they are reference values, not measured here.

# %%
paper = pd.DataFrame({
    "method": ["JORDER", "PReNet", "SIRR", "SPANet", "Cho et al."],
    "seconds per 512x512 (paper, GTX 1080 Ti)": [0.18, 0.08, 0.71, 0.11, 0.39],
})
fp32 = inference[(inference.variant == "fp32") & inference.seconds.notna()]
ours = fp32[["device", "network", "image", "seconds",
             "reference seconds (PReNet, same run)"]]
table8 = pd.concat([paper, ours.rename(columns={"network": "method"})],
                   ignore_index=True)
table8.to_csv(out / "table8_runtime.csv", index=False)
table8

# %%
fig, ax = plt.subplots(figsize=(8, 3.2))
shown = inference[inference.seconds.notna()]
labels = [f"{r.network}\n{r.variant} ({r.device}, {r.image})"
          for r in shown.itertuples()]
ax.barh(labels, shown.seconds, color="#4477aa")
ax.set_xscale("log")
ax.set_xlabel("seconds per image (log scale)")
ax.axvline(0.39, color="#cc6677", ls="--", lw=1)
ax.text(0.39, len(labels) - 0.5, " paper: 0.39 s (1080 Ti)", color="#cc6677",
        fontsize=8, va="top")
savefig(fig, out / "fig_runtime.png")

# %%
def first(frame, **match):
    rows = frame
    for key, value in match.items():
        rows = rows[rows[key] == value]
    return None if rows.empty else rows.iloc[0].to_dict()


results = {
    "machine": machine,
    "cost": cost.reset_index().to_dict(orient="records"),
    "inference": inference.to_dict(orient="records"),
    "training": throughput.to_dict(orient="records"),
    "gemm_gflops": peaks,
}
(out / "benchmark.json").write_text(json.dumps(results, indent=1, default=str))
default_cpu = first(inference, device="cpu", network="ours, default width",
                    variant="fp32")
paper_cpu = first(inference, device="cpu", network="ours, paper width",
                  variant="fp32")
metrics = {
    "default_cpu_seconds": default_cpu and default_cpu["seconds"],
    "default_cpu_x_reference": default_cpu and default_cpu["x reference"],
    "paper_width_cpu_seconds": paper_cpu and paper_cpu["seconds"],
    "paper_width_gflop": float(cost.loc["ours, paper width", "GFLOP per image"]),
}
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
metrics
