"""Training: what a network learns from (:mod:`~derain.training.objectives`), the
loop that trains one run (:mod:`~derain.training.loop`), on one process or
data-parallel on several (:mod:`~derain.training.distributed`, started by
:mod:`~derain.training.launch`), and the cache of
many short runs the experiment chapters share (:mod:`~derain.training.runs`),
trained through an executor (:mod:`~derain.training.executors`)."""

from derain.training.loop import train
from derain.training.objectives import (
    OBJECTIVES,
    Objective,
    fast_bf16,
    make_objective,
    resolve_precision,
)
from derain.training.runs import (
    load_base,
    load_runs,
    make_spec,
    resolved_training,
    run_all,
    run_dir,
    run_one,
    save_base,
)

__all__ = ["OBJECTIVES", "Objective", "fast_bf16", "load_base", "load_runs",
           "make_objective", "make_spec", "resolve_precision",
           "resolved_training", "run_all",
           "run_dir", "run_one", "save_base", "train"]
