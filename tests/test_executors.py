"""The run grid's executors: the local back-end and Dask give the same table,
and a Dask worker killed in the middle of a run costs only that run's progress
since its checkpoint."""

import os
import signal
import threading
import time

import pandas as pd
import pytest
import torch

from derain.training import make_spec, run_all, run_dir
from derain.training.executors import InProcess, executor

BASE = {"model": {"width": 2, "kernels": "3/5/7", "fusion": "dynamic",
                  "in_channels": 1, "slope": 0.01},
        "loss": {"lambda_b": 1.0, "lambda_s": 1.0, "gamma_start": 1.0,
                 "gamma_end": 1.0},
        "steps": 12, "batch_size": 2, "crop": 16, "checkpoint_every": 2}
EVALUATION = {"eval_frames": 1, "rain100l": None, "rain100l_limit": None,
              "device": "cpu"}
# What depends on the machine's speed, not on what was trained.
TIMINGS = ["train_seconds", "steps_per_second"]


def test_unknown_back_end_and_in_process_failures():
    with pytest.raises(ValueError, match="one of local, dask"):
        with executor("spark"):
            pass
    with executor("local", 1) as (pool, threads):
        assert isinstance(pool, InProcess) and threads is None
        assert pool.submit(int, "7").result() == 7
        assert isinstance(pool.submit(int, "x").exception(), ValueError)


def test_dask_grid_with_a_killed_worker_equals_the_local_grid(tmp_path, tiny_data):
    distributed = pytest.importorskip("distributed")
    specs = [make_spec(name, seed, BASE, **changes)
             for name, changes in {"dyn": {}, "sum": {"model": {"fusion": "sum"}}
                                   }.items() for seed in (0, 1)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Dask worker trains
    try:
        local = run_all(specs, tmp_path / "local", tiny_data, EVALUATION,
                        progress=False)
    finally:
        torch.set_num_threads(threads)

    out = tmp_path / "dask"
    killed = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0", memory_limit=0,
                                  silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:

        def kill_a_busy_worker():
            # The first run seen between two checkpoints: its worker dies.
            deadline = time.time() + 240
            while time.time() < deadline and not killed:
                for spec in specs:
                    folder = run_dir(out, spec)
                    if (folder / "checkpoint.pt").exists() and \
                            not (folder / "scores.json").exists():
                        busy = [w for w, keys in client.processing().items()
                                if keys]
                        pids = client.run(os.getpid, workers=busy[:1])
                        for pid in pids.values():
                            os.kill(pid, signal.SIGKILL)
                            killed[spec["name"], spec["seed"]] = pid
                        break
                time.sleep(0.02)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        remote = run_all(specs, out, tiny_data, EVALUATION, workers=2,
                         progress=False, executor_kind="dask",
                         scheduler=cluster.scheduler_address)
        killer.join()
    assert killed, "no worker was killed in the middle of a run"
    pd.testing.assert_frame_equal(remote.drop(columns=TIMINGS),
                                  local.drop(columns=TIMINGS),
                                  check_exact=False, rtol=1e-6)


def test_a_broken_pool_is_replaced_and_its_runs_submitted_again(
        tmp_path, tiny_data, monkeypatch):
    from concurrent.futures import BrokenExecutor, Executor, Future
    from contextlib import contextmanager

    import derain.training.runs as runs

    monkeypatch.setenv("TQDM_DISABLE", "1")  # restored after the test
    pools = []

    class Breaking(Executor):
        """A pool whose worker dies under its first task when ``dies``; every
        other task runs."""

        def __init__(self, dies):
            self.dies = dies

        def submit(self, fn, /, *args):
            future = Future()
            if self.dies:
                self.dies = False
                future.set_exception(BrokenExecutor("a worker died"))
            else:
                future.set_result(fn(*args))
            return future

    def fake(deaths):
        @contextmanager
        def executor(kind, workers, scheduler):
            pools.append(Breaking(len(pools) < deaths))
            yield pools[-1], None
        return executor

    specs = [make_spec("dyn", seed, {**BASE, "steps": 2}) for seed in (0, 1)]
    monkeypatch.setattr(runs, "executor", fake(1))
    table = run_all(specs, tmp_path / "once", tiny_data, EVALUATION, workers=2,
                    progress=False)
    assert len(pools) == 2 and list(table["seed"]) == [0, 1]
    pools.clear()
    monkeypatch.setattr(runs, "executor", fake(100))
    with pytest.raises(RuntimeError, match="died 4 times"):
        run_all(specs[:1], tmp_path / "always", tiny_data, EVALUATION,
                workers=2, progress=False)
