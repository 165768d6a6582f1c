# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The design of the experiments
#
# Chapters 7 to 12 test the paper's claims with many short training runs: every
# row of a table is a configuration trained with several seeds. Such a test can
# only decide something if the runs learn: if even the network supervised with
# the clean background barely beats the rainy input, no difference between two
# configurations can show. This chapter fixes the budget every experiment run
# shares (network width, crop, steps, learning-rate schedule, the rain of the
# experiment scenes) with two controls:
#
# - the **identity** (the rainy input itself, 0 dB by construction: every network
#   here starts as the identity, its rain estimate zero-initialised);
# - the **same network supervised with the clean target**, the positive control:
#   what this budget can learn at all on these scenes.
#
# The candidates are compared on the *validation* scenes only (held-out
# backgrounds of the training sources), by their learning curves against the CPU
# time they cost. The held-out test scenes (Kodak) then check the chosen budget,
# and give the seed-to-seed spread from which each later chapter derives the
# smallest difference it can detect.
#
# **The verdict rule** used by every claim of the book: a comparison is paired
# (the same test images for both configurations; per-image differences of their
# seed-mean PSNR), with a bootstrap 95 % interval that resamples test *scenes*
# (the frames of one scene share its background), and the seed-to-seed standard
# deviation of the difference beside it. A claim **holds** when the interval
# excludes zero in the paper's direction and the effect exceeds the seed spread;
# it **does not hold** when the interval excludes zero the other way and the
# effect exceeds the seed spread; it is **inconclusive** otherwise. A difference
# that seed noise alone can produce decides nothing in either direction. A
# comparison whose reference configuration did not learn (its gain over the input
# has an interval that reaches 0) is inconclusive whatever it shows.

# %% tags=["parameters"]
data_root = "datasets"
seeds = [0, 1]
workers = 1
training = {  # the smoke size; params.yaml gives the book's
    "model": {"width": 2, "slope": 0.01, "init": "kaiming"},
    "loss": {"lambda_b": 0.1, "lambda_s": 1.0, "lambda_v": 0.01, "lambda_r": 0.001,
             "gamma_start": 1.0, "gamma_end": 1.0, "lv_rel": 0.5},
    "steps": 2, "batch_size": 2, "crop": 32, "lr": 0.001, "checkpoint_every": 1,
}
candidates = [{"name": "fewer steps", "changes": {"steps": 1}}]
spread = {"seeds": [0, 1, 2], "budgets": [{"name": "3 steps", "changes": {"steps": 3}}]}
curve_points = 2
eval_frames = 1
rain100l_limit = 2
device = "auto"
executor = "local"
scheduler = None

# %%
import inspect
import json

import pandas as pd

from derain.book import plots, tables
from derain.book.captions import Page
from derain.book.study import FULL, SUPERVISED, Study
from derain.config import deep_merge
from derain.training import resolved_training

study = Study.create("design", training, seeds, data_root, eval_frames,
                     rain100l_limit, device, executor, scheduler)
out, floor = study.out_dir, study.floor
page = Page("design", data_root=data_root, seeds=seeds, workers=workers,
            training=training, candidates=candidates, spread=spread,
            curve_points=curve_points,
            eval_frames=eval_frames, rain100l_limit=rain100l_limit)


def flatten(block, prefix=""):
    for key, value in block.items():
        if isinstance(value, dict):
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield {"setting": f"{prefix}{key}", "value": str(value)}


page.table(pd.DataFrame(list(flatten(study.training))), "design_settings",
           "The training settings every experiment run shares (the model, the "
           "loss weights and the optimiser's budget); a chapter's configuration "
           "changes some of them.")
page.number("design_test_images", floor["test_n"], "{:d}")
page.number("design_seeds", len(study.seeds), "{:d}")
page.number("design_rain100l", "scored on the first "
            f"{study.evaluation['rain100l_limit']} Rain100L pairs as well"
            if study.evaluation["rain100l"] else "not scored on Rain100L (absent)",
            "{}")

