"""The ``derain`` command: ``predict`` (derain photographs), ``evaluate`` a
checkpoint on paired folders, ``train`` the main run (on several processes or
GPUs with ``--nproc``), run a ``chapter`` (as the DVC stages do), render the
``book``, switch parameter ``profile``, ``params check`` (the schema of
``params.yaml``) and ``data check`` a data folder against the checksums of the
published sets.

Every failure the user can fix ends in one line per problem on stderr,
``derain <command>: error: <problem>``, and exit status 2; Ctrl-C ends in one line
and status 130."""

from __future__ import annotations

import argparse
import json
import math
import sys

DEFAULT_CHECKPOINT = "results/train/model.pt"
def _evaluate(args) -> int:
    from derain.data import PairedFolder
    from derain.evaluation import evaluate, load_model, pick_device

    net = load_model(args.checkpoint, pick_device(args.device))
    pairs = PairedFolder(input_dir=args.input, target_dir=args.target)
    scores = evaluate(net, pairs, progress=not args.json and sys.stderr.isatty())
    if args.json:
        print(json.dumps({k: scores[k] for k in ("psnr", "ssim", "n")}))
        return 0
    width = max(len(r["name"]) for r in scores["per_image"])
    for row in scores["per_image"]:
        value = "inf" if math.isinf(row["psnr"]) else f"{row['psnr']:.2f}"
        print(f"{row['name']:<{width}}  PSNR {value:>6} dB  SSIM {row['ssim']:.4f}")
    print(f"{'mean':<{width}}  PSNR {scores['psnr']:6.2f} dB  "
          f"SSIM {scores['ssim']:.4f}  (n = {scores['n']})")
    return 0


def _train(args) -> int:
    from derain.config import TrainConfig, load_params
    from derain.params import check_params_file
    from derain.training.launch import launch

    check_params_file(args.params)
    section = load_params(args.params)["train"]
    nproc = section["nproc"] if args.nproc is None else args.nproc
    config = TrainConfig(**section["training"])
    if args.steps is not None:
        config = config.replace(steps=args.steps)
    history = launch(config, args.run_dir, args.data_dir, nproc,
                     progress=sys.stderr.isatty())
    if "steps_per_second" in history:  # rank 0, at the end of the run
        print(f"{args.run_dir}: {config.steps} steps on {nproc} process"
              f"{'es' if nproc > 1 else ''}, {history['steps_per_second']:.2f} "
              "steps/s")
    return 0


def _chapter(args) -> int:
    from derain.book.pipeline import run_chapter

    run_chapter(args.stage, params_path=args.params)
    return 0


def _params(args) -> int:
    from derain.params import check_params_file

    params = check_params_file(args.params)
    print(f"{args.params}: valid (profile {params.profile}, data_root "
          f"{params.data_root})")
    return 0


def _book(args) -> int:
    from derain.book.pipeline import build_book
    from derain.config import load_params
    from derain.params import check_params_file

    check_params_file(args.params)
    section = load_params(args.params).get("book", {})
    index = build_book(args.book_dir, args.out, title=section.get("title"))
    print(f"book: {index}")
    return 0


def _profile(args) -> int:
    from derain.config import apply_profile

    apply_profile(args.name, args.params)
    print(f"{args.params}: profile {args.name}")
    return 0


