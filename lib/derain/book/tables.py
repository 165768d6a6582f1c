"""The chapters' tables that set this book's results beside the paper's, and the
claims that need more than a comparison of two configurations. The paper's
numbers come from :mod:`derain.paper` and are always labelled as reference."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd

from derain import paper
from derain.evaluation import (
    FAILS,
    HOLDS,
    NO_GAIN_DB,
    format_score,
    score_columns,
    summarise,
)

# ------------------------------------------------------------------ Table III


def table3(manifest: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scenes, frames and frame pairs per split of the rendered data, and the
    paper's Table III with this book's training split as its last row."""
    scenes = pd.DataFrame(manifest["scenes"])
    scenes["n_frames"] = scenes["frames"].map(len)
    scenes["pairs"] = scenes["n_frames"].map(lambda n: comb(n, 2))
    summary = scenes.groupby("split").agg(
        scenes=("name", "size"), frames=("n_frames", "sum"), pairs=("pairs", "sum"),
    )
    ours_name = "Cho et al. time-lapse"
    reference = pd.DataFrame({
        "dataset": list(paper.TABLE3),
        "training pairs": list(paper.TABLE3.values()),
        "scenes": [paper.SCENES if d == ours_name else None for d in paper.TABLE3],
        "frames per scene": [paper.FRAMES_PER_SCENE if d == ours_name else None
                             for d in paper.TABLE3],
        "source": ["paper's Table III (reference)"] * len(paper.TABLE3),
    })
    ours = pd.DataFrame({
        "dataset": ["synthetic time-lapse (train split)"],
        "training pairs": [int(summary.loc["train", "pairs"])],
        "scenes": [int(summary.loc["train", "scenes"])],
        "frames per scene": [int(scenes.loc[scenes.split == "train",
                                            "n_frames"].max())],
        "source": ["this book"],
    })
    table = pd.concat([reference, ours], ignore_index=True)
    table[["scenes", "frames per scene"]] = table[
        ["scenes", "frames per scene"]].astype("Int64")
    return summary, table


# ------------------------------------------------------------------- Table VI

_WEIGHT = {"b": "lambda_b", "s": "lambda_s", "v": "lambda_v", "r": "lambda_r"}


def table6_configs(loss: dict) -> dict[str, dict]:
    """The rows of the paper's Table VI as changes to the shared training block:
    a term left out has weight 0, the others keep ``loss``'s weights; rows without
    "Dyn." concatenate the encoders' features. Plus the paper's failing control
    (L_s between a frame and its own output, m = n)."""
    configs = {}
    for row in paper.TABLE6:
        weights = {name: (loss[name] if term in row["terms"] else 0.0)
                   for term, name in _WEIGHT.items()}
        configs[row["row"]] = {
            "loss": weights,
            "model": {"fusion": "dynamic" if row["dynamic"] else "concat"}}
    configs["m=n control"] = {"loss": {"same_frame": True}}
    return configs


def describe_configs(configs: dict[str, dict], training: dict) -> pd.DataFrame:
    """The fusion and loss weights of each configuration, one row each."""
    return pd.DataFrame([
        {"configuration": name,
         "fusion": c["model"]["fusion"] if "model" in c
         else training["model"]["fusion"],
         **{k: v for k, v in {**training["loss"], **c["loss"]}.items()
            if k.startswith("lambda") or k == "same_frame"}}
        for name, c in configs.items()]).fillna(False)


