"""Many short runs, cached: specs, the run cache and reuse across chapters."""

import json

import pandas as pd
import pytest

from derain.training import load_runs, make_spec, run_all, run_dir

BASE = {"model": {"width": 2, "kernels": "3/5/7", "fusion": "dynamic",
                  "in_channels": 1, "slope": 0.01},
        "loss": {"lambda_b": 1.0, "lambda_s": 1.0, "gamma_start": 1.0,
                 "gamma_end": 1.0},
        "steps": 2, "batch_size": 2, "crop": 16, "checkpoint_every": 2}


EVALUATION = {"eval_frames": 1, "rain100l": None, "rain100l_limit": None,
              "device": "cpu"}


def table(values):
    return pd.DataFrame([{"name": n, "seed": i, "test_psnr": v}
                         for n, vs in values.items() for i, v in enumerate(vs)])


def test_make_spec_merges_nested_changes_without_touching_the_base():
    spec = make_spec("concat", 1, BASE, model={"fusion": "concat"}, steps=5)
    assert spec["training"]["model"]["fusion"] == "concat"
    assert spec["training"]["model"]["width"] == 2 and spec["training"]["steps"] == 5
    assert BASE["model"]["fusion"] == "dynamic" and spec["seed"] == 1


def test_run_all_trains_scores_and_reuses_runs(tmp_path, tiny_data):
    evaluation = EVALUATION
    specs = [make_spec("dyn", s, BASE) for s in (0, 1)]
    first = run_all(specs, tmp_path, tiny_data, evaluation, progress=False)
    assert list(first["name"]) == ["dyn", "dyn"] and list(first["seed"]) == [0, 1]
    assert first["test_psnr"].between(5, 60).all()
    assert "rain100l_psnr" not in first
    scores = run_dir(tmp_path, specs[0]) / "scores.json"
    stamp = scores.stat().st_mtime_ns
    again = run_all(specs, tmp_path, tiny_data, evaluation, progress=False)
    assert scores.stat().st_mtime_ns == stamp  # read back, not retrained
    pd.testing.assert_frame_equal(first, again)
    # A changed spec under the same name is trained again.
    changed = [make_spec("dyn", 0, BASE, steps=3)]
    run_all(changed, tmp_path, tiny_data, evaluation, progress=False)
    assert json.loads(scores.read_text())["spec"]["training"]["steps"] == 3
    with pytest.raises(ValueError, match="share a name and seed"):
        run_all(specs + specs, tmp_path, tiny_data, evaluation, progress=False)


def test_load_runs_keeps_and_renames_the_named_runs(tmp_path):
    table({"Lr+Lb+Ls+Lv": [30.0, 30.2], "Lr+Lb": [8.0, 8.1]}).to_csv(
        tmp_path / "runs.csv", index=False)
    shared = load_runs(tmp_path, {"Lr+Lb+Ls+Lv": "concat"})
    assert list(shared["name"]) == ["concat", "concat"]
    assert list(shared["test_psnr"]) == [30.0, 30.2]
    with pytest.raises(KeyError, match="no runs named"):
        load_runs(tmp_path, {"sum": "sum"})
    with pytest.raises(FileNotFoundError, match="run the stage"):
        load_runs(tmp_path / "absent", {"sum": "sum"})


def test_a_bad_spec_is_refused_before_any_run_trains(tmp_path, tiny_data):
    good = make_spec("good", 0, BASE)
    bad = make_spec("bad", 0, BASE, objective="gt_rain", target="clean")
    with pytest.raises(ValueError, match="takes no target"):
        run_all([good, bad], tmp_path, tiny_data, EVALUATION, progress=False)
    assert not run_dir(tmp_path, good).exists()
