"""Benchmark: the speech-recognition chapter's costs on this machine.

Prints the real-time factor (processing seconds per second of audio) of every engine that is
available here on synthetic speech of 20 official test transcripts, and the time to score
10,000 utterance pairs with the book's CER protocol.

    CSMSASR_PUBLIC_DIR=../shared/data python benchmarks/bench_asr.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    from csmsasr_utils.asr import audio, ctc, metrics
    from csmsasr_utils.asr.engines.whisper_ct2 import default_whisper
    from csmsasr_utils.data import load_dataset

    dataset = load_dataset()
    meta = dataset.metadata
    test = meta[meta["asr_split_official"] == "test"].head(20)
    print(f"transcripts: {dataset.source_of('text')}")
    rng = np.random.default_rng(0)
    pairs = [
        (t, t[: max(1, len(t) - int(rng.integers(0, 3)))] + "啊")
        for t in meta["text"].sample(10_000, replace=True, random_state=0)
    ]
    start = time.perf_counter()
    metrics.corpus_scores([r for r, _ in pairs], [h for _, h in pairs])
    print(f"scoring 10,000 utterance pairs (CER, S/D/I, SER, jieba WER): {time.perf_counter() - start:.2f} s")
    benchmark_costs()
    if not audio.espeak_available():
        print("espeak-ng not installed: no synthetic audio, no real-time factors")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        clips = audio.synthesize_clips(test["clip_id"], test["text"], Path(tmp) / "tts")
        signals = [audio.load_audio(p) for p in clips["path"]]
        seconds_of_audio = sum(len(s) for s in signals) / audio.SAMPLE_RATE
        engines = {
            f"whisper-base int8 ({d})": default_whisper(Path(tmp) / "models", decoding=d)
            for d in ("greedy", "beam5_fallback")
        }
        engines["CTC baseline (untrained weights)"] = ctc.train_ctc(
            clips["path"].tolist()[:2], test["text"].tolist()[:2], ctc.TrainConfig(epochs=1, max_steps=1)
        )
        print(f"{len(signals)} clips, {seconds_of_audio:.1f} s of synthetic audio (espeak-ng)")
        for name, engine in engines.items():
            engine.transcribe(signals[0])  # load and warm up
            start = time.perf_counter()
            for signal in signals:
                engine.transcribe(signal)
            elapsed = time.perf_counter() - start
            print(f"{name:38s} real-time factor {elapsed / seconds_of_audio:.3f} ({elapsed:.1f} s)")
    return 0


def benchmark_costs() -> None:
    """Training time and real-time factor of every recogniser, as ``csmsasr asr benchmark`` measured
    them on the whole test split (the committed results file; rerun that command to measure here)."""
    from csmsasr_utils.asr.benchmark import BOOK_RESULTS, BenchmarkResults

    rows = BenchmarkResults(BOOK_RESULTS).rows()
    if not rows:
        print(f"no benchmark results in {BOOK_RESULTS}: run csmsasr asr benchmark")
        return
    print(f"from {BOOK_RESULTS.name} ({rows[0]['audio']}):")
    for row in rows:
        train = "—" if row["train_seconds"] is None else f"{row['train_seconds']:.0f} s on {row['n_train']} clips"
        print(
            f"  {row['recogniser']:15s} training {train:24s} decoding RTF {row['rtf']:.3f} "
            f"({row['decode_seconds']:.0f} s for {row['audio_seconds']:.0f} s of audio)"
        )


if __name__ == "__main__":
    sys.exit(main())