def table6(study, runs: pd.DataFrame) -> pd.DataFrame:
    """Table VI: the rainy input, then each configuration's paired gain over the
    input (with its interval), its PSNR/SSIM (seed mean ± half the seed range),
    how many seeds collapsed, each loss term's mean share of the gradient over
    training (blank where the term is off), and the paper's values as reference
    columns."""
    from derain.evaluation.claims import describe

    floor = study.floor
    rows = [{"configuration": "rainy input", "seeds": "", "gain over the input": "",
             "synthetic PSNR": f"{floor['test_psnr']:.2f}",
             "synthetic SSIM": f"{floor['test_ssim']:.3f}"}]
    reference = {row["row"]: row["paper"] for row in paper.TABLE6}
    for name, s in summarise(runs).iterrows():
        mine = runs[runs["name"] == name]
        ref = reference.get(name, ("", ""))
        shares = {f"{term} share": (f"{mine[f'mean_share_{term}'].mean():.2f}"
                                    if f"mean_share_{term}" in mine
                                    and mine[f"mean_share_{term}"].notna().any()
                                    else "")
                  for term in ("L_b", "L_s", "L_v", "L_r")}
        rows.append({
            "configuration": name, "seeds": int(s["seeds"]),
            "gain over the input": describe(study.compare(name, "rainy input")),
            **score_columns(s, rain100l_ssim=False),
            "collapsed": f"{int(mine['collapsed'].sum())}/{int(s['seeds'])}",
            **shares,
            "paper's PSNR (reference)": ref[0], "paper's SSIM (reference)": ref[1],
        })
    return pd.DataFrame(rows).set_index("configuration").fillna("")


def lr_claim(runs: pd.DataFrame, study) -> list[dict]:
    """The paper: "this loss reaches close to 0 after 10% of training" (claim
    C5), read from the logs of every run with L_r: at most 1e-4 (mean
    |I - B - S| per pixel) at 10 % of training. L_r counts only where the clipping
    acts; runs that collapsed clip most of the image, so they are reported apart.
    Empty when no run logged L_r."""
    from derain.book.chapters import chapter

    with_r = runs[runs["L_r_at_10pct"].notna()] if "L_r_at_10pct" in runs \
        else runs[:0]
    sane = with_r[~with_r["collapsed"].astype(bool)]
    if not len(sane):
        return []
    worst = float(sane["L_r_at_10pct"].max())
    collapsed_r = with_r.loc[with_r["collapsed"].astype(bool), "L_r_at_10pct"]
    note = (f"; the {len(collapsed_r)} collapsed runs: up to {collapsed_r.max():.3f}"
            if len(collapsed_r) else "")
    return [{
        "key": "C5", "claim": "L_r is close to 0 after 10 % of training",
        "paper": "stated in the text",
        "ours": f"L_r at 10 % at most {worst:.1e} (mean |I - B - S| per pixel, "
                f"{len(sane)} runs that kept the scene){note}",
        "verdict": HOLDS if worst < 1e-4 else FAILS, "detectable (dB)": np.nan,
        "set": "training logs", "chapter": chapter(study.out_dir.name).notebook}]


# ------------------------------------------------------------------ Table VII


def table7(study, runs: pd.DataFrame, trained_here: list[str]) -> pd.DataFrame:
    """Table VII: each fusion's paired gain over the input (with its interval),
    PSNR/SSIM (seed mean ± half the seed range), where it was trained, and the
    paper's values as reference columns."""
    from derain.evaluation.claims import describe

    rows = []
    for name, s in summarise(runs).iterrows():
        ref = paper.TABLE7.get(name, ("", ""))
        rows.append({
            "fusion": name, "seeds": int(s["seeds"]),
            "trained in": "this chapter" if name in trained_here else "chapter 6-7",
            "gain over the input": describe(study.compare(name, "rainy input")),
            **score_columns(s),
            "paper's PSNR (reference)": ref[0], "paper's SSIM (reference)": ref[1],
        })
    return pd.DataFrame(rows).set_index("fusion")


# ------------------------------------------------------------------ Fig. 17


# -------------------------------------------------------------------- Table V


