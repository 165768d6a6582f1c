import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from derain.book import captions  # noqa: E402
from derain.book.captions import (  # noqa: E402
    MISSING,
    Page,
    markdown_table,
    readable,
    readable_frame,
)


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, pd.NA, pd.NaT])
def test_missing_values_read_as_a_dash(value):
    assert readable(value) == MISSING == "–"
    assert readable(value, "{:.2f}", missing="not measured") == "not measured"


def test_readable_numbers():
    assert readable(3) == "3" and readable(np.int64(120_000)) == "120000"
    assert readable(27.134) == "27.134" and readable(2.0) == "2"
    assert readable(0.000012345) == "1.2345e-05"
    assert readable(math.inf) == "∞"
    assert readable(0.83812, "{:.3f}") == "0.838"
    assert readable(0.5, lambda v: f"{v:.0%}") == "50%"
    assert readable("L_b + L_s") == "L_b + L_s" and readable(True) == "True"


def test_readable_frame_has_no_nan_and_keeps_a_named_index():
    frame = pd.DataFrame({"PSNR": [27.1, np.nan], "n": pd.array([3, None],
                                                                dtype="Int64")},
                         index=pd.Index(["a", "b"], name="run"))
    shown = readable_frame(frame, {"PSNR": "{:.2f}"})
    assert list(shown.columns) == ["run", "PSNR", "n"]
    assert shown.to_dict("list") == {"run": ["a", "b"], "PSNR": ["27.10", "–"],
                                     "n": ["3", "–"]}
    text = shown.to_string()
    assert "nan" not in text.lower() and "<NA>" not in text


def test_markdown_table_escapes_and_aligns():
    table = markdown_table(pd.DataFrame({"loss": ["L_b | L_s"], "dB": ["1.0"]}),
                           right=["dB"])
    assert table.splitlines() == ["| loss | dB |", "| --- | ---: |",
                                  "| L_b \\| L_s | 1.0 |"]


@pytest.fixture
def shown(monkeypatch, tmp_path):
    """What the helpers display and glue, with the working folder in tmp_path
    (results/<stage>/ is written there)."""
    monkeypatch.chdir(tmp_path)
    bundles, glued = [], {}
    monkeypatch.setattr("IPython.display.display",
                        lambda data, raw=False, **_: bundles.append(data))
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue",
                        lambda name, value, display=True: glued.update({name: value}))
    return bundles, glued


def test_figure_is_saved_closed_and_captioned(shown, tmp_path):
    bundles, _ = shown
    page = Page("loss_ablation", steps=600, training={"lr": 1e-4, "steps": 50})
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    data = pd.DataFrame({"run": ["a", "b"], "gain": [0.4, np.nan]})
    page.figure(fig, "fig_table6_gain", "Gain over the rainy input.",
                paper="Table VI", data=data, params=["steps", "training.lr"])
    assert not plt.fignum_exists(fig.number)  # shown once, by the helper
    out = tmp_path / "results" / "loss_ablation"
    assert (out / "fig_table6_gain.png").read_bytes().startswith(b"\x89PNG")
    assert pd.read_csv(out / "fig_table6_gain.csv").shape == (2, 2)
    markdown = bundles[0]["text/markdown"]
    assert markdown.startswith(
        "```{figure} /results/loss_ablation/fig_table6_gain.png\n"
        ":name: fig_table6_gain\n")
    for part in ("Gain over the rainy input.", "Reproduces the paper's Table VI.",
                 "Made by stage `loss_ablation` (`dvc repro loss_ablation`)",
                 "`loss_ablation.steps = 600`", "`loss_ablation.training.lr = 0.0001`",
                 "{download}`Data (CSV) </results/loss_ablation/fig_table6_gain.csv>`"):
        assert part in markdown
    html = bundles[0]["text/html"]
    assert html.startswith('<figure><img src="data:image/png;base64,')
    assert "{download}" not in html and "Data (CSV)" in html
    with pytest.raises(ValueError, match="shown twice"):
        page.figure(plt.figure(), "fig_table6_gain", "again")
    with pytest.raises(KeyError, match="no parameter 'seeds'"):
        page.made_by(["seeds"])


