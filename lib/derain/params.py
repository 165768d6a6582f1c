"""The schema of ``params.yaml``: what each key may hold, checked before anything
runs.

Every section of the file (one per chapter, see :mod:`derain.book.chapters`) has a
model here whose fields are its keys; the blocks several sections share are
models of their own: a ``training`` block (:class:`TrainingBlock`, the fields of
:class:`~derain.config.TrainConfig`), a network's arguments (:data:`Network`, the
constructors of :mod:`derain.nets`), a loss
(:class:`LossArgs`, :class:`~derain.losses.TimeLapseLoss`) and rain
(:class:`RainArgs`, :class:`~derain.rain.RainSampler`).

Three rules hold for every block (:class:`Block`):

- **every key is given**: a block that lacks one of its model's fields is refused,
  unless the model lists the field in ``optional``; a chapter then never runs on
  its notebook's or the library's default without saying so;
- **no unknown key**: a misspelt key is refused, not ignored;
- **strict types**: a quoted ``"8"`` is not an integer and ``true`` is not ``1``.

:func:`check_params` turns every violation into one line that names the key (its
dotted path, e.g. ``train.training.steps``), the value and what is allowed. The
``derain params check`` command and every stage (:func:`derain.book.pipeline.
run_chapter`) run it before a notebook starts.

To add a key: add the field to its section's model (or to ``TrainConfig`` for a
``training`` key) and the key to ``params.yaml``; the tests delete every key of
``params.yaml`` in turn and expect the check to name it.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import torch
from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from derain.config import EXECUTORS, PROFILES_DIR, TARGETS, TrainConfig
from derain.data.scenes import RAIN100L, REAL_RAIN, TEST_SETS, TRAIN_SETS
from derain.losses import TimeLapseLoss
from derain.nets import FUSIONS, INITS, KERNEL_SETS
from derain.rain import FrameRain, RainSampler

__all__ = ["Block", "LossArgs", "Network", "Params", "ParamsError", "RainArgs",
           "RainOverride", "TrainingBlock", "check_params", "check_params_file"]

# The timing variants of the benchmark chapter (derain.benchmark.VARIANTS, which
# sits above this module, less "compile", which torch_compile adds; a test keeps
# the two in step).
BENCHMARK_VARIANTS = ("fp32", "channels_last", "bf16", "fp16")
# What a supervised run may learn towards without the clean background.
PSEUDO_TARGETS = tuple(t for t in TARGETS if t != "clean")


class ParamsError(ValueError):
    """``params.yaml`` breaks the schema: one line per problem in ``lines``."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def _detail(kind: str, message: str, loc: tuple, value: Any,
            ctx: dict | None = None) -> InitErrorDetails:
    """One error for :meth:`ValidationError.from_exception_data`."""
    return InitErrorDetails(type=PydanticCustomError(kind, message, ctx),
                            loc=tuple(loc), input=value)


class Block(BaseModel):
    """A mapping of ``params.yaml``: strict types, no unknown key, and every field
    given except those named in ``optional``. An optional field's default is
    never used here (the schema only checks); absent, the constructor the block
    configures applies its own. Strict types take YAML's lists as ``list[...]``
    (a ``tuple`` field would refuse them)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    optional: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="wrap")
    @classmethod
    def _every_key_given(cls, data: Any, handler) -> Any:
        # pydantic reports a missing field only when it has no default; a field
        # with one (TrainConfig's, say) is required here all the same. The
        # other problems of the block are reported beside it, not hidden by it.
        missing = [name for name, info in cls.model_fields.items()
                   if isinstance(data, dict) and name not in data
                   and name not in cls.optional and not info.is_required()]
        try:
            result, errors = handler(data), []
        except ValidationError as err:
            result, errors = None, err.errors()
        if not missing and not errors:
            return result
        details = [_detail("key_missing", "missing key", (name,), data)
                   for name in missing]
        details += [_detail(e["type"], e["msg"], e["loc"], e["input"], e.get("ctx"))
                    for e in errors]
        raise ValidationError.from_exception_data(cls.__name__, details)


def _annotation(info) -> Any:
    """A field's type with its constraints and description, as one annotation."""
    extra = [*info.metadata, *([info] if info.description else [])]
    return Annotated[(info.annotation, *extra)] if extra else info.annotation


