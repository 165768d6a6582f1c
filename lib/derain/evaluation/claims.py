"""Verdicts on the paper's claims, named once: the words, the thresholds, the rule
that turns per-seed scores into a verdict, and the tables that carry them.

A claims table has one row per claim: the claim, the paper's value, ours, the
verdict and the chapter that measures it; the last chapter gathers them all.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

METRICS = ("test_psnr", "test_ssim", "rain100l_psnr", "rain100l_ssim")


class Verdict(StrEnum):
    """What a claim comes to. The values are the words the tables show."""

    HOLDS = "holds"
    FAILS = "does not hold"
    INCONCLUSIVE = "inconclusive"


HOLDS, FAILS, INCONCLUSIVE = Verdict.HOLDS, Verdict.FAILS, Verdict.INCONCLUSIVE

# Below this, a difference of mean PSNR says nothing whatever the seeds do: two
# configurations that both stayed at the identity differ by hundredths of a dB.
MIN_DIFFERENCE = 0.05
# A gain over the input this small (dB) leaves the rain as it was: a model "does
# not learn to remove rain" or "fails" below it.
NO_GAIN_DB = 0.1
# A drop this small (dB) below the reference is "only a marginal drop" (Fig. 17).
MARGINAL_DB = 0.2


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
