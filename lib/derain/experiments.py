"""Many short training runs and their verdicts: the machinery of the experiment
chapters (Sec. IV-C to IV-G: loss ablation, fusion, time-averaging, model size).

A run is a ``spec``: a name, a seed and the keyword arguments of
:func:`derain.train.train`. :func:`run_all` trains every spec not yet done (in
parallel worker processes on a CPU), scores it on the held-out synthetic test
scenes and on Rain100L when present, and keeps ``scores.json`` beside the model in
``<out_dir>/runs/<name>/seed<k>/``. A run whose ``scores.json`` matches its spec is
never trained again, so an interrupted stage resumes and a run shared by two
chapters is computed once. :func:`summarise` and :func:`verdict` turn the per-seed
scores into the chapters' tables and claims.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from derain.pipeline import deep_merge

METRICS = ("test_psnr", "test_ssim", "rain100l_psnr", "rain100l_ssim")

# Verdicts of a claims table.
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


def make_spec(name: str, seed: int, base: dict, **changes) -> dict:
    """A run: ``base`` (the keyword arguments of :func:`derain.train.train` shared
    by a chapter) with ``changes`` merged in (nested dicts such as ``model`` and
    ``loss`` merged key by key)."""
    return {"name": name, "seed": int(seed),
            "train": deep_merge(base, changes)}


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
            _plain(evaluation):
        return None
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
        tenth = [r for r in train_log if r["step"] <= max(steps // 10, 1)]
        first = train_log[0]
        if "L_r" in first:
            out["first_L_r"] = float(first["L_r"])
            out["L_r_at_10pct"] = float((tenth[-1] if tenth else first)["L_r"])
    return out


def run_one(spec: dict, out_dir: str | Path, data_dir: str | Path,
            evaluation: dict) -> dict:
    """Trains (or resumes) one run and scores it. ``evaluation``:
    ``{"test_frames": int | None, "rain100l": path | None,
    "rain100l_limit": int | None, "device": str}``. Returns the scores row."""
    from derain.data import PairedFolder, SceneTestSet
    from derain.inference import evaluate, load_model
    from derain.train import train

    cached = cached_scores(out_dir, spec, evaluation)
    if cached is not None:
        return cached
    folder = run_dir(out_dir, spec)
    kwargs = dict(spec["train"])
    device = evaluation.get("device", "auto")
    history = train(folder, data_dir, seed=spec["seed"], val_every=0,
                    progress=False, device=device, **kwargs)
    net = load_model(folder / "model.pt", device=_device(device))
    row = {"name": spec["name"], "seed": spec["seed"],
           **_history_summary(history, kwargs["steps"])}
    test = evaluate(net, SceneTestSet(data_dir, "test", evaluation["test_frames"]),
                    progress=False)
    row.update(test_psnr=test["psnr"], test_ssim=test["ssim"], test_n=test["n"])
    if evaluation.get("rain100l"):
        r100 = evaluate(net, PairedFolder(evaluation["rain100l"],
                                          limit=evaluation.get("rain100l_limit")),
                        progress=False)
        row.update(rain100l_psnr=r100["psnr"], rain100l_ssim=r100["ssim"],
                   rain100l_n=r100["n"])
    stored = {**row, "spec": _plain(spec), "evaluation": _plain(evaluation)}
    tmp = folder / "scores.json.tmp"
    tmp.write_text(json.dumps(stored, indent=1))
    tmp.replace(folder / "scores.json")
    return stored


def _device(device: str) -> str:
    from derain.inference import pick_device

    return str(pick_device(device))


def _init_worker(threads: int) -> None:
    import torch

    os.environ["TQDM_DISABLE"] = "1"
    torch.set_num_threads(threads)


def run_all(specs: list[dict], out_dir: str | Path, data_dir: str | Path,
            evaluation: dict, workers: int = 1, progress: bool = True
            ) -> pd.DataFrame:
    """Every spec trained and scored (cached ones read back), as a table with one
    row per (name, seed). ``workers`` > 1 trains that many runs at once in separate
    processes, each with an equal share of the CPU threads: on a small CPU two
    single-threaded runs do more work per second than one run on two threads.
    On a GPU use 1."""
    names = [(s["name"], s["seed"]) for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("two specs share a name and seed")
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
    if workers <= 1 or len(pending) <= 1:
        for spec in pending:
            rows[(spec["name"], spec["seed"])] = run_one(spec, out_dir, data_dir,
                                                         evaluation)
            bar.update(1)
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context,
                                 initializer=_init_worker,
                                 initargs=(threads,)) as pool:
            futures = {pool.submit(run_one, spec, out_dir, data_dir, evaluation):
                       spec for spec in pending}
            for future in as_completed(futures):
                spec = futures[future]
                rows[(spec["name"], spec["seed"])] = future.result()
                bar.update(1)
    bar.close()
    table = pd.DataFrame([{k: v for k, v in rows[key].items()
                           if k not in ("spec", "evaluation")} for key in names])
    return table


def summarise(table: pd.DataFrame, metrics=METRICS, by: str = "name"
              ) -> pd.DataFrame:
    """Mean over seeds and the spread (max - min) of each metric, one row per
    ``by`` value in first-seen order; ``seeds`` counts the runs."""
    present = [m for m in metrics if m in table.columns]
    groups = table.groupby(by, sort=False)
    out = pd.DataFrame({"seeds": groups.size()})
    for metric in present:
        out[metric] = groups[metric].mean()
        out[f"{metric}_spread"] = groups[metric].max() - groups[metric].min()
    return out


# Below this, a difference of mean PSNR says nothing whatever the seeds do: two
# configurations that both stayed at the identity differ by hundredths of a dB.
MIN_DIFFERENCE = 0.05


def verdict(table: pd.DataFrame, better: str, worse: str, metric: str,
            min_difference: float = MIN_DIFFERENCE) -> dict:
    """Tests the claim "``better`` scores higher than ``worse`` on ``metric``".

    The difference of the seed means counts only when it exceeds the seed-to-seed
    spread (max - min over seeds) of either run and ``min_difference`` (in the
    metric's unit; pass a smaller one for SSIM): then the claim holds or does not
    hold by its sign; otherwise it is inconclusive. Needs at least two seeds of
    each, since one seed shows no spread."""
    values = {}
    for name in (better, worse):
        vals = table.loc[table["name"] == name, metric].dropna().to_numpy(float)
        if len(vals) == 0:
            raise KeyError(f"no runs named {name!r} with {metric!r}")
        values[name] = vals
    a, b = values[better], values[worse]
    diff = float(a.mean() - b.mean())
    spread = float(max(np.ptp(a), np.ptp(b)))
    if min(len(a), len(b)) < 2:
        result = INCONCLUSIVE
    elif abs(diff) <= max(spread, min_difference):
        result = INCONCLUSIVE
    else:
        result = HOLDS if diff > 0 else FAILS
    return {"better": better, "worse": worse, "metric": metric,
            "mean_better": float(a.mean()), "mean_worse": float(b.mean()),
            "difference": diff, "spread": spread, "verdict": result}


def claims_table(rows: list[dict]) -> pd.DataFrame:
    """A chapter's claims table from ``[{"claim", "paper", "ours", "verdict",
    "chapter"}]``."""
    return pd.DataFrame(rows, columns=["claim", "paper", "ours", "verdict",
                                       "chapter"])


def evaluation_sets(data_root: str | Path, test_frames: int | None,
                    rain100l_limit: int | None, device: str = "auto") -> dict:
    """The ``evaluation`` argument of :func:`run_all`: the synthetic test scenes
    always, Rain100L when ``data_root`` holds it."""
    from derain.data import RAIN100L

    folder = Path(data_root) / RAIN100L if data_root else None
    present = folder is not None and (folder / "input").is_dir()
    return {"test_frames": test_frames,
            "rain100l": str(folder) if present else None,
            "rain100l_limit": rain100l_limit, "device": device}


def input_scores(data_dir: str | Path, evaluation: dict) -> dict:
    """The rainy input's own scores on the same sets: the floor of every table."""
    from derain.data import PairedFolder, SceneTestSet
    from derain.inference import evaluate

    test = evaluate(None, SceneTestSet(data_dir, "test", evaluation["test_frames"]),
                    progress=False)
    out = {"test_psnr": test["psnr"], "test_ssim": test["ssim"]}
    if evaluation.get("rain100l"):
        r100 = evaluate(None, PairedFolder(evaluation["rain100l"],
                                           limit=evaluation.get("rain100l_limit")),
                        progress=False)
        out.update(rain100l_psnr=r100["psnr"], rain100l_ssim=r100["ssim"])
    return out


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


def score_columns(summary_row: pd.Series, rain100l_ssim: bool = True) -> dict:
    """The formatted score cells of one :func:`summarise` row: synthetic PSNR and
    SSIM, and Rain100L PSNR (and SSIM) when the runs were scored on it."""
    cells = {
        "synthetic PSNR": format_score(summary_row["test_psnr"],
                                       summary_row["test_psnr_spread"]),
        "synthetic SSIM": format_score(summary_row["test_ssim"],
                                       summary_row["test_ssim_spread"], 3),
    }
    if "rain100l_psnr" in summary_row:
        cells["Rain100L PSNR"] = format_score(summary_row["rain100l_psnr"],
                                              summary_row["rain100l_psnr_spread"])
        if rain100l_ssim:
            cells["Rain100L SSIM"] = format_score(
                summary_row["rain100l_ssim"], summary_row["rain100l_ssim_spread"], 3)
    return cells


def format_score(mean: float, spread: float, digits: int = 2) -> str:
    """``"31.20 ± 0.15"``: a seed mean with half the max - min spread."""
    if pd.isna(mean):
        return "-"
    return f"{mean:.{digits}f} ± {spread / 2:.{digits}f}"
