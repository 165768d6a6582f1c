"""Fault injection: each way a careful user broke the pipeline, tried through the
command line, with the message it must give and a check that nothing was lost.

A user error ends in one line per problem (``derain <command>: error: ...``),
exit status 2 and no traceback; Ctrl-C in one line and status 130; the
documented non-errors (a result already there, a training checkpoint as a model,
a corrupt run checkpoint) in their documented behaviour. Every case checks that
the inputs and the finished outputs it found are still there, byte for byte.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT
from PIL import Image, ImageOps

from derain.cli import main
from derain.config import TrainConfig, deep_merge, load_params
from derain.evaluation import load_model, save_model
from derain.nets import DerainNet
from derain.training import train

PARAMS = load_params(ROOT / "params.yaml")
SMOKE = deep_merge(PARAMS, yaml.safe_load((ROOT / "profiles" / "smoke.yaml")
                                          .read_text()))
HAS_CUDA = torch.cuda.is_available()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(capsys, *argv: str) -> tuple[int, list[str]]:
    """Runs ``derain *argv``; its exit status and its stderr lines."""
    code = main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


def one_error(code: int, lines: list[str], command: str, *parts: str) -> str:
    """Asserts one line ``derain <command>: error: ...`` holding ``parts``, exit
    status 2, and nothing of a traceback or of torch's unsafe advice."""
    assert code == 2, lines
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"derain {command}: error: "), line
    for part in parts:
        assert part in line, (part, line)
    assert "Traceback" not in line and "weights_only" not in line
    return line


# --------------------------------------------------------------------------- params


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project's configuration in the current folder, an empty data
    root (the documented default) and a finished model of an earlier run."""
    for name in ("params.yaml",):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("profiles", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "datasets").mkdir()
    (tmp_path / "results" / "train").mkdir(parents=True)
    save_model(tmp_path / "results" / "train" / "model.pt", DerainNet(width=2))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edited(project: Path, path: tuple, value=None, delete: bool = False) -> None:
    params = copy.deepcopy(PARAMS)
    node = params
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# (stage, key, value or DELETE, what the line must say). The first ones are the
# issue's own list.
DELETE = object()
PARAM_FAULTS = [
    ("train", ("train", "training", "steps"), DELETE,
     "params.yaml: train.training.steps is missing; give an integer >= 1"),
    ("train", ("train", "stepz"), 7,
     "params.yaml: train.stepz = 7 is not a key of train; allowed: training, "
     "paper_loss, paper_loss_steps"),
    ("train", ("train", "training", "steps"), -5,
     "train.training.steps = -5 is out of range; allowed: an integer >= 1"),
    ("train", ("train", "training", "checkpoint_every"), 0,
     "train.training.checkpoint_every = 0 is out of range"),
    ("train", ("train", "training", "batch_size"), 0,
     "train.training.batch_size = 0 is out of range"),
    ("train", ("train", "training", "steps"), 0,
     "train.training.steps = 0 is out of range"),
    ("train", ("train", "training", "crop"), 512,
     "train.training.crop = 512 exceeds data.scene_size = 256"),
    ("data", ("data_root",), "datsets",
     "data_root = 'datsets': the folder datsets does not exist"),
    ("data", ("data", "rain", "jpeg_prob"), DELETE, "data.rain.jpeg_prob is missing"),
    ("design", ("design", "training", "model", "width"), "4",
     "design.training.model.width = '4' has the wrong type"),
    ("neighbours", ("neighbours", "heavy", "accumulation_range"), DELETE,
     "neighbours.heavy.accumulation_range is missing"),
]
if not HAS_CUDA:
    PARAM_FAULTS.append(("train", ("train", "training", "device"), "cuda",
                         "train.training.device = 'cuda': CUDA is not available"))


@pytest.mark.parametrize(("stage", "path", "value", "message"), PARAM_FAULTS,
                         ids=lambda v: ".".join(v) if isinstance(v, tuple) else None)
def test_a_bad_params_yaml_stops_the_stage_before_it_runs(project, capsys, stage,
                                                         path, value, message):
    edited(project, path, delete=value is DELETE, value=value)
    before = snapshot(project)
    code, lines = cli(capsys, "chapter", stage)
    one_error(code, lines, "chapter", message)
    assert snapshot(project) == before  # nothing ran, nothing was written
    code, lines = cli(capsys, "params", "check")
    one_error(code, lines, "params", message)


def test_params_check_passes_the_committed_file(project, capsys):
    code = main(["params", "check"])
    out = capsys.readouterr()
    assert code == 0 and "params.yaml: valid (profile cpu" in out.out
    assert not out.err


def test_a_chapter_names_its_data_and_a_failing_cell_in_one_line(
        project, capsys, monkeypatch):
    """The console says which sets the chapter reads; a notebook error is one line
    pointing at the executed notebook (its traceback stays there)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    (project / "datasets" / "real_rain").mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8)).save(project / "datasets" / "real_rain" / f"{i}.png")

    def failing(*args, **kwargs):
        print("a warning from the notebook", file=kwargs["stderr_file"])
        raise PapermillExecutionError(4, 7, "", "ValueError", "bad scene\nmore", [])

    monkeypatch.setattr(papermill, "execute_notebook", failing)
    code, lines = cli(capsys, "chapter", "evaluate")
    assert code == 2
    assert lines[0] == ("derain chapter evaluate: data_root datasets: real_rain "
                        "(3 of 3 images); scenes on scikit-image's 13 bundled "
                        "photographs (absent: backgrounds/sun_hays80, "
                        "backgrounds/urban100, backgrounds/kodak24)")
    # The opening line of the chapter's progress, then what the notebook printed.
    assert lines[1].startswith("derain chapter evaluate: ") and "code cells" in lines[1]
    assert lines[2] == "a warning from the notebook"
    assert lines[3:] == ["derain chapter: error: notebooks/03_evaluate.py: cell [7] "
                         "raised ValueError: bad scene (traceback in "
                         "results/evaluate/03_evaluate.ipynb)"]
    assert not list((project / "results" / "evaluate").glob("*.source.ipynb"))