# %% [markdown]
# {numref}`design_settings` lists the shared settings. Every run is scored on
# {glue:text}`design_test_images` held-out test images and
# {glue:text}`design_rain100l`; every configuration is trained with
# {glue:text}`design_seeds` seeds.
#
# ## The controls, with every seed
#
# The full method (all four losses, dynamic fusion) and the supervised control,
# trained with the chosen budget and every seed; both log the validation PSNR as
# they train. These runs are shared by the later chapters: the full method is a
# row of Tables VI and VII and the reference of Figs. 14 and 17, the supervised
# control the reference of chapters 9 and 12.

# %%
every = max(training["steps"] // curve_points, 1)
CONTROLS = {FULL: {"val_every": every},
            SUPERVISED: {"objective": "supervised", "target": "clean",
                         "val_every": every}}
runs = study.run(CONTROLS, workers)
runs.to_csv(out / "runs.csv", index=False)

# %% [markdown]
# ## Other budgets, on the validation scenes
#
# Each candidate changes the chosen budget in one respect and trains both
# controls once (the first seed). The pick is made on the validation curves
# ({numref}`fig_learning_curves`): the cheapest budget (in CPU seconds) whose
# validation gains reach the targets of the design (supervised control at least
# {glue:text}`design_target_supervised`, full method at least
# {glue:text}`design_target_full` over the input); if none does, the cheapest
# one whose full method gains within one seed spread of a difference
# ({glue:text}`design_floor`, measured on the controls above) of the best: a
# smaller difference cannot justify a dearer budget. The rule picks
# **{glue:text}`design_pick`** ({numref}`design_budgets`).
# {glue:text}`design_alike`

# %%
budgets = {c["name"]: c["changes"] for c in candidates}
# A candidate that trains exactly as the chosen budget here (fp32 where
# precision auto resolves to fp32) would be the chosen run again: not trained.
chosen = resolved_training(training, device)
alike = [c for c, changes in budgets.items()
         if resolved_training(deep_merge(training, changes), device) == chosen]
budgets = {c: changes for c, changes in budgets.items() if c not in alike}
page.number("design_alike", (
    f"On this machine {', '.join(repr(c) for c in alike)} trains exactly as the "
    "chosen budget (its precision resolves to the same arithmetic), so it is "
    "not trained again and has no row." if alike else
    "Every candidate trains differently from the chosen budget on this machine."),
    "{}")
trials = {f"{c} | {k}": {**changes, **control}
          for c, changes in budgets.items() for k, control in CONTROLS.items()}
trial_runs = study.run(trials, workers, seeds=study.seeds[:1])
curves = tables.learning_curves(study, {"chosen": {k: k for k in CONTROLS}} | {
    c: {k: f"{c} | {k}" for k in CONTROLS} for c in budgets})
curves.to_csv(out / "learning_curves.csv", index=False)
sd = float(runs.loc[runs["name"] == FULL, "test_psnr"].std(ddof=1))
floor_mdd = sd * 2 ** 0.5
page.number("design_sd", sd, "{:.3f} dB")
page.number("design_floor", floor_mdd, "{:.2f} dB")
pick, choice = tables.pick_budget(curves, FULL, SUPERVISED,
                                  tolerance=floor_mdd if pd.notna(floor_mdd) else 0.0)
target_full, target_supervised = \
    inspect.signature(tables.pick_budget).parameters["targets"].default
page.number("design_target_full", target_full, "{:+.1f} dB")
page.number("design_target_supervised", target_supervised, "{:+.1f} dB")
page.number("design_pick", pick, "{}")
reaches = "reaches the targets"
page.table(choice.assign(**{reaches: choice[reaches].map({True: "yes",
                                                          False: "no"})}),
           "design_budgets",
           "Each budget's last validation gain over the rainy input for both "
           "controls (first seed), the CPU seconds of the full method's run, and "
           "whether it reaches the design's targets.",
           params=["candidates", "curve_points"],
           formats={c: "{:.3f}" for c in choice.columns if c != reaches})

# %%
page.figure(plots.learning_curves(curves, [FULL, SUPERVISED]),
            "fig_learning_curves",
            "Validation PSNR gain over the rainy input against training CPU "
            "seconds, one panel per control, one line per budget (the chosen "
            "budget in black, its seeds' range shaded).", data=curves,
            params=["candidates", "curve_points", "seeds"])

# %% [markdown]
# ## The chosen budget on the test scenes
#
# The gains of the two controls over the rainy input on the held-out test
# scenes, with their intervals, and the seed-to-seed standard deviation of the
# full method over the {glue:text}`design_spread_n` seeds of the study below:
# the targets this design set itself ({numref}`design_check`).

# %%
# The spread target is checked on every seed of the seed-spread study below.
chosen_runs = study.run({FULL: CONTROLS[FULL]}, workers, seeds=spread["seeds"])
check = tables.design_check(study, FULL, SUPERVISED, chosen_runs)
check.to_csv(out / "design_check.csv", index=False)
page.table(check.assign(met=check["met"].map({True: "yes", False: "no"})),
           "design_check_table",
           "The chosen budget on the held-out test scenes: each control's paired "
           "gain over the rainy input (95 % interval, seed sd), the full method's "
           "seed-to-seed spread and the number of test images, against the "
           "targets of the design.", params=["seeds", "eval_frames"],
           label="design_check", csv=False, formats={"gain (dB)": "{:+.2f}"})

# %% [markdown]
# Over the book's seeds, the seed-to-seed standard deviation of the full
# method's test PSNR is {glue:text}`design_sd`. Two configurations trained with
# {glue:text}`design_seeds` seeds each therefore differ by a seed spread of about
# {glue:text}`design_floor`: the smallest difference any later chapter can
# decide.
#
# ## Where the seed spread comes from
#
# A seed fixes two things: the network's initial weights and the stream of
# training data the run draws (scenes, frame pairs, crops). The two seeds whose
# full-method runs end furthest apart, {glue:text}`design_spread_pair`, each
# train once more with the other's data stream (`data_seed`), so that four runs
# cross weights and data ({numref}`design_spread`). Their test PSNR differs by
# {glue:text}`design_spread_total`; averaged over the two data streams, the
# initial weights move it by {glue:text}`design_spread_weights`, and averaged
# over the two sets of weights, the data stream by
# {glue:text}`design_spread_data`: {glue:text}`design_spread_source`. One pair of
# seeds, each cell trained once: this says where this pair's difference comes
# from, not how the spread divides in general.

# %%
full = runs[runs["name"] == FULL].set_index("seed")["test_psnr"]
if len(full) >= 2:
    low, high = int(full.idxmin()), int(full.idxmax())
    crossed = study.run_each({
        f"{FULL} | data of seed {high}": ({"data_seed": high}, low),
        f"{FULL} | data of seed {low}": ({"data_seed": low}, high)}, workers)
    crossed = crossed.set_index("seed")["test_psnr"]
    crossing = pd.DataFrame(
        {f"data of seed {low}": [full[low], crossed[high]],
         f"data of seed {high}": [crossed[low], full[high]]},
        index=pd.Index([f"weights of seed {low}", f"weights of seed {high}"],
                       name="full method, test PSNR (dB)"))
    by_weights = float((crossing.iloc[1] - crossing.iloc[0]).mean())
    by_data = float((crossing.iloc[:, 1] - crossing.iloc[:, 0]).mean())
    # The larger part when it is at least twice the other, else both.
    source = ("mostly from the initial weights"
              if abs(by_weights) >= 2 * abs(by_data) else
              "mostly from the data stream" if abs(by_data) >= 2 * abs(by_weights)
              else "from both, in comparable parts")
    pair, total = f"seeds {low} and {high}", full[high] - full[low]
else:
    crossing = pd.DataFrame({"full method": ["one seed: nothing to cross"]})
    by_weights = by_data = pair = total = source = None
page.number("design_spread_pair", pair, "{}")
page.number("design_spread_total", total, "{:.2f} dB")
page.number("design_spread_weights", by_weights, "{:+.2f} dB")
page.number("design_spread_data", by_data, "{:+.2f} dB")
page.number("design_spread_source", f"the difference comes {source}"
            if source else None, "{}")
page.table(crossing, "design_spread",
           "The full method's test PSNR of the two seeds furthest apart, each "
           "trained again with the other's stream of training data: rows are "
           "initial weights, columns data streams; the diagonal is the runs "
           "above.", params=["seeds"],
           formats={c: "{:.2f}" for c in crossing.select_dtypes("number")})

# %% [markdown]
# ## The seed spread against the budget
#
# Three seeds estimate a standard deviation poorly: for seeds drawn from a normal
# distribution, the 95 % interval of a three-seed estimate runs from about half
# to six times its value, and one seed that trains unlike the others may simply
# not be among them. The full method therefore trains with
# {glue:text}`design_spread_n` seeds (the book's first) at the chosen budget and
# at {glue:text}`design_spread_others`, each changing the chosen budget in one
# respect ({numref}`design_seed_spread`, {numref}`fig_seed_spread`); a run
# counts as left at the identity when it gains under 0.5 dB on the test scenes.
#
# With {glue:text}`design_spread_n` seeds, the chosen budget's test PSNR spreads
# by {glue:text}`design_spread_chosen` ({glue:text}`design_spread_identity`);
# the book's seeds alone give {glue:text}`design_spread_book`. The smallest
# spread of a budget in which every seed learns is
# {glue:text}`design_spread_best`. The design's target (at most 0.15 dB, with
# every seed learning) is met by {glue:text}`design_spread_met`.
#
# The later chapters train the chosen budget with the book's seeds, and the
# smallest detectable difference above rests on them. Each of their comparisons
# carries the seed spread of its own differences: a seed that stays at the
# identity in one configuration widens that spread, and only an effect larger
# than it can then decide the comparison.

# %%
spread_names = {"chosen": FULL} | {b["name"]: f"{FULL} | {b['name']}"
                                   for b in spread["budgets"]}
spread_runs = pd.concat([chosen_runs, study.run({
    f"{FULL} | {b['name']}": {**b["changes"], "val_every": b["changes"].get(
        "steps", study.training["steps"])} for b in spread["budgets"]},
    workers, seeds=spread["seeds"])], ignore_index=True)
spread_table = tables.seed_spread(study, spread_runs, spread_names, study.seeds)
chosen_row = spread_table.iloc[0]
learned = spread_table[spread_table["at the identity"] == 0]
best_row = (learned.loc[learned["seed sd, test (dB)"].idxmin()]
            if len(learned) else None)
met = spread_table.loc[spread_table["sd <= 0.15 dB"], "budget"].tolist()
page.number("design_spread_n", len(spread["seeds"]), "{:d}")
page.number("design_spread_others", ", ".join(
    f"'{b['name']}'" for b in spread["budgets"]) or "no other budget", "{}")
page.number("design_spread_chosen", f"{chosen_row['seed sd, test (dB)']:.2f} dB "
            f"(95 % interval {chosen_row['95 % interval']} dB)", "{}")
page.number("design_spread_identity", (
    "no run left at the identity" if chosen_row["at the identity"] == 0 else
    f"{chosen_row['at the identity']:d} of its {chosen_row['seeds']:d} runs "
    "left at the identity"), "{}")
page.number("design_spread_book", chosen_row["seed sd, book's seeds (dB)"],
            "{:.2f} dB")
page.number("design_spread_best", (
    f"'{best_row['budget']}': {best_row['seed sd, test (dB)']:.2f} dB, at "
    f"{best_row['x chosen']:.1f} times the chosen budget's CPU time per run"
    if best_row is not None else "not measured: no budget has every seed learn"),
            "{}")
page.number("design_spread_met", ", ".join(f"'{b}'" for b in met) if met else
            "none of these budgets", "{}")
page.table(spread_table.assign(**{c: spread_table[c].map({True: "yes",
                                                          False: "no"})
                                  for c in ["sd <= 0.15 dB"]}),
           "design_seed_spread",
           "The full method with more seeds, at the chosen budget and at budgets "
           "that change it in one respect: mean test PSNR, the seed-to-seed "
           "standard deviation of the test PSNR (with its 95 % interval) and of "
           "the final validation PSNR, the same over the book's seeds alone, the "
           "runs left at the identity, and the training CPU-seconds per run.",
           params=["spread", "seeds"],
           formats={"CPU seconds per run": "{:.0f}", "x chosen": "{:.2f}",
                    "test PSNR (dB)": "{:.2f}", "seed sd, test (dB)": "{:.3f}",
                    "seed sd, validation (dB)": "{:.3f}",
                    "seed sd, book's seeds (dB)": "{:.3f}"})

# %%
page.figure(plots.seed_spread(spread_runs, spread_names, floor["test_psnr"],
                              study.seeds),
            "fig_seed_spread",
            "Left: each seed's test gain over the rainy input at each budget, a "
            "marker per seed (the book's seeds filled). Right: the seed-to-seed "
            "standard deviation of the test PSNR at each budget with its 95 % "
            "interval, against the design's target.",
            data=spread_runs[["name", "seed", "test_psnr", "train_seconds"]],
            params=["spread", "seeds"])

# %%
metrics = {"input_test_psnr": floor["test_psnr"], "test_images": floor["test_n"],
           "pick": pick, "full_seed_sd": sd, "detectable_floor_db": floor_mdd,
           **{f"seed_sd/{row['budget']}": row["seed sd, test (dB)"]
              for _, row in spread_table.iterrows()},
           **{f"at_identity/{row['budget']}": row["at the identity"]
              for _, row in spread_table.iterrows()},
           "spread_by_weights_db": by_weights, "spread_by_data_db": by_data,
           **{f"{row['control']}/gain": row["gain (dB)"] for _, row in
              check.dropna(subset=["gain (dB)"]).iterrows()}}
(out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
gain = {row["control"]: row["measured"] for _, row in check.iterrows()}
page.number("design_full_gain", gain.get(FULL), "{}")
page.number("design_supervised_gain", gain.get(SUPERVISED), "{}")
page.number("design_input", floor["test_psnr"], "{:.2f} dB")
page.number("design_met", int(check["met"].sum()), "{:d}")
page.number("design_targets", len(check), "{:d}")

# %% [markdown]
# ## What this chapter found
#
# On the held-out test scenes, where the rainy input scores
# {glue:text}`design_input`, the full method gains {glue:text}`design_full_gain`
# and the supervised control {glue:text}`design_supervised_gain` (paired gain,
# 95 % interval, seed sd). The chosen budget meets {glue:text}`design_met` of the
# design's {glue:text}`design_targets` targets ({numref}`design_check`). The
# smallest difference a later chapter can decide is about
# {glue:text}`design_floor`; a difference smaller than that is reported as
# inconclusive. Between the two seeds furthest apart,
# {glue:text}`design_spread_source` ({numref}`design_spread`). With
# {glue:text}`design_spread_n` seeds the chosen budget spreads by
# {glue:text}`design_spread_chosen`, and the target of 0.15 dB is met by
# {glue:text}`design_spread_met` ({numref}`design_seed_spread`).
