"""The training loop (Sec. IV-A): Adam on the loss of a run's objective.

A run lives in a folder: ``checkpoint.pt`` (everything needed to continue,
rewritten atomically every ``checkpoint_every`` steps), ``history.json`` (the
logged losses and validation scores) and, at the end, ``model.pt``. Starting a run
whose folder holds a checkpoint of the same configuration continues it; with a
fixed seed on a CPU the weights and the logged history equal those of an
uninterrupted run (the losses of the steps since the last log point are part of
the checkpoint). A checkpoint that cannot be read is moved aside
(``checkpoint.pt.corrupt``) with a warning and the run starts over.

Started by ``torchrun`` (see :mod:`~derain.training.distributed`), the same loop
trains data-parallel: each process takes its slice of every batch, DDP averages
the gradients, and only rank 0 validates and writes.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from derain.config import TrainConfig, lr_factor
from derain.data import SceneTestSet
from derain.evaluation import (
    evaluate,
    load_weights,
    pick_device,
    read_checkpoint,
    save_model,
)
from derain.metrics import COLLAPSE_RATIO
from derain.nets import build_model
from derain.training.distributed import World, process_group
from derain.training.objectives import make_objective, resolve_precision

# Frames of each validation scene scored when validating during training.
VAL_FRAMES = 2


class _Run:
    """The state of one run: network, objective, optimiser, random streams and
    history, with their checkpoint."""

    def __init__(self, config: TrainConfig, run_dir: Path, data_dir: str | Path,
                 world: World):
        self.config = config
        self.folder = run_dir
        self.world = world
        self.device = world.device(pick_device(config.device))
        torch.manual_seed(config.seed)
        self.net = build_model(config.model).to(self.device)
        self.objective = make_objective(config, data_dir, self.net.in_channels)
        self.objective.module.to(self.device)
        self.objective.precision = resolve_precision(config.precision,
                                                     self.device)
        self.objective.shard(world)
        # What the objective runs: the network itself, or its DDP wrapper.
        self.model = world.wrap(self.net)
        params = list(self.net.parameters()) + list(
            self.objective.module.parameters())
        # One fused kernel for the whole update, on a CPU as on a GPU.
        self.optimizer = torch.optim.Adam(params, lr=config.lr,
                                          betas=(config.beta1, config.beta2),
                                          fused=True)
        self.rng = np.random.default_rng(
            config.seed if config.data_seed is None else config.data_seed)
        # ``precision``: what the run trained in (``auto`` resolved here).
        self.history: dict = {"train": [], "val": [], "seconds": 0.0,
                              "precision": self.objective.precision}
        # The loss parts of the steps since the last log point, averaged into
        # the next one.
        self.window: list[dict[str, float]] = []
        self.step = 0
        self.identity = {**config.identity(), "model": self.net.config}

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / "checkpoint.pt"

    def resume(self) -> None:
        """Continues from ``checkpoint.pt`` when it holds this configuration
        (every rank reads it; rank 0 moves a bad one aside once all have)."""
        path = self.checkpoint_path
        if not path.is_file():
            return
        try:
            blob = read_checkpoint(path)
            missing = [k for k in ("settings", "step", "state_dict", "optimizer")
                       if k not in blob]
            if missing:
                raise ValueError(f"{path}: not a training checkpoint (no "
                                 f"{', '.join(missing)})")
        except ValueError as err:
            self.world.barrier()
            if self.world.is_main:
                aside = _move_aside(path)
                warnings.warn(f"{err}; moved to {aside.name}, training starts "
                              "over", stacklevel=4)
            return
        if blob["settings"] != self.identity:
            # A checkpoint of other settings (a changed params.yaml) is not this
            # run's past: start over rather than continue a different experiment.
            warnings.warn(f"{path}: made with other settings; "
                          "starting over", stacklevel=4)
            return
        load_weights(self.net, blob["state_dict"], path)
        self.objective.module.load_state_dict(blob["criterion"])
        self.optimizer.load_state_dict(blob["optimizer"])
        self.rng.bit_generator.state = blob["rng"]
        torch.set_rng_state(blob["torch_rng"])
        self.history, self.step = blob["history"], blob["step"]
        # Written before runs recorded their precision: this one's, resolved.
        self.history.setdefault("precision", self.objective.precision)
        # Written before the window was kept: its partial window is lost.
        self.window = blob.get("window", [])

    def save_checkpoint(self) -> None:
        blob = {
            "settings": self.identity, "step": self.step,
            "state_dict": self.net.state_dict(),
            "criterion": self.objective.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(), "history": self.history,
            "window": self.window,
        }
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(blob, tmp)
        tmp.replace(self.checkpoint_path)
        (self.folder / "history.json").write_text(json.dumps(self.history, indent=1))

    def validate(self, val_set) -> None:
        self.net.eval()
        scores = evaluate(self.net, val_set, progress=False)
        self.net.train()
        self.history["val"].append({"step": self.step, "psnr": scores["psnr"],
                                    "ssim": scores["ssim"],
                                    "seconds": self.history["seconds"]})

    def train_step(self) -> dict[str, float]:
        config = self.config
        factor = lr_factor(self.step, config.steps, config.lr_schedule, config.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = config.lr * factor
        total, parts = self.objective.step(self.model, self.rng, self.step,
                                           self.device)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.world.average_gradients(self.objective.module.parameters())
        self.optimizer.step()
        self.step += 1
        return self.world.mean(parts)

    def finish(self) -> None:
        """The end of a completed run: the collapse verdict, speed and
        ``model.pt``."""
        history, steps = self.history, self.config.steps
        last = history["train"][-1]["contrast"] if history["train"] else 1.0
        history["collapsed"] = last < COLLAPSE_RATIO
        history["steps_per_second"] = steps / max(history["seconds"], 1e-9)
        self.save_checkpoint()
        save_model(self.folder / "model.pt", self.net, steps=steps,
                   seed=self.config.seed, collapsed=history["collapsed"])


def _move_aside(path: Path) -> Path:
    """Renames ``path`` to ``<name>.corrupt`` (``.corrupt.1`` ... when taken), so
    nothing is deleted and the run can start over."""
    aside = path.with_name(f"{path.name}.corrupt")
    n = 0
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt.{n}")
    path.replace(aside)
    return aside


def train(config: TrainConfig, run_dir: str | Path, data_dir: str | Path, *,
          progress: bool = True, stop_after: int | None = None) -> dict:
    """Trains the run ``config`` describes in ``run_dir`` on the scenes of
    ``data_dir`` and returns its history (``train``: the logged means of the loss
    parts every ``log_every`` steps; ``val``: validation PSNR/SSIM every
    ``val_every`` steps; at the end ``collapsed`` and ``steps_per_second``).
    ``stop_after`` ends the call early, as if the process were killed after that
    step's checkpoint (used by tests).

    Under torchrun every rank calls this and trains its slice of each batch
    (see :mod:`~derain.training.distributed`); rank 0's history is the run's."""
    config = config if isinstance(config, TrainConfig) else TrainConfig(**config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with process_group(pick_device(config.device)) as world:
        if config.batch_size % world.size:
            raise ValueError(f"batch_size {config.batch_size} is not a multiple "
                             f"of the {world.size} processes: each takes an "
                             "equal slice")
        history = _train(_Run(config, run_dir, data_dir, world), data_dir,
                         progress and world.is_main, stop_after)
        world.barrier()  # rank 0 has written the run before any rank leaves
    return history


def _train(run: _Run, data_dir: str | Path, progress: bool,
           stop_after: int | None) -> dict:
    config, main = run.config, run.world.is_main
    run.resume()
    val_set = SceneTestSet(data_dir, "val", VAL_FRAMES) if main else None
    steps = config.steps
    bar = tqdm(total=steps, initial=run.step, desc="training", unit="step",
               disable=not progress)
    run.net.train()
    while run.step < steps:
        start = time.perf_counter()
        run.window.append(run.train_step())
        run.history["seconds"] += time.perf_counter() - start
        step = run.step
        if step % config.log_every == 0 or step == steps:
            window = run.window
            keys = dict.fromkeys(k for w in window for k in w)
            mean = {k: float(np.mean([w[k] for w in window if k in w]))
                    for k in keys}
            run.history["train"].append({"step": step, **mean})
            bar.set_postfix(loss=f"{mean['total']:.4f}",
                            contrast=f"{mean['contrast']:.2f}")
            run.window = []
        if main and config.val_every and (step % config.val_every == 0
                                          or step == steps):
            run.validate(val_set)
        if main and (step % config.checkpoint_every == 0 or step == steps):
            run.save_checkpoint()
        bar.update(1)
        if stop_after is not None and step >= stop_after:
            break
    bar.close()
    if run.step >= steps and main:
        run.finish()
    return run.history
