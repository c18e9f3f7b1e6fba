"""The ``csmsasr`` command line: one entry point for the whole package.

csmsasr data fetch                 download (and hash-check) the public metadata
csmsasr data check PATH            validate a feature pickle and summarise it
csmsasr data demo PATH [--full]    write the synthetic demo as a pickle
csmsasr data info                  show which data load_dataset() would use
csmsasr data fingerprint           a hash of that choice (the book's cache key)
csmsasr asr transcribe [--split test] [--decoding greedy]   Whisper-base + CER on an ASR split
csmsasr asr train [--model ctc|hmm-gmm|svm]   train and test a recogniser on the official split
csmsasr asr synth [--split all]    write the synthetic speech of the transcripts (Kokoro-82M, varied)
csmsasr asr benchmark              every recogniser on the whole test split → results/asr/benchmark.jsonl
csmsasr asr finetune [--model whisper-base] [--epochs 5]   fine-tune Whisper (the authors' recipe)
csmsasr msa run|summary|text-baselines|finetune-text|params   multimodal sentiment baselines (see msa.cli)
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from csmsasr_utils.asr.training_config import FinetuneConfig, TrainConfig
from csmsasr_utils.errors import CsmsasrError, PublicDataUnavailable


def _fetch(args: argparse.Namespace) -> int:
    from csmsasr_utils.data.sources import REGISTRY, cache_dir, fetch_public_file
    from csmsasr_utils.progress import progress

    print(f"public metadata → {args.public_dir or cache_dir()}")
    bar = progress(list(REGISTRY), desc="public files", unit="file")
    for relpath in bar:
        path = fetch_public_file(relpath, args.public_dir)
        bar.write(f"  ok  {relpath}  ({path.stat().st_size:,} bytes, sha256 verified)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from csmsasr_utils.data.features import load_features
    from csmsasr_utils.data.labels import CLASS_NAMES, mmsa_bins
    from csmsasr_utils.data.metadata import load_metadata
    from csmsasr_utils.errors import (
        FeatureFileError,
        FeatureValidationError,
        UnsafePickleError,
    )

    known = None
    try:
        known = load_metadata(args.public_dir)["clip_id"]
    except PublicDataUnavailable as err:
        print(f"note: public metadata unavailable ({err}); clip ids are checked for form only")
    try:
        features = load_features(args.path, known_clip_ids=known)
    except (FeatureFileError, UnsafePickleError) as err:
        print(f"PROBLEM: {err}")
        return 1
    except FeatureValidationError as err:
        print(f"{len(err.problems)} problem(s) found in {args.path}:")
        for problem in err.problems:
            print(f"  - {problem}")
        return 1
    print(f"file:    {args.path}")
    print(
        f"layout:  {features.layout}"
        + (
            f" ({', '.join(f'{s}={int((features.source_split == s).sum())}' for s in ('train', 'valid', 'test'))})"
            if features.source_split is not None
            else ""
        )
    )
    print(f"clips:   {len(features)}")
    for modality in ("text", "audio", "vision"):
        array = getattr(features, modality)
        print(f"{modality:7s}: shape {array.shape}, {array.dtype}, {array.nbytes / 1e6:,.1f} MB")
    for name in ("audio", "vision"):
        lengths = getattr(features, f"{name}_lengths")
        print(f"{name}_lengths: min {lengths.min()}, median {int(np.median(lengths))}, max {lengths.max()}")
    print("text_bert: " + ("present" if features.text_bert is not None else "absent"))
    print("labels (5-class counts, " + " / ".join(CLASS_NAMES) + "):")
    for name, values in features.labels.items():
        counts = np.bincount(mmsa_bins(values, 5), minlength=5)
        print(f"  {name}: " + " / ".join(str(c) for c in counts))
    for note in features.notes:
        print(f"note: {note}")
    print("problems found: none")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from csmsasr_utils.data.demo import DEMO_SEQ_LENS, FULL_SEQ_LENS, save_demo

    path = save_demo(
        args.path, seed=args.seed, n_clips=args.n_clips, seq_lens=FULL_SEQ_LENS if args.full else DEMO_SEQ_LENS
    )
    print(f"wrote synthetic demo features (NOT real data) to {path} ({path.stat().st_size / 1e6:,.1f} MB)")
    return 0


def _info(args: argparse.Namespace) -> int:
    from csmsasr_utils import settings
    from csmsasr_utils.data.dataset import load_dataset

    print("settings (environment variables):")
    for row in settings.describe():
        print(f"  {row['name']:<24} {row['value']}")
    dataset = load_dataset(public_dir=args.public_dir)
    print(dataset)
    print(dataset.provenance_table().to_string(index=False))
    for note in dataset.notes:
        print(f"note: {note}")
    return 0


def _fingerprint(args: argparse.Namespace) -> int:
    from csmsasr_utils.data.dataset import data_fingerprint

    print(data_fingerprint(args.public_dir))
    return 0


def _asr_clips(args: argparse.Namespace):
    """Metadata, and the clips of one official ASR split with audio (real or synthetic)."""
    from csmsasr_utils.asr.speech_source import audio_for_clips
    from csmsasr_utils.data.metadata import load_metadata
    from csmsasr_utils.data.sources import cache_dir

    meta = load_metadata(args.public_dir)
    rows = meta[meta["asr_split_official"] == args.split]
    if args.limit:
        rows = rows.head(args.limit)
    clips, label = audio_for_clips(rows, cache_dir(), args.audio_dir)
    return meta, clips, label


def _asr_transcribe(args: argparse.Namespace) -> int:
    from csmsasr_utils.asr.engines.whisper_ct2 import default_whisper
    from csmsasr_utils.asr.metrics import corpus_scores
    from csmsasr_utils.asr.speech_source import audio_kind
    from csmsasr_utils.asr.transcribe import transcribe_clips
    from csmsasr_utils.data.sources import cache_dir

    meta, clips, label = _asr_clips(args)
    if args.engine == "whisper-ct2":
        engine = default_whisper(cache_dir() / "models", args.model_dir, args.decoding, allow_download=args.online)
    else:
        if args.model_dir is None:
            raise CsmsasrError(f"--engine {args.engine} needs --model-dir (a local folder or, online, a hub id)")
        if args.engine == "paraformer":
            from csmsasr_utils.asr.engines.paraformer import ParaformerEngine

            engine = ParaformerEngine(args.model_dir, online=args.online)
        else:
            from csmsasr_utils.asr.engines.hf import HFWhisperEngine, Wav2Vec2Engine

            engine = (
                HFWhisperEngine(args.model_dir, num_beams=1 if args.decoding == "greedy" else 5)
                if args.engine == "hf-whisper"
                else Wav2Vec2Engine(args.model_dir)
            )
    out = cache_dir() / "asr" / f"{engine.name}-{args.split}-{audio_kind(label)}.tsv"
    result = transcribe_clips(engine, clips, dict(zip(meta["clip_id"], meta["text"])), out)
    scores = corpus_scores(result["reference"], result["hypothesis_raw"], result["clip_id"])
    print(
        f"{engine.name} on {len(result)} {args.split} clips ({label}): CER {scores['cer']:.2%}, "
        f"S/D/I {scores['substitutions']}/{scores['deletions']}/{scores['insertions']}, transcripts in {out}"
    )
    return 0


def _asr_train(args: argparse.Namespace) -> int:
    from csmsasr_utils.asr import ctc
    from csmsasr_utils.asr.benchmark import TRAINERS
    from csmsasr_utils.asr.metrics import corpus_scores
    from csmsasr_utils.asr.transcribe import transcribe_clips

    if args.model == "ctc":  # checked before any audio is read or synthesised
        config = TrainConfig(
            epochs=args.epochs, max_steps=args.max_steps, patience=args.patience or None, seed=args.seed
        )
    args.split = "train"
    meta, train, label = _asr_clips(args)
    texts = dict(zip(meta["clip_id"], meta["text"]))
    paths, train_texts = train["path"].tolist(), [texts[c] for c in train["clip_id"]]
    if args.model == "ctc":
        validation = None
        if config.patience:  # the validation split's clips decide when to stop
            args.split = "validation"
            _, valid, _ = _asr_clips(args)
            validation = (valid["path"].tolist(), [texts[c] for c in valid["clip_id"]])
        model = ctc.train_ctc(paths, train_texts, config, validation=validation)
        done = (
            f"trained {model.history[-1]['steps']} steps ({label}), kept epoch {model.best_epoch} of "
            f"{len(model.history)}; its loss {model.history[model.best_epoch - 1]['loss']:.3f}"
        )
    else:
        model, _ = TRAINERS[args.model](paths, train_texts, {"seed": args.seed})
        done = f"trained {args.model} on {len(paths)} clips ({label})"
    path = model.save(args.output or f"{args.model}-model")
    args.split = "test"
    _, test, _ = _asr_clips(args)
    result = transcribe_clips(model, test, texts, path.with_suffix(".test.tsv"))
    scores = corpus_scores(result["reference"], result["hypothesis_raw"])
    print(f"{done}; test CER {scores['cer']:.2%} on {len(result)} clips; model in {path}")
    return 0


def _asr_synth(args: argparse.Namespace) -> int:
    from csmsasr_utils.asr import tts
    from csmsasr_utils.asr.benchmark import split_rows
    from csmsasr_utils.data.metadata import load_metadata
    from csmsasr_utils.data.sources import cache_dir

    meta = load_metadata(args.public_dir)
    splits = ["train", "validation", "test"] if args.split == "all" else [args.split]
    for split in splits:
        rows = split_rows(meta, split, args.limit)
        clips = tts.synthesize_speech(
            rows["clip_id"].tolist(),
            rows["text"].tolist(),
            cache_dir(),
            engine=args.engine,
            ranges=None if args.plain else tts.VariationRanges(seed=args.seed),
        )
        print(
            f"{split}: {len(clips)} clips, {clips['duration_s'].sum():.1f} s of speech in "
            f"{Path(clips['path'].iloc[0]).parent}"
        )
    return 0


def _asr_benchmark(args: argparse.Namespace) -> int:
    from csmsasr_utils.asr.benchmark import RECOGNISERS, benchmark_table, run_benchmark
    from csmsasr_utils.data.metadata import load_metadata
    from csmsasr_utils.data.sources import cache_dir

    meta = load_metadata(args.public_dir)
    keys = [r.key for r in RECOGNISERS] if args.recognisers == "all" else args.recognisers.split(",")
    command = "csmsasr " + " ".join(shlex.quote(a) for a in args.argv)
    run_benchmark(
        keys,
        args.results,
        meta,
        cache_dir(),
        audio_dir=args.audio_dir,
        train_limit=args.train_limit,
        test_limit=args.limit,
        seed=args.seed,
        command=command,
        model_dir=args.model_dir,
    )
    from csmsasr_utils.asr.benchmark import BenchmarkResults

    table = benchmark_table(
        list(BenchmarkResults(args.results).latest().values()), dict(zip(meta["clip_id"], meta["text"]))
    )
    print(table.drop(columns=[c for c in ("needs",) if c in table]).to_string(index=False))
    return 0


def _asr_finetune(args: argparse.Namespace) -> int:
    from csmsasr_utils.asr.finetune import Clips, finetune_whisper
    from csmsasr_utils.data.sources import cache_dir

    if args.model == "whisper-base":
        from csmsasr_utils.asr.ct2_to_hf import whisper_base_hf

        model_dir = whisper_base_hf(cache_dir())
    else:
        model_dir = args.model
    splits = {}
    for split in ("train", "validation", "test"):
        args.split = split
        meta, clips, label = _asr_clips(args)
        texts = dict(zip(meta["clip_id"], meta["text"]))
        splits[split] = Clips.from_files(clips["clip_id"], clips["path"], [texts[c] for c in clips["clip_id"]])
    config = FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_steps=args.max_steps,
        label_prefix=args.label_prefix,
        select=args.select,
        train_encoder=not args.decoder_only,
        gradient_checkpointing=not args.decoder_only,
    )
    row = finetune_whisper(
        model_dir,
        splits["train"],
        splits["validation"],
        splits["test"],
        args.output,
        config,
        device=args.device,
        data_source=label,
    )
    print(
        f"{label}: test CER {row['test_cer_before']:.2%} before, {row['test_cer_after']:.2%} after "
        f"{row['steps']} steps (best epoch {row['best_epoch']}); model in {args.output}/best, "
        f"results in {args.output}/results.jsonl"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``csmsasr`` (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="csmsasr", description="Tools for the CS-MSASR book.")
    groups = parser.add_subparsers(dest="group", required=True)
    data = groups.add_parser("data", help="get, check and describe data").add_subparsers(dest="command", required=True)

    fetch = data.add_parser("fetch", help="download the public metadata (hash-checked) into the cache")
    fetch.add_argument("--public-dir", default=None, help="verify a local folder instead of downloading")
    fetch.set_defaults(func=_fetch)

    check = data.add_parser("check", help="validate a feature pickle and print a summary")
    check.add_argument("path")
    check.add_argument("--public-dir", default=None, help="folder of public metadata (default: env or cache)")
    check.set_defaults(func=_check)

    demo = data.add_parser("demo", help="write the synthetic demo features as a pickle")
    demo.add_argument("path")
    demo.add_argument("--full", action="store_true", help="real padded lengths 39/553/321 (≈ 645 MB)")
    demo.add_argument("--seed", type=int, default=20240601)
    demo.add_argument("--n-clips", type=int, default=None)
    demo.set_defaults(func=_demo)

    info = data.add_parser("info", help="show which data load_dataset() uses here")
    info.add_argument("--public-dir", default=None)
    info.set_defaults(func=_info)

    fingerprint = data.add_parser("fingerprint", help="hash of the data the book would use (for build caches)")
    fingerprint.add_argument("--public-dir", default=None)
    fingerprint.set_defaults(func=_fingerprint)

    from csmsasr_utils.msa.cli import add_msa_commands

    add_msa_commands(groups)

    asr = groups.add_parser("asr", help="speech recognition").add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--audio-dir",
        default=None,
        help="folder of <clip_id>.wav (default: CSMSASR_AUDIO_DIR; "
        "without it, synthetic speech: Kokoro-82M, else espeak-ng)",
    )
    common.add_argument("--public-dir", default=None)
    common.add_argument("--limit", type=int, default=None, help="only the first N clips of each split")
    transcribe = asr.add_parser(
        "transcribe", parents=[common], help="a recogniser (Whisper by default) on an official ASR split, with CER"
    )
    transcribe.add_argument("--split", default="test", choices=["train", "validation", "test"])
    transcribe.add_argument(
        "--engine",
        default="whisper-ct2",
        choices=["whisper-ct2", "hf-whisper", "wav2vec2", "paraformer"],
        help="faster-whisper (default), transformers' Whisper, a wav2vec 2.0 CTC model, or a FunASR Paraformer",
    )
    transcribe.add_argument(
        "--model-dir",
        default=None,
        help="a CTranslate2 Whisper folder (default: Whisper-base "
        "from the installed wheels); for the other engines a local model folder or a hub id "
        "(Paraformer downloads only with --online)",
    )
    transcribe.add_argument("--decoding", default="greedy", choices=["greedy", "beam5_fallback"])
    transcribe.add_argument("--online", action="store_true", help="allow downloading weights from the hub")
    transcribe.set_defaults(func=_asr_transcribe)
    train = asr.add_parser(
        "train", parents=[common], help="train a recogniser (CTC, HMM-GMM or MFCC+SVM) on the official train split"
    )
    train.add_argument("--model", default="ctc", choices=["ctc", "hmm-gmm", "svm"])
    train.add_argument(
        "--epochs",
        type=int,
        default=TrainConfig.epochs,
        help="CTC only: at most this many epochs (default %(default)s)",
    )
    train.add_argument(
        "--patience",
        type=int,
        default=TrainConfig.patience,
        help="CTC only: stop once the validation split's CER has not improved for this many epochs "
        "(default %(default)s; 0: no validation, train all --epochs)",
    )
    train.add_argument("--max-steps", type=int, default=TrainConfig.max_steps, help="CTC only: at most this many steps")
    train.add_argument("--seed", type=int, default=TrainConfig.seed)
    train.add_argument("--output", default=None, help="where the model is saved (default: <model>-model)")
    train.set_defaults(func=_asr_train)
    synth = asr.add_parser("synth", help="write the synthetic speech of an official ASR split (cached)")
    synth.add_argument("--split", default="all", choices=["all", "train", "validation", "test"])
    synth.add_argument(
        "--engine",
        default=None,
        choices=["kokoro", "espeak"],
        help="default: Kokoro-82M when installed, else espeak-ng",
    )
    synth.add_argument("--plain", action="store_true", help="no per-clip variation (one voice, no noise or room)")
    synth.add_argument("--seed", type=int, default=0, help="seed of the per-clip variation")
    synth.add_argument("--limit", type=int, default=None, help="only N clips of each split (seeded order)")
    synth.add_argument("--public-dir", default=None)
    synth.set_defaults(func=_asr_synth)
    bench = asr.add_parser(
        "benchmark",
        help="the authors' recognisers on the whole official test split, one results row each (the table of chapter 5)",
    )
    bench.add_argument(
        "--recognisers",
        default="all",
        help="comma-separated: hmm-gmm,svm,ctc,whisper-greedy,whisper-beam5 (default all)",
    )
    bench.add_argument("--results", default="results/asr/benchmark.jsonl")
    bench.add_argument("--train-limit", type=int, default=None, help="train on N training clips (seeded order)")
    bench.add_argument("--limit", type=int, default=None, help="only N test clips (seeded order)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--model-dir", default=None, help="save the trained models here")
    bench.add_argument("--audio-dir", default=None, help="folder of <clip_id>.wav (default: CSMSASR_AUDIO_DIR)")
    bench.add_argument("--public-dir", default=None)
    bench.set_defaults(func=_asr_benchmark)
    tune = asr.add_parser(
        "finetune",
        parents=[common],
        help="fine-tune a transformers Whisper on the official train split (the authors' recipe)",
    )
    tune.add_argument(
        "--model",
        default="whisper-base",
        help="a transformers Whisper folder, or whisper-base (converted from the installed wheels)",
    )
    tune.add_argument("--epochs", type=int, default=FinetuneConfig.epochs, help="default %(default)s")
    tune.add_argument("--batch-size", type=int, default=FinetuneConfig.batch_size, help="default %(default)s")
    tune.add_argument("--learning-rate", type=float, default=FinetuneConfig.learning_rate, help="default %(default)s")
    tune.add_argument(
        "--max-steps", type=int, default=FinetuneConfig.max_steps, help="stop after this many optimiser steps"
    )
    tune.add_argument(
        "--label-prefix",
        choices=["zh", "authors"],
        default=FinetuneConfig.label_prefix,
        help="zh: labels start with <|zh|><|transcribe|>; authors: their labels exactly",
    )
    tune.add_argument(
        "--select",
        choices=["cer", "last"],
        default=FinetuneConfig.select,
        help="keep the epoch with the best validation CER, or the last (as the authors)",
    )
    tune.add_argument(
        "--decoder-only",
        action="store_true",
        help="freeze the encoder and compute its states once: the decoder alone learns "
        "(minutes instead of hours on a CPU; not the authors' recipe)",
    )
    tune.add_argument("--device", default="cpu")
    tune.add_argument("--output", default="whisper-finetuned", help="folder for checkpoints and results (resumable)")
    tune.set_defaults(func=_asr_finetune)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``csmsasr``; return the exit status (errors are printed, not raised)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command line, recorded in results files
    try:
        return int(args.func(args))
    except CsmsasrError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
