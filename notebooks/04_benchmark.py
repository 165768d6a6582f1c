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
levers = {"batch": 2, "crop": 16, "steps": 1, "rounds": 1}
devices = ["cpu", "cuda"]
scaling = {"processes": [1, 2], "steps": 2, "workers": [2], "runs": 2,
           "run_steps": 1}
paper_grid = {"runs": 94, "steps": 20000, "gpu_tflops": 11.3, "gpus": 8}

# %%
import json
import os
import platform

import pandas as pd
import torch

from derain.benchmark import (
    PAPER_SECONDS,
    count_flops,
    data_parallel_table,
    gemm_flops,
    grid_cost,
    grid_table,
    inference_table,
    training_flops,
    training_levers,
    training_table,
)
from derain.benchmark import table8 as benchmark_table8
from derain.book.chapters import stage_dir
from derain.book.plots import runtime_bars, savefig, speedup_bars
from derain.book.study import EXPERIMENT_DATA
from derain.config import TrainConfig
from derain.evaluation import evaluation_sets
from derain.nets import DerainNet, PReNet, count_parameters
from derain.training import make_spec

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
if torch_compile:
    variants = [*variants, "compile"]
inference = inference_table(
    available, {"ours, default width": (default_model, size),
                "ours, paper width": (paper_model, paper_size)},
    reference, size, repeats, variants, cost["GFLOP per image"].to_dict())
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
throughput = training_table(available, {
    "ours, paper width": (paper_model, paper_training),
    "ours, default width": (default_model, default_training)})
throughput

# %% [markdown]
# ## What each training lever gives
#
# One training step of the book's runs (both frames of a pair through the
# network, all four losses, an Adam update) at the default width, batch and crop
# (the main run and the experiment runs share them), timed with one thread for
# each lever added to the one before it: from PyTorch's eager defaults (float32,
# NCHW layout, Adam looping over tensors) to the step the book trains with
# (channels_last, fused Adam, bfloat16 autocast). The levers are timed in turns,
# round after round, so that other work on the machine slows them alike. Below
# them, the thread settings (one process with two threads against two
# one-thread processes side by side) and a doubled batch. What the levers cost in
# quality is measured in chapter 6: its candidate "fp32, no autocast" trains the
# controls without autocast, beside the chosen bfloat16 budget.

# %%
lever_table = training_levers(default_model, levers["batch"], levers["crop"],
                              levers["steps"], levers["rounds"], torch_compile)
lever_table.to_csv(out / "training_levers.csv", index=False)
book_step = lever_table.loc[lever_table["setting"] == "+ bf16 autocast",
                            "x eager"].iloc[0]
print(f"the book's training step runs at {book_step:.2f}x the eager baseline "
      "(pairs per second, one thread)")
lever_table

# %%
savefig(speedup_bars(lever_table), out / "fig_training_levers.png")

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
table8 = benchmark_table8(inference)
table8.to_csv(out / "table8_runtime.csv", index=False)
table8

# %%
savefig(runtime_bars(inference, PAPER_SECONDS["Cho et al."]), out / "fig_runtime.png")

# %% [markdown]
# ## Scaling out
#
# Two ways to use more than one processor, both on engines that exist already.
# **Data-parallel training** (PyTorch's DistributedDataParallel, started by
# `torchrun`): each process draws the same global batch from the same random
# stream and trains its slice; the gradients are averaged, so the run follows the
# one-process run step for step (a test checks it to float tolerance). **The run
# grid** of chapters 6-12 on a cluster engine: every run is a task for Dask, and
# the run cache (one folder per run) stays the record of what is done, so a run
# finished on any worker is read back and a worker that dies loses only the run it
# held, which Dask gives to another worker and which continues from its
# checkpoint.
#
# Both are measured here on this machine, on the experiment scenes: the training
# loop of the default-width network on one and on more processes with the same
# global batch (one process uses every core as threads; several share the cores
# out), and a small grid of short runs on one and on more Dask workers, beside the
# local back-end (the standard library's process pool) with the most workers.

# %%
scenes = stage_dir("data") / EXPERIMENT_DATA
timed = TrainConfig(model={**default_model, "init": "kaiming"}, loss={},
                    steps=scaling["steps"], batch_size=default_training["batch"],
                    crop=default_training["crop"], val_every=0,
                    checkpoint_every=scaling["steps"], device="cpu")
ddp = data_parallel_table(timed, scenes, scaling["processes"], scaling["steps"])
ddp

# %%
short = timed.replace(steps=scaling["run_steps"],
                      checkpoint_every=scaling["run_steps"]).model_dump(
    exclude={"seed", "val_every", "device"})