def table5(scores: pd.DataFrame, methods: dict[str, tuple[str, str]],
           sets: list[str]) -> pd.DataFrame:
    """Table V on this book's data: each method's seed mean ± half the seed range
    per set, whether it uses ground truth and what it trains on
    (``methods[name] = (ground truth, training data)``), and the paper's Rain100L
    value as a reference column."""
    paper_name = {"time-lapse (ours)": "ours", "PReNet-style": "PReNet",
                  "SPANet-style": "SPANet"}
    table = []
    for name, (truth, data) in methods.items():
        part = scores[scores["name"] == name]
        if part.empty:
            continue
        row = {"method": name, "uses ground truth?": truth, "training data": data}
        for set_name in sets:
            cell = part[part["set"] == set_name]
            if cell.empty:
                row[f"{set_name} PSNR"] = row[f"{set_name} SSIM"] = "-"
                continue
            spread = cell["psnr"].max() - cell["psnr"].min()
            row[f"{set_name} PSNR"] = format_score(cell["psnr"].mean(), spread)
            row[f"{set_name} SSIM"] = format_score(
                cell["ssim"].mean(), cell["ssim"].max() - cell["ssim"].min(), 3)
        ref = paper.TABLE5.get(paper_name.get(name, ""), {}).get("Rain100L")
        row["paper's Rain100L PSNR (reference)"] = ref[0] if ref else ""
        table.append(row)
    return pd.DataFrame(table).set_index("method")


def training_speed(runs: pd.DataFrame, parameters: dict[str, int],
                   crops_per_step: int) -> pd.DataFrame:
    """Parameters and training speed (steps and crops per second, seed means) of
    each method, in the order of ``parameters``."""
    speed = pd.DataFrame({
        "method": list(parameters),
        "parameters": list(parameters.values()),
        "steps/s": [runs.loc[runs["name"] == n, "steps_per_second"].mean()
                    for n in parameters],
    }).set_index("method")
    speed["crops/s"] = speed["steps/s"] * crops_per_step
    return speed


# ------------------------------------------------------------ Table V, ours


def ours_table(net, sets: dict, reference: dict, keep: int = 3):
    """The main model and the rainy input on each set (``sets``: key -> (title,
    pairs)), with the paper's values (``reference``: key -> (PSNR, SSIM), on the
    Y channel like ours) as reference columns, and both scores again over the
    RGB channels. Returns the table, indexed by key, and the first ``keep``
    examples of each set, ``{key: (title, [(name, rainy, pred, target)])}``."""
    from derain.evaluation import evaluate

    rows, examples = [], {}
    for slug, (name, pairs) in sets.items():
        rainy = evaluate(None, pairs, desc=f"{name}: input", rgb=True)
        ours = evaluate(net, pairs, desc=f"{name}: model", keep=keep, rgb=True)
        examples[slug] = (name, ours["examples"])
        ref = reference.get(slug, (np.nan, np.nan))
        rows.append({
            "key": slug, "test set": name, "images": ours["n"],
            "input PSNR": rainy["psnr"], "input SSIM": rainy["ssim"],
            "ours PSNR": ours["psnr"], "ours SSIM": ours["ssim"],
            "paper's PSNR (reference)": ref[0], "paper's SSIM (reference)": ref[1],
            "input PSNR (RGB)": rainy["psnr_rgb"],
            "input SSIM (RGB)": rainy["ssim_rgb"],
            "ours PSNR (RGB)": ours["psnr_rgb"], "ours SSIM (RGB)": ours["ssim_rgb"],
        })
    return pd.DataFrame(rows).set_index("key"), examples


