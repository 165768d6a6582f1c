"""Scoring networks and judging claims: running a trained model on images
(:mod:`~derain.evaluation.inference`), the sets every run is scored on
(:mod:`~derain.evaluation.sets`) and the verdict rule of the claims tables
(:mod:`~derain.evaluation.claims`)."""

from derain.evaluation.claims import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    MARGINAL_DB,
    METRICS,
    NO_GAIN_DB,
    Verdict,
    claims_table,
    format_score,
    score_columns,
    summarise,
)
from derain.evaluation.inference import (
    derain,
    evaluate,
    load_model,
    load_weights,
    pick_device,
    read_checkpoint,
    save_model,
)
from derain.evaluation.sets import evaluation_sets, score

__all__ = [
    "FAILS", "HOLDS", "INCONCLUSIVE", "MARGINAL_DB", "METRICS",
    "NO_GAIN_DB", "Verdict", "claims_table", "derain", "evaluate",
    "evaluation_sets", "format_score", "load_model", "load_weights", "pick_device",
    "read_checkpoint", "save_model", "score", "score_columns", "summarise",
]