# --------------------------------------------------------------------------- profiles


def test_profiles_keep_params_yaml_byte_for_byte(project, capsys):
    original = (project / "params.yaml").read_bytes()
    comments = [line for line in original.decode().splitlines()
                if line.lstrip().startswith("#") or " # " in line]
    assert main(["profile", "gpu"]) == 0 and main(["profile", "smoke"]) == 0
    smoke = (project / "params.yaml").read_text()
    assert "torch_compile: false" in smoke  # gpu's value did not survive smoke
    kept = [line for line in smoke.splitlines()
            if line.lstrip().startswith("#") or " # " in line]
    assert len(kept) == len(comments)
    assert main(["params", "check"]) == 0
    assert main(["profile", "cpu"]) == 0
    assert (project / "params.yaml").read_bytes() == original
    code, lines = cli(capsys, "profile", "tpu")
    one_error(code, lines[-1:], "profile", "profiles/tpu.yaml: no such profile")
    assert (project / "params.yaml").read_bytes() == original


# --------------------------------------------------------------------------- predict


@pytest.fixture
def model(tmp_path) -> Path:
    """An untrained model: its rain estimate is zero, so it returns its input."""
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    save_model(path, DerainNet(width=2))
    return path


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(h, w, 3) uint8: smooth gradients and a bright corner, so that every turn
    and mirror of it differs."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([40 + 150 * yy / h, 60 + 120 * xx / w,
                    np.full((h, w), 90.0)], -1)
    img[: h // 4, : w // 3] = 240
    img += np.random.default_rng(seed).normal(0, 2, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_predict_applies_exif_orientation_and_writes_upright(tmp_path, model, capsys):
    """A phone photograph stored on its side with orientation 6 (turn clockwise
    to view) comes out the way a viewer shows it, without the tag."""
    stored = photo(48, 80)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "phone.jpg", quality=95, exif=exif)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "phone.jpg")),
                         dtype=float)
    assert upright.shape == (80, 48, 3)
    code, lines = cli(capsys, "predict", str(tmp_path / "phone.jpg"), "--output",
                      str(tmp_path / "out"), "--checkpoint", str(model))
    assert code == 0 and lines == ["1 derained, 0 failed"]
    result = Image.open(tmp_path / "out" / "phone.png")
    assert result.getexif().get(0x0112) in (None, 1)
    out = np.asarray(result, dtype=float)
    assert out.shape == upright.shape
    # The model returns its input up to rounding; the other quarter turn is far.
    assert np.abs(out - upright).mean() < 2
    assert np.abs(out - upright[::-1, ::-1]).mean() > 20