def partial(model: type[Block], name: str, doc: str) -> type[Block]:
    """``model`` with every field optional: a block that replaces some of the
    defaults of what ``model`` configures; a section names the keys it must give
    with :func:`gives`."""
    fields = {key: (_annotation(info), None)
              for key, info in model.model_fields.items()}
    made = create_model(name, __base__=model, __doc__=doc, __module__=__name__,
                        **fields)
    made.optional = frozenset(fields)
    return made


def gives(model: type[Block], *keys: str) -> type[Block]:
    """A :func:`partial` ``model`` that must give ``keys``."""
    made = create_model(f"{model.__name__}Giving", __base__=model,
                        __module__=__name__)
    made.optional = model.optional - set(keys)
    return made


def _plain(message: str) -> str:
    """A constructor's message without its trailing ``", got <value>"`` (the
    check's line shows the value already)."""
    head, sep, _ = message.rpartition(", got ")
    return head if sep else message


# --------------------------------------------------------------------------- rain


Range = Annotated[list[float], Field(min_length=2, max_length=2,
                                     description="[low, high], two numbers")]
IntRange = Annotated[list[int], Field(min_length=2, max_length=2,
                                      description="[low, high], two integers")]


class RainArgs(Block):
    """The keyword arguments of :class:`~derain.rain.RainSampler` (ranges are
    ``[low, high]``); each value is checked by RainSampler itself, so the bounds
    live in one place. ``regime_spread``, ``frame_jitter`` and ``max_coverage``
    may be left at RainSampler's defaults."""

    # The effects beyond streaks (near-camera streaks, fine rain, splashes, a
    # graded veil) are off unless given.
    EFFECTS: ClassVar[frozenset] = frozenset({
        "near_prob", "near_density_range", "near_length_range", "near_width_range",
        "near_intensity_range", "fine_prob", "fine_density_range",
        "fine_length_range", "fine_intensity_range", "splash_prob",
        "splash_density_range", "splash_size_range", "splash_intensity_range",
        "veil_gradient_range"})
    optional = frozenset({"regime_spread", "frame_jitter", "max_coverage"}) | EFFECTS
    angle_range: Range
    angle_jitter: float
    density_range: Range
    length_range: Range
    width_range: Range
    intensity_range: Range
    layers_range: IntRange
    regime_spread: float = None
    frame_jitter: float = None
    accumulation_prob: float
    accumulation_range: Range
    drift_sigma: float
    noise_range: Range
    jpeg_prob: float
    jpeg_range: IntRange
    max_coverage: float | None = None
    near_prob: float = None
    near_density_range: Range = None
    near_length_range: Range = None
    near_width_range: Range = None
    near_intensity_range: Range = None
    fine_prob: float = None
    fine_density_range: Range = None
    fine_length_range: Range = None
    fine_intensity_range: Range = None
    splash_prob: float = None
    splash_density_range: Range = None
    splash_size_range: Range = None
    splash_intensity_range: Range = None
    veil_gradient_range: Range = None

    @field_validator("*")
    @classmethod
    def _as_rain_sampler_checks_it(cls, value: Any, info: ValidationInfo) -> Any:
        try:
            RainSampler(**{info.field_name: value})
        except ValueError as err:
            raise ValueError(_plain(str(err))) from None
        return value


class SceneRain(RainArgs):
    """The rain of a rendered data set: the coverage cap and whether each effect
    beyond streaks is drawn are given, not left to RainSampler's defaults (the
    effects' ranges may be)."""

    optional = RainArgs.optional - {"max_coverage", "near_prob", "fine_prob",
                                    "splash_prob", "veil_gradient_range"}


RainOverride = partial(RainArgs, "RainOverride", """RainSampler arguments that
    replace its defaults (any subset; a section says which it must give).""")