def ours_claims(table: pd.DataFrame, reference: dict) -> pd.DataFrame:
    """Whether the main model beats the rainy input on PSNR and SSIM on each set,
    and whether it reaches the paper's number where the paper has one."""
    claims = []
    for slug, row in table.iterrows():
        gain = row["ours PSNR"] - row["input PSNR"]
        better = gain > 0 and row["ours SSIM"] > row["input SSIM"]
        claims.append({
            "claim": f"trained without clean images, the model derains "
                     f"{row['test set']}",
            "ours": f"{row['ours PSNR']:.2f} dB / {row['ours SSIM']:.3f} "
                    f"({gain:+.2f} dB over the input)",
            "verdict": HOLDS if better else FAILS,
        })
        if slug in reference:
            ref = reference[slug]
            claims.append({
                "claim": f"{ref[0]} dB / {ref[1]} on {row['test set']} "
                         "(paper, Table V)",
                "ours": f"{row['ours PSNR']:.2f} dB / {row['ours SSIM']:.3f}",
                "verdict": HOLDS if row["ours PSNR"] >= ref[0] else FAILS,
            })
    return pd.DataFrame(claims)


# ------------------------------------------------------------------ chapter 2


def run_summary(name: str, history: dict) -> str:
    """One line on a finished run: its last validation PSNR, steps and whether
    its background kept the scene."""
    final = history["train"][-1]["contrast"]
    state = "collapsed" if history["collapsed"] else "kept the scene"
    return (f"{name}: validation PSNR {history['val'][-1]['psnr']:.2f} dB after "
            f"{history['train'][-1]['step']} steps, contrast ratio {final:.2f} "
            f"({state})")


def lr_at_tenth(log: pd.DataFrame, steps: int) -> pd.DataFrame:
    """L_r at the first log, at 10 % of training and at the end, beside L_b at the
    end for scale (the paper: "this loss reaches close to 0 after 10% of
    training"); empty when the run did not log L_r."""
    if "L_r" not in log:
        return pd.DataFrame()
    tenth = log[log["step"] >= 0.1 * steps].iloc[0]
    return pd.DataFrame([{
        "claim": "L_r close to 0 after 10 % of training",
        "L_r at first log": log.iloc[0]["L_r"], "L_r at 10 %": tenth["L_r"],
        "L_r at end": log.iloc[-1]["L_r"],
        "L_b at end (for scale)": log.iloc[-1]["L_b"],
    }])


# ----------------------------------------------------------- the design


