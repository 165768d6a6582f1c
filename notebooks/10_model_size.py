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
# # Model size
#
# The paper's Fig. 17 shrinks the network, first by replacing the encoders' 3x3,
# 5x5 and 7x7 kernels by 1x1, 3x3 and 5x5, then by using fewer channels, and
# reports "only a marginal drop" in PSNR. Here every size is trained with the
# budget of chapter 6; the size that budget uses (all losses, dynamic fusion) is
# chapter 6's full model, read from its results. "Marginal" is read as a drop of
# at most {glue:text}`size_marginal` (stated so that a reader can apply another):
# the claim holds for a size when the whole interval of its drop lies below that,
# and does not hold when the whole interval lies above it.

# %% tags=["parameters"]
widths = [1, 2]
kernels = ["3/5/7", "1/3/5"]
workers = 1

# %%
import pandas as pd

from derain.book import plots
from derain.book.captions import Page
from derain.book.study import FULL, Study, score_table
from derain.evaluation import MARGINAL_DB
from derain.nets import DerainNet, count_parameters

page = Page("model_size", widths=widths, kernels=kernels, workers=workers)
page.number("size_marginal", MARGINAL_DB, "{:g} dB")
study = Study.load("model_size")
out, floor = study.out_dir, study.floor
model = study.training["model"]
reference = (model["width"], model["kernels"])


def size_name(width, kernel_set):
    return f"width {width}, kernels {kernel_set}"


sizes = [(w, k) for k in kernels for w in sorted(set(widths) | {reference[0]})]
params = {size_name(w, k): count_parameters(DerainNet(**{**model, "width": w,
                                                         "kernels": k}))
          for w, k in sizes}
page.table(pd.Series(params, name="parameters").rename_axis("model").to_frame(),
           "model_size_parameters",
           "The sizes trained: each width and kernel set with its number of "
           "parameters.", params=["widths", "kernels"], csv=False,
           formats={"parameters": "{:,d}"})
page.number("size_reference", size_name(*reference), "{}")

# %% [markdown]
# {numref}`model_size_parameters` lists the sizes; the reference,
# {glue:text}`size_reference`, is chapter 6's full model.

# %%
trained = study.run({size_name(w, k): {"model": {"width": w, "kernels": k}}
                     for w, k in sizes if (w, k) != reference}, workers)
runs = pd.concat([trained, study.reuse({FULL: size_name(*reference)}, "design")],
                 ignore_index=True)
runs["parameters"] = runs["name"].map(params)
runs.to_csv(out / "runs.csv", index=False)

# %% [markdown]
# ## Every size on the test scenes
#
# Each size's paired gain over the rainy input and its absolute scores
# ({numref}`table_model_size`).

# %%
table = score_table(runs, rain100l_ssim=False).rename(columns={"name": "model"})
table.insert(1, "parameters", table["model"].map(params))
table.insert(3, "gain over the input", [
    study.describe_gain(name) for name in table["model"]])
table = table.sort_values("parameters").set_index("model")
page.table(table, "table_model_size",
           "Every size, smallest first: its parameters, seeds, paired gain over "
           "the rainy input (95 % interval, seed sd) and absolute scores (seed "
           "mean ± half the seed range).", paper="Fig. 17",
           params=["widths", "kernels"], formats={"parameters": "{:,d}"})

# %% [markdown]
# ## PSNR gain against the number of parameters (Fig. 17)
#
# {numref}`fig17_psnr_vs_parameters` draws each size's gain over the rainy input
# against its number of parameters, one line per kernel set.

# %%
groups = {f"kernels {k}": [size_name(w, k) for w, kk in sizes if kk == k]
          for k in kernels}
curve = runs[["name", "seed", "parameters"]].assign(
    **{f"{m} gain (dB)": runs[m] - floor[m] for m in ("test_psnr", "rain100l_psnr")
       if m in runs})
page.figure(plots.gain_vs_parameters(runs, floor, groups),
            "fig17_psnr_vs_parameters",
            "PSNR gain over the rainy input against the number of parameters (log "
            "scale), one line per kernel set: seed mean, seeds' range shaded; one "
            "panel per scored set.", paper="Fig. 17", data=curve,
            params=["widths", "kernels"])

# %% [markdown]
# ## Claims
#
# Each smaller size against the reference, and the paper's claim (C11) over
# every size ({numref}`claims_model_size`).

# %%
ref_name = size_name(*reference)
drops = [study.claim("", f"shrinking to {name} ({params[name]:,} parameters) "
                     f"costs at most {MARGINAL_DB} dB", ref_name, name,
                     direction=-1, margin=-MARGINAL_DB)
         for name in table.index if name != ref_name]
study.claim_all("C11", "a smaller network costs only a marginal drop, at every "
                "size tested", drops, paper="marginal drop (Fig. 17)")
claims = study.claims()
page.claims(claims, "The claims of the model-size comparison: each size's drop "
            "against the reference (paired, 95 % interval, seed sd), the verdict "
            "by the rule of chapter 6 and the smallest difference each comparison "
            "could decide.", paper="Fig. 17", params=["widths", "kernels"])

# %%
study.save_metrics(runs, trained)
smallest = table.index[0]
page.number("size_smallest", smallest, "{}")
page.number("size_smallest_parameters", params[smallest], "{:,d}")
page.number("size_reference_parameters", params[ref_name], "{:,d}")
page.number("size_smallest_drop", study.compare(ref_name, smallest)["effect"]
            if smallest != ref_name else None, "{:+.2f} dB")

# %% [markdown]
# ## What this chapter found
#
# The smallest size, {glue:text}`size_smallest`
# ({glue:text}`size_smallest_parameters` parameters against the reference's
# {glue:text}`size_reference_parameters`), scores {glue:text}`size_smallest_drop`
# below the reference (a negative value: above it). The paper's claim that a
# smaller network costs only a marginal drop at every size (C11)
# {glue:text}`C11_verdict` ({glue:text}`C11_ours`). The median smallest
# difference these comparisons could decide is {glue:text}`claims_detectable`.