class StreakArgs(Block):
    """The streaks of :class:`~derain.rain.FrameRain` (the density and the veil
    are swept by the chapter); checked by FrameRain itself."""

    optional = frozenset({"gain", "noise", "jpeg_quality"})
    angle: float
    length: float
    width: float
    intensity: float
    layers: int
    gain: float = None
    noise: float = None
    jpeg_quality: int | None = None

    @field_validator("*")
    @classmethod
    def _as_frame_rain_checks_it(cls, value: Any, info: ValidationInfo) -> Any:
        base = {"angle": 0.0, "density": 0.0, "length": 0.0, "width": 1.0,
                "intensity": 0.0}
        try:
            FrameRain(**{**base, info.field_name: value})
        except ValueError as err:
            raise ValueError(_plain(str(err))) from None
        return value


# --------------------------------------------------------------------------- networks


class _NetArgs(Block):
    """Constructor arguments of the network ``network`` (a key of
    :data:`derain.nets.ARCHS`), with the bounds its constructor enforces (a test
    builds every network that the profiles configure). Not built here: the
    first network built on torch's meta device costs seconds of imports in
    every stage."""

    network: ClassVar[str]


KernelSet = Literal[tuple(KERNEL_SETS)]


class DerainArgs(_NetArgs):
    """:class:`~derain.nets.DerainNet` (the paper's network)."""

    network = "derain"
    optional = frozenset({"chunk", "init"})
    width: int = Field(ge=1)
    kernels: KernelSet
    fusion: Literal[FUSIONS]
    in_channels: Literal[1, 3]
    slope: float = Field(ge=0)
    chunk: int = Field(None, ge=1)
    init: Literal[INITS] = None


class SpanetArgs(_NetArgs):
    """:class:`~derain.nets.SpatialAttentiveNet` (SPANet-style)."""

    network = "spanet"
    optional = frozenset({"sabs", "sarbs", "init"})
    in_channels: Literal[1, 3]
    channels: int = Field(ge=1)
    blocks: int = Field(ge=0)
    sabs: int = Field(None, ge=1)
    sarbs: int = Field(None, ge=1)
    init: Literal[INITS] = None


class PReNetArgs(_NetArgs):
    """:class:`~derain.nets.PReNet` (PReNet-style)."""

    network = "prenet"
    optional = frozenset({"init"})
    in_channels: Literal[1, 3]
    channels: int = Field(ge=1)
    stages: int = Field(ge=1)
    blocks: int = Field(ge=0)
    init: Literal[INITS] = None


# A ``model`` as :func:`derain.nets.build_model` reads it: ``arch`` names the
# network (DerainNet when absent), the other keys are its constructor's arguments.
class DerainModel(DerainArgs):
    """A trained network's arguments: its initialisation is given, not left to
    the default."""

    optional = (DerainArgs.optional - {"init"}) | {"arch"}
    arch: Literal["derain"] = "derain"


class SpanetModel(SpanetArgs):
    optional = SpanetArgs.optional - {"init"}
    arch: Literal["spanet"]


class PReNetModel(PReNetArgs):
    optional = PReNetArgs.optional - {"init"}
    arch: Literal["prenet"]


def _arch(value: Any) -> Any:
    return value.get("arch", "derain") if isinstance(value, dict) else None


Network = Annotated[
    Annotated[DerainModel, Tag("derain")] | Annotated[SpanetModel, Tag("spanet")]
    | Annotated[PReNetModel, Tag("prenet")],
    Discriminator(_arch),
]


# --------------------------------------------------------------------------- training


class LossArgs(Block):
    """:class:`~derain.losses.TimeLapseLoss`: the weights of Eq. 8 and the gamma
    schedule of Eq. 3."""

    optional = frozenset({"same_frame", "clusters", "lv_rel"})
    lambda_b: float = Field(ge=0)
    lambda_s: float = Field(ge=0)
    lambda_v: float = Field(ge=0)
    lambda_r: float = Field(ge=0)
    gamma_start: float = Field(ge=0)
    gamma_end: float = Field(ge=0)
    gamma_decay: float = Field(ge=0, le=1)
    same_frame: bool = None
    clusters: int = Field(None, ge=1)
    lv_rel: float = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_weight_positive(self) -> LossArgs:
        try:
            TimeLapseLoss(**self.model_dump(exclude_unset=True))
        except ValueError as err:
            raise ValueError(str(err)) from None
        return self


