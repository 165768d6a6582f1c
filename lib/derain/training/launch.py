"""Starting a training run on one process or, through torchrun, on several:
:func:`launch` sits above the loop (:mod:`~derain.training.loop`) and the
process-group helpers it uses (:mod:`~derain.training.distributed`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from derain.config import TrainConfig
from derain.training.distributed import world_from_env
from derain.training.executors import worker_threads
from derain.training.loop import train

# What each rank runs: the training loop, its arguments as JSON in argv[1].
_WORKER = ("import json, sys; from derain.training.loop import train; "
           "a = json.loads(sys.argv[1]); "
           "train(a['config'], a['run_dir'], a['data_dir'], "
           "progress=a['progress'], stop_after=a['stop_after'])")


def torchrun_command(nproc: int, *args: str) -> list[str]:
    """The command that starts ``python args`` as ``nproc`` ranks on this
    machine (torchrun, with a rendezvous of its own on a free port)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", "--no-python", sys.executable, *args]


def launch(config: TrainConfig | dict, run_dir: str | Path, data_dir: str | Path,
           nproc: int = 1, *, progress: bool = True, stop_after: int | None = None,
           timeout: float | None = None) -> dict:
    """Trains ``config`` in ``run_dir`` (see :func:`~derain.training.loop.train`)
    on ``nproc`` processes and returns the history rank 0 wrote. With one
    process, or inside a world torchrun started already, it trains in this
    process. Otherwise it starts torchrun; on a CPU each rank gets an equal share
    of the cores as its threads. ``progress`` shows rank 0's progress bar and
    torchrun's own output; without it that output is kept and the last of it
    ends the error of a failed run."""
    config = config if isinstance(config, TrainConfig) else TrainConfig(**config)
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    if nproc == 1 or world_from_env().size > 1:
        return train(config, run_dir, data_dir, progress=progress,
                     stop_after=stop_after)
    if config.batch_size % nproc:
        raise ValueError(f"batch_size {config.batch_size} is not a multiple of "
                         f"nproc {nproc}: each process takes an equal slice")
    run_dir = Path(run_dir)
    arguments = {"config": config.model_dump(), "run_dir": str(run_dir),
                 "data_dir": str(data_dir), "progress": progress,
                 "stop_after": stop_after}
    env = dict(os.environ)
    # torchrun would set 1 thread per rank; a CPU's cores are shared out instead.
    env["OMP_NUM_THREADS"] = str(worker_threads(nproc))
    done = subprocess.run(torchrun_command(nproc, "-c", _WORKER,
                                           json.dumps(arguments)),
                          env=env, capture_output=not progress, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        tail = "" if progress else "; " + " | ".join(
            (done.stderr or "").strip().splitlines()[-5:])
        raise RuntimeError(f"{run_dir}: training on {nproc} processes failed "
                           f"(torchrun exit status {done.returncode}){tail}")
    return json.loads((run_dir / "history.json").read_text())
