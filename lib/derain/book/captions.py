"""Numbered figures and tables with captions, and numbers glued into the prose.

A chapter makes one :class:`Page` (its stage and the parameters it ran with) and
shows every figure and table through it::

    page = Page("loss_ablation", steps=steps, seeds=seeds)
    page.figure(fig, "fig_table6_loss_ablation", "Gain over the rainy input.",
                paper="Table VI", data=gains, params=["steps", "seeds"])
    page.table(table, "table6_loss_ablation", "PSNR/SSIM of every row.",
               paper="Table VI")
    page.number("best_gain", gains.max(), "{:.2f} dB")

In the rendered book the figure is "Fig. 6.1" and the table "Table 6.1", with a
caption that says which item of the paper they reproduce, which DVC stage and
parameters made them, and a link to their data as CSV; the prose points at them
with ``{numref}`fig_table6_loss_ablation``` and pastes the number with
``{glue:text}`best_gain```. Jupyter Book renders each output's ``text/markdown``
(MyST: a ``{figure}`` or ``{table}`` directive); JupyterLab shows its
``text/html`` (the same figure or table with a plain caption).

Missing values never reach a reader as ``NaN`` or ``<NA>``: :func:`readable` and
:func:`readable_frame` write them as :data:`MISSING` ("–"), :meth:`Page.number`
as "not measured".
"""

from __future__ import annotations

import base64
import html
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from derain.book.chapters import stage_dir

MISSING = "–"
NOT_MEASURED = "not measured"

Format = str | Callable[[object], str]
_ROLE = re.compile(r"\{[\w:-]+\}`([^`<]*?)\s*(<[^>]*>)?`")


