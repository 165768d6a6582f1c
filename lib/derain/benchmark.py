"""Timing and cost of the networks (the paper's Table VIII): FLOPs counted from the
model, inference time per image and training pairs per second, each measured in a
fresh process so that peak memory and warm-up do not leak between settings; and
scaling out: data-parallel training on several processes, the run grid on
several workers, and what the grid would cost at the paper's scale on GPUs."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING

import torch
from torch import nn

from derain.nets import BilinearUp, DerainNet, DynamicFusion, PReNet
from derain.training import fast_bf16

if TYPE_CHECKING:
    import pandas as pd

NETWORKS = {"derain": DerainNet, "prenet": PReNet}


def build(kind: str, config: dict) -> nn.Module:
    if kind not in NETWORKS:
        raise ValueError(f"network must be one of {sorted(NETWORKS)}, got {kind!r}")
    return NETWORKS[kind](**config)


def count_flops(net: nn.Module, shape: tuple[int, ...]) -> float:
    """Floating-point operations (2 per multiply-add) of one forward pass on an
    input of ``shape``, counted from the convolutions and the dynamic fusion's
    filter application; activations, pooling and additions are left out (a few
    percent). Runs on the meta device, so even the paper's width costs nothing."""
    macs = 0.0

    def conv_hook(module, inputs, output):
        nonlocal macs
        cin = module.in_channels // module.groups
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):
            macs += inputs[0].numel() * module.out_channels // module.groups * k
        else:
            macs += output.numel() * cin * k

    def fusion_hook(module, inputs, output):
        nonlocal macs
        # The generator (applied in chunks through F.conv2d, so the conv hook never
        # sees it) makes c filter values per output value; applying them costs c.
        macs += output.numel() * module.channels * (module.channels + 1)

    def upsample_hook(module, inputs, output):
        nonlocal macs
        macs += inputs[0].numel() * module.kernel[0].numel()  # depthwise 4x4

    hooks = []
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            hooks.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, DynamicFusion):
            hooks.append(module.register_forward_hook(fusion_hook))
        elif isinstance(module, BilinearUp):
            hooks.append(module.register_forward_hook(upsample_hook))
    try:
        with torch.no_grad():
            net(torch.zeros(shape, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return 2.0 * macs


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, dtype: str):
    if dtype == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, {"bf16": "bfloat16",
                                                             "fp16": "float16"}[dtype]))


def time_inference(net: nn.Module, size: int, device: torch.device, *,
                   dtype: str = "fp32", channels_last: bool = False,
                   repeats: int = 5, warmup: int = 1) -> dict:
    """Median and minimum seconds of one forward pass on a (1, C, size, size)
    input, after ``warmup`` passes."""
    net = net.to(device).eval()
    x = torch.rand(1, net.in_channels, size, size, device=device)
    if hasattr(net, "use_layout"):  # DerainNet: channels_last unless asked
        net.use_layout("channels_last" if channels_last else "nchw")
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.no_grad(), _autocast(device, dtype):
        for i in range(warmup + repeats):
            _sync(device)
            start = time.perf_counter()
            net(x)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times),
            "times_s": times}


def time_training(net: nn.Module, batch: int, crop: int, device: torch.device, *,
                  steps: int = 3, warmup: int = 1, dtype: str = "fp32",
                  layout: str | None = None, fused: bool = False,
                  full_loss: bool = False) -> dict:
    """Training pairs per second of the time-lapse objective (two frames per pair,
    L_b + L_s, or all four terms with ``full_loss``; Adam, ``fused`` for the
    single-kernel update), on random crops. ``layout`` sets a DerainNet's memory
    layout (``"nchw"`` or ``"channels_last"``; None keeps the network's)."""
    from derain.losses import TimeLapseLoss

    net = net.to(device).train()
    if layout is not None and hasattr(net, "use_layout"):
        net.use_layout(layout)
    weights = ({"lambda_b": 0.1, "lambda_s": 1.0, "lambda_v": 0.01, "lambda_r": 0.001}
               if full_loss else {"lambda_v": 0.0, "lambda_r": 0.0})
    loss_fn = TimeLapseLoss(**weights).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, fused=fused or None)
    x = torch.rand(2 * batch, net.in_channels, crop, crop, device=device)
    times = []
    for i in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        with _autocast(device, dtype):
            bg, rain = net(x)
            total, _ = loss_fn(x[:batch], x[batch:], (bg[:batch], rain[:batch]),
                               (bg[batch:], rain[batch:]), 0, 10)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"seconds_per_step": seconds, "pairs_per_second": batch / seconds}


