"""``params.yaml`` and what its sections configure.

The file holds every knob of the pipeline; its top-level keys are the stages'
sections (one per chapter, see :mod:`derain.book.chapters`) plus the few keys that
several stages share (``data_root``). A profile (``profiles/<name>.yaml``) holds
the values it changes and is written over the file by :func:`apply_profile`.

:class:`TrainConfig` is one training run: its fields are the keys of a
``training`` block of ``params.yaml`` (the main run of the ``train`` section, the
shared run of the experiment chapters), so ``TrainConfig(**block)`` configures a
run and any unknown or ill-typed key is refused before anything trains.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PROFILES_DIR = "profiles"

# Keys above the sections, passed to every chapter whose parameters cell names them.
SHARED_KEYS = ("data_root",)

# What a run learns from (see derain.training.objectives): the paper's time-lapse
# losses, supervision by a per-scene target, or a neighbouring method.
OBJECTIVES = ("time_lapse", "supervised", "gt_rain", "rain_oer_me", "rain2avoid")
# The per-scene targets of supervised training: the clean background (ground truth)
# or a pseudo ground truth computed from the scene's rainy frames.
TARGETS = ("clean", "mean", "median", "percentile")
# How the learning rate moves over a run after its warm-up (see lr_factor).
LR_SCHEDULES = ("constant", "cosine", "linear")
# The arithmetic of the network's forward and backward passes; losses, weights and
# Adam always stay float32.
PRECISIONS = ("fp32", "bf16")


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no parameters file")
    return yaml.safe_load(path.read_text()) or {}


def deep_merge(base: dict, override: dict) -> dict:
    """A copy of ``base`` with ``override`` written over it, nested dicts merged."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_profile(name: str, params_path: str | Path = "params.yaml",
                  profiles_dir: str | Path | None = None) -> dict:
    """Writes profile ``name`` (``profiles/<name>.yaml``, the values it changes)
    over ``params.yaml`` and records ``profile: name``. ``profiles/cpu.yaml`` holds
    the default values of every key another profile changes, so applying ``cpu``
    restores the default."""
    params_path = Path(params_path)
    folder = Path(profiles_dir) if profiles_dir else params_path.parent / PROFILES_DIR
    profile = folder / f"{name}.yaml"
    if not profile.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise FileNotFoundError(f"{profile}: no such profile (known: {known})")
    merged = deep_merge(load_params(params_path), yaml.safe_load(profile.read_text()))
    merged["profile"] = name
    params_path.write_text(yaml.safe_dump(merged, sort_keys=False))
    return merged


class TrainConfig(BaseModel):
    """One training run (Sec. IV-A): the network, what it learns from, and the
    optimiser's budget. The fields are the keys of a ``training`` block of
    ``params.yaml``.

    - ``model``: the network's constructor arguments, ``arch`` naming its class
      (see :func:`derain.nets.build_model`).
    - ``objective``: one of :data:`OBJECTIVES`; ``loss`` holds the keyword
      arguments of :class:`~derain.losses.TimeLapseLoss` (the ``time_lapse``
      objective reads it, the others ignore it), ``target`` the per-scene target
      of ``supervised`` training (one of :data:`TARGETS`, required there and
      refused elsewhere).
    - ``frames``: r, the frames of each training scene the run may use (its first
      r); ``None`` uses them all.
    - Adam with ``lr``, ``beta1``, ``beta2``; ``steps`` of ``batch_size`` pairs of
      ``crop`` x ``crop`` crops. The learning rate ramps up linearly over the
      first ``warmup`` fraction of the steps, then follows ``lr_schedule``
      (:func:`lr_factor`).
    - ``precision``: ``"bf16"`` runs the network under bfloat16 autocast (on a
      CPU with AVX-512 BF16 about 1.5 times the steps per second of ``"fp32"``).
    - ``checkpoint_every``, ``log_every`` and ``val_every`` (0: never) are in steps.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: dict
    loss: dict = Field(default_factory=dict)
    objective: Literal[OBJECTIVES] = "time_lapse"
    target: Literal[TARGETS] | None = None
    frames: int | None = Field(default=None, ge=2)
    steps: int = Field(ge=1)
    batch_size: int = Field(default=4, ge=1)
    crop: int = Field(default=64, ge=8)
    lr: float = Field(default=1e-4, gt=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.999, ge=0, lt=1)
    lr_schedule: Literal[LR_SCHEDULES] = "constant"
    warmup: float = Field(default=0.0, ge=0, lt=1)
    precision: Literal[PRECISIONS] = "fp32"
    seed: int = 0
    checkpoint_every: int = Field(default=200, ge=1)
    log_every: int = Field(default=20, ge=1)
    val_every: int = Field(default=500, ge=0)
    device: str = "auto"

    @model_validator(mode="after")
    def _target_matches_objective(self) -> TrainConfig:
        if self.objective == "supervised" and self.target is None:
            raise ValueError(f"objective 'supervised' needs a target, one of "
                             f"{TARGETS}")
        if self.objective != "supervised" and self.target is not None:
            raise ValueError(f"objective {self.objective!r} takes no target "
                             f"(got {self.target!r}); only 'supervised' does")
        return self

    def replace(self, **changes) -> TrainConfig:
        """A validated copy with ``changes`` (nested dicts replaced whole)."""
        return TrainConfig(**{**self.model_dump(), **changes})

    def identity(self) -> dict:
        """The fields that define what is trained (not how often it is logged,
        checkpointed or where it runs): a checkpoint of another identity is not
        this run's past."""
        return self.model_dump(exclude={"checkpoint_every", "log_every",
                                        "val_every", "device"})


def lr_factor(step: int, steps: int, schedule: str = "constant",
              warmup: float = 0.0) -> float:
    """Multiplier of the learning rate at ``step`` (0-based) of ``steps``: a
    linear ramp over the first ``warmup`` fraction of the steps (from 1/w to 1),
    then 1 (``"constant"``) or a cosine or linear decay to 0 at the last step."""
    warm = int(round(warmup * steps))
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    progress = (step - warm) / max(steps - warm, 1)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress
