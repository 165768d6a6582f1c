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
# # What reproduces
#
# Every claim of the paper that this book tests, with this book's number and a
# verdict, gathered from the chapters that measure them; each claim is decided
# in one chapter only. The verdicts follow the rule of chapter 6:
#
# - **holds**: the 95 % interval of the paired difference excludes zero in the
#   paper's direction and the effect exceeds the seed-to-seed spread;
# - **does not hold**: the same, in the other direction (or the stated outcome
#   did not happen);
# - **inconclusive**: neither; the design could not tell.
#
# All of it is at this book's scale: networks of some hundred thousand
# parameters trained for minutes on synthetic time-lapse data, against the
# paper's 172 million parameters, two days of training and 186 real scenes. A
# claim that does not hold here is a finding about that scale, stated as such.

# %%
import json

import pandas as pd

from derain import paper
from derain.book.captions import Page
from derain.book.chapters import CHAPTERS, stage_dir

out = stage_dir("what_reproduces")
out.mkdir(parents=True, exist_ok=True)
page = Page("what_reproduces")

# %% [markdown]
# ## Claims of the training and evaluation chapters
#
# Three checks come from chapters 2 and 3 rather than from a paired comparison:
# whether the paper's loss weights train a working model, whether the main model
# derains each test set at all, and whether it reaches the paper's Rain100L
# score. They join the table of every comparison below.

# %%
rows = []
train = json.loads((stage_dir("train") / "metrics.json").read_text())
if "paper_loss_val_psnr" in train:
    rows.append({
        "key": "",
        "claim": "the paper's loss weights and gamma schedule train a working model",
        "paper": "38.54 dB on its real test set (Table VI)",
        "ours": f"validation {train['paper_loss_val_psnr']:.2f} dB against the "
                f"input's {train['val_input_psnr']:.2f}; background contrast "
                f"{train['paper_loss_final_contrast']:.2f} of the input's",
        "verdict": "does not hold" if train["paper_loss_collapsed"] else "holds",
        "chapter": "02_train"})
evaluation = json.loads((stage_dir("evaluate") / "metrics.json").read_text())
for key, name in [("synthetic", "the synthetic test scenes"),
                  ("rain100l", "Rain100L")]:
    if key not in evaluation:
        continue
    s = evaluation[key]
    gain = s["psnr"] - s["input_psnr"]
    rows.append({
        "key": "",
        "claim": f"a single-image network trained on time-lapse frames derains "
                 f"{name}",
        "paper": "37.89 dB / 0.98 on Rain100L (Table V)" if key == "rain100l"
        else "-",
        "ours": f"{s['psnr']:.2f} dB / {s['ssim']:.3f}, input {s['input_psnr']:.2f}"
                f" dB ({gain:+.2f} dB)",
        "verdict": "holds" if gain > 0 else "does not hold",
        "chapter": "03_evaluate"})
if "rain100l" in evaluation:
    s = evaluation["rain100l"]
    rows.append({
        "key": "", "claim": "the paper's Rain100L score is reached",
        "paper": "37.89 dB", "ours": f"{s['psnr']:.2f} dB",
        "verdict": "holds" if s["psnr"] >= 37.89 else "does not hold",
        "chapter": "03_evaluate"})

# %% [markdown]
# ## The paper's claims
#
# One row per claim of the paper (the list is in `lib/derain/paper.py`), with
# the verdict of the chapter that decides it.

# %%
for item in CHAPTERS:
    if not item.claims:
        continue
    path = item.out_dir / "claims.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run that chapter's stage first")
    rows.extend(pd.read_csv(path, keep_default_na=False).to_dict("records"))
claims = pd.DataFrame(rows)
claims["key"] = claims["key"].fillna("") if "key" in claims else ""
claims.to_csv(out / "claims_all.csv", index=False)
keyed = claims[claims["key"] != ""]
twice = keyed["key"][keyed["key"].duplicated()].tolist()
if twice:
    raise ValueError(f"claims decided in more than one place: {twice}")
paper_claims = pd.DataFrame([{
    "key": key, "the paper's claim": text, "where": item,
    **(keyed.loc[keyed["key"] == key, ["ours", "verdict", "chapter"]].iloc[0]
       .to_dict() if key in set(keyed["key"]) else
       {"ours": "not tested", "verdict": "not tested", "chapter": ""})}
    for key, (text, item) in paper.CLAIMS.items()])
decided = paper_claims["verdict"].isin(["holds", "does not hold"]).sum()
page.table(paper_claims, "paper_claims",
           "Every claim of the paper this book lists, where the paper makes it, "
           "this book's number, the verdict and the chapter that decides it "
           "(\"not tested\": no chapter decides it).")
page.number("reproduces_paper_claims", len(paper_claims), "{:d}")
page.number("reproduces_decided", int(decided), "{:d}")
for glued, verdict in [("holds", "holds"), ("fails", "does not hold"),
                       ("inconclusive", "inconclusive"),
                       ("untested", "not tested")]:
    page.number(f"reproduces_{glued}",
                int((paper_claims["verdict"] == verdict).sum()), "{:d}")

# %% [markdown]
# {numref}`paper_claims` lists them: of the paper's
# {glue:text}`reproduces_paper_claims` claims, {glue:text}`reproduces_decided`
# are decided here.
#
# ## Every comparison of the book
#
# The rows above and the book's own questions (the neighbours the paper does not
# compare with, the concatenation rows of Table VI, each r of Fig. 14, each model
# size), with the training and evaluation chapters' checks first
# ({numref}`claims_all`; {numref}`verdict_counts` counts the verdicts).

# %%
counts = claims["verdict"].value_counts()
page.table(claims, "claims_all",
           "Every comparison of the book, in the order of the chapters: the "
           "paper's value or difference, ours, the verdict, the smallest "
           "difference the comparison could decide (empty or \"–\": not a "
           "paired comparison), the test set and the chapter.")
page.table(counts.rename_axis("verdict").rename("comparisons").to_frame(),
           "verdict_counts", "How many of the book's comparisons reached each "
           "verdict.", csv=False)
page.number("reproduces_comparisons", len(claims), "{:d}")
for glued, verdict in [("all_holds", "holds"), ("all_fails", "does not hold"),
                       ("all_inconclusive", "inconclusive")]:
    page.number(f"reproduces_{glued}", int(counts.get(verdict, 0)), "{:d}")

# %%
(out / "metrics.json").write_text(json.dumps(
    {f"verdicts/{k}": int(v) for k, v in counts.items()}
    | {"claims": len(claims), "paper_claims_decided": int(decided),
       "paper_claims": len(paper_claims)}, indent=1))

# %% [markdown]
# ## What this chapter found
#
# Of the paper's {glue:text}`reproduces_paper_claims` claims listed here,
# {glue:text}`reproduces_holds` hold at this book's scale,
# {glue:text}`reproduces_fails` do not hold, {glue:text}`reproduces_inconclusive`
# are inconclusive and {glue:text}`reproduces_untested` are not tested. Over all
# {glue:text}`reproduces_comparisons` comparisons of the book, including its own
# questions, {glue:text}`reproduces_all_holds` hold,
# {glue:text}`reproduces_all_fails` do not hold and
# {glue:text}`reproduces_all_inconclusive` are inconclusive.
