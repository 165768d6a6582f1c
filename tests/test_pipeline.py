"""The pipeline's wiring: parameters cells against params.yaml, profiles, the DVC
stages, and one end-to-end run of the whole pipeline and the book at smoke size."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from book_check import check_book, chromium
from conftest import ROOT

from derain.pipeline import apply_profile, deep_merge, load_params

NOTEBOOKS = {"data": "01_data.py", "train": "02_train.py", "evaluate": "03_evaluate.py",
             "benchmark": "04_benchmark.py", "explore": "05_explore.py",
             "loss_ablation": "06_loss_ablation.py", "fusion": "07_fusion.py",
             "time_averaging": "08_time_averaging.py", "model_size": "09_model_size.py",
             "features": "10_features.py", "neighbours": "11_neighbours.py",
             "what_reproduces": "12_what_reproduces.py"}


def parameters_cell(path: Path) -> dict:
    """The names assigned in the cell tagged ``parameters`` of a percent notebook."""
    text = path.read_text()
    cells = text.split("# %%")
    tagged = [c for c in cells if c.startswith(' tags=["parameters"]')]
    assert len(tagged) == 1, f"{path}: exactly one parameters cell expected"
    body = tagged[0].split("\n", 1)[1]
    tree = ast.parse(body)
    return {t.id: ast.literal_eval(node.value) for node in tree.body
            for t in node.targets}


@pytest.mark.parametrize("section", sorted(NOTEBOOKS))
def test_parameters_cell_matches_params_section(section):
    cell = parameters_cell(ROOT / "notebooks" / NOTEBOOKS[section])
    params = load_params(ROOT / "params.yaml")[section]
    assert set(cell) == set(params)


@pytest.mark.parametrize("profile", ["smoke", "gpu"])
def test_profiles_only_change_known_keys(profile):
    params = load_params(ROOT / "params.yaml")
    override = yaml.safe_load((ROOT / "profiles" / f"{profile}.yaml").read_text())

    def check(base, over, path):
        for key, value in over.items():
            assert key in base, f"{profile}: unknown key {path + key}"
            if isinstance(value, dict) and isinstance(base[key], dict):
                check(base[key], value, f"{path}{key}.")

    check(params, override, "")


def test_cpu_profile_restores_the_default(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    original = load_params(tmp_path / "params.yaml")
    gpu = apply_profile("gpu", tmp_path / "params.yaml")
    assert gpu["profile"] == "gpu" and gpu["train"]["model"]["width"] == 64
    smoke = apply_profile("smoke", tmp_path / "params.yaml")
    assert smoke["train"]["steps"] < original["train"]["steps"]
    restored = apply_profile("cpu", tmp_path / "params.yaml")
    assert restored == original
    with pytest.raises(FileNotFoundError, match="no such profile"):
        apply_profile("tpu", tmp_path / "params.yaml")


def test_deep_merge_keeps_unrelated_keys():
    merged = deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}})
    assert merged == {"a": {"b": 5, "c": 2}, "d": 3}


def test_every_stage_reads_its_own_section_and_writes_under_its_folder():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert stage["params"] == [name]
        outs = [next(iter(o)) if isinstance(o, dict) else o
                for key in ("outs", "metrics", "plots") for o in stage.get(key, [])]
        assert outs and all(o.startswith(f"results/{name}") for o in outs), name
        if name in NOTEBOOKS:
            assert f"notebooks/{NOTEBOOKS[name]}" in stage["deps"]


def test_requirements_and_environment_agree():
    req = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert sorted(req) == sorted(pip)
    assert "torch==2.13.0" in req


@pytest.mark.slow
@pytest.mark.parametrize("data", ["linked", "empty"])
def test_smoke_pipeline_end_to_end(tmp_path, data):
    """dvc repro of a clean copy of the project at smoke size, book included, with
    the data folder linked to the real sets (when present) or left empty."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    work = tmp_path / "project"
    for name in filter(None, files):
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    linked = data == "linked"
    data_label = data
    data = ROOT / "datasets"
    if linked and not (data / "Rain100L").is_dir():
        pytest.skip("no data sets to link")
    if linked:
        (work / "datasets").symlink_to(data.resolve())
    else:
        (work / "datasets").mkdir()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    apply_profile("smoke", work / "params.yaml")
    run = subprocess.run(["dvc", "repro"], cwd=work, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    results = work / "results"
    data_metrics = json.loads((results / "data" / "metrics.json").read_text())
    assert data_metrics["training_pairs"] == 6 * 3  # 6 scenes x C(3, 2)
    assert data_metrics["bundled_fallback"] is not linked
    train_metrics = json.loads((results / "train" / "metrics.json").read_text())
    assert train_metrics["steps"] == 6 and train_metrics["steps_per_second"] > 0
    assert (results / "train" / "model.pt").is_file()
    scores = json.loads((results / "evaluate" / "metrics.json").read_text())
    assert scores["synthetic"]["n"] > 0 and 5 < scores["synthetic"]["psnr"] < 60
    assert ("rain100l" in scores) is linked
    for stage in ("data", "train", "evaluate"):
        assert (results / stage / "wall_time.yaml").is_file()
    index = results / "book" / "_build" / "html" / "index.html"
    assert index.is_file()
    chapters = list((results / "book" / "_build" / "html" / "chapters").glob("*.html"))
    assert len(chapters) == len(NOTEBOOKS)
    assert "<img" in (results / "book" / "_build" / "html" / "chapters" /
                      "01_data.html").read_text()
    if chromium():
        shots = ROOT / "artifacts" / "book" / data_label
        shutil.rmtree(shots, ignore_errors=True)  # no pages of an older book
        problems = check_book(results / "book" / "_build" / "html", shots)
        assert not problems, "\n".join(problems)
        assert len(list(shots.glob("chapters_*.png"))) == len(chapters)
    if not linked:
        html = (results / "book" / "_build" / "html" / "chapters" / "01_data.html")
        assert "bundled photographs" in html.read_text()
        return
    # The evaluation command uses the same code and agrees with the chapter.
    if (data / "Rain100L").is_dir():
        out = subprocess.run(
            ["derain", "evaluate", "--checkpoint", str(results / "train" / "model.pt"),
             "--input", str(data / "Rain100L" / "input"),
             "--target", str(data / "Rain100L" / "target"), "--json"],
            cwd=work, env=env, capture_output=True, text=True, check=True)
        cli = json.loads(out.stdout)
        assert cli["n"] == 100 and 20 < cli["psnr"] < 40