def _device_available(device: str) -> str:
    """``auto``, ``cpu`` or a CUDA device that this machine has."""
    if device in ("auto", "cpu"):
        return device
    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind != "cuda":
        raise ValueError("not a device; allowed: auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ValueError("CUDA is not available on this machine; allowed here: "
                         "auto or cpu")
    return device


Device = Annotated[str, AfterValidator(_device_available),
                   Field(description="auto, cpu, or cuda[:N] where CUDA is "
                         "available")]


class TrainingBlock(Block, TrainConfig):
    """A ``training`` block: the fields of :class:`~derain.config.TrainConfig`,
    every one given except those a chapter sets per configuration (``objective``,
    ``target``, ``frames``, ``data_seed``) and two rarely changed ones
    (``beta2``, ``log_every``); a new field of TrainConfig is required here until
    it is added to ``optional``."""

    optional = frozenset({"objective", "target", "frames", "data_seed", "beta2",
                          "log_every"})
    model: Network
    loss: LossArgs
    device: Device = "auto"


class SharedTraining(TrainingBlock):
    """The ``training`` block every run of the experiment chapters shares. The
    seed, validation and device are set per run (from ``seeds``, none, and the
    section's ``device``), so the block may not give them: they would be
    ignored."""

    PER_RUN: ClassVar[dict[str, str]] = {
        "seed": "the section's seeds", "val_every": "no validation during a run",
        "device": "the section's device"}
    optional = TrainingBlock.optional | frozenset(PER_RUN)

    @model_validator(mode="before")
    @classmethod
    def _nothing_set_per_run(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, source in cls.PER_RUN.items():
                if key in data:
                    raise PydanticCustomError(
                        "per_run", "{key} is set per run ({source}); remove it "
                        "here", {"key": key, "value": data[key], "source": source})
        return data


# --------------------------------------------------------------------------- sections

PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0)]


def _distinct(seeds: list[int]) -> list[int]:
    if len(set(seeds)) != len(seeds):
        raise ValueError("a seed is listed twice")
    return seeds


Seeds = Annotated[list[Seed], AfterValidator(_distinct)]  # each at most once
Limit = Annotated[int, Field(ge=1)] | None  # null: all


class Data(Block):
    """``data`` (chapter 1): the rendered time-lapse scenes."""

    train_frames: int = Field(ge=2)  # a training pair needs two frames
    test_frames: PositiveInt
    scene_size: int = Field(ge=8)
    test_size: int = Field(ge=8)
    experiment_test_frames: PositiveInt
    n_val: PositiveInt  # validation during training needs a scene
    crops_per_image: PositiveInt
    max_train_scenes: Limit
    seed: Seed
    rain: SceneRain
    experiment_rain: SceneRain


class Train(Block):
    """``train`` (chapter 2): the main run, and the paper's loss recipe beside it
    for ``paper_loss_steps`` steps (0: not trained); ``nproc`` processes train
    each data-parallel (see :mod:`derain.training.distributed`), so the batch
    size must be a multiple of it. ``threads``: the torch threads of the one
    process that trains when ``nproc`` is 1 (null: one per core)."""

    training: TrainingBlock
    paper_loss: LossArgs
    paper_loss_steps: int = Field(ge=0)
    nproc: PositiveInt
    threads: Limit

    @model_validator(mode="after")
    def _batch_splits(self) -> Train:
        if self.training.batch_size % self.nproc:
            raise ValueError(f"training.batch_size {self.training.batch_size} is "
                             f"not a multiple of nproc {self.nproc}")
        return self


class Evaluate(Block):
    """``evaluate`` (chapter 3)."""

    rain100l_limit: Limit
    real_limit: int = Field(ge=0)
    device: Device


class BenchmarkTraining(Block):
    """A timed training step: ``batch`` pairs of ``crop`` x ``crop`` crops, for
    ``steps`` steps."""

    batch: PositiveInt
    crop: int = Field(ge=8)
    steps: PositiveInt


class Levers(BenchmarkTraining):
    """The training levers of the benchmark chapter, each timed in ``rounds``
    rounds that take the levers in turn."""

    rounds: PositiveInt