def gemm_flops(device: torch.device, n: int = 2048, dtype: str = "fp32") -> float:
    """FLOP/s of a large matrix product on ``device``: the practical peak that the
    networks' achieved FLOP/s is compared with."""
    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a = torch.rand(n, n, device=device, dtype=torch_dtype)
    b = torch.rand(n, n, device=device, dtype=torch_dtype)
    a @ b
    times = []
    for _ in range(3):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2.0 * n**3 / min(times)


def measure(spec: dict) -> dict:
    """One measurement described by ``spec`` (keys: kind, config, task
    "inference" | "training", device, and the keyword arguments of the timing
    function); returns its result with the peak memory of the process."""
    device = torch.device(spec.get("device", "cpu"))
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    net = build(spec["kind"], spec["config"])
    if spec.get("compile"):
        net = torch.compile(net)
    options = {k: spec[k] for k in ("dtype", "channels_last", "repeats", "warmup")
               if k in spec}
    if spec["task"] == "inference":
        result = time_inference(net, spec["size"], device, **options)
    else:
        options.pop("channels_last", None)
        options.pop("repeats", None)
        options.update({k: spec[k] for k in ("layout", "fused", "full_loss")
                        if k in spec})
        result = time_training(net, spec["batch"], spec["crop"], device,
                               steps=spec.get("steps", 3), **options)
        result["steps_per_second"] = 1.0 / result["seconds_per_step"]
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        # ru_maxrss is in KiB on Linux: the whole process's high-water mark.
        result["peak_memory_mb"] = resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


_MEASURE = ("import json, sys; from derain.benchmark import measure; "
            "print(json.dumps(measure(json.loads(sys.stdin.read()))))")


def _result(returncode: int, stdout: str, stderr: str) -> dict:
    if returncode != 0:
        lines = stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {returncode}"}
    return json.loads(stdout.strip().splitlines()[-1])


