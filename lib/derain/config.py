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
import textwrap
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PROFILES_DIR = "profiles"
# The profile whose file holds the default of every key another profile changes.
DEFAULT_PROFILE = "cpu"

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
PRECISIONS = ("fp32", "bf16", "auto")
# Where the runs of a grid train (see derain.training.executors): processes of
# this machine, or a Dask cluster.
EXECUTORS = ("local", "dask")


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
    over ``params.yaml`` and records ``profile: name``; returns the new
    parameters. ``profiles/cpu.yaml`` holds the default values of every key
    another profile changes; it is written first, so applying ``cpu`` restores
    the default and no profile inherits the values of the one before it.

    The file is edited in place: each value the profile gives replaces the text
    of the value in ``params.yaml`` (nested mappings key by key, block or flow
    style), as the profile spells it; comments, blank lines, key order and the
    spelling of every other value stay, and a trailing comment keeps its column
    where the new value leaves room. So ``derain profile smoke`` then ``derain
    profile cpu`` gives back the file byte for byte. (A round-trip dump would
    rewrap long flow mappings and respell ``null``.) A key of the profile that
    ``params.yaml`` lacks, or a mapping where it has a single value, is an error
    naming the key; the file is then left as it was."""
    params_path = Path(params_path)
    folder = Path(profiles_dir) if profiles_dir else params_path.parent / PROFILES_DIR
    profile = folder / f"{name}.yaml"
    if not profile.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise FileNotFoundError(f"{profile}: no such profile (known: {known})")
    load_params(params_path)  # a clear error for a missing file
    text = params_path.read_text()
    # The default first, so that a key this profile leaves alone never keeps the
    # value of the profile applied before it.
    layers = [folder / f"{DEFAULT_PROFILE}.yaml", profile]
    for layer in dict.fromkeys(p for p in layers if p.is_file()):
        text = _splice(text, _profile_edits(text, layer.read_text(), layer))
    text = _splice(text, _profile_edits(text, f"profile: {name}\n", profile))
    tmp = params_path.with_name(f".{params_path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(params_path)
    return load_params(params_path)


def _compose(text: str, source: Path):
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="rt").compose(text)
    except YAMLError as err:
        raise ValueError(f"{source}: not valid YAML "
                         f"({' '.join(str(err).split())[:120]})") from None


def _profile_edits(text: str, profile_text: str, source: Path
                   ) -> list[tuple[int, int, str]]:
    """``(start, end, new text)`` replacements of ``text`` (params.yaml) that
    write the values of ``profile_text`` over it."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    base, over = _compose(text, source), _compose(profile_text, source)
    edits: list[tuple[int, int, str]] = []
    if over is None:
        return edits

    def merge(base, over, path: str) -> None:
        keys = {key.value: value for key, value in base.value}
        for key_node, value in over.value:
            key = f"{path}{key_node.value}"
            if key_node.value not in keys:
                raise KeyError(f"{source}: {key} is not a key of params.yaml")
            target = keys[key_node.value]
            if isinstance(value, MappingNode) and isinstance(target, MappingNode):
                merge(target, value, f"{key}.")
                continue
            if isinstance(value, MappingNode) or isinstance(target, MappingNode):
                raise ValueError(f"{source}: {key} is a mapping in one file and a "
                                 "single value in the other")
            start, end = target.start_mark.index, target.end_mark.index
            if isinstance(value, ScalarNode) or value.flow_style:
                new = profile_text[value.start_mark.index:value.end_mark.index]
            else:
                # A block-style list ends where the next key starts: its text
                # without the trailing blank, and without its indentation.
                first = profile_text.rfind("\n", 0, value.start_mark.index) + 1
                block = textwrap.dedent(
                    profile_text[first:value.end_mark.index].rstrip())
                if isinstance(target, ScalarNode) or target.flow_style:
                    new = yaml.safe_dump(yaml.safe_load(block),
                                         default_flow_style=True,
                                         width=1 << 16).strip()
                else:  # block over block: the same layout at params.yaml's indent
                    end = start + len(text[start:end].rstrip())
                    lines = block.splitlines()
                    new = "\n".join([lines[0]] + [" " * target.start_mark.column + line
                                                   for line in lines[1:]])
            if text[start:end] != new:
                edits.append((start, end, new))

    if not isinstance(over, MappingNode) or not isinstance(base, MappingNode):
        raise ValueError(f"{source}: not a mapping of sections")
    merge(base, over, "")
    return edits


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """``text`` with the ``(start, end, new)`` replacements made. A comment after
    values edited on one line keeps its column when there is room for it (one
    space at least)."""
    rows: dict[int, list] = {}
    ops = []
    for start, end, new in edits:
        if "\n" in text[start:end]:
            ops.append((start, [(start, end, new)], False))
        else:
            rows.setdefault(text.rfind("\n", 0, start) + 1, []).append(
                (start, end, new))
    ops += [(row, row_edits, True) for row, row_edits in rows.items()]
    out = text
    # From the end backwards: an edit leaves the positions before it valid.
    for first, row_edits, whole_line in sorted(ops, key=lambda op: -op[0]):
        if not whole_line:
            (start, end, new), = row_edits
            out = out[:start] + new + out[end:]
            continue
        stop = text.find("\n", first)
        stop = len(text) if stop < 0 else stop
        old = line = text[first:stop]
        for start, end, new in sorted(row_edits, reverse=True):
            line = line[:start - first] + new + line[end - first:]
        after = max(end for _, end, _ in row_edits) - first
        hash_old = old.find("#", old.find(" #", after) + 1) \
            if old.find(" #", after) >= 0 else -1
        if hash_old >= 0:
            hash_new = hash_old + len(line) - len(old)
            head = line[:hash_new].rstrip(" ")
            line = head + " " * max(hash_old - len(head), 1) + line[hash_new:]
        out = out[:first] + line + out[stop:]
    return out


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
      CPU with AVX-512 BF16 about 1.5 times the steps per second of ``"fp32"``;
      on a CPU with AVX2 only it is emulated and about ten times slower);
      ``"auto"`` is ``"bf16"`` where the device computes it at speed and
      ``"fp32"`` elsewhere (the run's history records which).
    - ``seed`` sets the network's initial weights and, unless ``data_seed``
      is given, the run's draws of training data (scenes, frames, crops, and
      the random parts of an objective that draw from the same stream);
      ``data_seed`` draws those from another seed, so that the two sources of
      a seed's luck can be told apart (chapter 6).
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
    data_seed: int | None = Field(default=None, ge=0)
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
        # data_seed None is ``seed`` (the runs made before it existed): not stored.
        unset = {"data_seed"} if self.data_seed is None else set()
        return self.model_dump(exclude={"checkpoint_every", "log_every",
                                        "val_every", "device", *unset})


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