def write_inputs(folder: Path, n: int, size: int = 32) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        paths.append(folder / f"img{i}.png")
        Image.fromarray(photo(size, size, seed=i)).save(paths[-1])
    return paths


def test_predict_keeps_existing_results_unless_overwrite(tmp_path, model, capsys):
    write_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    out.mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(out / "img1.png")  # an earlier result
    inputs, earlier = snapshot(tmp_path / "in"), (out / "img1.png").read_bytes()
    code, lines = cli(capsys, "predict", str(tmp_path / "in"), "--output", str(out),
                      "--checkpoint", str(model))
    assert code == 0
    assert lines == [f"derain predict: skipped 1 whose result is already in {out} "
                     f"(--overwrite replaces them): {tmp_path / 'in' / 'img1.png'}",
                     "2 derained, 0 failed, 1 skipped"]
    assert (out / "img1.png").read_bytes() == earlier
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.png",
                                                     "img2.png"]
    code, lines = cli(capsys, "predict", str(tmp_path / "in"), "--output", str(out),
                      "--checkpoint", str(model), "--overwrite")
    assert code == 0 and lines == ["3 derained, 0 failed"]
    assert Image.open(out / "img1.png").size == (32, 32)
    assert snapshot(tmp_path / "in") == inputs


def test_ctrl_c_stops_predict_cleanly(tmp_path, model, capsys, monkeypatch):
    """Interrupted at the second image: one line, status 130, the first result
    kept whole, nothing half-written, the inputs untouched."""
    import derain.predict as predict

    write_inputs(tmp_path / "in", 3)
    inputs = snapshot(tmp_path / "in")
    real = predict.derain_tiled
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(predict, "derain_tiled", interrupted)
    code, lines = cli(capsys, "predict", str(tmp_path / "in"), "--output",
                      str(tmp_path / "out"), "--checkpoint", str(model))
    assert code == 130
    assert lines == ["derain predict: interrupted after 1 of 3 images; the results "
                     "written so far are kept, no partial file is left"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["img0.png"]
    Image.open(tmp_path / "out" / "img0.png").load()
    assert snapshot(tmp_path / "in") == inputs


def test_ctrl_c_while_writing_leaves_no_partial_file(tmp_path, model, capsys,
                                                     monkeypatch):
    import derain.predict as predict

    write_inputs(tmp_path / "in", 1)

    def half_written(path, rgb, alpha=None):
        Path(path).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(predict, "save_image", half_written)
    code, _ = cli(capsys, "predict", str(tmp_path / "in"), "--output",
                  str(tmp_path / "out"), "--checkpoint", str(model))
    assert code == 130 and list((tmp_path / "out").iterdir()) == []


def test_sigint_to_a_running_predict(tmp_path, model):
    """A real Ctrl-C (SIGINT) to the command while it works through a folder."""
    write_inputs(tmp_path / "in", 40, size=384)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from derain.cli import main; "
         "sys.exit(main())", "predict", str(tmp_path / "in"), "--output", str(out),
         "--checkpoint", str(model)], env=env, stderr=subprocess.PIPE, text=True)
    def finished() -> list[Path]:
        # Results in progress have a hidden temporary name.
        return [p for p in out.glob("*.png") if not p.name.startswith(".")] \
            if out.is_dir() else []

    deadline = time.time() + 120
    while not finished() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    lines = err.strip().splitlines()
    if proc.returncode == 0:
        pytest.skip("the command finished before the signal arrived")
    assert proc.returncode == 130, err
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err
    assert not [p for p in out.iterdir() if not p.name.endswith(".png")
                or p.name.startswith(".")]
    assert finished()
    for result in out.iterdir():
        Image.open(result).load()  # complete, not truncated


