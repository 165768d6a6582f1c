import json

import numpy as np
import pandas as pd
import pytest

from derain.experiments import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    format_score,
    make_spec,
    run_all,
    run_dir,
    summarise,
    verdict,
)

BASE = {"model": {"width": 2, "kernels": "3/5/7", "fusion": "dynamic",
                  "in_channels": 1, "slope": 0.01},
        "loss": {"lambda_b": 1.0, "lambda_s": 1.0, "gamma_start": 1.0,
                 "gamma_end": 1.0},
        "steps": 2, "batch_size": 2, "crop": 16, "checkpoint_every": 2}


def table(values):
    return pd.DataFrame([{"name": n, "seed": i, "test_psnr": v}
                         for n, vs in values.items() for i, v in enumerate(vs)])


def test_make_spec_merges_nested_changes_without_touching_the_base():
    spec = make_spec("concat", 1, BASE, model={"fusion": "concat"}, steps=5)
    assert spec["train"]["model"]["fusion"] == "concat"
    assert spec["train"]["model"]["width"] == 2 and spec["train"]["steps"] == 5
    assert BASE["model"]["fusion"] == "dynamic" and spec["seed"] == 1


def test_verdict_needs_a_difference_beyond_the_seed_range():
    clear = table({"a": [31.0, 31.2], "b": [30.0, 30.1]})
    assert verdict(clear, "a", "b", "test_psnr")["verdict"] == HOLDS
    assert verdict(clear, "b", "a", "test_psnr")["verdict"] == FAILS
    noisy = table({"a": [31.0, 30.0], "b": [30.4, 30.5]})
    result = verdict(noisy, "a", "b", "test_psnr")
    assert result["verdict"] == INCONCLUSIVE and result["spread"] == pytest.approx(1.0)
    # Both stuck at the same value: no spread, but no difference worth a verdict.
    stuck = table({"a": [29.88, 29.88], "b": [29.86, 29.86]})
    assert verdict(stuck, "a", "b", "test_psnr")["verdict"] == INCONCLUSIVE
    assert verdict(stuck, "a", "b", "test_psnr", min_difference=0.01)["verdict"] \
        == HOLDS
    one_seed = table({"a": [35.0], "b": [30.0]})
    assert verdict(one_seed, "a", "b", "test_psnr")["verdict"] == INCONCLUSIVE
    with pytest.raises(KeyError, match="no runs named"):
        verdict(clear, "a", "c", "test_psnr")


def test_summarise_gives_mean_and_range_per_name_in_order():
    out = summarise(table({"z": [1.0, 3.0], "a": [2.0, 2.0]}))
    assert list(out.index) == ["z", "a"]
    assert out.loc["z", "test_psnr"] == 2.0 and out.loc["z", "test_psnr_spread"] == 2.0
    assert out.loc["a", "seeds"] == 2
    assert format_score(31.204, 0.3) == "31.20 ± 0.15"
    assert format_score(np.nan, 0.0) == "-"


def test_run_all_trains_scores_and_reuses_runs(tmp_path, tiny_data):
    evaluation = {"test_frames": 1, "rain100l": None, "rain100l_limit": None,
                  "device": "cpu"}
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
    assert json.loads(scores.read_text())["spec"]["train"]["steps"] == 3
    with pytest.raises(ValueError, match="share a name and seed"):
        run_all(specs + specs, tmp_path, tiny_data, evaluation, progress=False)


def test_load_runs_keeps_and_renames_the_named_runs(tmp_path):
    from derain.experiments import load_runs

    table({"Lr+Lb+Ls+Lv": [30.0, 30.2], "Lr+Lb": [8.0, 8.1]}).to_csv(
        tmp_path / "runs.csv", index=False)
    shared = load_runs(tmp_path, {"Lr+Lb+Ls+Lv": "concat"})
    assert list(shared["name"]) == ["concat", "concat"]
    assert list(shared["test_psnr"]) == [30.0, 30.2]
    with pytest.raises(KeyError, match="no runs named"):
        load_runs(tmp_path, {"sum": "sum"})
    with pytest.raises(FileNotFoundError, match="run the stage"):
        load_runs(tmp_path / "absent", {"sum": "sum"})
