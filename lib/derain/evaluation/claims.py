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


# ------------------------------------------------------ paired comparisons

# Bootstrap resamples and the level of every interval the book reports.
N_BOOT = 10_000
LEVEL = 0.95


def _groups(names: list[str] | None, n: int) -> np.ndarray:
    """Group index per image: images of one scene (``"scene/frame"`` names) form
    a group, so the bootstrap resamples scenes rather than frames that share a
    background."""
    if names is None:
        return np.arange(n)
    keys = [name.split("/")[0] for name in names]
    index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return np.array([index[k] for k in keys])


def bootstrap_interval(diffs: np.ndarray, groups: np.ndarray | None = None,
                       n_boot: int = N_BOOT, level: float = LEVEL,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-image differences
    ``diffs`` (I,), resampling whole groups of images (``groups``: (I,) group
    index; default: each image its own group)."""
    diffs = np.asarray(diffs, dtype=float)
    groups = np.arange(len(diffs)) if groups is None else np.asarray(groups)
    n_groups = int(groups.max()) + 1
    sums = np.bincount(groups, weights=diffs, minlength=n_groups)
    counts = np.bincount(groups, minlength=n_groups).astype(float)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, n_groups, size=(n_boot, n_groups))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def sd_interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """The sample standard deviation of ``values`` (e.g. a run's score over
    seeds) and its ``level`` interval, chi-square as for normal draws (skewed
    upwards: a few seeds can understate a spread far more than overstate it).
    NaN where there are fewer than two values."""
    from scipy.stats import chi2

    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float("nan"), float("nan"), float("nan")
    sd = float(values.std(ddof=1))
    tail = (1 - level) / 2
    low, high = (sd * float(np.sqrt((n - 1) / chi2.ppf(q, n - 1)))
                 for q in (1 - tail, tail))
    return sd, low, high


def paired(a: np.ndarray, b: np.ndarray, names: list[str] | None = None,
           n_boot: int = N_BOOT) -> dict:
    """How much ``a`` scores above ``b`` on the same test images.

    a: (S_a, I), b: (S_b, I): per-seed, per-image scores in the same image order
    (``names``, ``"scene/frame"``, group the bootstrap by scene). The effect is
    the mean over images of the difference of the seed means; its interval is a
    bootstrap over images (scenes); the seed spread is the standard deviation
    over seeds of the per-seed mean difference (seed k of ``a`` against seed k of
    ``b``; NaN with one seed). Returns ``effect``, ``low``, ``high``,
    ``seed_spread``, ``seeds``, ``images``."""
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"not the same images: {a.shape[1]} against {b.shape[1]}")
    diffs = a.mean(axis=0) - b.mean(axis=0)
    low, high = bootstrap_interval(diffs, _groups(names, len(diffs)), n_boot)
    seeds = min(len(a), len(b))
    per_seed = a[:seeds].mean(axis=1) - b[:seeds].mean(axis=1)
    spread = float(np.std(per_seed, ddof=1)) if seeds > 1 else float("nan")
    return {"effect": float(diffs.mean()), "low": low, "high": high,
            "seed_spread": spread, "seeds": seeds, "images": len(diffs)}


def decide(result: dict, direction: int = 1, margin: float = 0.0) -> Verdict:
    """The verdict rule of the book, one place for every claim.

    The claim is "``direction`` x effect exceeds ``margin``" (``margin`` 0: a
    plain difference in the paper's direction). It **holds** when the whole
    interval lies beyond the margin in that direction and the effect clears the
    margin by more than the seed spread; it **does not hold** when the whole
    interval lies on the other side of the margin, again by more than the seed
    spread; otherwise it is **inconclusive**. A difference that seed noise alone
    can produce decides nothing either way, and one seed shows no spread, so a
    single-seed comparison never decides."""
    effect = direction * result["effect"]
    low, high = sorted((direction * result["low"], direction * result["high"]))
    spread = result["seed_spread"]
    if not np.isfinite(spread):
        return INCONCLUSIVE
    if low > margin and effect - margin > spread:
        return HOLDS
    if high < margin and margin - effect > spread:
        return FAILS
    return INCONCLUSIVE


def detectable(result: dict) -> float:
    """The smallest effect this comparison could have decided: larger than both
    the half-width of its interval and the seed spread."""
    half = (result["high"] - result["low"]) / 2
    spread = result["seed_spread"] if np.isfinite(result["seed_spread"]) else np.inf
    return float(max(half, spread))


def describe(result: dict, unit: str = "dB") -> str:
    """``"+0.42 dB [+0.30, +0.55], seed sd 0.08"``: an effect for a table cell."""
    spread = result["seed_spread"]
    sd = f"{spread:.2f}" if np.isfinite(spread) else "-"
    return (f"{result['effect']:+.2f} {unit} [{result['low']:+.2f}, "
            f"{result['high']:+.2f}], seed sd {sd}")
