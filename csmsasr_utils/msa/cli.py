"""``csmsasr msa …``: the multimodal-sentiment commands of the command line.

csmsasr msa run --models all --seeds 1111 1112 --protocol paper --budget full --results R.jsonl
csmsasr msa run --models MFN --units-at-once 5 --results R.jsonl    (five seeds as one stacked model)
csmsasr msa run --models ALMT --text-encoder e5 --budget smoke --results R.jsonl   (real-text mode)
csmsasr msa summary R.jsonl        mean ± std of the test metrics per model
csmsasr msa text-baselines         the real text-only baselines on the public transcripts
csmsasr msa finetune-text          e5 fine-tuned on the transcripts, fold by fold (results file)
csmsasr msa params                 each model's trainable parameters at CS-MSASR's sizes
"""

from __future__ import annotations

import argparse

from csmsasr_utils.encoders.text_features import TEXT_ENCODERS
from csmsasr_utils.msa.hparams import MODEL_NAMES, SEEDS


def _models(names: list[str]) -> list[str]:
    return list(MODEL_NAMES.values()) if names == ["all"] else names


def _units_at_once(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {value!r}")
    return number


def _run(args: argparse.Namespace) -> int:
    from csmsasr_utils.msa.registry import unavailable_reason
    from csmsasr_utils.msa.runner import DataSpec, plan_units, run_units, summarize

    models = []
    for name in _models(args.models):
        reason = None if args.text_encoder else unavailable_reason(name)  # with a text encoder ALMT uses it
        if reason:
            print(f"skipping {name}: {reason}")
        else:
            models.append(name)
    units = plan_units(models, args.seeds, args.protocol)
    spec = DataSpec(
        features_path=args.features,
        public_dir=args.public_dir,
        max_clips=args.max_clips,
        text_encoder=args.text_encoder,
    )
    results = run_units(
        units,
        args.results,
        spec,
        budget=args.budget,
        device=args.device,
        workers=args.workers,
        dask_address=args.dask,
        units_at_once=args.units_at_once,
    )
    print(f"{len(results)} unit(s) of {len(units)} in {args.results}")
    if len(results):
        print(summarize(results).round(4).to_string())
        if "units_at_once" in results:  # rows written before units could train together lack these
            memory = results.groupby("model", sort=False)[["units_at_once", "peak_memory_mb"]].max()
            print("units trained at once, and the peak memory of the process (MB):")
            print(memory.to_string())
    return 0


def _summary(args: argparse.Namespace) -> int:
    from csmsasr_utils.msa.runner import ResultsFile, results_frame, summarize

    frame = results_frame(ResultsFile(args.results).rows())
    for (budget, protocol, source), group in frame.groupby(["budget", "protocol", "data_source"]):
        print(f"\n{protocol} protocol, budget {budget}, data: {source}")
        print(summarize(group).round(4).to_string())
    return 0


def _text_baselines(args: argparse.Namespace) -> int:
    from csmsasr_utils.data import load_metadata, protocol_splits
    from csmsasr_utils.msa.bert_tokens import wordpiece_tokenizer
    from csmsasr_utils.msa.text_baselines import evaluate_text_baselines, text_baselines

    metadata = load_metadata(args.public_dir)
    splits = protocol_splits(metadata, args.protocol)
    rows = evaluate_text_baselines(
        metadata, splits, args.protocol, text_baselines(wordpiece_tokenizer(args.public_dir), args.encoders)
    )
    metrics = [c for c in rows.columns if c.startswith("test_") and c not in ("test_clip_ids", "test_predictions")]
    print(f"text-only baselines, {args.protocol} protocol, real transcripts and labels (public metadata)")
    print(rows.groupby("model", sort=False)[metrics].mean().round(4).to_string())
    if args.output:
        rows.to_json(args.output, orient="records", lines=True, force_ascii=False)
    return 0


def _finetune_text(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from csmsasr_utils.data import load_metadata, protocol_splits
    from csmsasr_utils.encoders.finetune import TextFinetuneConfig, finetune_folds
    from csmsasr_utils.msa.report import mean_std_table

    metadata = load_metadata(args.public_dir)
    config = TextFinetuneConfig(epochs=args.epochs, seed=args.seed, max_steps=args.max_steps)
    command = "csmsasr " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    rows = finetune_folds(
        metadata, protocol_splits(metadata, args.protocol), args.protocol, args.results, config, command=command
    )
    print(f"e5 fine-tuned, {args.protocol} protocol, {len(rows)} fold(s) in {args.results}")
    if len(rows):
        print(mean_std_table(rows).to_string())
    return 0


def _params(args: argparse.Namespace) -> int:
    import pandas as pd

    from csmsasr_utils.msa.registry import model_overview

    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(model_overview(args.public_dir).to_string())
    return 0


def add_msa_commands(groups: argparse._SubParsersAction) -> None:
    """Register ``csmsasr msa run|summary|text-baselines|params`` on the main parser."""
    msa = groups.add_parser("msa", help="multimodal sentiment baselines").add_subparsers(dest="command", required=True)

    run = msa.add_parser("run", help="train and test baselines (resumable; one row per model × seed × fold)")
    run.add_argument("--models", nargs="+", default=["all"], help="model names, or 'all' (default)")
    run.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS), help="default: MMSA's 1111–1115")
    run.add_argument("--protocol", choices=["paper", "official"], default="paper")
    run.add_argument(
        "--budget",
        choices=["smoke", "book", "full"],
        default="full",
        help="smoke: one epoch; book: at most 6 epochs; full: MMSA's early stopping",
    )
    run.add_argument("--results", required=True, help="JSON-lines results file (appended, resumable)")
    run.add_argument("--features", default=None, help="feature pickle (default: CSMSASR_FEATURES, else the demo)")
    run.add_argument("--public-dir", default=None, help="folder of the public metadata")
    run.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="local worker processes, each with cores / N threads, more once others have finished "
        "(with --units-at-once auto, the units of a stacked model are spread over them)",
    )
    run.add_argument("--dask", default=None, metavar="ADDRESS", help="submit units to this Dask scheduler")
    run.add_argument(
        "--units-at-once",
        type=_units_at_once,
        default="auto",
        metavar="K",
        help="train up to K units of one model (its seeds × folds) as one stacked model, each as if alone "
        "(auto: what half the free memory holds, where stacking is faster on the device; 1: one at a time)",
    )
    run.add_argument("--max-clips", type=int, default=None, help="keep this many clips per split (smoke tests)")
    run.add_argument(
        "--text-encoder",
        choices=list(TEXT_ENCODERS),
        default=None,
        help="real-text feature mode: this encoder's token states of the transcripts replace the "
        "file's text features, and ALMT fine-tunes it in place of bert-base-chinese",
    )
    run.set_defaults(func=_run)

    summary = msa.add_parser("summary", help="mean ± std of a results file's test metrics")
    summary.add_argument("results")
    summary.set_defaults(func=_summary)

    text = msa.add_parser("text-baselines", help="text-only baselines on the real public transcripts")
    text.add_argument("--protocol", choices=["paper", "official", "video"], default="official")
    text.add_argument("--public-dir", default=None)
    text.add_argument(
        "--encoders",
        nargs="*",
        default=["e5", "use"],
        choices=["e5", "use"],
        help="sentence-embedding baselines to add (default: both; none with an empty list)",
    )
    text.add_argument("--output", default=None, help="write the per-fold rows as JSON lines")
    text.set_defaults(func=_text_baselines)

    tune = msa.add_parser(
        "finetune-text",
        help="fine-tune e5 as a sentiment regressor on the real transcripts, one row per fold (resumable)",
    )
    tune.add_argument("--protocol", choices=["paper", "official", "video"], default="official")
    tune.add_argument("--results", default="results/msa/e5_finetuned.jsonl", help="JSON-lines results file")
    tune.add_argument("--epochs", type=int, default=3)
    tune.add_argument("--seed", type=int, default=1111)
    tune.add_argument("--max-steps", type=int, default=None, help="stop each fold after this many steps (tests)")
    tune.add_argument("--public-dir", default=None)
    tune.set_defaults(func=_finetune_text)

    params = msa.add_parser("params", help="each model's input, settings and trainable parameters")
    params.add_argument("--public-dir", default=None, help="folder of the public files (bert-base-chinese config)")
    params.set_defaults(func=_params)
