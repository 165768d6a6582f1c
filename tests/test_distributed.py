"""Data-parallel training: two gloo processes on the CPU follow one process with
the same global batch, and a job that loses a rank resumes from its checkpoint
under any number of processes."""

import json
import subprocess

import numpy as np
import pytest
import torch

from derain.config import TrainConfig
from derain.nets import build_model
from derain.training import train
from derain.training.distributed import World
from derain.training.launch import launch, torchrun_command
from derain.training.objectives import make_objective

# The paper's losses, L_v included (whose mean runs over the batch). L_b is left
# out: its gradient with respect to the last layer's bias cancels between the two
# frames of a pair, and Adam turns the rounding residue (1e-8) into a full step of
# either sign, in one process as in two.
CONFIG = TrainConfig(
    model={"width": 2, "kernels": "3/5/7", "fusion": "dynamic", "in_channels": 1,
           "slope": 0.01, "init": "kaiming"},
    loss={"lambda_b": 0.0, "lambda_s": 1.0, "lambda_v": 0.5, "lambda_r": 0.01,
          "gamma_start": 1.0, "gamma_end": 1.0, "lv_rel": 0.5},
    steps=6, batch_size=4, crop=16, lr=1e-3, seed=0, val_every=0, log_every=1,
    checkpoint_every=2, device="cpu")
# Logged values that are the same whether one process or two compute them.
COMPARED = ("total", "L_s", "L_v", "L_r", "contrast")
TIMEOUT = 300


def weights(folder):
    return torch.load(folder / "model.pt", weights_only=True)["state_dict"]


def assert_same_run(history, reference, folder, reference_folder):
    assert [r["step"] for r in history["train"]] == \
        [r["step"] for r in reference["train"]]
    for row, ref in zip(history["train"], reference["train"], strict=True):
        for key in COMPARED:
            assert row[key] == pytest.approx(ref[key], rel=1e-4, abs=1e-6), \
                (row["step"], key)
    a, b = weights(folder), weights(reference_folder)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5,
                                   msg=key)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, tiny_data):
    folder = tmp_path_factory.mktemp("one")
    return train(CONFIG, folder, tiny_data, progress=False), folder


def test_shards_are_the_slices_of_one_batch():
    batch = torch.arange(8).view(8, 1)
    parts = [World(r, 4).shard(batch)[0] for r in range(4)]
    assert torch.equal(torch.cat(parts), batch)
    assert World().shard(batch)[0] is batch
    with pytest.raises(ValueError, match="equal slices"):
        World(0, 3).shard(batch)
    with pytest.raises(ValueError, match="multiple of nproc"):
        launch(CONFIG.replace(batch_size=3), "unused", "unused", nproc=2)


def test_a_rank_trains_its_slice_and_draws_the_whole_batch(tiny_data):
    config = CONFIG.replace(loss={"lambda_s": 1.0, "lambda_b": 0.0,
                                  "lambda_v": 0.0, "lambda_r": 0.0})
    seen = []
    net = build_model(config.model)
    net.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    draws = {}
    for world in (World(), World(1, 2)):
        objective = make_objective(config, tiny_data, 1)
        objective.shard(world)
        rng = np.random.default_rng(0)
        objective.step(net, rng, 0, torch.device("cpu"))
        draws[world.size] = rng.integers(2**31)  # the stream after the step
    whole, mine = seen
    # Both frames of each pair: rank 1 of 2 sees the second half of the pairs.
    b = config.batch_size
    assert whole.shape[0] == 2 * b and mine.shape[0] == b
    assert torch.equal(mine[:b // 2], whole[b // 2:b])
    assert torch.equal(mine[b // 2:], whole[b + b // 2:])
    assert draws[1] == draws[2]


def test_two_processes_follow_one_process(tmp_path, tiny_data, one_process):
    reference, reference_folder = one_process
    history = launch(CONFIG, tmp_path, tiny_data, nproc=2, progress=False,
                     timeout=TIMEOUT)
    assert np.isfinite([r["total"] for r in history["train"]]).all()
    assert_same_run(history, reference, tmp_path, reference_folder)


# Rank 1 dies (SIGKILL) right after step 3; the checkpoint is step 2's.
KILLED = """
import json, os, signal, sys
from derain.training import loop
a = json.loads(sys.argv[1])
if os.environ["RANK"] == "1":
    step = loop._Run.train_step
    def dying(run):
        parts = step(run)
        if run.step == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return parts
    loop._Run.train_step = dying
loop.train(a["config"], a["run_dir"], a["data_dir"], progress=False)
"""


def test_a_job_that_loses_a_rank_resumes_on_one_process(tmp_path, tiny_data,
                                                          one_process):
    reference, reference_folder = one_process
    arguments = {"config": CONFIG.model_dump(), "run_dir": str(tmp_path),
                 "data_dir": str(tiny_data)}
    job = subprocess.run(torchrun_command(2, "-c", KILLED, json.dumps(arguments)),
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert job.returncode != 0
    assert not (tmp_path / "model.pt").exists()
    blob = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert blob["step"] == 2
    # The checkpoint of two processes, continued by one.
    history = train(CONFIG, tmp_path, tiny_data, progress=False)
    assert_same_run(history, reference, tmp_path, reference_folder)