class Scaling(Block):
    """Chapter 4's "Scaling out": the training loop for ``steps`` steps of one
    global batch on each number of ``processes``, and a grid of ``runs`` runs of
    ``run_steps`` steps on each number of Dask ``workers``."""

    processes: list[PositiveInt] = Field(min_length=1)
    steps: PositiveInt
    workers: list[PositiveInt] = Field(min_length=1)
    runs: PositiveInt
    run_steps: PositiveInt


class PaperGrid(Block):
    """The experiment grid at the paper's scale, costed on paper: ``runs`` runs
    of ``steps`` steps on GPUs of ``gpu_tflops`` peak, ``gpus`` at a time."""

    runs: PositiveInt
    steps: PositiveInt
    gpu_tflops: float = Field(gt=0)
    gpus: PositiveInt


class Benchmark(Block):
    """``benchmark`` (chapter 4, Table VIII). ``devices`` lists where to time;
    one without hardware here is skipped by the chapter, and it says so."""

    size: int = Field(ge=8)
    repeats: PositiveInt
    default_model: DerainArgs
    paper_model: DerainArgs
    paper_size: int = Field(ge=8)
    reference: PReNetArgs
    variants: list[Literal[BENCHMARK_VARIANTS]] = Field(min_length=1)
    torch_compile: bool
    paper_training: BenchmarkTraining
    default_training: BenchmarkTraining
    levers: Levers
    devices: list[Literal["cpu", "cuda"]] = Field(min_length=1)
    scaling: Scaling
    paper_grid: PaperGrid

    @model_validator(mode="after")
    def _batch_splits(self) -> Benchmark:
        batch = self.default_training.batch
        for nproc in self.scaling.processes:
            if batch % nproc:
                raise ValueError(f"default_training.batch {batch} is not a "
                                 f"multiple of scaling.processes {nproc}")
        return self


class Explore(Block):
    """``explore`` (chapter 5)."""

    max_side: int = Field(ge=16)
    seed: Seed
    device: Device


class Candidate(Block):
    """One budget the design chapter compares with the chosen one: a ``name`` and
    the ``changes`` it makes to the shared ``training`` block."""

    name: str = Field(min_length=1)
    changes: dict[str, Any] = Field(min_length=1)


class Spread(Block):
    """``design.spread``: the full method trained with more ``seeds`` (the
    book's first) at the chosen budget and at each of ``budgets``."""

    seeds: Seeds = Field(min_length=2)
    budgets: list[Candidate]


class Design(Block):
    """``design`` (chapter 6): the ``training`` block every experiment run shares,
    its seeds, the candidate budgets it was chosen among, how runs are scored and
    where they train (``executor``, one of :data:`~derain.config.EXECUTORS`,
    see :mod:`derain.training.executors`, and the address of a Dask
    ``scheduler``, null for a local cluster)."""

    seeds: Seeds = Field(min_length=1)
    workers: PositiveInt
    training: SharedTraining
    candidates: list[Candidate]
    spread: Spread
    curve_points: int = Field(ge=2)
    eval_frames: Limit
    rain100l_limit: Limit
    device: Device
    executor: Literal[EXECUTORS]
    scheduler: str | None = Field(min_length=1)

    @model_validator(mode="after")
    def _candidates_are_budgets(self) -> Design:
        """Each candidate's changes, applied to the shared block, must still be
        a training block (no unknown key, values in range); so must those of
        the spread's budgets, whose seeds start with the book's."""
        from derain.config import deep_merge

        if self.spread.seeds[:len(self.seeds)] != self.seeds:
            raise ValueError(f"spread.seeds {self.spread.seeds} must start with "
                             f"the book's seeds {self.seeds}")
        base = self.training.model_dump(exclude_unset=True, warnings=False)
        for candidate in [*self.candidates, *self.spread.budgets]:
            try:
                TrainConfig(**deep_merge(base, candidate.changes))
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                raise ValueError(f"candidate {candidate.name!r}: changes {where}: "
                                 f"{_plain(first['msg'])}") from None
            except (ValueError, TypeError) as err:
                raise ValueError(f"candidate {candidate.name!r}: "
                                 f"{_plain(str(err))}") from None
        return self


