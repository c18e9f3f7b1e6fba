"""Benchmark: MMSA's own ``MMSA_run`` and ``csmsasr msa run``, side by side, on the same data.

Issue #13 asks what the full MSA benchmark costs here against the real alternative, MMSA itself,
not against a loader written for the comparison. This script runs, one model after the other and
in one session of the machine:

1. **MMSA**: the dataset authors' copy (``Yaoooyu/CS-MSASR``, folder ``sentiment-analyze/``) or
   ``thuiar/MMSA``, through its own ``MMSA_run(model, "sims", custom_feature=…)``, in a child
   process, with every seed;
2. **csmsasr**: ``csmsasr msa run --models M --seeds … --budget full --protocol paper`` on the same
   pickle, in a child process, once per ``--units-at-once`` value (default ``auto``: the seeds of
   MFN and Graph_MFN trained as one stacked model, :mod:`csmsasr_utils.msa.members`), and with
   ``--workers N`` (default 1) in N local processes of cores / N threads each, the seeds spread
   over them (``--workers 2`` on two cores: five seeds as groups of 3 and 2, one thread each);

and prints each side's wall time (the whole process: imports, data loading, training with MMSA's
early stopping, testing), the epochs it trained over all seeds and the seconds per epoch (early
stopping can end the two runs after other numbers of epochs, so the per-epoch ratio is the fair
one), the ratios, and each side's mean test MAE and Acc-2 over the seeds. Then, seed by seed,
whether the two made the same run: the epochs each trained, whether every epoch's validation loss
(rounded to 4 decimals, the number early stopping compares) is equal or the first epoch where
they part, and each side's test MAE. The trainer draws its shuffling and dropout masks from the
seeded stream in MMSA's places (:mod:`csmsasr_utils.msa.trainer`), so with the same arithmetic a
seed gives MMSA's very run; a stacked group of seeds sums its products in another order, so its
losses may part after some epochs by a rounding.

The data: the synthetic demo features at the real padded sizes (text 39 × 768, audio 553 × 13,
vision 321 × 347, ≈ 645 MB) for the public metadata's 1,085 clips, split by the paper's 8:1:1
split and written once in MMSA's layout (``train``/``valid``/``test``), so both sides train on the
same clips in the same order (``--clips N`` keeps about N of them, for a quicker same-run check
whose times are not a benchmark). The dataset name stays ``sims``, which is what makes MMSA read
the T/A/V labels and use the SIMS metrics. Both children get the same thread budget and wait policy
(:mod:`csmsasr_utils.threads`): MMSA's in its environment, ours from the package itself (the
thread-count variables are left out of our child's environment, where they would count as the
user's choice and give every one of ``--workers N`` all the cores).

``--record FILE`` also writes the figures as JSON: the command, the code version, MMSA's commit,
the machine (CPU, widest vector unit, cores, torch, its 2048² product rate), the pickle's SHA-256,
and per model both sides' times, epochs, mean test metrics, peak memory per results row and the
seed-by-seed lines. ``results/msa/vs_mmsa_cpu.json`` is such a record; chapter 4 renders it
(:mod:`csmsasr_utils.msa.side_by_side`).

MMSA is never fetched at run time and never committed. Get it outside the repository::

    git clone https://github.com/Yaoooyu/CS-MSASR /scratch/CS-MSASR
    pip install --target /scratch/mmsa-site easydict einops

    CSMSASR_PUBLIC_DIR=../shared/data .venv/bin/python benchmarks/bench_vs_mmsa.py \\
        --mmsa /scratch/CS-MSASR/sentiment-analyze --site /scratch/mmsa-site \\
        --models LF_DNN LMF --work /scratch/bench-vs-mmsa

What it takes to run MMSA's code on CPU with this project's torch (stubs for imports the
non-BERT models never use, two patches) is done by :func:`run_mmsa` in the child; see
``../shared/MMSA-SIDE-BY-SIDE.md`` for where these facts come from.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import re
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the package, also without pip install -e

from csmsasr_utils.jsonl import JsonLines  # noqa: E402  (the runner's results files)
from csmsasr_utils.msa.hparams import SEEDS  # noqa: E402  (MMSA's five seeds, the runner's default)


def write_mmsa_pickle(target: Path, clips: int | None = None) -> Path:
    """The full-size demo features in MMSA's split layout at ``target`` (made once, then reused).

    The splits are the paper split of the public metadata's clips, which is what ``csmsasr msa run
    --protocol paper`` computes, in its order. With ``clips``, only about that many are kept: the
    first clips of each split, in proportion (a quicker same-run check); the runner, which splits
    every clip of the metadata and keeps those with features, then gets the same rows in the same
    order.
    """
    if target.is_file():
        return target
    from csmsasr_utils.data.demo import FULL_SEQ_LENS, make_demo
    from csmsasr_utils.data.features import DATA_SOURCE_KEY
    from csmsasr_utils.data.ids import canonical_clip_id
    from csmsasr_utils.data.metadata import load_metadata
    from csmsasr_utils.data.splits import paper_split

    metadata = load_metadata()
    split = paper_split([canonical_clip_id(str(c)) for c in metadata["clip_id"]])
    if clips is not None:
        share = clips / len(metadata)
        split = {name: ids[: max(1, round(len(ids) * share))] for name, ids in split.items()}
        kept = set().union(*map(set, split.values()))
        metadata = metadata[[canonical_clip_id(str(c)) in kept for c in metadata["clip_id"]]]
    flat = make_demo(metadata=metadata, seq_lens=FULL_SEQ_LENS)
    ids = [canonical_clip_id(str(i)) for i in flat["id"]]  # the runner splits the canonical ids
    position = {clip: k for k, clip in enumerate(ids)}
    layout = {}
    for name, split_ids in split.items():
        rows = [position[c] for c in split_ids]
        layout[name] = {key: value[rows] for key, value in flat.items()}
    layout[DATA_SOURCE_KEY] = "demo"  # our rows say so; MMSA reads only the three splits
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with open(partial, "wb") as handle:
        pickle.dump(layout, handle, protocol=4)
    partial.replace(target)
    return target


def _mmsa_commit(mmsa_dir: Path) -> str:
    """The git commit of the MMSA checkout (``unknown`` outside a git work tree)."""
    try:
        return subprocess.run(["git", "-C", str(mmsa_dir), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _stub_module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


def import_mmsa(mmsa_dir: Path, site: Path) -> types.ModuleType:
    """Import MMSA's package from ``mmsa_dir`` (as ``mmsa_own``), with its extra wheels from ``site``.

    Stubs ``pytorch_transformers`` and ``pynvml`` (imported by MMSA, used only by the BERT models and
    the GPU picker), makes ``torch.cuda.set_device`` a no-op (MMSA calls it even on CPU) and lets
    ``ReduceLROnPlateau`` accept the ``verbose`` argument newer torch removed (MulT's trainer).
    """
    sys.path.insert(0, str(site))
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    class _Placeholder:  # a class MMSA's CENET module subclasses at import time
        pass

    modeling_utils = _stub_module(
        "pytorch_transformers.modeling_utils", PreTrainedModel=_Placeholder, prune_linear_layer=lambda *a, **k: None
    )
    _stub_module(
        "pytorch_transformers",
        BertConfig=_Placeholder,
        BERT_PRETRAINED_MODEL_ARCHIVE_MAP={},
        modeling_utils=modeling_utils,
    )
    _stub_module("pynvml", nvmlInit=lambda: None)
    torch.cuda.set_device = lambda *args, **kwargs: None
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau

    class ReduceLROnPlateau(plateau):
        def __init__(self, *args, verbose=None, **kwargs):
            super().__init__(*args, **kwargs)

    torch.optim.lr_scheduler.ReduceLROnPlateau = ReduceLROnPlateau

    spec = importlib.util.spec_from_file_location(
        "mmsa_own", mmsa_dir / "__init__.py", submodule_search_locations=[str(mmsa_dir)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["mmsa_own"] = package
    spec.loader.exec_module(package)
    return package


def run_mmsa(mmsa_dir: Path, site: Path, model: str, seeds: list[int], features: Path, out: Path) -> None:
    """In this (child) process: import MMSA's package (:func:`import_mmsa`) and call its ``MMSA_run``."""
    package = import_mmsa(mmsa_dir, site)
    for folder in ("models", "results", "logs"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    package.MMSA_run(
        model,
        "sims",
        custom_feature=str(features),
        gpu_ids=[],
        num_workers=0,
        seeds=seeds,
        verbose_level=0,
        model_save_dir=str(out / "models"),
        res_save_dir=str(out / "results"),
        log_dir=str(out / "logs"),
    )


def mmsa_metrics(out: Path, model: str) -> dict[str, float]:
    """Mean test MAE and Acc-2 over the seeds from MMSA's results table: one row per run, the model
    in lower case, each metric written as ``"(np.float64(mean), np.float64(std))"`` × 100."""
    import pandas as pd

    table = pd.read_csv(out / "results" / "normal" / "sims.csv")
    row = table[table["Model"].str.lower() == model.lower()].iloc[-1]
    return {name: float(re.findall(r"-?\d+\.?\d*", row[name].replace("float64", ""))[0]) / 100
            for name in ("MAE", "Mult_acc_2")}  # fmt: skip


def mmsa_seed_runs(out: Path, model: str) -> dict[int, tuple[list[float], float | None]]:
    """Per seed, MMSA's validation loss of every epoch and its test MAE, read from its log.

    Its trainers log one ``VAL-(model)`` line per epoch after the ``Running with seed N`` line of
    the seed's run, with ``Loss: x`` (``loss: x`` in the multi-task trainers) rounded to 4
    decimals, the value early stopping compares; ``MMSA_run`` then logs ``Result for seed N: {…}``
    with the test metrics, rounded to 4 decimals.
    """
    log = out / "logs" / f"{model.lower()}-sims.log"
    runs: dict[int, tuple[list[float], float | None]] = {}
    seed = None
    for line in log.read_text().splitlines():
        started = re.search(r"Running with seed (\d+)", line)
        result = re.search(r"Result for seed (\d+): .*'MAE': (?:np\.float64\()?(-?[\d.]+)", line)
        if started:
            seed = int(started.group(1))
            runs[seed] = ([], None)
        elif result:
            runs[int(result.group(1))] = (runs[int(result.group(1))][0], float(result.group(2)))
        elif seed is not None and f"VAL-({model.lower()})" in line:
            runs[seed][0].append(float(re.search(r"[Ll]oss: (-?[\d.]+)", line).group(1)))
    return runs


def csmsasr_seed_runs(rows: list[dict]) -> dict[int, tuple[list[float], float]]:
    """Per seed, this project's validation loss of every epoch (rounded to 4 decimals, as compared)
    and its test MAE, from the rows of a ``csmsasr msa run`` results file."""
    return {int(r["seed"]): ([e["valid_loss"] for e in r["history"]], float(r["test_MAE"])) for r in rows}


def same_run_report(theirs: dict, ours: dict, seeds: list[str]) -> str:
    """One line per seed: epochs on each side, how many of the epochs' validation losses are equal
    (the first epoch at which they part, if any), and the test MAE on each side."""
    lines = []
    for seed in map(int, seeds):
        their_losses, their_mae = theirs.get(seed, ([], None))
        our_losses, our_mae = ours.get(seed, ([], float("nan")))
        parted = next((k for k, (x, y) in enumerate(zip(their_losses, our_losses)) if x != y), None)
        same = len(their_losses) == len(our_losses) and parted is None
        first_difference = parted if parted is not None else min(len(their_losses), len(our_losses))
        agreement = "all validation losses equal" if same else f"first different epoch {first_difference + 1}"
        their_text = "?" if their_mae is None else f"{their_mae:.4f}"
        lines.append(
            f"seed {seed}: epochs {len(their_losses)}/{len(our_losses)}, {agreement}, test MAE {their_text}/{our_mae:.4f}"
        )
    return "\n".join(lines)


def csmsasr_metrics(rows: list[dict]) -> dict[str, float]:
    """Mean test MAE and Acc-2 over the seeds, from the rows of a ``csmsasr msa run`` results file."""
    return {
        "MAE": statistics.fmean(r["test_MAE"] for r in rows),
        "Mult_acc_2": statistics.fmean(r["test_Mult_acc_2"] for r in rows),
    }


def _group_sizes(rows: list[dict]) -> list[int]:
    """The sizes of the groups a results file's units trained in (``units_at_once`` per row, one
    entry per group: a group of K writes K rows)."""
    sizes = [row["units_at_once"] for row in rows]
    groups = []
    for size in sorted(set(sizes)):
        groups += [size] * (sizes.count(size) // size)
    return groups


def machine_description() -> dict[str, object]:
    """The machine a record was measured on: CPU model, its widest vector unit, cores, torch, and its
    float32 matrix-product rate (``bench_members.gemm_gflops``), against which a model's step rate
    says whether it is bound by arithmetic."""
    import torch
    from bench_members import gemm_gflops

    from csmsasr_utils.msa.side_by_side import cpu_description
    from csmsasr_utils.threads import available_cores

    return {
        **cpu_description(),
        "cores": available_cores(),
        "torch": torch.__version__,
        "gemm_2048_gflops": round(gemm_gflops(), 1),
    }


def data_description(features: Path) -> dict[str, object]:
    """The pickle both sides read: its name, size and SHA-256 (the data fingerprint of a record)."""
    from csmsasr_utils.data.sources import sha256_of

    return {"features": features.name, "bytes": features.stat().st_size, "sha256": sha256_of(features),
            "source": "synthetic demo features at the real padded sizes (csmsasr_utils.data.demo)"}  # fmt: skip


def write_record(path: Path, record: dict[str, object]) -> None:
    """Write ``record`` as indented JSON, replacing ``path`` only once the whole file is written."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)


def _timed(command: list[str], env: dict[str, str], log: Path) -> float:
    start = time.perf_counter()
    with open(log, "w") as handle:
        subprocess.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT, check=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mmsa", type=Path, required=True, help="MMSA's package folder (sentiment-analyze/)")
    parser.add_argument("--site", type=Path, required=True, help="folder with easydict and einops installed")
    parser.add_argument("--models", nargs="+", default=["LF_DNN", "LMF"])
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-vs-mmsa"))
    parser.add_argument(
        "--units-at-once",
        nargs="+",
        default=["auto"],
        help="csmsasr's --units-at-once, one run of ours per value (e.g. 1 auto: alone, then stacked)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="csmsasr's --workers: local processes sharing the cores (each gets cores / N threads)",
    )
    parser.add_argument(
        "--clips", type=int, help="only the first N clips of the public metadata (a quicker same-run check)"
    )
    parser.add_argument(
        "--record",
        type=Path,
        help="also write the figures as JSON here (command, code version, machine, data fingerprint, "
        "one entry per model; rewritten after each model), e.g. results/msa/vs_mmsa_cpu.json",
    )
    parser.add_argument("--child-mmsa", help=argparse.SUPPRESS)  # internal: run MMSA for this model here
    args = parser.parse_args()
    features = args.work / (
        "demo_full_mmsa_layout.pkl" if args.clips is None else f"demo_full_mmsa_layout_{args.clips}.pkl"
    )
    if args.child_mmsa:
        run_mmsa(args.mmsa.resolve(), args.site.resolve(), args.child_mmsa, args.seeds, features, args.work / "mmsa")
        return

    from csmsasr_utils.threads import MARKER, THREAD_COUNT_VARIABLES, available_cores, configure_threads

    print(
        f"features: {write_mmsa_pickle(features, args.clips)} ({features.stat().st_size / 1e6:,.0f} MB, synthetic demo)"
    )
    # Both sides: every core and passive waits, as the package's defaults (marked so), whatever
    # this shell had set; our side's --workers then divides the cores.
    env = {k: v for k, v in os.environ.items() if k not in (*THREAD_COUNT_VARIABLES, "OMP_WAIT_POLICY", MARKER)}
    configure_threads(None, env)
    seeds = [str(s) for s in args.seeds]
    rows = []
    record: dict[str, object] = {}
    if args.record is not None:
        from csmsasr_utils.versions import code_version

        record = {
            "command": "benchmarks/bench_vs_mmsa.py " + " ".join(sys.argv[1:]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "code_version": code_version(REPO / "csmsasr_utils", "package_sha256"),
            "mmsa": _mmsa_commit(args.mmsa),
            "machine": machine_description(),
            "data": data_description(features),
            "seeds": args.seeds,
            "workers": args.workers,
            "models": [],
        }
    for model in args.models:
        mmsa_seconds = _timed(
            [sys.executable, __file__, "--mmsa", str(args.mmsa), "--site", str(args.site), "--work", str(args.work),
             "--seeds", *seeds, "--child-mmsa", model, *(["--clips", str(args.clips)] if args.clips else [])],
            env, args.work / f"mmsa-{model}.log",
        )  # fmt: skip
        their_runs, theirs = mmsa_seed_runs(args.work / "mmsa", model), mmsa_metrics(args.work / "mmsa", model)
        # only this command's seeds: MMSA appends every run to one log per model
        their_epochs = sum(len(their_runs.get(seed, ([], None))[0]) for seed in args.seeds)
        for units_at_once in args.units_at_once:
            name = f"csmsasr-{model}-k{units_at_once}" + (f"-w{args.workers}" if args.workers > 1 else "")
            results = args.work / f"{name}.jsonl"
            results.unlink(missing_ok=True)
            csmsasr = [str(Path(sys.executable).parent / "csmsasr"), "msa", "run", "--models", model, "--seeds", *seeds,
                       "--budget", "full", "--protocol", "paper", "--device", "cpu", "--features", str(features),
                       "--units-at-once", units_at_once, "--workers", str(args.workers),
                       "--results", str(results)]  # fmt: skip
            own_seconds = _timed(csmsasr, env, args.work / f"{name}.log")
            result_rows = JsonLines(results).rows()  # read once, for every figure below
            ours, our_runs = csmsasr_metrics(result_rows), csmsasr_seed_runs(result_rows)
            our_epochs = sum(len(losses) for losses, _ in our_runs.values())
            stacked = "+".join(  # the group sizes, e.g. 3+2 for five seeds over two workers
                str(n) for n in sorted(_group_sizes(result_rows), reverse=True)
            )
            rows.append((model, mmsa_seconds, own_seconds, theirs, ours, units_at_once))
            print(
                f"{model:<10} MMSA {mmsa_seconds:7.1f} s / {their_epochs:3d} epochs = {mmsa_seconds / their_epochs:5.2f} s"
                f"   csmsasr (units at once {units_at_once} → {stacked}, workers {args.workers}) {own_seconds:7.1f} s / {our_epochs:3d} epochs"
                f" = {own_seconds / our_epochs:5.2f} s"
                f"   ratio {own_seconds / mmsa_seconds:.2f} (per epoch {own_seconds * their_epochs / (mmsa_seconds * our_epochs):.2f})"
                f"   MAE {theirs['MAE']:.4f} / {ours['MAE']:.4f}   Acc-2 {theirs['Mult_acc_2']:.4f} / {ours['Mult_acc_2']:.4f}",
                flush=True,
            )
            # Early stopping decides the wall time; seed for seed, the two runs should be the same run.
            same_runs = same_run_report(their_runs, our_runs, seeds)
            print(same_runs, flush=True)
            if record:
                record["models"].append({
                    "model": model, "units_at_once": units_at_once, "stacks": stacked,
                    "mmsa_seconds": round(mmsa_seconds, 1), "mmsa_epochs": their_epochs,
                    "csmsasr_seconds": round(own_seconds, 1), "csmsasr_epochs": our_epochs,
                    "mmsa_MAE": round(theirs["MAE"], 4), "csmsasr_MAE": round(ours["MAE"], 4),
                    "mmsa_Acc2": round(theirs["Mult_acc_2"], 4), "csmsasr_Acc2": round(ours["Mult_acc_2"], 4),
                    "peak_memory_mb": [row["peak_memory_mb"] for row in result_rows],
                    "same_run": same_runs.splitlines(),
                })  # fmt: skip
                record["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
                write_record(args.record, record)
    if args.clips is not None:
        return  # a same-run check on part of the data: its totals are no benchmark
    for units_at_once in args.units_at_once:
        chosen = [r for r in rows if r[5] == units_at_once]
        total_mmsa, total_own = sum(r[1] for r in chosen), sum(r[2] for r in chosen)
        print(f"{len(args.seeds)} seeds each on {available_cores()} cores, units at once {units_at_once}: "
              f"MMSA {total_mmsa:.1f} s, csmsasr {total_own:.1f} s, ratio {total_own / total_mmsa:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