def learning_curves(study, budgets: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Validation PSNR against training CPU-seconds of each budget's runs:
    ``budgets[budget][control] = run name`` (every seed the run has). One row per
    validation point, with the gain over the rainy input on the same validation
    images."""
    from derain.data import SceneTestSet
    from derain.evaluation import evaluate
    from derain.training.loop import VAL_FRAMES

    val_input = evaluate(None, SceneTestSet(study.data_dir, "val", VAL_FRAMES),
                         progress=False)["psnr"]
    rows = []
    for budget, controls in budgets.items():
        for control, name in controls.items():
            for seed in study.seeds:
                try:
                    history = study.history(name, seed)
                except FileNotFoundError:
                    continue  # a candidate trains the first seed only
                for point in history["val"]:
                    rows.append({"budget": budget, "control": control, "seed": seed,
                                 "step": point["step"], "seconds": point["seconds"],
                                 "val_psnr": point["psnr"],
                                 "val_gain": point["psnr"] - val_input})
    return pd.DataFrame(rows)


def final_points(curves: pd.DataFrame) -> pd.DataFrame:
    """The last validation point of each budget and control in ``curves`` (a
    :func:`learning_curves` table), first seed only, so that every budget is
    compared alike."""
    first = curves[curves["seed"] == curves["seed"].min()]
    return first.sort_values("step").groupby(["budget", "control"]).tail(1)


def final_gains(curves: pd.DataFrame) -> pd.DataFrame:
    """Final validation gain over the input: a row per budget, a column per
    control (see :func:`final_points`)."""
    return final_points(curves).pivot(index="budget", columns="control",
                                      values="val_gain")


def pick_budget(curves: pd.DataFrame, full: str, supervised: str,
                targets: tuple[float, float] = (1.5, 3.0),
                tolerance: float = 0.0) -> tuple[str, pd.DataFrame]:
    """The rule of the design, on validation only: the cheapest budget (training
    CPU-seconds of its full method) whose final validation gains reach
    ``targets`` (full method, supervised control); when none does, the cheapest
    budget whose full method gains within ``tolerance`` dB of the best one (a
    difference smaller than the seed spread does not justify a dearer budget).
    Returns the pick and the table it was made from (first seed of every
    budget, so that all are compared alike)."""
    if not tolerance >= 0:  # NaN included
        raise ValueError(f"tolerance must be >= 0 dB, got {tolerance}")
    last = final_points(curves)
    table = last.pivot(index="budget", columns="control", values="val_gain")
    seconds = "CPU seconds (full method)"
    table[seconds] = last[last["control"] == full].set_index("budget")["seconds"]
    table["reaches the targets"] = (table[full] >= targets[0]) & \
        (table[supervised] >= targets[1])
    ok = table[table["reaches the targets"]]
    if not len(ok):
        ok = table[table[full] >= table[full].max() - tolerance]
    pick = ok[seconds].idxmin()
    table = table.rename(columns={full: "full method, val gain (dB)",
                                  supervised: "supervised, val gain (dB)"})
    return str(pick), table.round(3)


def seed_spread(study, runs: pd.DataFrame, budgets: dict[str, str],
                book_seeds: list[int], target: float = 0.15) -> pd.DataFrame:
    """The full method's spread over seeds at each budget (``budgets[label] =
    run name``, the first the chosen one), from ``runs`` (a :meth:`Study.run`
    table holding every seed of each name): the mean test PSNR, the
    seed-to-seed standard deviation of the test and of the final validation
    PSNR, a 95 % interval of the test one (chi-square, as for normal seeds),
    the standard deviation over the book's seeds alone, the runs left at the
    identity (a test gain under 0.5 dB), the training CPU-seconds per run and
    their ratio to the chosen budget's, and whether the budget meets ``target``
    (a test spread within it, and no run at the identity: runs that all stay
    at the input agree without having learned)."""
    from derain.evaluation.claims import sd_interval

    rows, cost = [], None
    for label, name in budgets.items():
        part = runs[runs["name"] == name].set_index("seed")
        test = part["test_psnr"]
        histories = {seed: study.history(name, seed) for seed in part.index}
        val = pd.Series({seed: h["val"][-1]["psnr"] for seed, h in histories.items()
                         if h["val"]}, dtype=float)
        sd, low, high = sd_interval(test)
        seconds = float(part["train_seconds"].mean())
        identity = int((test - study.floor["test_psnr"] < 0.5).sum())
        cost = seconds if cost is None else cost
        book = test[test.index.isin(book_seeds)]
        rows.append({
            "budget": label, "seeds": len(test), "CPU seconds per run": seconds,
            "x chosen": seconds / cost, "test PSNR (dB)": float(test.mean()),
            "seed sd, test (dB)": sd, "95 % interval": f"[{low:.2f}, {high:.2f}]",
            "seed sd, validation (dB)": float(val.std(ddof=1)) if len(val) > 1
            else np.nan,
            "seed sd, book's seeds (dB)": float(book.std(ddof=1))
            if len(book) > 1 else np.nan,
            "at the identity": identity,
            f"sd <= {target:g} dB": bool(sd <= target and identity == 0)})
    return pd.DataFrame(rows)


def design_check(study, full: str, supervised: str,
                 full_runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The chosen budget against the design's targets on the test scenes: each
    control's gain over the input (paired, with its interval), the seed sd of
    the full method's test PSNR (over the seeds of ``full_runs``, a
    :meth:`Study.run` table of the full method, where given; else over the
    book's seeds), and how many test images each run is scored on."""
    from derain.evaluation.claims import describe

    rows = []
    for control, target in ((supervised, 3.0), (full, 1.5)):
        gain = study.compare(control, "rainy input")
        rows.append({"control": control, "measured": describe(gain),
                     "gain (dB)": gain["effect"], "target": f">= +{target:.1f} dB",
                     "met": bool(gain["effect"] >= target)})
    if full_runs is not None:
        runs = full_runs.rename(columns={"test_psnr": "psnr"})[["seed", "psnr"]]
    else:
        runs = pd.DataFrame([{"seed": s, "psnr": float(np.mean(p))} for s, p in
                             zip(study.seeds, study.scores(full)[0], strict=True)])
    sd = float(runs["psnr"].std(ddof=1)) if len(runs) > 1 else float("nan")
    rows.append({"control": f"{full}: seed sd of test PSNR",
                 "measured": f"{sd:.3f} dB ({len(runs)} seeds)",
                 "target": "<= 0.15 dB", "met": bool(sd <= 0.15)})
    n = len(study.scores(full)[1])
    rows.append({"control": "test images scored per run", "measured": str(n),
                 "target": ">= 100", "met": n >= 100})
    return pd.DataFrame(rows)