class LossAblation(Block):
    """``loss_ablation`` (chapter 7): the runs are the rows of Table VI, trained
    with the ``design`` block."""

    workers: PositiveInt


class Fusion(Block):
    """``fusion`` (chapter 8, Table VII)."""

    fusions: list[Literal[FUSIONS]] = Field(min_length=1)
    workers: PositiveInt


class TimeAveraging(Block):
    """``time_averaging`` (chapter 9, Figs. 13-14): r, the frames per scene."""

    frames: list[Annotated[int, Field(ge=2)]] = Field(min_length=1)
    pseudo_target: Literal[PSEUDO_TARGETS]
    workers: PositiveInt


class ModelSize(Block):
    """``model_size`` (chapter 10, Fig. 17)."""

    widths: list[PositiveInt] = Field(min_length=1)
    kernels: list[KernelSet] = Field(min_length=1)
    workers: PositiveInt


class Features(Block):
    """``features`` (chapter 11): the paper-width network read off, and the
    heavy-rain sweep (densities x veils, the other streak settings in
    ``heavy``)."""

    paper_width: PositiveInt
    table_size: int = Field(ge=8)
    densities: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1)
    veils: list[Annotated[float, Field(ge=0, le=0.6)]] = Field(min_length=1)
    heavy: StreakArgs
    seed: Seed


class Neighbours(Block):
    """``neighbours`` (chapter 12): the SPANet- and PReNet-style networks (each
    trained with the learning rate of ``lr_candidates`` that does best on the
    validation scenes) and two test sets under other rain (RainSampler's defaults
    with these keys replaced)."""

    spanet: SpanetModel
    prenet: PReNetModel
    light: gives(RainOverride, "density_range", "accumulation_prob")
    heavy: gives(RainOverride, "density_range", "accumulation_prob",
                 "accumulation_range")
    test_frames: PositiveInt
    real_limit: int = Field(ge=0)
    lr_candidates: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    target_scenes: PositiveInt
    seed: Seed
    workers: PositiveInt


class BookSection(Block):
    """``book``: the rendered book."""

    title: str = Field(min_length=1)


class Params(Block):
    """The whole of ``params.yaml``: the profile it holds, the shared data root
    and one section per stage.

    Checked with a context ``{"root": <the folder of params.yaml>}``: the profile
    must be one of ``profiles/*.yaml`` there and ``data_root`` (relative to it)
    an existing folder, empty (scikit-image's bundled photographs stand in, the
    documented default) or holding at least one of the data sets of the README.
    """

    profile: str
    data_root: str
    data: Data
    train: Train
    evaluate: Evaluate
    benchmark: Benchmark
    explore: Explore
    design: Design
    loss_ablation: LossAblation
    fusion: Fusion
    time_averaging: TimeAveraging
    model_size: ModelSize
    features: Features
    neighbours: Neighbours
    book: BookSection

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, name: str, info: ValidationInfo) -> str:
        root = (info.context or {}).get("root")
        if root is not None:
            known = sorted(p.stem for p in (Path(root) / PROFILES_DIR).glob("*.yaml"))
            if name not in known:
                raise ValueError(f"no profiles/{name}.yaml; allowed: "
                                 f"{', '.join(known)}")
        return name

    @field_validator("data_root")
    @classmethod
    def _existing_folder(cls, value: str, info: ValidationInfo) -> str:
        root = (info.context or {}).get("root")
        if root is not None:
            data_root_problem(Path(root) / value)
        return value

    @model_validator(mode="after")
    def _sections_agree(self) -> Params:
        """Values of one section that another bounds: a crop larger than the
        training scenes, or more frames than rendered, would be cut silently."""
        data = self.data
        checks = [
            ("train.training.crop", self.train.training.crop, data.scene_size,
             "data.scene_size"),
            ("design.training.crop", self.design.training.crop,
             data.scene_size, "data.scene_size"),
            ("design.eval_frames", self.design.eval_frames,
             data.experiment_test_frames, "data.experiment_test_frames"),
            ("time_averaging.frames", self.time_averaging.frames,
             data.train_frames, "data.train_frames"),
        ]
        for key, value, bound, bound_key in checks:
            largest = max(value) if isinstance(value, list) else value
            if largest is not None and largest > bound:
                raise PydanticCustomError(
                    "exceeds", "{key} = {value} exceeds {bound_key} = {bound}",
                    {"key": key, "value": value, "bound_key": bound_key,
                     "bound": bound})
        return self


