"""The verdict rule of the claims tables: paired comparisons over the same test
images, a bootstrap interval over scenes, the seed spread beside it."""

import numpy as np
import pandas as pd
import pytest

from derain.evaluation import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Verdict,
    format_score,
    summarise,
)
from derain.evaluation.claims import (
    bootstrap_interval,
    decide,
    describe,
    detectable,
    paired,
)


def table(values):
    return pd.DataFrame([{"name": n, "seed": i, "test_psnr": v}
                         for n, vs in values.items() for i, v in enumerate(vs)])


def runs(effect, seeds=3, images=60, image_sd=1.0, seed_sd=0.02, seed=0):
    """Per-seed, per-image PSNR of two configurations on the same images: ``b``
    plus ``effect``, each image with its own difficulty, each seed a small
    offset."""
    rng = np.random.default_rng(seed)
    base = rng.normal(28, 2, images)
    a = base + effect + rng.normal(0, image_sd, (seeds, images)) \
        + rng.normal(0, seed_sd, (seeds, 1))
    b = base + rng.normal(0, image_sd, (seeds, images)) \
        + rng.normal(0, seed_sd, (seeds, 1))
    return a, b


def test_a_clear_difference_holds_and_its_reverse_does_not():
    a, b = runs(0.5)
    result = paired(a, b)
    assert result["low"] < result["effect"] < result["high"]
    assert 0.3 < result["effect"] < 0.7 and result["low"] > 0
    assert decide(result) == HOLDS
    assert decide(paired(b, a)) == FAILS
    assert decide(result, direction=-1) == FAILS  # the paper said the opposite


def test_no_difference_is_inconclusive():
    a, b = runs(0.0)
    assert decide(paired(a, b)) == INCONCLUSIVE


def test_a_difference_within_the_seed_spread_decides_nothing():
    # Tight per-image noise (a narrow interval) but seeds that scatter by far more
    # than the effect: the interval alone would decide, the rule must not.
    a, b = runs(0.1, images=400, image_sd=0.05, seed_sd=0.5, seed=3)
    result = paired(a, b)
    assert result["seed_spread"] > abs(result["effect"])
    assert decide(result) == INCONCLUSIVE


def test_one_seed_never_decides():
    a, b = runs(2.0, seeds=1)
    result = paired(a, b)
    assert np.isnan(result["seed_spread"]) and decide(result) == INCONCLUSIVE
    assert detectable(result) == np.inf


def test_a_margin_turns_the_rule_into_a_bound():
    # "at most 0.2 dB worse": a drop of 0.05 dB is within the bound, one of
    # 0.8 dB is not.
    small, ref = runs(-0.05, image_sd=0.2, seed_sd=0.01)
    assert decide(paired(ref, small), direction=-1, margin=-0.2) == HOLDS
    large, ref = runs(-0.8, image_sd=0.2, seed_sd=0.01)
    assert decide(paired(ref, large), direction=-1, margin=-0.2) == FAILS


def test_the_bootstrap_resamples_whole_scenes():
    rng = np.random.default_rng(0)
    # Ten scenes of five frames each; the frames of a scene share its offset.
    offsets = np.repeat(rng.normal(0, 1, 10), 5)
    diffs = offsets + rng.normal(0, 0.05, 50)
    groups = np.repeat(np.arange(10), 5)
    by_image = bootstrap_interval(diffs)
    by_scene = bootstrap_interval(diffs, groups)
    # Treating correlated frames as independent images understates the
    # uncertainty: the scene bootstrap is wider.
    assert (by_scene[1] - by_scene[0]) > 1.5 * (by_image[1] - by_image[0])
    names = [f"s{g}/{k}" for g in range(10) for k in range(5)]
    a = np.stack([diffs, diffs])
    assert paired(a, np.zeros_like(a), names)["low"] == pytest.approx(by_scene[0])


def test_describe_and_detectable():
    result = {"effect": 0.42, "low": 0.3, "high": 0.55, "seed_spread": 0.08}
    assert describe(result) == "+0.42 dB [+0.30, +0.55], seed sd 0.08"
    assert detectable(result) == pytest.approx(0.125)
    with pytest.raises(ValueError, match="not the same images"):
        paired(np.zeros((2, 3)), np.zeros((2, 4)))


def test_summarise_gives_mean_and_range_per_name_in_order():
    out = summarise(table({"z": [1.0, 3.0], "a": [2.0, 2.0]}))
    assert list(out.index) == ["z", "a"]
    assert out.loc["z", "test_psnr"] == 2.0 and out.loc["z", "test_psnr_spread"] == 2.0
    assert out.loc["a", "seeds"] == 2
    assert format_score(31.204, 0.3) == "31.20 ± 0.15"
    assert format_score(np.nan, 0.0) == "-"


