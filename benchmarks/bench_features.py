"""Benchmark: the costs behind chapters 2 and 3 (agreement bootstrap, pooling, UMAP).

Prints wall times on the book's default demo (public metadata when CSMSASR_PUBLIC_DIR is set).
UMAP's first fit in a fresh process includes numba's JIT compilation; the cached call reads
the embedding from disk.

    python benchmarks/bench_features.py
"""

from __future__ import annotations

import sys
import tempfile

from timing import print_timings, timed  # benchmarks/timing.py (run as scripts from this folder)


def main() -> int:
    results: list[tuple[str, float]] = []
    with timed("import csmsasr_utils + load_dataset()", results):
        from csmsasr_utils import agreement, features
        from csmsasr_utils.data import FULL_SEQ_LENS, features_from_dict, load_dataset, make_demo

        dataset = load_dataset()
    labels = agreement.label_matrix(dataset.metadata)
    with timed("pairwise_agreement, 6 pairs × 1000 bootstrap resamples", results):
        agreement.pairwise_agreement(labels, n_boot=1000)
    with timed("alpha_table, 1000 bootstrap resamples", results):
        agreement.alpha_table(labels, n_boot=1000)
    with timed("pooled_features (valid mean), book demo", results):
        pooled = features.pooled_features(dataset.features)
    full = features_from_dict(make_demo(seq_lens=FULL_SEQ_LENS, metadata=dataset.metadata))
    with timed("pooled_features (valid mean), real-size arrays", results):
        features.pooled_features(full)
    del full
    matrix = features.reduce(features.combine_modalities(pooled), 50)
    with tempfile.TemporaryDirectory() as cache:
        with timed("umap_embedding, first fit (import + numba JIT)", results):
            features.umap_embedding(matrix, cache_dir=cache)
        with timed("umap_embedding, cached", results):
            features.umap_embedding(matrix, cache_dir=cache)
        with timed("umap_embedding, second fit (compiled)", results):
            features.umap_embedding(matrix, cache_dir=cache, n_neighbors=16)
    with timed("separability_table, 1 feature set, 5 official folds", results):
        rows = dataset.feature_metadata()
        own = {"all": rows["label_m"].to_numpy()}
        features.separability_table(
            {"all": matrix}, rows["label_m"].to_numpy(), own, rows["video_id"].to_numpy(), dataset.official_fold_rows()
        )
    print(f"data: {dataset}")
    print_timings(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
