"""Many short training runs, cached: the machinery of the experiment chapters
(Sec. IV-C to IV-G: loss ablation, fusion, time-averaging, model size, the
neighbours).

A run is a ``spec``: a name, a seed and a ``training`` block (the fields of
:class:`~derain.config.TrainConfig`). :func:`run_all` trains every spec not yet
done (through an executor of :mod:`~derain.training.executors`: worker
processes of this machine, or a Dask cluster), scores it on the sets of an
``evaluation`` (:mod:`derain.evaluation.sets`) and keeps ``scores.json`` beside
the model in ``<out_dir>/runs/<name>/seed<k>/``. A run whose ``scores.json``
matches its spec and evaluation is never trained again, so an interrupted stage
resumes, a run shared by two chapters is computed once, and a run that any
worker finished is read back rather than trained again: the folder is the one
record of what is done, wherever it was done.
"""

from __future__ import annotations

import json
import warnings
from concurrent.futures import BrokenExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from derain.config import TrainConfig, deep_merge
from derain.evaluation import load_model, pick_device, score
from derain.training.executors import InProcess, executor, in_worker
from derain.training.loop import train
from derain.training.objectives import resolve_precision

# How often a run is submitted again after its worker died under it (a run that
# kills its worker every time, e.g. out of memory, then fails the grid).
RETRIES = 3


def make_spec(name: str, seed: int, base: dict, **changes) -> dict:
    """A run: ``base`` (the ``training`` block a chapter's runs share) with
    ``changes`` merged in (nested dicts such as ``model`` and ``loss`` merged key
    by key)."""
    return {"name": name, "seed": int(seed), "training": deep_merge(base, changes)}


def run_dir(out_dir: str | Path, spec: dict) -> Path:
    return Path(out_dir) / "runs" / spec["name"] / f"seed{spec['seed']}"


def _plain(obj):
    """JSON round trip: the form in which a spec is stored and compared."""
    return json.loads(json.dumps(obj))


def cached_scores(out_dir: str | Path, spec: dict, evaluation: dict) -> dict | None:
    path = run_dir(out_dir, spec) / "scores.json"
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if stored.get("spec") != _plain(spec) or stored.get("evaluation") != \
            _plain(evaluation) or "per_image" not in stored:
        return None  # run (or resume to its end) and score again
    return stored


