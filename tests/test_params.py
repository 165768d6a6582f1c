"""The schema of params.yaml (derain.params): every key of the file is required,
known, typed and bounded; the schema follows the file, the profiles and the
notebooks' parameters cells."""

import copy
import shutil

import pytest
import yaml
from conftest import ROOT

from derain.book.chapters import CHAPTERS
from derain.book.pipeline import parameters_cell
from derain.config import SHARED_KEYS, deep_merge, load_params
from derain.params import (
    BENCHMARK_VARIANTS,
    DerainArgs,
    Params,
    ParamsError,
    PReNetArgs,
    RainArgs,
    SpanetArgs,
    TrainingBlock,
    check_params,
)

PARAMS = load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A project folder for the checks against the disk: the profiles and an
    empty data root (the documented default)."""
    folder = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "profiles", folder / "profiles")
    (folder / "datasets").mkdir()
    return folder


def keys(tree: dict, path: tuple = ()):
    """Every key path of a nested mapping, parents before children."""
    for key, value in tree.items():
        yield (*path, key)
        if isinstance(value, dict):
            yield from keys(value, (*path, key))


def without(tree: dict, path: tuple) -> dict:
    copied = copy.deepcopy(tree)
    node = copied
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return copied


def with_value(tree: dict, path: tuple, value) -> dict:
    copied = copy.deepcopy(tree)
    node = copied
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copied


def problems(params: dict, root) -> list[str]:
    with pytest.raises(ParamsError) as caught:
        check_params(params, root)
    return caught.value.lines


def test_params_yaml_and_every_profile_pass(root):
    check_params(PARAMS, root)
    for profile in (ROOT / "profiles").glob("*.yaml"):
        merged = deep_merge(PARAMS, yaml.safe_load(profile.read_text()))
        check_params({**merged, "profile": profile.stem}, root)


def test_every_key_of_params_yaml_is_required(root):
    """Deleting any key, nested ones too, is one line naming it: no chapter ever
    runs on a notebook's or the library's default. The keys come from the file,
    so a key added there is covered without touching this test."""
    paths = list(keys(PARAMS))
    assert len(paths) > 100
    for path in paths:
        dotted = ".".join(path)
        lines = problems(without(PARAMS, path), root)
        assert lines == [lines[0]] and lines[0].startswith(f"{dotted} is missing"), \
            (dotted, lines)


def test_an_unknown_key_is_refused_in_every_mapping(root):
    mappings = [()] + [p for p in keys(PARAMS) if isinstance(
        _get(PARAMS, p), dict)]
    for path in mappings:
        lines = problems(with_value(PARAMS, (*path, "stepz"), 7), root)
        dotted = ".".join((*path, "stepz"))
        assert len(lines) == 1 and lines[0].startswith(f"{dotted} = 7 is not a key"), \
            lines


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


@pytest.mark.parametrize(("path", "value", "message"), [
    (("train", "training", "steps"), -5,
     "train.training.steps = -5 is out of range; allowed: an integer >= 1"),
    (("train", "training", "steps"), 0, "allowed: an integer >= 1"),
    (("train", "training", "checkpoint_every"), 0, "allowed: an integer >= 1"),
    (("train", "training", "batch_size"), 0, "allowed: an integer >= 1"),
    (("train", "training", "batch_size"), "8", "has the wrong type"),
    (("train", "training", "lr"), True, "has the wrong type; allowed: a number > 0"),
    (("train", "training", "device"), "gpu", "not a device"),
    (("train", "training", "crop"), 512,
     "train.training.crop = 512 exceeds data.scene_size = 256"),
    (("train", "training", "model", "width"), 0, "model.width = 0 is out of range"),
    (("train", "training", "model", "fusion"), "max",
     "is not one of the choices; allowed: one of 'dynamic'"),
    (("train", "training", "model", "arch"), "resnet", "is not a network"),
    (("train", "training", "loss", "gamma_decay"), 2.0, "allowed: a number >= 0 "
     "and <= 1"),
    (("train", "training", "objective"), "supervised", "needs a target"),
    (("data", "rain", "density_range"), [0.004, 0.0008],
     "RainSampler.density_range must be [low, high]"),
    (("data", "rain", "layers_range"), [2.5, 4], "layers_range[0] = 2.5 has the "
     "wrong type"),
    (("data", "train_frames"), 1, "allowed: an integer >= 2"),
    (("data", "max_train_scenes"), 0, "an integer >= 1 or null"),
    (("design", "training", "seed"), 3, "is set per run"),
    (("design", "seeds"), [0, 0], "a seed is listed twice"),
    (("design", "eval_frames"), 17, "exceeds data.experiment_test_frames = 16"),
    (("design", "candidates"), [{"name": "x", "changes": {"stepz": 3}}],
     "candidate 'x'"),
    (("design", "spread", "seeds"), [3, 4, 5], "must start with the book's seeds"),
    (("design", "spread", "seeds"), [0], "allowed: a list of at least 2 items"),
    (("design", "spread", "budgets"), [{"name": "y", "changes": {"lr": -1}}],
     "candidate 'y'"),
    (("time_averaging", "frames"), [2, 40], "exceeds data.train_frames = 16"),
    (("neighbours", "spanet", "arch"), "prenet", "neighbours.spanet.arch = 'prenet'"),
    (("neighbours", "light", "density_range"), [0.1], "allowed: [low, high]"),
    (("features", "heavy", "layers"), 20, "FrameRain.layers must be an int"),
    (("benchmark", "variants"), ["fp8"], "allowed: one of 'fp32'"),
    (("benchmark", "reference", "arch"), "prenet", "is not a key of "
     "benchmark.reference"),
    (("book", "title"), "", "is out of range"),
    (("profile",), "tpu", "no profiles/tpu.yaml; allowed: cpu, gpu, smoke"),
])
def test_a_bad_value_is_one_line_naming_key_value_and_what_is_allowed(
        root, path, value, message):
    lines = problems(with_value(PARAMS, path, value), root)
    assert len(lines) == 1 and message in lines[0], lines
    assert "\n" not in lines[0] and "Traceback" not in lines[0]


def test_cuda_is_refused_where_there_is_none(root):
    import torch

    if torch.cuda.is_available():
        check_params(with_value(PARAMS, ("evaluate", "device"), "cuda"), root)
        return
    lines = problems(with_value(PARAMS, ("evaluate", "device"), "cuda"), root)
    assert lines == ["evaluate.device = 'cuda': CUDA is not available on this "
                     "machine; allowed here: auto or cpu"]


def test_data_root_must_exist_and_hold_data_sets(root, tmp_path):
    missing = problems(with_value(PARAMS, ("data_root",), "datsets"), root)
    assert len(missing) == 1 and "datsets does not exist" in missing[0]
    assert "empty folder" in missing[0]
    (tmp_path / "elsewhere" / "photos").mkdir(parents=True)
    wrong = problems(with_value(PARAMS, ("data_root",), str(tmp_path / "elsewhere")),
                     root)
    assert len(wrong) == 1 and "holds none of the data sets" in wrong[0]
    # Empty (the documented default), or any subset of the sets: accepted.
    (tmp_path / "some" / "real_rain").mkdir(parents=True)
    check_params(with_value(PARAMS, ("data_root",), str(tmp_path / "some")), root)


def test_several_problems_are_one_line_each(root):
    params = with_value(PARAMS, ("train", "training", "steps"), -1)
    params = with_value(params, ("evaluate", "real_limit"), -1)
    params = without(params, ("book",))
    lines = problems(params, root)
    assert len(lines) == 3
    assert {line.split(" ")[0] for line in lines} == {
        "train.training.steps", "evaluate.real_limit", "book"}


def test_the_schema_is_the_sections_of_the_chapters():
    """Every section's keys are its notebook's parameters (less the shared
    keys), and the top level is the profile, the shared keys and the
    sections."""
    sections = {}
    for item in CHAPTERS:
        cell = parameters_cell(ROOT / item.source)
        if cell:
            sections[item.stage] = set(cell) - set(SHARED_KEYS)
    for stage, names in sections.items():
        model = Params.model_fields[stage].annotation
        assert set(model.model_fields) == names, stage
    assert set(Params.model_fields) == {"profile", *SHARED_KEYS, *sections, "book"}


def test_training_blocks_require_every_field_of_train_config():
    """A field added to TrainConfig is required in params.yaml until it is
    listed as optional: the file never silently relies on its default."""
    from derain.config import TrainConfig

    assert set(TrainingBlock.model_fields) == set(TrainConfig.model_fields)
    required = set(TrainConfig.model_fields) - TrainingBlock.optional
    assert required <= set(PARAMS["train"]["training"])


def test_rain_blocks_cover_every_argument_of_rain_sampler():
    import dataclasses

    from derain.rain import RainSampler

    assert set(RainArgs.model_fields) == {
        f.name for f in dataclasses.fields(RainSampler)}


def test_benchmark_variants_are_the_benchmarks():
    from derain.benchmark import VARIANTS

    # "compile" is switched on by torch_compile, not listed.
    assert set(BENCHMARK_VARIANTS) == set(VARIANTS) - {"compile"}


def test_network_blocks_are_their_constructors_arguments():
    import inspect

    from derain.nets import ARCHS

    for model in (DerainArgs, SpanetArgs, PReNetArgs):
        accepted = set(inspect.signature(ARCHS[model.network]).parameters)
        assert set(model.model_fields) <= accepted | {"arch"}, model.network


@pytest.mark.parametrize("profile", ["cpu", "smoke", "gpu"])
def test_every_network_a_profile_configures_builds(profile):
    """The schema checks the networks' arguments without building them (it runs
    before every stage); here each one is built, on the meta device."""
    import torch

    from derain.nets import DerainNet, PReNet, build_model

    params = deep_merge(PARAMS, yaml.safe_load(
        (ROOT / "profiles" / f"{profile}.yaml").read_text()))
    with torch.device("meta"):
        for section in ("train", "design"):
            build_model(params[section]["training"]["model"])
        for name in ("spanet", "prenet"):
            build_model(params["neighbours"][name])
        for name in ("default_model", "paper_model"):
            DerainNet(**params["benchmark"][name])
        PReNet(**params["benchmark"]["reference"])
