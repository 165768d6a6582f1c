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
# The paper reports {glue:text}`bench_paper_seconds` for one 512 x 512 image on a
# GTX 1080 Ti and two days of training. This chapter measures the network at the
# paper's width and at this book's default width, on the machine that runs the
# pipeline, and beside each figure the same measurement of a reference network
# (PReNet's architecture, {glue:text}`bench_reference_parameters` parameters)
# taken in the same run, so that ratios stay meaningful on a noisy or shared
# machine. Every setting runs in a fresh process; times are medians after
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
    book_lever,
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
from derain.book.captions import Page
from derain.book.chapters import stage_dir
from derain.book.plots import runtime_bars, speedup_bars
from derain.book.study import EXPERIMENT_DATA
from derain.config import TrainConfig
from derain.evaluation import evaluation_sets
from derain.nets import DerainNet, PReNet, count_parameters
from derain.training import make_spec

out = stage_dir("benchmark")
out.mkdir(parents=True, exist_ok=True)
page = Page("benchmark", size=size, repeats=repeats, default_model=default_model,
            paper_model=paper_model, paper_size=paper_size, reference=reference,
            variants=variants, torch_compile=torch_compile,
            paper_training=paper_training, default_training=default_training,
            levers=levers, devices=devices, scaling=scaling, paper_grid=paper_grid)
page.number("bench_paper_seconds", PAPER_SECONDS["Cho et al."], "{:.2f} s")


def floats(frame, fmt="{:.3g}"):
    """Three significant digits for every real column of ``frame``."""
    return {c: fmt for c in frame.columns if pd.api.types.is_float_dtype(frame[c])}


available = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
machine = {
    "cpu": platform.processor() or platform.machine(),
    "cpu_threads": torch.get_num_threads(),
    "cores": os.cpu_count(),
    "torch": torch.__version__,
    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
}
page.number("bench_machine", f"{machine['cpu']}, {machine['cores']} cores, torch "
            f"{machine['torch']}" + (f", {machine['cuda']}" if machine["cuda"]
                                     else ", no CUDA device (GPU rows not measured)"),
            "{}")

# %% [markdown]
# ## Cost of the networks
#
# Measured on: {glue:text}`bench_machine`.
#
# At the paper's width the filter generator of the dynamic fusion (a 1x1 conv from
# 768 to 768 x 256 channels at 1/8 resolution) holds most of the parameters and
# about half of the operations ({numref}`bench_cost`).

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
page.number("bench_reference_parameters",
            cost.loc["reference (PReNet)", "parameters"], "{:,d}")
page.table(cost, "cost", "Parameters and operations per image (GFLOP, counted from "
           "the model) of the networks timed in this chapter.",
           params=["default_model", "paper_model", "reference", "size",
                   "paper_size"], label="bench_cost",
           formats={"parameters": "{:,d}", "GFLOP per image": "{:.3g}"})

# %% [markdown]
# ## Inference time per image
#
# Median seconds per image of every network, device and variant
# ({numref}`bench_inference`), with the achieved FLOP/s.

# %%
if torch_compile:
    variants = [*variants, "compile"]
inference = inference_table(
    available, {"ours, default width": (default_model, size),
                "ours, paper width": (paper_model, paper_size)},
    reference, size, repeats, variants, cost["GFLOP per image"].to_dict())
page.table(inference, "inference", "Inference time per image (median after a "
           "warm-up pass, each setting in a fresh process) and achieved GFLOP/s; "
           "\"x reference\": the time over the reference network's, scaled to "
           "the same image area.", paper="Table VIII",
           params=["size", "paper_size", "repeats", "variants"],
           label="bench_inference", formats=floats(inference))

# %% [markdown]
# The "x reference" column scales the reference's time to the same image area
# when the two were timed at different sizes.
#
# ## Training throughput
#
# Pairs of frames per second for the time-lapse objective (both frames through the
# network, L_b + L_s, an Adam step): at the paper's settings and at this book's
# default ({numref}`bench_training`).

# %%
throughput = training_table(available, {
    "ours, paper width": (paper_model, paper_training),
    "ours, default width": (default_model, default_training)})