def _history_summary(history: dict, steps: int) -> dict:
    """The logged quantities a chapter reads: the last logged losses, and L_r at
    10 % of training (the paper's "L_r is almost zero after 10 %")."""
    train_log = history.get("train", [])
    out = {"collapsed": bool(history.get("collapsed", False)),
           "steps_per_second": float(history.get("steps_per_second", 0.0))}
    if train_log:
        last = train_log[-1]
        for key in ("contrast", "L_b", "L_s", "L_r", "L_v", "L_sup", "total"):
            if key in last:
                out[f"final_{key}"] = float(last[key])
        # Each loss term's share of the gradient, averaged over the run's logs.
        for key in sorted({k for r in train_log for k in r if k.startswith("share_")}):
            out[f"mean_{key}"] = float(np.mean([r[key] for r in train_log
                                                if key in r]))
        tenth = [r for r in train_log if r["step"] <= max(steps // 10, 1)]
        first = train_log[0]
        if "L_r" in first:
            out["first_L_r"] = float(first["L_r"])
            out["L_r_at_10pct"] = float((tenth[-1] if tenth else first)["L_r"])
    return out


def spec_config(spec: dict, device: str = "auto") -> TrainConfig:
    """The TrainConfig of a spec: its training block and its seed; no validation
    during training unless the block asks for it (the runs are scored once, at
    the end)."""
    return TrainConfig(**{"val_every": 0, **spec["training"], "seed": spec["seed"],
                          "device": device})


def resolved_training(block: dict, device: str = "auto") -> dict:
    """What a run of ``block`` (a ``training`` block) trains on ``device``: its
    :meth:`~derain.config.TrainConfig.identity` with the precision resolved
    (``auto`` is ``fp32`` on a CPU without fast bfloat16). Two blocks equal
    under it train the same run, so a comparison of the two on this machine
    compares a run with itself."""
    config = TrainConfig(**block)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # asking, not training
        precision = resolve_precision(config.precision, pick_device(device))
    return {**config.identity(), "precision": precision}


def run_one(spec: dict, out_dir: str | Path, data_dir: str | Path,
            evaluation: dict) -> dict:
    """Trains (or resumes) one run and scores it (see
    :func:`~derain.evaluation.sets.score`). Returns the scores row."""
    cached = cached_scores(out_dir, spec, evaluation)
    if cached is not None:
        return cached
    folder = run_dir(out_dir, spec)
    device = evaluation.get("device", "auto")
    config = spec_config(spec, device)
    history = train(config, folder, data_dir, progress=False)
    net = load_model(folder / "model.pt", device=str(pick_device(device)))
    row = {"name": spec["name"], "seed": spec["seed"],
           "train_seconds": float(history["seconds"]),
           **_history_summary(history, config.steps),
           **score(net, data_dir, evaluation)}
    stored = {**row, "spec": _plain(spec), "evaluation": _plain(evaluation)}
    tmp = folder / "scores.json.tmp"
    tmp.write_text(json.dumps(stored, indent=1))
    tmp.replace(folder / "scores.json")
    return stored


def _finished(pool, threads, specs, *args):
    """``(spec, future)`` of each run of ``specs`` as it finishes; in this
    process (:class:`~derain.training.executors.InProcess`) one run after the
    other, so that the first failure stops the grid."""
    if isinstance(pool, InProcess):
        for spec in specs:
            yield spec, pool.submit(run_one, spec, *args)
        return
    futures = {pool.submit(in_worker, threads, run_one, spec, *args): spec
               for spec in specs}
    for future in as_completed(futures):
        yield futures[future], future


def run_all(specs: list[dict], out_dir: str | Path, data_dir: str | Path,
            evaluation: dict, workers: int = 1, progress: bool = True,
            executor_kind: str = "local", scheduler: str | None = None
            ) -> pd.DataFrame:
    """Every spec trained and scored (cached ones read back), as a table with one
    row per (name, seed), in the order of ``specs``.

    The runs not yet done go to the executor ``executor_kind`` (see
    :mod:`~derain.training.executors`): ``"local"`` trains ``workers`` runs at
    once in separate processes (one: in this process, one after the other; on
    a GPU use 1); ``"dask"`` sends them to the Dask cluster at ``scheduler``,
    or to a LocalCluster of ``workers`` processes. A run whose worker dies is
    submitted again (Dask does so itself; a local pool is rebuilt, up to
    :data:`RETRIES` times per run) and continues from its last checkpoint."""
    names = [(s["name"], s["seed"]) for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("two specs share a name and seed")
    for spec in specs:  # a bad spec fails here, before any run trains
        spec_config(spec)
    rows: dict[tuple, dict] = {}
    pending = []
    for spec in specs:
        cached = cached_scores(out_dir, spec, evaluation)
        if cached is not None:
            rows[(spec["name"], spec["seed"])] = cached
        else:
            pending.append(spec)
    bar = tqdm(total=len(specs), initial=len(rows), desc="runs", unit="run",
               disable=not progress)
    # One run needs no pool of workers.
    kind, size = ((executor_kind, workers) if len(pending) > 1 or
                  executor_kind == "dask" else ("local", 1))
    lost = dict.fromkeys(names, 0)
    while pending:
        with executor(kind, size, scheduler) as (pool, threads):
            todo, pending = pending, []
            for spec, future in _finished(pool, threads, todo, out_dir, data_dir,
                                          evaluation):
                key = (spec["name"], spec["seed"])
                try:
                    rows[key] = future.result()
                except BrokenExecutor:
                    lost[key] += 1
                    if lost[key] > RETRIES:
                        raise RuntimeError(
                            f"{run_dir(out_dir, spec)}: its worker died "
                            f"{lost[key]} times; giving up") from None
                    pending.append(spec)  # to a new pool, from its checkpoint
                    continue
                bar.update(1)
    bar.close()
    table = pd.DataFrame([{k: v for k, v in rows[key].items()
                           if k not in ("spec", "evaluation", "per_image")}
                          for key in names])
    return table


def per_image(out_dir: str | Path, name: str, seed: int) -> dict:
    """The per-image scores a finished run stored (see
    :func:`~derain.evaluation.sets.score`): set -> ``{"name", "psnr", "ssim"}``."""
    path = run_dir(out_dir, {"name": name, "seed": seed}) / "scores.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the stage that trains "
                                f"{name!r}")
    stored = json.loads(path.read_text())
    if "per_image" not in stored:
        raise KeyError(f"{path}: no per-image scores (made by an older version; "
                       "delete the run folder to score it again)")
    return stored["per_image"]


def save_base(out_dir: str | Path, base: dict) -> Path:
    """Writes the settings every run of a chapter shares (``base.json``), which the
    chapters that reuse its runs read back."""
    path = Path(out_dir) / "base.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(base), indent=1))
    return path


def load_base(out_dir: str | Path) -> dict:
    path = Path(out_dir) / "base.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the loss_ablation stage first "
                                "(dvc repro loss_ablation)")
    return json.loads(path.read_text())


def load_runs(out_dir: str | Path, names: dict[str, str]) -> pd.DataFrame:
    """The per-seed scores of runs another chapter made (``runs.csv``), keeping the
    rows whose name is a key of ``names`` and renaming them to its value (the name
    the reading chapter gives the run); a clear error when one is missing."""
    path = Path(out_dir) / "runs.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it")
    table = pd.read_csv(path)
    missing = [n for n in names if n not in set(table["name"])]
    if missing:
        raise KeyError(f"{path}: no runs named {missing}")
    kept = table[table["name"].isin(list(names))].reset_index(drop=True)
    kept["name"] = kept["name"].map(names)
    return kept