def measure_in_subprocess(spec: dict, timeout: float = 900) -> dict:
    """Runs :func:`measure` in a fresh Python process; returns its result, or
    ``{"error": ...}`` when it fails or runs past ``timeout`` seconds."""
    try:
        run = subprocess.run([sys.executable, "-c", _MEASURE], input=json.dumps(spec),
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    return _result(run.returncode, run.stdout, run.stderr)


def measure_together(specs: list[dict], timeout: float = 900) -> list[dict]:
    """:func:`measure` of each spec in its own process, all started at once (two
    one-thread runs side by side against one two-thread run)."""
    procs = [subprocess.Popen([sys.executable, "-c", _MEASURE], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in specs]
    results = []
    for proc, spec in zip(procs, specs, strict=True):
        try:
            out, err = proc.communicate(json.dumps(spec), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            results.append({"error": f"timed out after {timeout:.0f} s"})
            continue
        results.append(_result(proc.returncode, out, err))
    return results


# The training levers, each added to the one before it: the eager baseline
# (float32, PyTorch's NCHW layout, Adam's per-tensor loop) to what the book
# trains with (channels_last, fused Adam, bfloat16 autocast).
LEVERS = {
    "eager (fp32, NCHW)": {"layout": "nchw", "dtype": "fp32"},
    "+ channels_last": {"layout": "channels_last", "dtype": "fp32"},
    "+ fused Adam": {"layout": "channels_last", "dtype": "fp32", "fused": True},
    "+ bf16 autocast": {"layout": "channels_last", "dtype": "bf16", "fused": True},
}


def book_lever(device: str = "cpu") -> str:
    """The row of :data:`LEVERS` that is the book's training step on
    ``device`` (``precision: auto``): bfloat16 autocast where the device computes
    it at speed, fused Adam in float32 elsewhere."""
    return ("+ bf16 autocast" if fast_bf16(torch.device(device))
            else "+ fused Adam")


def training_levers(config: dict, batch: int, crop: int, steps: int, rounds: int,
                    compile_: bool = False, device: str = "cpu"):
    """Steps per second of a training step (all four loss terms, Adam) of the
    DerainNet ``config`` for each lever of :data:`LEVERS` (and torch.compile on
    top when ``compile_``), one thread each, measured in ``rounds`` rounds that
    take the levers in turn (A B C D, A B C D, ...) so that a busy machine slows
    all of them alike; the median over rounds, and its ratio to the eager
    baseline. Then the thread settings: one process with two threads against two
    one-thread processes side by side (their steps summed), and batch ``2 *
    batch`` (pairs per second, the learning rate would scale with it)."""
    import pandas as pd

    base = {"kind": "derain", "config": config, "task": "training",
            "device": device, "batch": batch, "crop": crop, "steps": steps,
            "warmup": 2, "full_loss": True, "threads": 1}
    levers = dict(LEVERS)
    if compile_:
        levers["+ torch.compile"] = {**LEVERS["+ bf16 autocast"], "compile": True}
    chosen = {**base, **LEVERS[book_lever(device)]}
    speeds: dict[str, list[float]] = {name: [] for name in levers}
    errors: dict[str, str] = {}
    for _ in range(rounds):
        for name, lever in levers.items():
            result = measure_in_subprocess({**base, **lever})
            if "error" in result:
                errors[name] = result["error"]
            else:
                speeds[name].append(result["steps_per_second"])
    rows = [{"setting": name, "steps/s": statistics.median(v) if v else None,
             "pairs/s": batch * statistics.median(v) if v else None,
             "error": errors.get(name)} for name, v in speeds.items()]
    two = measure_in_subprocess({**chosen, "threads": 2})
    pair = measure_together([chosen, chosen])
    bigger = measure_in_subprocess({**chosen, "batch": 2 * batch})
    rows.append({"setting": "book's step, 1 process x 2 threads",
                 "steps/s": two.get("steps_per_second"),
                 "pairs/s": batch * two["steps_per_second"]
                 if "steps_per_second" in two else None, "error": two.get("error")})
    done = [r["steps_per_second"] for r in pair if "steps_per_second" in r]
    rows.append({"setting": "book's step, 2 processes x 1 thread (summed)",
                 "steps/s": sum(done) if len(done) == 2 else None,
                 "pairs/s": batch * sum(done) if len(done) == 2 else None,
                 "error": next((r["error"] for r in pair if "error" in r), None)})
    rows.append({"setting": f"book's step, batch {2 * batch}",
                 "steps/s": bigger.get("steps_per_second"),
                 "pairs/s": 2 * batch * bigger["steps_per_second"]
                 if "steps_per_second" in bigger else None,
                 "error": bigger.get("error")})
    table = pd.DataFrame(rows)
    eager = table.loc[0, "pairs/s"]
    table["x eager"] = table["pairs/s"] / eager if eager else None
    return table


# The paper's Table VIII: seconds per 512 x 512 image on a GTX 1080 Ti, each
# method's released code (reference values, not measured here).
PAPER_SECONDS = {"JORDER": 0.18, "PReNet": 0.08, "SIRR": 0.71, "SPANet": 0.11,
                 "Cho et al.": 0.39}
VARIANTS = {"fp32": {}, "channels_last": {"channels_last": True},
            "bf16": {"dtype": "bf16"}, "fp16": {"dtype": "fp16"},
            "compile": {"compile": True}}


def inference_table(devices: list[str], models: dict[str, tuple[dict, int]],
                    reference: dict, size: int, repeats: int, variants: list[str],
                    gflop: dict[str, float]):
    """Seconds per image of each network on each device, every variant of the
    default-width model and fp32 (plus bf16 on a GPU) at the paper's width, each
    beside the reference network (PReNet's size) timed in the same run at ``size``.
    ``models``: label -> (DerainNet config, image side); ``gflop``: label -> GFLOP
    per image. Each measurement runs in a fresh process
    (:func:`measure_in_subprocess`)."""
    import pandas as pd

    def spec(kind, config, image, **extra):
        return {"kind": kind, "config": config, "task": "inference", "size": image,
                "repeats": repeats, **extra}

    rows = []
    for device in devices:
        ref = measure_in_subprocess(spec("prenet", reference, size, device=device))
        default, default_size = models["ours, default width"]
        paper, paper_size = models["ours, paper width"]
        runs = [("ours, default width", default, default_size, v) for v in variants]
        runs.append(("ours, paper width", paper, paper_size, "fp32"))
        if device == "cuda":
            runs.append(("ours, paper width", paper, paper_size, "bf16"))
        for label, config, image, variant in runs:
            extra = {"device": device, **VARIANTS[variant]}
            if label == "ours, paper width" and device == "cpu":
                extra.update(repeats=1, warmup=0)  # tens of seconds per pass on a CPU
            result = measure_in_subprocess(spec("derain", config, image, **extra))
            flops = gflop[label] * 1e9
            rows.append({
                "device": device, "network": label, "variant": variant,
                "image": f"{image}x{image}",
                "seconds": result.get("median_s"),
                "reference seconds (PReNet, same run)": ref.get("median_s"),
                "x reference": (result["median_s"] / ref["median_s"]
                                * (size / image) ** 2
                                if "median_s" in result and "median_s" in ref
                                else None),
                "achieved GFLOP/s": flops / result["median_s"] / 1e9
                if "median_s" in result else None,
                "peak memory (MB)": result.get("peak_memory_mb"),
                "error": result.get("error"),
            })
    return pd.DataFrame(rows)


def training_table(devices: list[str], settings: dict[str, tuple[dict, dict]]):
    """Training pairs per second of the time-lapse objective for each label ->
    (DerainNet config, ``{"batch", "crop", "steps"}``) on each device, and the
    hours one epoch of the paper's 80,910 pairs would take."""
    import pandas as pd

    rows = []
    for device in devices:
        for label, (config, setting) in settings.items():
            result = measure_in_subprocess({"kind": "derain", "config": config,
                                            "task": "training", "device": device,
                                            **setting})
            pairs = result.get("pairs_per_second")
            rows.append({
                "device": device, "network": label, **setting,
                "pairs per second": pairs,
                "hours for 80,910 pairs x 1 epoch": 80910 / pairs / 3600
                if pairs else None,
                "error": result.get("error"),
            })
    return pd.DataFrame(rows)


def table8(inference):
    """Table VIII: the paper's timings (reference rows) and this run's fp32 ones."""
    import pandas as pd

    paper = pd.DataFrame({
        "method": list(PAPER_SECONDS),
        "seconds per 512x512 (paper, GTX 1080 Ti)": list(PAPER_SECONDS.values()),
    })
    fp32 = inference[(inference.variant == "fp32") & inference.seconds.notna()]
    ours = fp32[["device", "network", "image", "seconds",
                 "reference seconds (PReNet, same run)"]]
    return pd.concat([paper, ours.rename(columns={"network": "method"})],
                     ignore_index=True)


def data_parallel_table(config, data_dir, processes: list[int],
                        steps: int) -> pd.DataFrame:
    """Training steps per second of ``config`` (a
    :class:`~derain.config.TrainConfig`) for ``steps`` steps of one global
    batch, on each number of ``processes`` (one: this process with all its
    threads; more: torchrun, the cores shared out between the ranks, see
    :func:`~derain.training.launch.launch`), each in a fresh folder.
    ``steps per second`` is rank 0's training loop; ``wall seconds`` adds
    starting the processes and loading the scenes."""
    import pandas as pd

    from derain.training.executors import worker_threads
    from derain.training.launch import launch

    rows = []
    for nproc in processes:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            try:
                history = launch(config.replace(steps=steps), folder, data_dir,
                                 nproc, progress=False)
                error = None
            except (RuntimeError, ValueError) as err:
                history, error = {}, str(err)
            wall = time.perf_counter() - start
        rows.append({"processes": nproc,
                     "threads per process": worker_threads(nproc)
                     if nproc > 1 else torch.get_num_threads(),
                     "batch per process": config.batch_size // nproc,
                     "steps per second": history.get("steps_per_second"),
                     "wall seconds": wall, "error": error})
    table = pd.DataFrame(rows)
    table["speed-up"] = table["steps per second"] / table["steps per second"].iloc[0]
    return table


def grid_table(specs: list[dict], data_dir, evaluation: dict,
               settings: list[tuple[str, int]]) -> pd.DataFrame:
    """Seconds to train and score the runs ``specs`` (see
    :func:`~derain.training.runs.run_all`) with each ``(executor, workers)`` of
    ``settings``, from an empty run cache each time; the seconds include
    starting the workers (and, for Dask, its local cluster)."""
    import pandas as pd

    from derain.training.runs import run_all

    rows = []
    for kind, workers in settings:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            run_all(specs, folder, data_dir, evaluation, workers=workers,
                    progress=False, executor_kind=kind)
            wall = time.perf_counter() - start
        rows.append({"executor": kind, "workers": workers, "runs": len(specs),
                     "wall seconds": wall, "runs per minute": 60 * len(specs) / wall})
    table = pd.DataFrame(rows)
    table["speed-up"] = table["runs per minute"] / table["runs per minute"].iloc[0]
    return table


def training_flops(config: dict, batch: int, crop: int) -> float:
    """Floating-point operations of one training step of the time-lapse
    objective: the forward pass on both frames of ``batch`` pairs of ``crop`` x
    ``crop`` crops (:func:`count_flops`), times 3 for the backward pass (which
    costs about twice the forward: gradients with respect to the inputs and to
    the weights)."""
    with torch.device("meta"):
        net = DerainNet(**config)
    # Linear in the batch: one image counted, times the 2 * batch frames.
    return 3.0 * 2 * batch * count_flops(net, (1, net.in_channels, crop, crop))


def grid_cost(step_flops: float, steps: int, runs: int, gpu_tflops: float,
              efficiency: float | None, gpus: int) -> pd.DataFrame:
    """What a grid of ``runs`` runs of ``steps`` steps of ``step_flops`` each
    costs on GPUs of ``gpu_tflops`` peak: GPU-hours at the peak (a lower bound)
    and at the fraction ``efficiency`` of it, and the hours on ``gpus`` GPUs
    (the runs spread over them, or each run data-parallel over them: the same
    GPU-hours either way, as long as the scaling is linear)."""
    import pandas as pd

    total = step_flops * steps * runs
    rows = []
    for label, fraction in (("at the GPU's peak (lower bound)", 1.0),
                            ("at the measured fraction of peak", efficiency)):
        if fraction is None:
            continue
        hours = total / (gpu_tflops * 1e12 * fraction) / 3600
        rows.append({"assumption": label, "fraction of peak": fraction,
                     "PFLOP in all": total / 1e15, "GPU-hours": hours,
                     f"hours on {gpus} GPUs": hours / gpus})
    return pd.DataFrame(rows)