def _data_check(args) -> int:
    from pathlib import Path

    from derain.data.checksums import check_data

    root = Path(args.data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data folder")
    reports = check_data(root, args.manifest)
    shown = f"{root} (-> {root.resolve()})" if root.is_symlink() else str(root)
    print(f"{shown} against {args.manifest}:")
    width = max(len(r.name) for r in reports) + 2
    for report in reports:
        print("  " + report.line(width))
    published = [r.name for r in reports if r.as_published]
    if len(published) == len(reports):
        print("Every set is as published: numbers computed on them are "
              "comparable to the book's.")
        return 0
    print("Comparable to the book's numbers: only what uses "
          + (", ".join(published) if published else "none of the sets")
          + ". The others are absent or differ from the published sets.")
    return 1


def _data_manifest(args) -> int:
    from derain.data.checksums import write_manifest

    count = write_manifest(args.data_root, args.manifest)
    print(f"{args.manifest}: {count} files of {args.data_root}")
    return 0


def _predict(args) -> int:
    from derain.predict import predict_files

    return predict_files(args.inputs, args.output, args.checkpoint, tile=args.tile,
                         overlap=args.overlap, device=args.device,
                         overwrite=args.overwrite)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="derain", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate",
                        help="PSNR/SSIM (Y channel) on input/target folders")
    ev.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ev.add_argument("--input", required=True, help="folder of rainy images")
    ev.add_argument("--target", required=True,
                    help="folder of clean images, same names")
    ev.add_argument("--json", action="store_true", help='print {"psnr", "ssim", "n"}')
    ev.add_argument("--device", default="auto")
    ev.set_defaults(func=_evaluate)

    tr = sub.add_parser("train", help="train the main run (params.yaml's train "
                        "section); data-parallel on N processes with --nproc N")
    tr.add_argument("--params", default="params.yaml")
    tr.add_argument("--nproc", type=int, default=None,
                    help="processes (ranks), one per GPU on a GPU machine "
                    "(default: train.nproc)")
    tr.add_argument("--steps", type=int, default=None,
                    help="steps instead of train.training.steps")
    tr.add_argument("--run-dir", default="results/train", metavar="DIR",
                    help="the run's folder (resumes its checkpoint)")
    tr.add_argument("--data-dir", default="results/data", metavar="DIR",
                    help="the rendered scenes (the data stage's output)")
    tr.set_defaults(func=_train)

    ch = sub.add_parser("chapter", help="execute a chapter (a DVC stage) with "
                        "papermill, its params.yaml section as parameters")
    ch.add_argument("stage", help="the stage, e.g. data or loss_ablation")
    ch.add_argument("--params", default="params.yaml")
    ch.set_defaults(func=_chapter)

    bk = sub.add_parser("book", help="render the book from the executed chapters")
    bk.add_argument("--book-dir", default="book")
    bk.add_argument("--out", default="results/book")
    bk.add_argument("--params", default="params.yaml")
    bk.set_defaults(func=_book)

    pa = sub.add_parser("params", help="check params.yaml against its schema")
    pa.add_argument("action", choices=["check"],
                    help="check: one line per missing, unknown or bad key")
    pa.add_argument("--params", default="params.yaml")
    pa.set_defaults(func=_params)

    pr = sub.add_parser("profile", help="write a parameter profile over params.yaml")
    pr.add_argument("name", help="cpu, smoke or gpu (profiles/<name>.yaml)")
    pr.add_argument("--params", default="params.yaml")
    pr.set_defaults(func=_profile)

    da = sub.add_parser("data", help="check a data folder against the checksums "
                        "of the published data sets")
    da_sub = da.add_subparsers(dest="action", required=True)
    for action, func, text in (
            ("check", _data_check, "say which files are missing or differ from "
             "the published sets (exit 1 when any set is not as published)"),
            ("manifest", _data_manifest, "write the checksums of a data folder "
             "(for maintainers: the published sets)")):
        cmd = da_sub.add_parser(action, help=text)
        cmd.add_argument("--data-root", default="datasets", metavar="DIR",
                         help="the data folder (default: datasets)")
        cmd.add_argument("--manifest", default="datasets.sha256", metavar="FILE")
        cmd.set_defaults(func=func)

    pd = sub.add_parser("predict", help="derain image files and folders into a folder")
    pd.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="image files (PNG, JPEG, TIFF) or folders of them")
    pd.add_argument("--output", required=True, metavar="DIR",
                    help="folder for <stem>.png results (not an input folder)")
    pd.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    pd.add_argument("--tile", type=int, default=512,
                    help="tile side in pixels for large images")
    # 64 px: with 32 a few pixels of a large photo differed from the whole-image
    # result by up to 28 levels (the receptive field is ~180 px), with 64 by 11.
    pd.add_argument("--overlap", type=int, default=64,
                    help="overlap of neighbouring tiles in pixels")
    pd.add_argument("--device", default="auto")
    pd.add_argument("--overwrite", action="store_true",
                    help="replace results already in the output folder (default: "
                    "keep them and say which were skipped)")
    pd.set_defaults(func=_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"derain {args.command}: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
        # ImageError and ParamsError are ValueErrors: one line per problem, each
        # naming the file and the problem.
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        for line in str(message).splitlines() or [type(err).__name__]:
            print(f"derain {args.command}: error: {line}", file=sys.stderr)
        return 2