page.table(throughput, "training_throughput", "Training pairs per second of the "
           "time-lapse objective at the paper's settings and at the book's "
           "default.", params=["paper_training", "default_training"],
           label="bench_training", formats=floats(throughput))

# %% [markdown]
# ## What each training lever gives
#
# One training step of the book's runs (both frames of a pair through the
# network, all four losses, an Adam update) at the default width, batch and crop
# (the main run and the experiment runs share them), timed with one thread for
# each lever added to the one before it: from PyTorch's eager defaults (float32,
# NCHW layout, Adam looping over tensors) to the step the book trains with
# (channels_last, fused Adam, and bfloat16 autocast where the CPU computes it at
# speed: `precision: auto`; a CPU with AVX2 only emulates bfloat16 and trains in
# float32). The levers are timed in turns,
# round after round, so that other work on the machine slows them alike. Below
# them, the thread settings (one process with two threads against two
# one-thread processes side by side) and a doubled batch. What the levers cost in
# quality is measured in chapter 6: its candidate "fp32, no autocast" trains the
# controls without autocast, beside the chosen budget (where the chosen budget
# trains in float32 anyway, as on an AVX2 CPU, that candidate is the same run and
# chapter 6 says so).
# {numref}`bench_levers` and {numref}`fig_training_levers` give the speed of each
# setting; the step the book trains with on this machine (the row
# "{glue:text}`bench_book_row`") runs at {glue:text}`bench_book_step` the eager
# baseline.

# %%
lever_table = training_levers(default_model, levers["batch"], levers["crop"],
                              levers["steps"], levers["rounds"], torch_compile)
book_row = book_lever()
book_step = lever_table.loc[lever_table["setting"] == book_row, "x eager"].iloc[0]
page.number("bench_book_step", book_step, "{:.2f}x")
page.number("bench_book_row", book_row, "{}")
page.table(lever_table, "training_levers", "Training steps and pairs per second "
           "of the book's step with each lever added to the one before (one "
           "thread, levers timed in turns), the thread settings and a doubled "
           "batch; \"x eager\" is the ratio to PyTorch's eager defaults.",
           params=["levers", "default_model", "torch_compile"],
           label="bench_levers", formats=floats(lever_table))

# %%
page.figure(speedup_bars(lever_table), "fig_training_levers",
            "Speed of each training setting relative to the eager baseline (1 = "
            "as fast; pairs per second).", data=lever_table,
            params=["levers", "default_model"])

# %% [markdown]
# ## Against the hardware
#
# The practical peak of each device is the FLOP/s of a large matrix product measured
# in this run; the networks' achieved FLOP/s (FLOPs per image over seconds) is shown
# against it ({numref}`bench_gemm`).

# %%
peaks = {d: gemm_flops(torch.device(d)) / 1e9 for d in available}
inference["fraction of GEMM peak"] = [
    (r["achieved GFLOP/s"] / peaks[r["device"]]) if r["achieved GFLOP/s"] else None
    for _, r in inference.iterrows()
]
page.table(pd.Series(peaks, name="GEMM GFLOP/s (fp32)").rename_axis("device")
           .to_frame(), "gemm_peak", "The practical peak of each device: FLOP/s of "
           "a large float32 matrix product, measured in this run.",
           label="bench_gemm", formats={"GEMM GFLOP/s (fp32)": "{:.1f}"})

# %% [markdown]
# ## Our Table VIII
#
# The paper's timings are for 512 x 512 images on a GTX 1080 Ti, with each
# method's released code; they are reference values, not measured here
# ({numref}`table8_runtime`, {numref}`fig_runtime`).

# %%
table8 = benchmark_table8(inference)
page.table(table8, "table8_runtime", "Seconds per image: the paper's values for "
           "512 x 512 images on a GTX 1080 Ti (reference), and this run's "
           "measurements.", paper="Table VIII", params=["size", "paper_size"],
           formats=floats(table8))

# %%
page.figure(runtime_bars(inference, PAPER_SECONDS["Cho et al."]), "fig_runtime",
            "Inference time per image of each network and variant measured here, "
            "against the paper's time for its network (dashed).",
            paper="Table VIII", data=inference, params=["size", "paper_size"])

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
# local back-end (the standard library's process pool) with the most workers
# ({numref}`bench_ddp`, {numref}`bench_grid`).