def test_table_has_a_number_a_caption_and_no_nan(shown, tmp_path):
    bundles, _ = shown
    page = Page("fusion", fusions=["sum", "product"])
    frame = pd.DataFrame({"fusion": ["sum", "product"], "PSNR": [27.13, np.nan],
                          "runs": pd.array([2, pd.NA], dtype="Int64")})
    page.table(frame, "table7_fusion", "PSNR of each fusion.", paper="Table VII",
               formats={"PSNR": "{:.2f}"})
    csv = pd.read_csv(tmp_path / "results" / "fusion" / "table7_fusion.csv")
    assert csv["PSNR"].isna().tolist() == [False, True]  # the CSV keeps raw data
    markdown = bundles[0]["text/markdown"]
    first, name, blank, *table, end = markdown.rstrip("\n").split("\n")
    assert first.startswith("~~~{table} PSNR of each fusion. Reproduces the "
                            "paper's Table VII. Made by stage `fusion`")
    assert "with its section `fusion` of `params.yaml`" in first
    assert name == ":name: table7_fusion" and blank == "" and end == "~~~"
    assert table == ["| fusion | PSNR | runs |", "| --- | ---: | ---: |",
                     "| sum | 27.13 | 2 |", "| product | – | – |"]
    for view in (bundles[0]["text/html"], bundles[0]["text/plain"]):
        assert "nan" not in view.lower() and "<NA>" not in view
    assert "<caption><b>table7_fusion.</b>" in bundles[0]["text/html"]
    page.table(frame, "table7_more", "No file.", csv=False)
    assert "{download}" not in bundles[1]["text/markdown"]
    assert not (tmp_path / "results" / "fusion" / "table7_more.csv").exists()


def test_numbers_are_glued_formatted_and_never_nan(shown):
    _, glued = shown
    page = Page("train")
    page.number("gain", 0.4321, "{:.2f} dB")
    page.number("missing", float("nan"))
    page.number("runs", 2, "{:d}")
    assert glued == {"gain": "0.43 dB", "missing": "not measured", "runs": "2"}
    assert page.numbers == glued
    with pytest.raises(ValueError, match="glued twice"):
        page.number("gain", 1.0)


def test_control_is_a_glued_numbered_figure(shown):
    bundles, glued = shown
    page = Page("explore", seed=0)
    widget = object()
    page.control(widget, "offline-control", "Precomputed views.", params=["seed"])
    assert glued == {"offline-control": widget}
    assert bundles[0]["text/markdown"].startswith(
        "```{glue:figure} offline-control\n:name: offline-control\n\n"
        "Precomputed views. Made by stage `explore`")


def test_plain_caption_drops_roles():
    assert captions._plain("A {download}`Data (CSV) </r/x.csv>` and `code`.") == \
        "A Data (CSV) and code."


def test_claims_table_glues_counts_and_keyed_verdicts(shown, tmp_path):
    page = Page("fusion")
    claims = pd.DataFrame([
        {"key": "C6", "claim": "a beats b", "paper": "+0.20 dB",
         "ours": "+0.42 dB [+0.30, +0.55], seed sd 0.08", "verdict": "holds",
         "detectable (dB)": 0.3},
        {"key": "", "claim": "b beats c", "paper": "", "ours": "-0.01 dB",
         "verdict": "inconclusive", "detectable (dB)": 0.5}])
    page.claims(claims, "Every comparison.")
    assert "claims_fusion" in page.shown
    assert pd.read_csv(tmp_path / "results" / "fusion" / "claims.csv",
                       keep_default_na=False)["key"].tolist() == ["C6", ""]
    assert page.numbers["claims_count"] == "2"
    assert page.numbers["claims_holds"] == "1"
    assert page.numbers["claims_fails"] == "0"
    assert page.numbers["claims_inconclusive"] == "1"
    assert page.numbers["claims_detectable"] == "0.40 dB"
    assert page.numbers["C6_verdict"] == "holds"
    assert page.numbers["C6_ours"].startswith("+0.42 dB")


def test_a_stage_without_parameters_names_no_section():
    assert Page("what_reproduces").made_by() == \
        "Made by stage `what_reproduces` (`dvc repro what_reproduces`)."


def test_the_book_check_finds_what_has_no_number():
    from book_check import unnumbered

    numbered_table = ('<table><caption><span class="caption-number">Table 1 '
                      '</span>Scores</caption><tr><td>1</td></tr></table>')
    numbered_figure = ('<figure id="f"><img src="a.png"><figcaption><p><span '
                       'class="caption-number">Fig. 2 </span>Gains</p>'
                       '</figcaption></figure>')
    bare = ('<table><tr><td>plain cells</td></tr></table>'
            '<figure><img src="b.png"><figcaption>no number</figcaption></figure>'
            '<p><img src="c.png"></p>')
    page = (f'<html><body><img src="logo.png"><main>{numbered_table}'
            f'{numbered_figure}{bare}</main><img src="footer.png"></body></html>')
    assert unnumbered(page) == ["table: plain cells",
                                "figure: no number", "image: c.png"]
    assert unnumbered(f"<main>{numbered_table}{numbered_figure}</main>") == []