# ------------------------------------------------------------------------ checkpoints


class Anything:
    """A Python object a checkpoint should not hold."""


def bad_checkpoints(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Broken checkpoint files, each with what its line must say."""
    data = good.read_bytes()
    cases = {}

    def case(name: str, content: bytes, message: str) -> None:
        path = folder / name
        path.write_bytes(content)
        cases[name] = (path, message)

    case("random.pt", np.random.default_rng(0).bytes(600),
         "not a checkpoint (not a file that torch.save writes)")
    case("empty.pt", b"", "empty file, not a checkpoint")
    case("truncated.pt", data[: len(data) // 2],
         "corrupt checkpoint (the archive is truncated)")
    flipped = bytearray(data)
    flipped[len(data) // 3: len(data) // 3 + 64] = bytes(64)
    case("flipped.pt", bytes(flipped), "corrupt checkpoint")
    case("notes.pt", b"weights: see the other file\n", "not a checkpoint")

    torch.save({"config": {"width": 2}, "extra": Anything()}, folder / "objects.pt")
    cases["objects.pt"] = (folder / "objects.pt", "holds Python objects besides "
                           "weights")
    blob = torch.load(good, weights_only=True)
    blob["config"] = {**blob["config"], "width": 4}
    torch.save(blob, folder / "wider.pt")
    cases["wider.pt"] = (folder / "wider.pt",
                         "weights of another architecture than {'width': 4, "
                         "'kernels': '3/5/7', 'fusion': 'dynamic', 'in_channels': 1,"
                         " 'chunk': 32, 'slope': 0.0}: encoders.0.stage1.0.weight "
                         "is (2, 1, 3, 3) there but (4, 1, 3, 3) here")
    torch.save({"state_dict": blob["state_dict"]}, folder / "bare.pt")
    cases["bare.pt"] = (folder / "bare.pt", "not a derain checkpoint (no network "
                        "settings")
    cases["missing.pt"] = (folder / "missing.pt", "missing.pt: no such checkpoint")
    return cases


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_every_bad_checkpoint_is_one_line(tmp_path, model, capsys, command):
    write_inputs(tmp_path / "pairs" / "input", 1)
    write_inputs(tmp_path / "pairs" / "target", 1)
    (tmp_path / "ckpts").mkdir()
    cases = bad_checkpoints(tmp_path / "ckpts", model)
    for name, (path, message) in cases.items():
        before = snapshot(tmp_path)
        if command == "predict":
            argv = ["predict", str(tmp_path / "pairs" / "input"), "--output",
                    str(tmp_path / "out"), "--checkpoint", str(path)]
        else:
            argv = ["evaluate", "--input", str(tmp_path / "pairs" / "input"),
                    "--target", str(tmp_path / "pairs" / "target"),
                    "--checkpoint", str(path)]
        code, lines = cli(capsys, *argv)
        one_error(code, lines, command, str(path), message)
        assert snapshot(tmp_path) == before, name  # no output, checkpoint intact


def test_a_training_checkpoint_loads_its_weights(tmp_path, tiny_data, capsys):
    config = TrainConfig(**{**SMOKE["train"]["training"], "steps": 2,
                            "checkpoint_every": 1, "val_every": 0})
    train(config, tmp_path / "run", tiny_data, progress=False)
    from_checkpoint = load_model(tmp_path / "run" / "checkpoint.pt")
    final = load_model(tmp_path / "run" / "model.pt")
    for (key, a), b in zip(from_checkpoint.state_dict().items(),
                           final.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    write_inputs(tmp_path / "in", 1)
    code, lines = cli(capsys, "predict", str(tmp_path / "in"), "--output",
                      str(tmp_path / "out"), "--checkpoint",
                      str(tmp_path / "run" / "checkpoint.pt"))
    assert code == 0 and lines == ["1 derained, 0 failed"]


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here")
def test_cuda_without_cuda_is_one_line(tmp_path, model, capsys):
    write_inputs(tmp_path / "in", 1)
    code, lines = cli(capsys, "evaluate", "--input", str(tmp_path / "in"), "--target",
                      str(tmp_path / "in"), "--checkpoint", str(model),
                      "--device", "cuda")
    one_error(code, lines, "evaluate", "device 'cuda': CUDA is not available")
    code, lines = cli(capsys, "predict", str(tmp_path / "in"), "--output",
                      str(tmp_path / "out"), "--checkpoint", str(model),
                      "--device", "cuda")
    one_error(code, lines, "predict", "--device: device 'cuda': CUDA is not")


# --------------------------------------------------------------------------- training


def smoke_config(**changes) -> TrainConfig:
    """The main run of the smoke profile."""
    return TrainConfig(**{**SMOKE["train"]["training"], **changes})


def test_a_corrupt_run_checkpoint_is_moved_aside_and_training_starts_over(
        tmp_path, tiny_data):
    run = tmp_path / "run"
    run.mkdir()
    garbage = b"PK\x03\x04 not really an archive"
    (run / "checkpoint.pt").write_bytes(garbage)
    with pytest.warns(UserWarning) as caught:
        history = train(smoke_config(), run, tiny_data, progress=False)
    message = str(caught[0].message)
    assert message == (f"{run / 'checkpoint.pt'}: corrupt checkpoint (the archive "
                       "is truncated); moved to checkpoint.pt.corrupt, training "
                       "starts over")
    assert (run / "checkpoint.pt.corrupt").read_bytes() == garbage
    assert (run / "model.pt").is_file() and history["train"][-1]["step"] == 6
    # A second corrupt checkpoint does not replace the first one set aside.
    (run / "checkpoint.pt").write_bytes(b"\x00" * 10)
    (run / "model.pt").unlink()
    with pytest.warns(UserWarning, match="moved to checkpoint.pt.corrupt.1"):
        train(smoke_config(), run, tiny_data, progress=False)
    assert (run / "checkpoint.pt.corrupt").read_bytes() == garbage


@pytest.mark.parametrize("log_every", [20, 2])
def test_resume_logs_the_history_of_an_uninterrupted_run(tmp_path, tiny_data,
                                                         log_every):
    """Smoke size: 6 steps, a checkpoint and validation every 3. Stopped after the
    checkpoint of step 3 and resumed, the logged losses and scores equal those of
    a run that was never stopped, step for step (log_every 20 logs once, at the
    end, over all six steps; 2 logs between the checkpoints)."""
    config = smoke_config(log_every=log_every)
    whole = train(config, tmp_path / "whole", tiny_data, progress=False)
    cut = train(config, tmp_path / "cut", tiny_data, progress=False, stop_after=3)
    assert not (tmp_path / "cut" / "model.pt").exists()
    assert cut["train"] == whole["train"][: len(cut["train"])]
    resumed = train(config, tmp_path / "cut", tiny_data, progress=False)

    def scores(history):  # the training seconds at each point differ, of course
        return [{k: v for k, v in point.items() if k != "seconds"}
                for point in history["val"]]

    assert resumed["train"] == whole["train"] and scores(resumed) == scores(whole)
    assert [r["step"] for r in whole["train"]] == ([6] if log_every == 20
                                                   else [2, 4, 6])
    saved = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert saved["train"] == whole["train"]