def is_missing(value) -> bool:
    """None, NaN, ``pd.NA`` and ``NaT``: a value the run did not measure."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and other containers
        return False


def readable(value, fmt: Format | None = None, missing: str = MISSING) -> str:
    """One value as a reader sees it: ``missing`` for None/NaN/<NA>, ``fmt`` (a
    format string such as ``"{:.2f}"`` or a callable) when given, otherwise
    integers as they are and other reals with up to six significant digits
    (``27.134``, ``0.838``, ``1e-05``)."""
    if is_missing(value):
        return missing
    if fmt is not None:
        return fmt(value) if callable(fmt) else fmt.format(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    return str(value)


def readable_frame(frame: pd.DataFrame, formats: Mapping[str, Format] | None = None,
                   missing: str = MISSING) -> pd.DataFrame:
    """A copy of ``frame`` with every cell a string (:func:`readable`; ``formats``
    maps a column to its format). A meaningful index (named, or not the default
    0..n-1) becomes the first column."""
    formats = dict(formats or {})
    if frame.index.name is not None or not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    out = pd.DataFrame(index=range(len(frame)))
    for column in frame.columns:
        fmt = formats.get(column)
        out[str(column)] = [readable(v, fmt, missing) for v in frame[column]]
    return out


def _is_numeric(frame: pd.DataFrame, column) -> bool:
    return pd.api.types.is_numeric_dtype(frame[column]) and \
        not pd.api.types.is_bool_dtype(frame[column])


def markdown_table(frame: pd.DataFrame, right: Iterable[str] = ()) -> str:
    """``frame`` (all cells strings) as a Markdown pipe table; the columns in
    ``right`` (numbers) are right-aligned."""
    right = set(right)

    def cell(text) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---:" if c in right else "---"
                             for c in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _plain(markdown: str) -> str:
    """A caption's MyST markup reduced to text for the notebook view (roles such
    as ``{download}`text <path>``` become their text)."""
    text = _ROLE.sub(r"\1", markdown)
    return text.replace("`", "")


class Page:
    """The figures, tables and numbers of one chapter.

    Args:
        stage: the chapter's DVC stage (its outputs lie under ``results/<stage>``).
        **parameters: the values of the chapter's parameters cell (its section of
            ``params.yaml``), so that a caption can name the ones that made it.

    Attributes:
        out_dir: ``results/<stage>``, where figures and data files are written.
        shown: label -> caption of every figure, table and control shown so far.
        numbers: name -> text of every number glued so far.
    """

    def __init__(self, stage: str, **parameters):
        self.stage = stage
        self.parameters = parameters
        self.out_dir = stage_dir(stage)
        self.shown: dict[str, str] = {}
        self.numbers: dict[str, str] = {}

    # ----------------------------------------------------------------- captions

    def _value(self, key: str):
        """A parameter by name; ``"training.steps"`` reads into nested blocks."""
        value = self.parameters
        for part in key.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise KeyError(f"{self.stage}: no parameter {key!r}; the chapter "
                               f"ran with {sorted(self.parameters)}")
            value = value[part]
        return value

    def made_by(self, params: Iterable[str] | None = None) -> str:
        """"Made by stage `s` with `s.k = v`, …": where a result comes from. Without
        ``params``, the stage's section of ``params.yaml`` as a whole."""
        where = f"Made by stage `{self.stage}` (`dvc repro {self.stage}`)"
        if not params:
            if not self.parameters:  # a stage without parameters of its own
                return f"{where}."
            return f"{where} with its section `{self.stage}` of `params.yaml`."
        values = ", ".join(f"`{self.stage}.{key} = {self._value(key)!r}`"
                           for key in params)
        return f"{where} with {values}."

    def caption(self, text: str, paper: str | None = None,
                params: Iterable[str] | None = None,
                data: Path | None = None) -> str:
        """The full caption: ``text``, the paper item it reproduces, the stage and
        parameters that made it and a download link to its data."""
        parts = [text.strip()]
        if paper:
            parts.append(f"Reproduces the paper's {paper}.")
        parts.append(self.made_by(params))
        if data is not None:
            parts.append(f"{{download}}`Data (CSV) <{self._book_path(data)}>`")
        return " ".join(parts)

    def _book_path(self, path: Path) -> str:
        """The path the book's sources use for a results file (from the book's
        root; the book build copies the file there)."""
        return "/" + Path(path).as_posix().lstrip("/")

    def _label(self, name: str, label: str | None) -> str:
        label = label or name
        if label in self.shown:
            raise ValueError(f"{self.stage}: label {label!r} shown twice")
        return label

    # ------------------------------------------------------------------ figures

    def figure(self, fig, name: str, caption: str, *, paper: str | None = None,
               data: pd.DataFrame | None = None, params: Iterable[str] | None = None,
               label: str | None = None, dpi: int = 110, width: str | None = None
               ) -> None:
        """Saves ``fig`` as ``results/<stage>/<name>.png`` (and ``data``, the
        numbers it draws, as ``<name>.csv`` beside it), closes it, and shows it
        once as a numbered figure whose caption names ``paper`` (e.g. "Fig. 14"),
        the stage and ``params``. ``label`` (default ``name``) is what
        ``{numref}`` points at. Returns nothing, so that a call that ends a
        cell shows nothing more."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        label = self._label(name, label)
        path = self.out_dir / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        plt.close(fig)  # shown once, below, not again by the inline backend
        csv = None
        if data is not None:
            csv = self.out_dir / f"{name}.csv"
            frame = pd.DataFrame(data)
            frame.to_csv(csv, index=not isinstance(frame.index, pd.RangeIndex))
        text = self.caption(caption, paper, params, csv)
        options = f":name: {label}\n" + (f":width: {width}\n" if width else "")
        markdown = (f"```{{figure}} {self._book_path(path)}\n{options}\n{text}\n"
                    "```\n")
        png = base64.b64encode(path.read_bytes()).decode("ascii")
        page_html = (f'<figure><img src="data:image/png;base64,{png}" '
                     f'style="max-width: 100%" alt="{html.escape(name)}"/>'
                     f"<figcaption><b>{html.escape(label)}.</b> "
                     f"{html.escape(_plain(text))}</figcaption></figure>")
        display({"text/markdown": markdown, "text/html": page_html,
                 "text/plain": f"[figure {label}] {_plain(text)}"}, raw=True)
        self.shown[label] = text

    # ------------------------------------------------------------------- tables

    def table(self, frame: pd.DataFrame, name: str, caption: str, *,
              paper: str | None = None, params: Iterable[str] | None = None,
              label: str | None = None, formats: Mapping[str, Format] | None = None,
              csv: bool = True) -> None:
        """Shows ``frame`` as a numbered table (missing values as "–", ``formats``
        per column) whose caption names ``paper`` (e.g. "Table VI"), the stage
        and ``params``; with ``csv`` it is also written, unformatted, to
        ``results/<stage>/<name>.csv`` and the caption links to it."""
        from IPython.display import display

        label = self._label(name, label)
        path = None
        if csv:
            path = self.out_dir / f"{name}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(path, index=not isinstance(frame.index, pd.RangeIndex))
        shown = readable_frame(frame, formats)
        flat = frame.reset_index() if len(shown.columns) > len(frame.columns) \
            else frame
        right = [str(c) for c in flat.columns if _is_numeric(flat, c)]
        text = self.caption(caption, paper, params, path)
        # A table directive's caption is its one-line argument; a tilde fence,
        # as a backtick fence's first line may hold no backticks (the caption's
        # code and roles).
        markdown = (f"~~~{{table}} {' '.join(text.split())}\n:name: {label}\n\n"
                    f"{markdown_table(shown, right)}\n~~~\n")
        body = shown.to_html(index=False, escape=True)
        page_html = body.replace(">", f"><caption><b>{html.escape(label)}.</b> "
                                 f"{html.escape(_plain(text))}</caption>", 1)
        display({"text/markdown": markdown, "text/html": page_html,
                 "text/plain": shown.to_string(index=False)}, raw=True)
        self.shown[label] = text

    # ----------------------------------------------------------------- controls

    def control(self, widget, label: str, caption: str, *,
                paper: str | None = None, params: Iterable[str] | None = None
                ) -> None:
        """Shows ``widget`` (anything with a widget view) as a numbered figure
        with a caption. The widget is glued and pasted by ``{glue:figure}``:
        the book draws it from the page's embedded widget state."""
        from IPython.display import display
        from myst_nb import glue

        label = self._label(label, None)
        text = self.caption(caption, paper, params)
        glue(label, widget, display=False)
        markdown = f"```{{glue:figure}} {label}\n:name: {label}\n\n{text}\n```\n"
        display({"text/markdown": markdown,
                 "text/html": f"<p><b>{html.escape(label)}.</b> "
                              f"{html.escape(_plain(text))} (Shown in the "
                              "rendered book; display the widget to use it "
                              "here.)</p>",
                 "text/plain": f"[control {label}] {_plain(text)}"}, raw=True)
        self.shown[label] = text

    # ------------------------------------------------------------------ numbers

    def number(self, name: str, value, fmt: Format = "{:.2f}",
               missing: str = NOT_MEASURED) -> None:
        """Glues ``value``, formatted, under ``name`` for the prose
        (``{glue:text}`name```); a missing value reads "not measured". The text
        is kept in :attr:`numbers`."""
        from myst_nb import glue

        if name in self.numbers:
            raise ValueError(f"{self.stage}: number {name!r} glued twice")
        text = readable(value, fmt, missing)
        glue(name, text, display=False)
        self.numbers[name] = text

    # ------------------------------------------------------------------- claims

    def claims(self, claims: pd.DataFrame, caption: str, *,
               paper: str | None = None, params: Iterable[str] | None = None,
               name: str = "claims") -> None:
        """Shows a chapter's claims (one row per comparison: ``key``, ``claim``,
        ``verdict``, ``ours``, ``detectable (dB)``, ...) as a numbered table
        written to ``results/<stage>/<name>.csv`` and labelled
        ``claims_<stage>``, and glues for the prose:

        - ``claims_count``, ``claims_holds``, ``claims_fails``,
          ``claims_inconclusive``: how many rows, and how many with each verdict;
        - ``claims_detectable``: the median smallest difference the comparisons
          could decide ("0.42 dB");
        - for every row with a key (a claim of the paper, e.g. ``C6``):
          ``C6_verdict`` and ``C6_ours`` (the measured effect as the table says).
        """
        self.table(claims, name, caption, paper=paper, params=params,
                   label=f"claims_{self.stage}",
                   formats={"detectable (dB)": "{:.2f}"})
        verdicts = claims["verdict"].astype(str)
        self.number("claims_count", len(claims), "{:d}")
        for glued, verdict in [("holds", "holds"), ("fails", "does not hold"),
                               ("inconclusive", "inconclusive")]:
            self.number(f"claims_{glued}", int((verdicts == verdict).sum()), "{:d}")
        detectable = (pd.to_numeric(claims["detectable (dB)"], errors="coerce")
                      .median() if "detectable (dB)" in claims else None)
        self.number("claims_detectable", detectable, "{:.2f} dB")
        for _, row in claims.iterrows():
            key = "" if is_missing(row.get("key")) else str(row.get("key"))
            if key:
                self.number(f"{key}_verdict", row["verdict"], "{}")
                self.number(f"{key}_ours", row["ours"], "{}")