def data_root_problem(folder: Path) -> None:
    """Raise ValueError unless ``folder`` can be a data root: an existing folder,
    empty (the bundled photographs) or holding at least one known data set."""
    sets = (*TRAIN_SETS, *TEST_SETS, RAIN100L, REAL_RAIN)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"the folder {folder} {what}; give the folder of the data "
                         "sets, or an empty folder for scikit-image's bundled "
                         "photographs (`make datasets` creates datasets/)")
    # A README or hidden file beside the sets is not a data set of its own.
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")
               and not p.name.lower().startswith("readme")]
    if entries and not any((folder / s).is_dir() for s in sets):
        raise ValueError(f"{folder} holds none of the data sets ({', '.join(sets)}); "
                         "is it the folder above or below them?")


# --------------------------------------------------------------------------- messages


def _show(value: Any, limit: int = 60) -> str:
    """A value as params.yaml would spell it, cut to ``limit`` characters."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_show(v, limit)}" for k, v in value.items()) \
            + "}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _unwrap(annotation: Any) -> tuple[Any, list]:
    """``Annotated[T, *meta]`` -> (T, meta), flattened."""
    meta: list = []
    while typing.get_origin(annotation) is Annotated:
        annotation, *extra = typing.get_args(annotation)
        meta = [*extra, *meta]
    flat = []
    for item in meta:
        # A FieldInfo carries its constraints in .metadata and may describe itself.
        flat.extend([item, *item.metadata] if hasattr(item, "metadata") else [item])
    return annotation, flat


def _bounds(meta: list) -> str:
    parts = []
    for item in meta:
        for kind, name, op in ((Ge, "ge", ">="), (Gt, "gt", ">"), (Le, "le", "<="),
                               (Lt, "lt", "<")):
            if isinstance(item, kind):
                parts.append(f"{op} {getattr(item, name)}")
    return " and ".join(parts)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tagged(annotation: Any) -> dict[str, Any]:
    """The members of a tagged union by tag ({} for anything else)."""
    annotation, _ = _unwrap(annotation)
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return {}
    members = {}
    for member in typing.get_args(annotation):
        inner, meta = _unwrap(member)
        for item in meta:
            if isinstance(item, Tag):
                members[item.tag] = inner
    return members


def describe(annotation: Any, meta: list | None = None) -> str:
    """What a field of ``annotation`` (with constraints ``meta``) accepts, in
    words."""
    annotation, more = _unwrap(annotation)
    meta = [*(meta or []), *more]
    for item in meta:
        if getattr(item, "description", None):
            return item.description
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    bounds = _bounds(meta)
    suffix = f" {bounds}" if bounds else ""
    if origin in (typing.Union, types.UnionType):
        if _tagged(annotation):
            return "a network's arguments with arch one of " + \
                ", ".join(_tagged(annotation))
        kinds = [describe(a) for a in args if a is not type(None)]
        tail = " or null" if type(None) in args else ""
        return " or ".join(kinds) + tail
    if origin is Literal:
        return "one of " + ", ".join(_show(a) for a in args)
    if origin is list:
        sizes = [i for i in meta if isinstance(i, (MinLen, MaxLen))]
        least = max((i.min_length for i in sizes if isinstance(i, MinLen)),
                    default=0)
        lead = ("a list" if least == 0 else "a non-empty list" if least == 1
                else f"a list of at least {least} items")
        return f"{lead}, each {describe(args[0])}"
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer" + suffix
    if annotation is float:
        return "a number" + suffix
    if annotation is str:
        return "a non-empty string" if any(
            isinstance(i, MinLen) and i.min_length for i in meta) else "a string"
    if _is_model(annotation):
        return "a mapping with the keys " + ", ".join(_keys(annotation))
    return str(annotation)


def _keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _walk(loc: tuple) -> tuple[str, type[BaseModel] | None, Any]:
    """The dotted key of a pydantic error location (union tags dropped, list
    items as ``[i]``), the model whose field the last key is (None for a list
    item or an unknown key) and the type that key accepts (None when unknown)."""
    parts: list[str] = []
    current: Any = Params
    holder = None
    for item in loc:
        members = _tagged(current)
        if isinstance(item, str) and item in members:
            current = members[item]
            continue
        annotation, _ = _unwrap(current)
        if isinstance(item, int) and parts:
            parts[-1] += f"[{item}]"
            args = typing.get_args(annotation)
            holder, current = None, args[0] if args else None
            continue
        parts.append(str(item))
        known = _is_model(annotation) and item in annotation.model_fields
        holder = annotation if _is_model(annotation) else None
        current = _annotation(annotation.model_fields[item]) if known else None
    return ".".join(parts), holder, current


# pydantic's error types, by what they mean for a value of params.yaml.
_OUT_OF_RANGE = {"greater_than", "greater_than_equal", "less_than",
                 "less_than_equal", "too_short", "too_long", "string_too_short",
                 "string_too_long"}
_NOT_A_CHOICE = {"literal_error", "enum"}


def _line(error: dict) -> str:
    """One violation as one line: the key, its value, the problem and what is
    allowed."""
    kind, ctx = error["type"], error.get("ctx") or {}
    loc = tuple(error["loc"])
    if kind == "per_run":
        loc = (*loc, ctx["key"])
    key, holder, accepted = _walk(loc)
    allowed = describe(accepted) if accepted is not None else "see params.yaml"
    value = error.get("input")
    if kind in ("key_missing", "missing"):
        return f"{key} is missing; give {allowed}"
    if kind == "extra_forbidden":
        parent = key.rpartition(".")[0] or "the top level"
        known = ", ".join(_keys(holder)) if holder is not None else "?"
        return f"{key} = {_show(value)} is not a key of {parent}; allowed: {known}"
    if kind == "per_run":
        return (f"{key} = {_show(ctx['value'])} is set per run by the chapters "
                f"({ctx['source']}); remove it here")
    if kind == "exceeds":
        return (f"{ctx['key']} = {_show(ctx['value'])} exceeds {ctx['bound_key']}"
                f" = {ctx['bound']}; allowed: at most {ctx['bound']}")
    if kind == "union_tag_invalid":
        return (f"{key}.arch = {_show(ctx.get('tag'))} is not a network; allowed: "
                f"{ctx.get('expected_tags')}")
    shown = "" if isinstance(value, dict) else f" = {_show(value)}"
    if kind == "value_error":
        return f"{key}{shown}: {error['msg'].removeprefix('Value error, ')}"
    problem = ("is out of range" if kind in _OUT_OF_RANGE else
               "is not one of the choices" if kind in _NOT_A_CHOICE else
               "has the wrong type")
    return f"{key}{shown} {problem}; allowed: {allowed}"


def check_params(params: Any, root: str | Path | None = None) -> Params:
    """``params`` (the loaded ``params.yaml``) as a :class:`Params`; ``root``,
    the folder of the file, checks the profile and the data root against the
    disk. Raises :class:`ParamsError` with one line per problem (without the
    file's name)."""
    if not isinstance(params, dict):
        raise ParamsError([f"not a mapping of sections (got {_show(params)})"])
    try:
        return Params.model_validate(params, context={"root": root})
    except ValidationError as err:
        lines, seen = [], set()
        for error in err.errors():
            # One line per key: a list with several bad items is one problem.
            where = tuple(i for i in error["loc"] if not isinstance(i, int))
            if where not in seen:
                seen.add(where)
                lines.append(_line(error))
        raise ParamsError(lines) from None


def check_params_file(path: str | Path = "params.yaml") -> Params:
    """:func:`check_params` of the file ``path``, each line prefixed with the
    file's name. Raises FileNotFoundError for a missing file and
    :class:`ParamsError` for a file that is not YAML or breaks the schema."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no parameters file")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise ParamsError([f"{path}: not valid YAML{where}: {problem}"]) from None
    try:
        return check_params(params, path.parent)
    except ParamsError as err:
        raise ParamsError([f"{path}: {line}" for line in err.lines]) from None