# %%
scenes = stage_dir("data") / EXPERIMENT_DATA
timed = TrainConfig(model={**default_model, "init": "kaiming"}, loss={},
                    steps=scaling["steps"], batch_size=default_training["batch"],
                    crop=default_training["crop"], val_every=0,
                    checkpoint_every=scaling["steps"], device="cpu")
ddp = data_parallel_table(timed, scenes, scaling["processes"], scaling["steps"])
page.table(ddp, "data_parallel", "Training steps per second of the default-width "
           "network on one and on more processes (gloo, the same global batch), "
           "and the speed-up over one process.", params=["scaling"],
           label="bench_ddp", formats=floats(ddp))

# %%
short = timed.replace(steps=scaling["run_steps"],
                      checkpoint_every=scaling["run_steps"]).model_dump(
    exclude={"seed", "val_every", "device"})
grid_specs = [make_spec("timed run", seed, short) for seed in range(scaling["runs"])]
grid_settings = [("dask", w) for w in scaling["workers"]]
grid_settings.append(("local", max(scaling["workers"])))
grid = grid_table(grid_specs, scenes, evaluation_sets(None, 1, None, "cpu"),
                  grid_settings)
page.table(grid, "grid", "A grid of short runs on Dask workers and on the local "
           "back-end: wall time, runs per minute (start-up included) and the "
           "speed-up over the first row.", params=["scaling"], label="bench_grid",
           formats=floats(grid))

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
page.number("bench_ddp_speedup", ddp_speedup, "{:.2f}x")
page.number("bench_ddp_processes", f"{most} processes against "
            f"{scaling['processes'][0]}", "{}")
page.number("bench_dask_speedup", dask_speedup, "{:.2f}x")
page.number("bench_dask_workers", f"{busiest} Dask workers against "
            f"{grid_settings[0][1]}", "{}")

# %% [markdown]
# On this machine the training loop on {glue:text}`bench_ddp_processes` runs at
# {glue:text}`bench_ddp_speedup` the steps per second, and the grid on
# {glue:text}`bench_dask_workers` at {glue:text}`bench_dask_speedup` the runs per
# minute (start-up included).

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
# guess about the GPU, not a measurement of it ({numref}`bench_paper_grid`).

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
page.number("bench_paper_step", paper_step / 1e9, "{:,.1f} GFLOP")
page.number("bench_paper_runs", f"{paper_grid['runs']} runs of "
            f"{paper_grid['steps']:,} steps", "{}")
page.number("bench_gpu_hours", paper_cost["GPU-hours"].iloc[0], "{:,.0f}")
page.table(paper_cost, "paper_grid", "The experiment grid at the paper's scale, on "
           "paper: training FLOPs from the model, GPU-hours at the datasheet peak "
           "(a lower bound) and at the efficiency this CPU reached (a guess).",
           params=["paper_grid", "paper_model", "paper_training"],
           label="bench_paper_grid", formats={"fraction of peak": "{:.3f}",
                    **{c: "{:,.1f}" for c in paper_cost.columns[2:]}})

# %% [markdown]
# One training step at the paper's settings costs {glue:text}`bench_paper_step`;
# the grid of {glue:text}`bench_paper_runs` needs at least
# {glue:text}`bench_gpu_hours` GPU-hours.

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
page.number("bench_default_seconds", metrics["default_cpu_seconds"], "{:.3g} s")
page.number("bench_default_x_reference", metrics["default_cpu_x_reference"],
            "{:.2f}")

# %% [markdown]
# ## What this chapter found
#
# On this machine one image through the network at the book's default width takes
# {glue:text}`bench_default_seconds` on the CPU in float32,
# {glue:text}`bench_default_x_reference` times the reference network's time. The
# book's training step runs at {glue:text}`bench_book_step` the eager baseline.
# Data-parallel training gives {glue:text}`bench_ddp_speedup` and a Dask grid
# {glue:text}`bench_dask_speedup` ({glue:text}`bench_ddp_processes`,
# {glue:text}`bench_dask_workers`); the paper-scale grid would need at least
# {glue:text}`bench_gpu_hours` GPU-hours.