grid_specs = [make_spec("timed run", seed, short) for seed in range(scaling["runs"])]
grid_settings = [("dask", w) for w in scaling["workers"]]
grid_settings.append(("local", max(scaling["workers"])))
grid = grid_table(grid_specs, scenes, evaluation_sets(None, 1, None, "cpu"),
                  grid_settings)
grid

# %%
def speedup(table, **match):
    """The speed-up of the row of ``table`` that matches (None if none does)."""
    row = first(table, **match)
    return None if row is None or pd.isna(row["speed-up"]) else float(row["speed-up"])


def first(frame, **match):
    rows = frame
    for key, value in match.items():
        rows = rows[rows[key] == value]
    return None if rows.empty else rows.iloc[0].to_dict()


most, busiest = max(scaling["processes"]), max(scaling["workers"])
ddp_speedup = speedup(ddp, processes=most)
dask_speedup = speedup(grid, executor="dask", workers=busiest)
print(f"training loop, {most} processes against {scaling['processes'][0]}: "
      f"{ddp_speedup if ddp_speedup is not None else float('nan'):.2f} x the steps "
      f"per second. Grid, {busiest} Dask workers against "
      f"{grid_settings[0][1]}: {dask_speedup:.2f} x the runs per minute "
      "(start-up included).")

# %% [markdown]
# ### The paper-scale grid, on paper
#
# What the experiment grid would cost at the paper's scale: the FLOPs of one
# training step at the paper's width, batch and crop are counted from the model
# (forward pass times 3 for the backward), times the steps of a run and the runs
# of the grid (`paper_grid` in `params.yaml`). The GPU's throughput is its
# datasheet peak, so the first row is a lower bound; the second assumes the GPU
# reaches the fraction of its peak that this machine's CPU reached on the same
# training step (measured above, against its own matrix-product peak), which is a
# guess about the GPU, not a measurement of it.

# %%
paper_step = training_flops(paper_model, paper_training["batch"],
                            paper_training["crop"])
paper_cpu = throughput[(throughput["device"] == "cpu")
                       & (throughput["network"] == "ours, paper width")]
paper_pairs = paper_cpu["pairs per second"].iloc[0] if len(paper_cpu) else None
efficiency = (paper_pairs / paper_training["batch"] * paper_step / 1e9 / peaks["cpu"]
              if paper_pairs and "cpu" in peaks else None)
paper_cost = grid_cost(paper_step, paper_grid["steps"], paper_grid["runs"],
                       paper_grid["gpu_tflops"], efficiency, paper_grid["gpus"])
print(f"one training step at the paper's settings: {paper_step / 1e9:.1f} GFLOP; "
      f"{paper_grid['runs']} runs of {paper_grid['steps']:,} steps: at least "
      f"{paper_cost['GPU-hours'].iloc[0]:,.0f} GPU-hours")
paper_cost

# %% [markdown]
# The commands for more hardware. On one machine with several GPUs, the main run
# data-parallel on all of them (one process per GPU, nccl):
#
# ```bash
# derain profile gpu
# derain train --nproc 8                       # or: dvc exp run -S train.nproc=8 train
# ```
#
# On a cluster, a Dask scheduler on one host and one single-threaded worker per GPU
# on the others, all of them seeing the repository and the data at the same path,
# then the experiment chapters with the grid sent to it:
#
# ```bash
# dask scheduler                               # prints tcp://HOST:8786
# CUDA_VISIBLE_DEVICES=0 dask worker tcp://HOST:8786 --nworkers 1 --nthreads 1
# dvc exp run -S design.executor=dask -S design.scheduler=tcp://HOST:8786
# ```

# %%
results = {
    "machine": machine,
    "cost": cost.reset_index().to_dict(orient="records"),
    "inference": inference.to_dict(orient="records"),
    "training": throughput.to_dict(orient="records"),
    "training_levers": lever_table.to_dict(orient="records"),
    "gemm_gflops": peaks,
    "data_parallel": ddp.to_dict(orient="records"),
    "grid": grid.to_dict(orient="records"),
    "paper_grid": paper_cost.to_dict(orient="records"),
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
    "training_x_eager": float(book_step) if pd.notna(book_step) else None,
    "data_parallel_speedup": ddp_speedup,
    "dask_grid_speedup": dask_speedup,
    "paper_grid_gpu_hours": float(paper_cost["GPU-hours"].iloc[0]),
}
(out / "metrics.json").write_text(json.dumps(metrics, indent=1))
metrics
