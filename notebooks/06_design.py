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
curve_points = 2
eval_frames = 1
rain100l_limit = 2
device = "auto"
executor = "local"
scheduler = None

# %%
import json

import pandas as pd

from derain.book import plots, tables
from derain.book.study import FULL, SUPERVISED, Study

study = Study.create("design", training, seeds, data_root, eval_frames,
                     rain100l_limit, device, executor, scheduler)
out, floor = study.out_dir, study.floor
print("settings shared by every experiment run:")
print(study.settings_note())
print(f"test images scored per run: {floor['test_n']}; Rain100L: "
      f"{study.evaluation['rain100l'] or 'absent'}")

# %% [markdown]
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
# controls once (the first seed). The pick is made on the validation curves: the
# cheapest budget (in CPU seconds) whose validation gains reach the targets of the
# design (supervised control at least +3.0 dB, full method at least +1.5 dB over
# the input); if none does, the one whose full method gains most.

# %%
budgets = {c["name"]: c["changes"] for c in candidates}
trials = {f"{c} | {k}": {**changes, **control}
          for c, changes in budgets.items() for k, control in CONTROLS.items()}
trial_runs = study.run(trials, workers, seeds=study.seeds[:1])
curves = tables.learning_curves(study, {"chosen": {k: k for k in CONTROLS}} | {
    c: {k: f"{c} | {k}" for k in CONTROLS} for c in budgets})
curves.to_csv(out / "learning_curves.csv", index=False)
pick, choice = tables.pick_budget(curves, FULL, SUPERVISED)
print(f"the rule picks: {pick}")
choice

# %%
plots.savefig(plots.learning_curves(curves, [FULL, SUPERVISED]),
              out / "fig_learning_curves.png")

# %% [markdown]
# ## The chosen budget on the test scenes
#
# The gains of the two controls over the rainy input on the held-out test
# scenes, with their intervals, and the seed-to-seed standard deviation of the
# full method: the targets this design set itself.

# %%
check = tables.design_check(study, FULL, SUPERVISED)
check.to_csv(out / "design_check.csv", index=False)
check

# %%
sd = float(runs.loc[runs["name"] == FULL, "test_psnr"].std(ddof=1))
floor_mdd = sd * 2 ** 0.5
print(f"seed sd of the full method: {sd:.3f} dB. Two configurations with "
      f"{len(study.seeds)} seeds each differ by a seed spread of about "
      f"{floor_mdd:.2f} dB, the smallest difference any later chapter can decide.")

# %%
metrics = {"input_test_psnr": floor["test_psnr"], "test_images": floor["test_n"],
           "pick": pick, "full_seed_sd": sd, "detectable_floor_db": floor_mdd,
           **{f"{row['control']}/gain": row["gain (dB)"] for _, row in
              check.dropna(subset=["gain (dB)"]).iterrows()}}
(out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
pd.Series(metrics).to_frame("value")
