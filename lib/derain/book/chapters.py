"""The one list of the book's chapters. Each chapter is a DVC stage of the same
name: its notebook is ``notebooks/<notebook>.py``, its parameters the section
``<stage>`` of ``params.yaml`` and its outputs lie under ``results/<stage>/``.
``dvc.yaml``, the book's table of contents and the tests are checked against this
list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESULTS = Path("results")
NOTEBOOKS = Path("notebooks")


@dataclass(frozen=True)
class Chapter:
    stage: str
    notebook: str
    claims: bool = False  # writes a claims table (``claims.csv``)

    @property
    def source(self) -> Path:
        return NOTEBOOKS / f"{self.notebook}.py"

    @property
    def out_dir(self) -> Path:
        return RESULTS / self.stage

    @property
    def executed(self) -> Path:
        """The executed notebook the book renders."""
        return self.out_dir / f"{self.notebook}.ipynb"


CHAPTERS = (
    Chapter("data", "01_data"),
    Chapter("train", "02_train"),
    Chapter("evaluate", "03_evaluate"),
    Chapter("benchmark", "04_benchmark"),
    Chapter("explore", "05_explore"),
    Chapter("design", "06_design"),
    Chapter("loss_ablation", "07_loss_ablation", claims=True),
    Chapter("fusion", "08_fusion", claims=True),
    Chapter("time_averaging", "09_time_averaging", claims=True),
    Chapter("model_size", "10_model_size", claims=True),
    Chapter("features", "11_features", claims=True),
    Chapter("neighbours", "12_neighbours", claims=True),
    Chapter("what_reproduces", "13_what_reproduces"),
)

# The pages of the book that are not chapters, after them in its table of contents.
BOOK_PAGES = ("reproduce", "library", "references")


def chapter(stage: str) -> Chapter:
    """The chapter of a stage; a clear error for an unknown name."""
    for item in CHAPTERS:
        if item.stage == stage:
            return item
    raise KeyError(f"no chapter {stage!r}; the chapters are "
                   f"{[c.stage for c in CHAPTERS]}")


def stage_dir(stage: str) -> Path:
    """``results/<stage>``: where a stage writes, and where the stages after it
    read its outputs."""
    return chapter(stage).out_dir
