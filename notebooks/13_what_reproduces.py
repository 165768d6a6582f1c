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
from IPython.display import HTML

from derain import paper
from derain.book.chapters import CHAPTERS, stage_dir

out = stage_dir("what_reproduces")
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Claims of the training and evaluation chapters

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
paper_claims.to_csv(out / "paper_claims.csv", index=False)
decided = paper_claims["verdict"].isin(["holds", "does not hold"]).sum()
print(f"{decided} of {len(paper_claims)} claims of the paper decided "
      f"({(paper_claims['verdict'] == 'holds').sum()} hold, "
      f"{(paper_claims['verdict'] == 'does not hold').sum()} do not hold)")
COLOURS = {"holds": "#d8f0d8", "does not hold": "#f6d5d5",
           "inconclusive": "#f3efd2"}


def coloured(table):
    table = table.copy()
    table["chapter"] = [f'<a href="{c}.html">{c}</a>' if c else ""
                        for c in table["chapter"]]
    return HTML(table.style.apply(
        lambda row: [f"background-color: {COLOURS.get(row['verdict'], 'white')}"]
        * len(row), axis=1).hide(axis="index").to_html(escape=False))


coloured(paper_claims)

# %% [markdown]
# ## Every comparison of the book
#
# The rows above and the book's own questions (the neighbours the paper does not
# compare with, the concatenation rows of Table VI, each r of Fig. 14, each model
# size), with the training and evaluation chapters' checks first.

# %%
counts = claims["verdict"].value_counts()
print(counts.to_string())
coloured(claims[["key", "claim", "paper", "ours", "verdict", "chapter"]])

# %%
(out / "metrics.json").write_text(json.dumps(
    {f"verdicts/{k}": int(v) for k, v in counts.items()}
    | {"claims": len(claims), "paper_claims_decided": int(decided),
       "paper_claims": len(paper_claims)}, indent=1))
