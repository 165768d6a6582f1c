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
# at most 0.2 dB (stated so that a reader can apply another): the claim holds for
# a size when the whole interval of its drop lies below 0.2 dB, and does not hold
# when the whole interval lies above it.

# %% tags=["parameters"]
widths = [1, 2]
kernels = ["3/5/7", "1/3/5"]
workers = 1

# %%
import pandas as pd

from derain.book import plots
from derain.book.study import FULL, Study, score_table
from derain.evaluation import MARGINAL_DB
from derain.nets import DerainNet, count_parameters

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
pd.Series(params, name="parameters").to_frame()

# %%
trained = study.run({size_name(w, k): {"model": {"width": w, "kernels": k}}
                     for w, k in sizes if (w, k) != reference}, workers)
runs = pd.concat([trained, study.reuse({FULL: size_name(*reference)}, "design")],
                 ignore_index=True)
runs["parameters"] = runs["name"].map(params)
runs.to_csv(out / "runs.csv", index=False)

# %%
table = score_table(runs, rain100l_ssim=False).rename(columns={"name": "model"})
table.insert(1, "parameters", table["model"].map(params))
table.insert(3, "gain over the input", [
    study.describe_gain(name) for name in table["model"]])
table = table.sort_values("parameters").set_index("model")
table.to_csv(out / "table_model_size.csv")
table

# %% [markdown]
# ## PSNR against the number of parameters (Fig. 17)

# %%
groups = {f"kernels {k}": [size_name(w, k) for w, kk in sizes if kk == k]
          for k in kernels}
plots.psnr_vs_parameters(runs, floor, groups, out / "fig17_psnr_vs_parameters.png")

# %% [markdown]
# ## Claims

# %%
ref_name = size_name(*reference)
drops = [study.claim("", f"shrinking to {name} ({params[name]:,} parameters) "
                     f"costs at most {MARGINAL_DB} dB", ref_name, name,
                     direction=-1, margin=-MARGINAL_DB)
         for name in table.index if name != ref_name]
study.claim_all("C11", "a smaller network costs only a marginal drop, at every "
                "size tested", drops, paper="marginal drop (Fig. 17)")
claims = study.claims()
claims.to_csv(out / "claims.csv", index=False)
print(f"smallest difference this chapter can decide: "
      f"{claims['detectable (dB)'].median():.2f} dB (median over its comparisons)")
claims

# %%
study.save_metrics(runs, trained)