# ----------------------------------------------------------- Figs. 13 and 14


def time_averaging_table(study, frames: list[int], methods: list[str],
                         reference: str) -> pd.DataFrame:
    """Each method at each r (run names ``"<method> r=<r>"``) and the
    ``reference`` run: paired gain over the rainy input with its interval, and
    the PSNR (mean over seeds and images). Indexed by (method, r)."""
    from derain.evaluation.claims import describe

    rows = []
    for method in methods:
        for r in frames:
            name = f"{method} r={r}"
            scores, _ = study.scores(name)
            rows.append({"method": method, "r": r,
                         "gain over the input": describe(
                             study.compare(name, "rainy input")),
                         "PSNR": round(float(scores.mean()), 2),
                         "seeds": len(scores) if method != "median of" else "-"})
    scores, _ = study.scores(reference)
    rows.append({"method": reference, "r": None,
                 "gain over the input": describe(study.compare(reference,
                                                               "rainy input")),
                 "PSNR": round(float(scores.mean()), 2), "seeds": len(scores)})
    return pd.DataFrame(rows).set_index(["method", "r"])


# -------------------------------------------------------------------- Fig. 19


def heavy_rain_claim(table: pd.DataFrame, chapter: str) -> pd.DataFrame:
    """The paper shows failures in heavy rain without a number. Read here as: at
    the heaviest rain the model's gain over the input falls below
    :data:`~derain.evaluation.NO_GAIN_DB` (it leaves the rain as it was) or turns
    negative, whatever the veil."""
    lo, hi = table["density"].min(), table["density"].max()
    lightest = table.loc[table["density"] == lo, "gain (dB)"]
    heaviest = table.loc[table["density"] == hi, "gain (dB)"]
    fails = bool((heaviest < NO_GAIN_DB).all())
    return pd.DataFrame([{
        "key": "", "claim": "the model fails in heavy rain",
        "paper": "qualitative (Fig. 19)",
        "ours": f"gain {lightest.mean():+.2f} dB at density {lo}, "
                f"{heaviest.mean():+.2f} dB at {hi} (mean over veils)",
        "verdict": HOLDS if fails else FAILS, "detectable (dB)": np.nan,
        "set": "one test scene", "chapter": chapter}])


# ------------------------------------------------------- gains (the figures' data)


def gains(study, names: list[str], test_set: str = "test") -> pd.DataFrame:
    """The numbers :func:`~derain.book.plots.gain_intervals` draws: each run's
    paired PSNR gain over the rainy input (dB) with its 95 % interval and the
    seed-to-seed spread, one row per run of ``names`` (the input itself left
    out)."""
    rows = []
    for name in names:
        if name == "rainy input":
            continue
        gain = study.compare(name, "rainy input", test_set=test_set)
        rows.append({"run": name, "gain (dB)": gain["effect"],
                     "low (dB)": gain["low"], "high (dB)": gain["high"],
                     "seed spread (dB)": gain["seed_spread"]})
    return pd.DataFrame(rows)
