"""The verdict rule of the claims tables and the summaries it reads."""

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
    verdict,
)


def table(values):
    return pd.DataFrame([{"name": n, "seed": i, "test_psnr": v}
                         for n, vs in values.items() for i, v in enumerate(vs)])


def test_verdict_needs_a_difference_beyond_the_seed_range():
    clear = table({"a": [31.0, 31.2], "b": [30.0, 30.1]})
    assert verdict(clear, "a", "b", "test_psnr")["verdict"] == HOLDS
    assert verdict(clear, "b", "a", "test_psnr")["verdict"] == FAILS
    noisy = table({"a": [31.0, 30.0], "b": [30.4, 30.5]})
    result = verdict(noisy, "a", "b", "test_psnr")
    assert result["verdict"] == INCONCLUSIVE and result["spread"] == pytest.approx(1.0)
    # Both stuck at the same value: no spread, but no difference worth a verdict.
    stuck = table({"a": [29.88, 29.88], "b": [29.86, 29.86]})
    assert verdict(stuck, "a", "b", "test_psnr")["verdict"] == INCONCLUSIVE
    assert verdict(stuck, "a", "b", "test_psnr", min_difference=0.01)["verdict"] \
        == HOLDS
    one_seed = table({"a": [35.0], "b": [30.0]})
    assert verdict(one_seed, "a", "b", "test_psnr")["verdict"] == INCONCLUSIVE
    with pytest.raises(KeyError, match="no runs named"):
        verdict(clear, "a", "c", "test_psnr")


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
