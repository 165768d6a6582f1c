"""The sets every experiment run is scored on: the held-out synthetic test scenes
always, Rain100L when the data root holds it. An ``evaluation`` dict names them
(it is stored with each run's scores, so a changed evaluation rescores)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from derain.data import RAIN100L, PairedFolder, SceneTestSet
from derain.evaluation.inference import evaluate


def evaluation_sets(data_root: str | Path, eval_frames: int | None,
                    rain100l_limit: int | None, device: str = "auto") -> dict:
    """``{"eval_frames", "rain100l", "rain100l_limit", "device"}``: the frames of
    each synthetic test scene scored (None: all), the Rain100L folder under
    ``data_root`` (None when absent) and how many of its pairs to score."""
    folder = Path(data_root) / RAIN100L if data_root else None
    present = folder is not None and (folder / "input").is_dir()
    return {"eval_frames": eval_frames,
            "rain100l": str(folder) if present else None,
            "rain100l_limit": rain100l_limit, "device": device}


def score(net: nn.Module | None, data_dir: str | Path, evaluation: dict) -> dict:
    """PSNR/SSIM (Y channel) of ``net`` on the sets of ``evaluation``;
    ``net=None`` scores the rainy input itself, the floor of every table.
    Returns ``test_psnr``, ``test_ssim``, ``test_n`` and the same for
    ``rain100l_*`` when that set is present, and under ``per_image`` each set's
    image names and per-image scores (what the paired comparisons use)."""
    test = evaluate(net, SceneTestSet(data_dir, "test", evaluation["eval_frames"]),
                    progress=False)
    row = {"test_psnr": test["psnr"], "test_ssim": test["ssim"], "test_n": test["n"]}
    images = {"test": _per_image(test)}
    if evaluation.get("rain100l"):
        r100 = evaluate(net, PairedFolder(evaluation["rain100l"],
                                          limit=evaluation.get("rain100l_limit")),
                        progress=False)
        row.update(rain100l_psnr=r100["psnr"], rain100l_ssim=r100["ssim"],
                   rain100l_n=r100["n"])
        images["rain100l"] = _per_image(r100)
    row["per_image"] = images
    return row


def _per_image(scores: dict) -> dict:
    return {key: [r[key] for r in scores["per_image"]]
            for key in ("name", "psnr", "ssim")}


def score_sets(nets: dict, sets: dict[str, Path], limits: dict[str, int | None]
               ) -> list[dict]:
    """Every network on every paired set: ``nets`` maps ``(name, seed)`` to a
    network, ``sets`` a set's name to its folder (``input/`` + ``target/``),
    ``limits`` a set's name to the pairs scored (absent: all). One row
    ``{"name", "seed", "set", "psnr", "ssim"}`` per network and set."""
    rows = []
    for (name, seed), net in nets.items():
        for set_name, folder in sets.items():
            scores = evaluate(net, PairedFolder(folder, limit=limits.get(set_name)),
                              progress=False)
            rows.append({"name": name, "seed": seed, "set": set_name,
                         "psnr": scores["psnr"], "ssim": scores["ssim"]})
    return rows
