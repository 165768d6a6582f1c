import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from derain.inference import load_model
from derain.train import contrast_ratio, train

SMALL = dict(model={"width": 4}, batch_size=2, crop=16, seed=0, val_every=0,
             log_every=1, progress=False)
LOSS = {"lambda_b": 1.0, "lambda_s": 1.0, "gamma_start": 1.0, "gamma_end": 1.0}


def weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_training_moves_weights_and_saves_a_loadable_model(tmp_path, tiny_data):
    history = train(tmp_path / "run", tiny_data, loss=LOSS, steps=3,
                    checkpoint_every=3, **SMALL)
    assert len(history["train"]) >= 1 and history["steps_per_second"] > 0
    net = load_model(tmp_path / "run" / "model.pt")
    assert net.config["width"] == 4
    # The zero-initialised last layer has moved: the model no longer is the identity.
    _, rain = net(torch.rand(1, 1, 16, 16))
    assert rain.abs().sum() > 0


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path, tiny_data):
    train(tmp_path / "full", tiny_data, loss=LOSS, steps=4, checkpoint_every=2,
          **SMALL)
    partial = train(tmp_path / "cut", tiny_data, loss=LOSS, steps=4,
                    checkpoint_every=2, stop_after=2, **SMALL)
    assert not (tmp_path / "cut" / "model.pt").exists()
    assert partial["train"][-1]["step"] == 2
    train(tmp_path / "cut", tiny_data, loss=LOSS, steps=4, checkpoint_every=2,
          **SMALL)
    full = weights(tmp_path / "full" / "model.pt")
    assert_same_weights(full, weights(tmp_path / "cut" / "model.pt"))
    # Training moved the weights, so the equality above is not trivial.
    assert full["dec1.4.weight"].abs().sum() > 0


def test_changed_settings_start_over(tmp_path, tiny_data):
    train(tmp_path / "run", tiny_data, loss=LOSS, steps=2, checkpoint_every=1,
          **SMALL)
    with pytest.warns(UserWarning, match="other settings"):
        history = train(tmp_path / "run", tiny_data, loss=LOSS, steps=3,
                        checkpoint_every=1, **SMALL)
    assert [h["step"] for h in history["train"]] == [1, 2, 3]


SCRIPT = """
import sys, torch
from derain.train import train
train(sys.argv[1], sys.argv[2], model={{"width": 4}}, loss={loss}, steps={steps},
      batch_size=2, crop=16, seed=0, val_every=0, checkpoint_every=1,
      progress=False)
"""


def test_killed_process_resumes(tmp_path, tiny_data):
    steps = 30
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(loss=LOSS, steps=steps))
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(run), str(tiny_data)])
    deadline = time.time() + 120
    while not (run / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "model.pt").exists(), "finished before it could be killed"
    step = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert 0 < step < steps
    subprocess.run([sys.executable, str(script), str(run), str(tiny_data)], check=True)
    subprocess.run([sys.executable, str(script), str(tmp_path / "whole"),
                    str(tiny_data)], check=True)
    whole = weights(tmp_path / "whole" / "model.pt")
    assert_same_weights(weights(run / "model.pt"), whole)


def test_contrast_ratio_flags_a_constant_background():
    rainy = torch.rand(4, 1, 16, 16)
    assert contrast_ratio(rainy, rainy) == pytest.approx(1.0)
    assert contrast_ratio(torch.full_like(rainy, 0.4), rainy) < 0.01


@pytest.mark.parametrize("target", ["clean", "median", "percentile", "rain_oer_me",
                                    "rain2avoid"])
def test_every_baseline_target_trains_and_loads(tmp_path, tiny_data, target):
    history = train(tmp_path / target, tiny_data, loss={}, steps=2,
                    checkpoint_every=2, target=target, **SMALL)
    assert history["train"][-1]["total"] > 0
    assert (tmp_path / target / "model.pt").is_file()


def test_gt_rain_objective_and_other_architectures(tmp_path, tiny_data):
    small = {**SMALL, "model": {"arch": "prenet", "in_channels": 1, "channels": 4,
                                "stages": 2, "blocks": 1}}
    train(tmp_path / "prenet", tiny_data, loss={}, steps=2, target="clean", **small)
    net = load_model(tmp_path / "prenet" / "model.pt")
    assert type(net).__name__ == "PReNet"
    small["model"] = {"arch": "spanet", "in_channels": 1, "channels": 4, "blocks": 1}
    train(tmp_path / "spanet", tiny_data, loss={}, steps=2, target="percentile",
          **small)
    assert type(load_model(tmp_path / "spanet" / "model.pt")).__name__ == \
        "SpatialAttentiveNet"
    history = train(tmp_path / "gt", tiny_data, loss={}, steps=2, target="clean",
                    objective="gt_rain", **SMALL)
    assert {"L_l1", "L_ri", "contrast"} <= set(history["train"][-1])


def test_supervised_run_is_not_the_time_lapse_run(tmp_path, tiny_data):
    # The same seed and data with a clean target must give other weights: the
    # target really enters the loss.
    train(tmp_path / "tl", tiny_data, loss=LOSS, steps=3, **SMALL)
    train(tmp_path / "gt", tiny_data, loss=LOSS, steps=3, target="clean", **SMALL)
    a, b = weights(tmp_path / "tl" / "model.pt"), weights(tmp_path / "gt" / "model.pt")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_unknown_target_is_refused(tmp_path, tiny_data):
    with pytest.raises(ValueError, match="target must be one of"):
        train(tmp_path / "x", tiny_data, loss=LOSS, steps=1, target="oracle", **SMALL)