def test_verdict_words_are_written_as_plain_words(tmp_path):
    frame = pd.DataFrame({"verdict": [HOLDS, FAILS, INCONCLUSIVE]})
    frame.to_csv(tmp_path / "claims.csv", index=False)
    assert (tmp_path / "claims.csv").read_text().split() == \
        ["verdict", "holds", "does", "not", "hold", "inconclusive"]
    assert f"{Verdict.FAILS}" == "does not hold" and Verdict("holds") is HOLDS


def _curves(gains: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    """Last validation points of budgets: name -> (full gain, supervised gain, s)."""
    rows = []
    for budget, (full, sup, seconds) in gains.items():
        rows += [{"budget": budget, "control": "full", "seed": 0, "step": 10,
                  "seconds": seconds, "val_gain": full},
                 {"budget": budget, "control": "sup", "seed": 0, "step": 10,
                  "seconds": seconds, "val_gain": sup}]
    return pd.DataFrame(rows)


def test_pick_budget_prefers_the_cheapest_within_the_seed_spread():
    from derain.book.tables import pick_budget
    curves = _curves({"chosen": (2.10, 1.9, 60), "900 steps": (2.31, 2.0, 90),
                      "width 4": (1.0, 0.8, 40)})
    # no budget reaches the targets: the largest gain without a tolerance ...
    assert pick_budget(curves, "full", "sup")[0] == "900 steps"
    # ... the cheaper budget once the difference is below the seed spread
    assert pick_budget(curves, "full", "sup", tolerance=0.41)[0] == "chosen"
    # a budget reaching both targets wins whatever the tolerance
    reach = _curves({"chosen": (2.0, 3.1, 60), "900 steps": (2.3, 3.5, 90)})
    assert pick_budget(reach, "full", "sup", tolerance=0.0)[0] == "chosen"
    with pytest.raises(ValueError, match="tolerance"):
        pick_budget(curves, "full", "sup", tolerance=float("nan"))


def test_final_gains_take_the_last_point_of_the_first_seed():
    from derain.book.tables import final_gains
    curves = _curves({"lr 0.001": (2.5, 1.0, 60), "lr 0.0005": (1.5, 0.5, 60)})
    earlier = curves.assign(step=5, val_gain=9.0)  # higher, but not the last point
    later_seed = curves.assign(seed=1, val_gain=-9.0)  # not the first seed
    table = final_gains(pd.concat([earlier, curves, later_seed]).sample(frac=1,
                                                                         random_state=0))
    assert table.loc["lr 0.001", "full"] == 2.5 and table.loc["lr 0.0005", "sup"] == 0.5
    assert table["full"].idxmax() == "lr 0.001"


class _SpreadStudy:
    """What :func:`seed_spread` reads of a study: the input's test PSNR and each
    run's history."""

    floor = {"test_psnr": 26.0}

    def history(self, name, seed):
        return {"val": [{"psnr": 28.0 + 0.1 * seed}]}


def test_seed_spread_counts_runs_at_the_identity_against_the_target():
    from derain.book.tables import seed_spread
    rows = [("chosen", s, p, 60.0) for s, p in
            enumerate([30.0, 30.1, 29.9, 26.2, 30.05, 29.95])]  # seed 3: identity
    rows += [("longer", s, p, 180.0) for s, p in
             enumerate([31.0, 31.1, 30.9, 31.05, 30.95, 31.0])]
    runs = pd.DataFrame(rows, columns=["name", "seed", "test_psnr", "train_seconds"])
    table = seed_spread(_SpreadStudy(), runs, {"chosen": "chosen",
                                               "1800 steps": "longer"}, [0, 1, 2])
    chosen, longer = table.iloc[0], table.iloc[1]
    assert chosen["at the identity"] == 1 and longer["at the identity"] == 0
    assert chosen["seed sd, test (dB)"] > 1.0  # the identity seed dominates
    assert chosen["seed sd, book's seeds (dB)"] == pytest.approx(0.1)
    assert not chosen["sd <= 0.15 dB"] and longer["sd <= 0.15 dB"]
    assert longer["x chosen"] == pytest.approx(3.0)
    assert longer["seeds"] == 6
    # the interval of a six-seed sd holds the estimate, wider above than below
    low, high = (float(v) for v in longer["95 % interval"].strip("[]").split(","))
    sd = longer["seed sd, test (dB)"]
    assert low < sd < high and high - sd > sd - low
    # all seeds at the identity agree without learning: not a met target
    flat = runs.assign(test_psnr=26.0 + 0.01 * runs["seed"])
    assert not seed_spread(_SpreadStudy(), flat, {"chosen": "chosen"},
                           [0, 1, 2]).iloc[0]["sd <= 0.15 dB"]
