"""What the experiment chapters (6-11) share: the settings every run of them uses,
the runs themselves (trained once, cached, reused across chapters), the rainy
input's scores that every table starts from, and the tables and claims built from
per-seed scores.

The design chapter fixes the settings (:meth:`Study.create`, written to its
``base.json``); the chapters after it read them back (:meth:`Study.load`), so one
change of ``params.yaml`` reaches every experiment chapter through one file. The
settings include where the runs train (the ``executor`` of
:mod:`~derain.training.executors` and a Dask ``scheduler``); the runs' scores do
not depend on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from derain.book.chapters import chapter, stage_dir
from derain.data import SceneTestSet
from derain.evaluation import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    evaluation_sets,
    load_model,
    score,
    score_columns,
    summarise,
)
from derain.evaluation.claims import decide, describe, detectable, paired
from derain.training import load_base, load_runs, make_spec, run_all, run_dir, save_base
from derain.training.runs import per_image

# The stage whose settings and runs the other experiment chapters share.
BASE_STAGE = "design"
# The scenes of the experiment chapters (heavier rain than the main set).
EXPERIMENT_DATA = "experiments"
# The full model of the experiment chapters: all four losses and the dynamic
# fusion, a loss-ablation row that the later chapters reuse.
FULL = "Lr+Lb+Ls+Lv+Dyn"
# The positive control: the same network supervised with the clean background.
SUPERVISED = "supervised, clean target"


@dataclass
class Study:
    """The runs of one experiment chapter.

    ``training`` is the shared ``training`` block (a
    :class:`~derain.config.TrainConfig`'s fields), ``seeds`` the seeds of every
    configuration, ``evaluation`` the sets they are scored on (see
    :func:`~derain.evaluation.evaluation_sets`), ``data_dir`` the rendered scenes
    and ``out_dir`` the chapter's folder.
    """

    training: dict
    seeds: list[int]
    evaluation: dict
    data_dir: Path
    out_dir: Path
    executor: str = "local"
    scheduler: str | None = None
    _floor: dict | None = field(default=None, repr=False)
    # run name here -> (folder of the stage that trained it, its name there)
    _sources: dict = field(default_factory=dict, repr=False)
    # methods without seeds scored per image: name -> set -> per-image scores
    _fixed: dict = field(default_factory=dict, repr=False)
    _claims: list = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, stage: str, training: dict, seeds: list[int], data_root,
               eval_frames: int | None, rain100l_limit: int | None,
               device: str = "auto", executor: str = "local",
               scheduler: str | None = None) -> Study:
        """The settings of the base chapter, written to its ``base.json``; the
        runs train on the experiment scenes of the data stage, through
        ``executor`` (and the Dask cluster at ``scheduler``)."""
        out = stage_dir(stage)
        study = cls(training, list(seeds),
                    evaluation_sets(data_root, eval_frames, rain100l_limit, device),
                    stage_dir("data") / EXPERIMENT_DATA, out, executor, scheduler)
        save_base(out, {"training": training, "seeds": list(seeds),
                        "evaluation": study.evaluation,
                        "data_dir": str(study.data_dir),
                        "executor": executor, "scheduler": scheduler})
        return study

    @classmethod
    def load(cls, stage: str) -> Study:
        """The base chapter's settings, for the chapter of ``stage``."""
        base = load_base(stage_dir(BASE_STAGE))
        out = stage_dir(stage)
        out.mkdir(parents=True, exist_ok=True)
        return cls(base["training"], base["seeds"], base["evaluation"],
                   Path(base["data_dir"]), out, base.get("executor", "local"),
                   base.get("scheduler"))

    def specs(self, configs: dict[str, dict], seed_major: bool = False,
              seeds: list[int] | None = None) -> list[dict]:
        """One spec per configuration and seed, configuration by configuration
        (or seed by seed with ``seed_major``); a configuration is the changes to
        the shared training block (a ``model`` with an ``arch`` replaces the
        network whole instead of being merged into the shared one)."""
        seeds = self.seeds if seeds is None else seeds
        if seed_major:
            order = [(name, seed) for seed in seeds for name in configs]
        else:
            order = [(name, seed) for name in configs for seed in seeds]
        specs = []
        for name, seed in order:
            changes = configs[name]
            merged = {k: v for k, v in changes.items()
                      if not (k == "model" and "arch" in v)}
            spec = make_spec(name, seed, self.training, **merged)
            if "arch" in changes.get("model", {}):
                spec["training"]["model"] = dict(changes["model"])
            specs.append(spec)
        return specs

    def run(self, configs: dict[str, dict], workers: int = 1,
            seed_major: bool = False, seeds: list[int] | None = None
            ) -> pd.DataFrame:
        """Trains (or reads back) every configuration with every seed (or with
        ``seeds``): one row of scores per run, in the order of :meth:`specs`;
        ``workers`` runs at a time on this machine (or, with the Dask executor
        and no scheduler, in a local Dask cluster of that many workers)."""
        return self._run_specs(self.specs(configs, seed_major, seeds), workers)

    def run_each(self, configs: dict[str, tuple[dict, int]], workers: int = 1
                 ) -> pd.DataFrame:
        """Like :meth:`run`, each configuration with a seed of its own
        (``name -> (changes, seed)``), all of them at once."""
        return self._run_specs([self.specs({name: changes}, seeds=[seed])[0]
                                for name, (changes, seed) in configs.items()],
                               workers)

    def _run_specs(self, specs: list[dict], workers: int) -> pd.DataFrame:
        """Trains (or reads back) ``specs`` through this study's executor and
        remembers that their runs are this chapter's."""
        table = run_all(specs, self.out_dir, self.data_dir, self.evaluation,
                        workers=workers, executor_kind=self.executor,
                        scheduler=self.scheduler)
        for name in dict.fromkeys(spec["name"] for spec in specs):
            self._sources[name] = (self.out_dir, name)
        return table

    def reuse(self, names: dict[str, str], stage: str = BASE_STAGE) -> pd.DataFrame:
        """The runs of another chapter, renamed: ``names`` maps their name there
        to the name here."""
        for old, new in names.items():
            self._sources[new] = (stage_dir(stage), old)
        return load_runs(stage_dir(stage), names)

    @property
    def floor(self) -> dict:
        """The rainy input's own scores on the same sets: the floor of every
        table."""
        if self._floor is None:
            self._floor = score(None, self.data_dir, self.evaluation)
        return self._floor

    def scores(self, name: str, metric: str = "psnr", test_set: str = "test"
               ) -> tuple[np.ndarray, list[str]]:
        """Per-seed, per-image scores of run ``name`` on ``test_set``: an array
        (seeds, images) and the image names. ``"rainy input"`` is the input
        itself (one row)."""
        if name == "rainy input":
            images = self.floor["per_image"][test_set]
            return np.array([images[metric]]), images["name"]
        if name in self._fixed:
            images = self._fixed[name][test_set]
            return np.array([images[metric]], dtype=float), images["name"]
        if name not in self._sources:
            raise KeyError(f"no run {name!r} in this chapter (train it with run() "
                           "or read it with reuse())")
        folder, run_name = self._sources[name]
        rows, names = [], None
        for seed in self.seeds:
            images = per_image(folder, run_name, seed)[test_set]
            if names is not None and images["name"] != names:
                raise ValueError(f"{name}: seeds scored on different images")
            names = images["name"]
            rows.append(images[metric])
        return np.array(rows, dtype=float), names

    def compare(self, better: str, worse: str, metric: str = "psnr",
                test_set: str = "test") -> dict:
        """The paired comparison of two runs on the same test images (see
        :func:`~derain.evaluation.claims.paired`): how much ``better`` scores
        above ``worse``."""
        a, names = self.scores(better, metric, test_set)
        b, other = self.scores(worse, metric, test_set)
        if names != other:
            raise ValueError(f"{better} and {worse} were scored on different images")
        # A method without seeds is the same for every seed of the other side.
        if len(b) == 1 and len(a) > 1:
            b = np.repeat(b, len(a), axis=0)
        if len(a) == 1 and len(b) > 1:
            a = np.repeat(a, len(b), axis=0)
        return paired(a, b, names)

    def add_fixed(self, name: str, images: dict, test_set: str = "test") -> None:
        """A method without seeds (time-averaging, a filter) with its per-image
        scores (``{"name", "psnr", "ssim"}`` in the order of the runs' images),
        so that runs can be compared with it like with another run."""
        self._fixed.setdefault(name, {})[test_set] = images

    def describe_gain(self, name: str, test_set: str = "test") -> str:
        """A run's paired gain over the rainy input, for a table cell."""
        return describe(self.compare(name, "rainy input", test_set=test_set))

    def learned(self, name: str, test_set: str = "test") -> tuple[bool, dict]:
        """Whether run ``name`` beats the rainy input by more than its interval
        (the whole interval of its gain above 0): a comparison of two runs that
        learned nothing says nothing."""
        gain = self.compare(name, "rainy input", test_set=test_set)
        return gain["low"] > 0, gain

    def claim(self, key: str, text: str, better: str, worse: str, *,
              direction: int = 1, margin: float = 0.0, reference: str | None = None,
              paper: str = "", test_set: str = "test") -> dict:
        """One row of the chapter's claims table: the paired comparison of
        ``better`` against ``worse`` judged by
        :func:`~derain.evaluation.claims.decide` (``direction``, ``margin``); when
        ``reference`` (default ``better``) did not learn, the verdict is
        inconclusive whatever the difference. ``key`` names the paper's claim
        (:data:`derain.paper.CLAIMS`) the row decides, or is empty."""
        result = self.compare(better, worse, test_set=test_set)
        verdict_ = decide(result, direction, margin)
        note = ""
        reference = better if reference is None else reference
        if reference != "rainy input":
            ok, gain = self.learned(reference, test_set)
            if not ok:
                verdict_ = INCONCLUSIVE
                note = f"; {reference} did not learn ({describe(gain)} over the input)"
        row = {"key": key, "claim": text, "paper": paper,
               "ours": describe(result) + note, "verdict": verdict_,
               "detectable (dB)": round(detectable(result), 2),
               "set": test_set, "chapter": chapter(self.out_dir.name).notebook}
        self._claims.append(row)
        return row

    def claim_all(self, key: str, text: str, rows: list[dict],
                  paper: str = "") -> dict:
        """A claim that is the conjunction of several rows (e.g. "at every r"):
        holds when every row holds, does not hold when any row does not,
        inconclusive otherwise."""
        verdicts = [row["verdict"] for row in rows]
        if all(v == HOLDS for v in verdicts):
            verdict_ = HOLDS
        elif any(v == FAILS for v in verdicts):
            verdict_ = FAILS
        else:
            verdict_ = INCONCLUSIVE
        counts = ", ".join(f"{sum(v == w for v in verdicts)} {w}"
                           for w in (HOLDS, FAILS, INCONCLUSIVE))
        row = {"key": key, "claim": text, "paper": paper,
               "ours": f"{len(rows)} comparisons: {counts}", "verdict": verdict_,
               "detectable (dB)": max(r["detectable (dB)"] for r in rows),
               "set": rows[0]["set"], "chapter": rows[0]["chapter"]}
        self._claims.append(row)
        return row

    def claims(self) -> pd.DataFrame:
        """Every claim this chapter tested, in order."""
        return pd.DataFrame(self._claims, columns=[
            "key", "claim", "paper", "ours", "verdict", "detectable (dB)", "set",
            "chapter"])

    def history(self, name: str, seed: int | None = None) -> dict:
        """The training history (``history.json``) of one of this chapter's runs."""
        seed = self.seeds[0] if seed is None else seed
        folder, run_name = self._sources.get(name, (self.out_dir, name))
        path = run_dir(folder, {"name": run_name, "seed": seed}) / "history.json"
        return json.loads(path.read_text())

    def model(self, name: str, seed: int | None = None, stage: str | None = None):
        """The trained network of run ``name`` (first seed by default), of this
        chapter or of ``stage``."""
        seed = self.seeds[0] if seed is None else seed
        folder = stage_dir(stage) if stage else self.out_dir
        return load_model(run_dir(folder, {"name": name, "seed": seed}) / "model.pt")

    def test_scene(self, index: int = 0):
        """``(name, rainy, clean)`` of a held-out test scene, for figures."""
        for i, item in enumerate(SceneTestSet(self.data_dir, "test", 1)):
            if i == index:
                return item
        raise IndexError(f"no test scene {index}")

    def save_metrics(self, runs: pd.DataFrame, trained: pd.DataFrame,
                     **extra) -> dict:
        """The chapter's ``metrics.json``: every configuration's seed mean
        (:func:`seed_means`), how many runs the chapter trained and their speed,
        and ``extra``."""
        metrics = seed_means(runs)
        metrics["runs_trained_here"] = len(trained)
        metrics["steps_per_second"] = float(trained["steps_per_second"].mean())
        metrics |= extra
        (self.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
        return metrics

    def settings_note(self) -> str:
        return json.dumps(self.training, indent=1)


def score_table(runs: pd.DataFrame, extra=None, rain100l_ssim: bool = True
                ) -> pd.DataFrame:
    """One row per configuration: its seeds and formatted scores (seed mean ±
    half the seed range, see :func:`~derain.evaluation.score_columns`), then the
    columns ``extra(name, summary_row)`` returns."""
    rows = []
    for name, s in summarise(runs).iterrows():
        rows.append({"name": name, "seeds": int(s["seeds"]),
                     **score_columns(s, rain100l_ssim=rain100l_ssim),
                     **(extra(name, s) if extra else {})})
    return pd.DataFrame(rows)


def seed_means(runs: pd.DataFrame, rain100l: bool = False) -> dict[str, float]:
    """``<name>/test_psnr`` (and ``<name>/rain100l_psnr`` with ``rain100l`` when
    scored) of every configuration: a chapter's metrics file."""
    out = {}
    for name, s in summarise(runs).iterrows():
        out[f"{name}/test_psnr"] = float(s["test_psnr"])
        if rain100l and "rain100l_psnr" in s:
            out[f"{name}/rain100l_psnr"] = float(s["rain100l_psnr"])
    return out
