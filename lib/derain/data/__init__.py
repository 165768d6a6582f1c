"""The data of the book: time-lapse scenes rendered on clean photographs
(:mod:`~derain.data.scenes`), the targets and labels that methods without clean
images train towards (:mod:`~derain.data.targets`), training batches
(:mod:`~derain.data.samplers`) and the sets a network is scored on
(:mod:`~derain.data.folders`)."""

from derain.data.folders import PairedFolder, SceneTestSet, UnpairedFolder
from derain.data.samplers import (
    Rain2AvoidPairs,
    RainOerMePairs,
    TimeLapseFrames,
    shared_frames,
    transfer_rain,
)
from derain.data.scenes import (
    BUNDLED,
    RAIN100L,
    REAL_RAIN,
    SPLITS,
    TEST_SETS,
    TRAIN_SETS,
    Background,
    available_sets,
    collect_backgrounds,
    data_root_summary,
    load_clean,
    load_frames,
    load_manifest,
    render_dataset,
    render_variant,
    rendered_rain,
    rendered_variant,
    scene_statistics,
    scenes_summary,
    set_sizes,
    split_scenes,
    to_channels,
)
from derain.data.targets import (
    coarse_clean_label,
    dominant_orientation,
    ldgp_mask,
    percentile_target,
    single_image_filter,
    temporal_mean,
    temporal_median,
)

__all__ = [
    "BUNDLED", "Background", "PairedFolder", "RAIN100L", "REAL_RAIN",
    "Rain2AvoidPairs", "RainOerMePairs", "SPLITS", "SceneTestSet", "TEST_SETS",
    "TRAIN_SETS", "TimeLapseFrames", "UnpairedFolder", "available_sets",
    "coarse_clean_label", "collect_backgrounds", "data_root_summary",
    "dominant_orientation",
    "ldgp_mask", "load_clean", "load_frames", "load_manifest", "percentile_target",
    "render_dataset", "render_variant", "rendered_rain", "rendered_variant",
    "scene_statistics", "scenes_summary", "set_sizes", "shared_frames",
    "single_image_filter", "split_scenes", "temporal_mean", "temporal_median",
    "to_channels", "transfer_rain",
]
