"""Check: each non-BERT model built here from a seed against MMSA's own class built from that seed.

MMSA seeds its runs and then builds the model (``AMIO(args)``); ``csmsasr msa run`` does the same
with :func:`~csmsasr_utils.msa.registry.build_model`. A faithful reimplementation must then start
from the very same weights — every layer drawn from the random stream in MMSA's order, layers MMSA
builds but never uses included — and compute the same function. For each of the eleven models this
script builds both from ``--seed`` and prints:

* **weights**: whether every one of this package's parameters equals one of MMSA's, value for
  value (MMSA's modules are matched by value, not by name: the two name their layers differently,
  and Graph_MFN keeps some networks in a plain dict outside ``parameters()``);
* **output**: the largest difference between the two models' ``M`` in evaluation mode on the same
  random inputs at the real padded sizes (audio and vision averaged over their padded length first
  for the models MMSA feeds averages: its data loader does that, not the model).

MMSA is never fetched at run time and never committed; get it as for ``bench_vs_mmsa.py``::

    CSMSASR_PUBLIC_DIR=../shared/data .venv/bin/python benchmarks/parity_vs_mmsa.py \\
        --mmsa /scratch/CS-MSASR/sentiment-analyze --site /scratch/mmsa-site

It exits with status 1 when a model's weights differ or its output differs by more than
``--tolerance``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the package, also without pip install -e
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_vs_mmsa import import_mmsa  # noqa: E402

NON_BERT_MODELS = ("LF_DNN", "EF_LSTM", "TFN", "LMF", "MFN", "Graph_MFN", "MFM", "MulT", "MTFN", "MLF_DNN", "MLMF")


def mmsa_tensors(module) -> list:
    """Every parameter of MMSA's ``module``, also those of networks kept in plain dicts."""
    import torch

    tensors = [p for p in module.parameters()]
    for sub in module.modules():
        for value in vars(sub).values():
            if isinstance(value, dict):
                for inner in value.values():
                    if isinstance(inner, torch.nn.Module):
                        tensors.extend(inner.parameters())
    return tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mmsa", type=Path, required=True, help="MMSA's package folder (sentiment-analyze/)")
    parser.add_argument("--site", type=Path, required=True, help="folder with easydict and einops installed")
    parser.add_argument("--models", nargs="+", default=list(NON_BERT_MODELS))
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tolerance", type=float, default=1e-6, help="largest |ΔM| accepted")
    args = parser.parse_args()

    package = import_mmsa(args.mmsa.resolve(), args.site.resolve())
    import torch
    from easydict import EasyDict

    from csmsasr_utils.msa.alignment import mean_over_padded_time
    from csmsasr_utils.msa.hparams import hyperparameters, model_key
    from csmsasr_utils.msa.registry import FEATURE_DIMS, SEQ_LENS, build_model, model_class
    from csmsasr_utils.seeding import seed_everything

    amio = sys.modules[f"{package.__name__}.models.AMIO"].AMIO
    generator = torch.Generator().manual_seed(0)
    raw = tuple(torch.randn(args.batch, n, d, generator=generator) for n, d in zip(SEQ_LENS, FEATURE_DIMS))
    failures = 0
    print(f"torch {torch.__version__}; seed {args.seed}; {args.batch} random clips at the real padded sizes")
    for name in args.models:
        mmsa_args = EasyDict(
            {
                **hyperparameters(name),
                "model_name": model_key(name),
                "dataset_name": "sims",
                "feature_dims": list(FEATURE_DIMS),
                "seq_lens": list(SEQ_LENS),
                "device": torch.device("cpu"),
                "num_classes": 1,
                "train_mode": "regression",
            }
        )
        seed_everything(args.seed)
        theirs = amio(mmsa_args).eval()
        seed_everything(args.seed)
        ours = build_model(name).eval()
        candidates = mmsa_tensors(theirs)
        unmatched = [
            n
            for n, p in ours.named_parameters()
            if not any(q.shape == p.shape and torch.equal(q, p) for q in candidates)
        ]
        inputs = raw
        if model_class(name).normalized_input:
            inputs = (raw[0], mean_over_padded_time(raw[1]), mean_over_padded_time(raw[2]))
        with torch.no_grad():
            torch.manual_seed(args.seed)  # MFM draws its prior samples in evaluation too
            their_m = theirs(*inputs)
            torch.manual_seed(args.seed)
            our_m = ours(*inputs)["M"]
        their_m = their_m["M"] if isinstance(their_m, dict) else their_m[0]  # MFM returns a tuple
        difference = (their_m.reshape(-1) - our_m.reshape(-1)).abs().max().item()
        ok = not unmatched and difference <= args.tolerance
        failures += not ok
        weights = "all equal" if not unmatched else f"{len(unmatched)} differ, e.g. {unmatched[:3]}"
        print(f"{name:<10} weights: {weights:<12} max |ΔM| {difference:.1e}  {'ok' if ok else 'DIFFERS'}", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
