"""Run many baselines × seeds × folds, resumably, and collect one result row per unit.

A **unit** is one (model, seed, protocol, fold) training run: independent of every other, so the
runner hands units to an existing executor — in this process (default), local worker processes
(``concurrent.futures``), or a Dask cluster (``dask.distributed``) when given its address — and
appends each finished unit to a JSON-lines results file as soon as it arrives. Running the same
command again skips the units already in the file, so an interrupted run resumes where it stopped.

Units of one model and protocol — its seeds, and its folds where their splits have the same
sizes — can be trained together, as the members of one stacked model
(:mod:`~csmsasr_utils.msa.members`; ``units_at_once``): each member trains as if alone on its own
fold, and each still gets its own row. A task handed to an executor is such a group.

Every row records what produced it: the data fingerprint and source (real features or the demo),
package and torch versions, device, budget, epochs and best epoch, wall time, how many units trained
together and the peak memory, the test metrics and
the test predictions (for error analysis). A results file never mixes data: appending rows made from
other data than the file's is refused.

Protocols: ``paper`` — the dataset paper's single 8:1:1 split (fold 0); ``official`` — CS-Mage's
5 folds (folds 1–5), each with its own validation clips for early stopping.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import functools
import math
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csmsasr_utils.encoders.text_features import check_text_encoder, e5_text_inputs, text_feature_label
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.jsonl import JsonLines
from csmsasr_utils.msa.hparams import SEEDS, model_key
from csmsasr_utils.msa.metrics import METRIC_NAMES
from csmsasr_utils.threads import CoreShare, available_cores, join_core_share, limit_torch_threads

PROTOCOLS: dict[str, tuple[int, ...]] = {"paper": (0,), "official": (1, 2, 3, 4, 5)}

#: Epoch caps: ``smoke`` proves a model trains (1 epoch); ``book`` fits the book's build (early
#: stopping, at most 6 epochs); ``full`` is MMSA's own stopping rule.
BUDGETS: dict[str, int | None] = {"smoke": 1, "book": 6, "full": None}


def code_fingerprint() -> str:
    """A short hash of the ``csmsasr_utils.msa`` source: results from other code are not reused."""
    import hashlib

    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class DataSpec:
    """Which data a worker loads (picklable, so it travels to worker processes and clusters).

    ``features_path`` ``None`` means the demo (or ``CSMSASR_FEATURES`` when set in the worker's
    environment); ``max_clips`` keeps the first clips of each split (smoke runs).
    """

    features_path: str | None = None
    public_dir: str | None = None
    demo_seq_lens: tuple[int, int, int] | None = None
    max_clips: int | None = None
    text_encoder: str | None = None

    def fingerprint(self) -> str:
        """The data's fingerprint, with the text encoder when its features replace the file's."""
        from csmsasr_utils.data.dataset import data_fingerprint

        base = data_fingerprint(self.public_dir)
        return base if self.text_encoder is None else f"{base}+{self.text_encoder}-text"


@dataclass(frozen=True)
class Unit:
    """One independent training run."""

    model: str
    seed: int
    protocol: str
    fold: int

    @property
    def key(self) -> str:
        return f"{self.model}|{self.seed}|{self.protocol}|{self.fold}"


def plan_units(models: Iterable[str], seeds: Iterable[int] = SEEDS, protocol: str = "paper") -> list[Unit]:
    """Every (model, seed, fold) of ``protocol``, models in the order given."""
    if protocol not in PROTOCOLS:
        raise CsmsasrError(f"unknown protocol {protocol!r}; use one of {sorted(PROTOCOLS)}")
    from csmsasr_utils.msa.hparams import MODEL_NAMES

    names = [MODEL_NAMES[model_key(m)] for m in models]
    return [Unit(m, int(s), protocol, f) for m in names for s in seeds for f in PROTOCOLS[protocol]]


@functools.lru_cache(maxsize=2)
def load_data(spec: DataSpec):
    """``(dataset, tensors)`` for ``spec``, cached per process (workers load once)."""
    from csmsasr_utils.data import load_dataset
    from csmsasr_utils.msa.tensors import MSATensors

    lens = None if spec.demo_seq_lens is None else dict(zip(("text", "audio", "vision"), spec.demo_seq_lens))
    dataset = load_dataset(spec.features_path, spec.public_dir, demo_seq_lens=lens)
    if check_text_encoder(spec.text_encoder) == "e5":
        features, text_bert = e5_text_inputs(dataset.features)
        return dataset, MSATensors.from_features(features, text_bert=text_bert)
    text_bert = None
    if dataset.features.text_bert is None:
        from csmsasr_utils.msa.bert_tokens import encode_transcripts

        try:
            text_bert = encode_transcripts(
                dataset.features.raw_text, length=dataset.features.padded_lengths["text"], public_dir=spec.public_dir
            )
        except CsmsasrError:  # vocabulary unavailable: only BERT-token models are affected
            text_bert = None
    return dataset, MSATensors.from_features(dataset.features, text_bert=text_bert)


def unit_split_rows(dataset, tensors, protocol: str, fold: int, max_clips: int | None = None) -> dict[str, np.ndarray]:
    """Row positions of the unit's train/valid/test clips (only clips with features)."""
    from csmsasr_utils.data.splits import official_folds, paper_split

    if protocol == "paper":
        split = paper_split(dataset.metadata["clip_id"])
    elif protocol == "official":
        split = official_folds(dataset.metadata)[fold - 1]
    else:
        raise CsmsasrError(f"unknown protocol {protocol!r}")
    have = set(tensors.clip_ids)
    rows = {}
    for name, ids in split.items():
        kept = [c for c in ids if c in have][:max_clips]
        rows[name] = tensors.rows(kept)
    return rows


def _check_budget(budget: str) -> None:
    if budget not in BUDGETS:
        raise CsmsasrError(f"unknown budget {budget!r}; use one of {sorted(BUDGETS)}")


def _model_overrides(unit: Unit, spec: DataSpec) -> dict[str, Any]:
    from csmsasr_utils.msa.registry import model_class

    if spec.text_encoder == "e5" and model_class(unit.model).uses_bert_tokens:
        from csmsasr_utils.encoders.e5 import e5_model_dir

        return {"pretrained": str(e5_model_dir())}  # ALMT's encoder swapped; architecture and training unchanged
    return {}


def run_unit(
    unit: Unit, spec: DataSpec, budget: str = "full", device: str | None = "cpu", show_progress: bool = True
) -> dict[str, Any]:
    """Train and test one unit; the result row (see module docstring)."""
    from csmsasr_utils.msa.trainer import train_baseline

    _check_budget(budget)
    dataset, tensors = load_data(spec)
    rows = unit_split_rows(dataset, tensors, unit.protocol, unit.fold, spec.max_clips)
    _reset_peak_memory(device)
    result = train_baseline(
        unit.model,
        tensors,
        rows,
        seed=unit.seed,
        device=device,
        max_epochs=BUDGETS[budget],
        show_progress=show_progress,
        **_model_overrides(unit, spec),
    )
    return _result_row(unit, result, rows, dataset, spec, budget, units_at_once=1)


def run_units_together(
    units: Sequence[Unit], spec: DataSpec, budget: str = "full", device: str | None = "cpu", show_progress: bool = True
) -> list[dict[str, Any]]:
    """Train the units of one model and protocol (seeds and folds differ) as stacked members; one
    row each, in the order of ``units``.

    See :mod:`csmsasr_utils.msa.members`: every member trains as if alone on its own fold, and the
    rows have the same form as :func:`run_unit`'s (``wall_seconds`` is the stack's wall time divided
    by its units; ``units_at_once`` says how many trained together). Members of one stack need
    training and validation splits of the same sizes (:func:`~csmsasr_utils.msa.members.stack_sizes`):
    units whose folds differ in size are trained as one stack per size.
    """
    from csmsasr_utils.msa.members import stack_sizes

    units = list(units)
    if len(units) == 1:
        return [run_unit(units[0], spec, budget, device, show_progress)]
    if len({(u.model, u.protocol) for u in units}) != 1:
        raise CsmsasrError("units trained together must share model and protocol (only seeds and folds differ)")
    _check_budget(budget)
    dataset, tensors = load_data(spec)
    splits = {u.key: unit_split_rows(dataset, tensors, u.protocol, u.fold, spec.max_clips) for u in units}
    by_size: dict[tuple[int, int], list[Unit]] = {}
    for unit in units:
        by_size.setdefault(stack_sizes(splits[unit.key]), []).append(unit)
    rows: dict[str, dict[str, Any]] = {}
    for stack in by_size.values():
        if len(stack) == 1:
            rows[stack[0].key] = run_unit(stack[0], spec, budget, device, show_progress)
        else:
            stack_splits = [splits[u.key] for u in stack]
            rows.update(_run_stack(stack, stack_splits, dataset, tensors, spec, budget, device, show_progress))
    return [rows[u.key] for u in units]


def _run_stack(
    units: Sequence[Unit],
    splits: Sequence[dict[str, np.ndarray]],
    dataset,
    tensors,
    spec: DataSpec,
    budget: str,
    device: str | None,
    show_progress: bool,
) -> dict[str, dict[str, Any]]:
    """The rows of ``units`` (splits of the same sizes, on ``spec``'s loaded data) trained as one stack, by unit key."""
    from csmsasr_utils.msa.members import train_members

    first = units[0]
    _reset_peak_memory(device)
    results = train_members(
        first.model,
        tensors,
        splits,
        seeds=[u.seed for u in units],
        device=device,
        max_epochs=BUDGETS[budget],
        show_progress=show_progress,
        **_model_overrides(first, spec),
    )
    return {
        u.key: _result_row(u, r, split, dataset, spec, budget, units_at_once=len(units))
        for u, r, split in zip(units, results, splits, strict=True)
    }


def _reset_peak_memory(device: str | None) -> None:
    import torch

    if torch.cuda.is_available() and str(device).startswith(("cuda", "auto")):
        torch.cuda.reset_peak_memory_stats()


def _peak_memory_mb(device: str) -> float:
    """Peak memory so far: CUDA memory allocated since the unit started, else the process's peak RSS."""
    import resource

    import torch

    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def _result_row(unit: Unit, result, rows, dataset, spec: DataSpec, budget: str, units_at_once: int) -> dict[str, Any]:
    """The results-file row of one unit's :class:`~csmsasr_utils.msa.trainer.FitResult`."""
    import torch

    import csmsasr_utils

    row: dict[str, Any] = {**asdict(unit), "key": unit.key, "budget": budget}
    row.update({f"test_{k}": v for k, v in result.test_metrics.items()})
    row.update({f"valid_{k}": v for k, v in result.valid_metrics.items()})
    row.update(
        epochs=result.epochs,
        best_epoch=result.best_epoch,
        stopped_by=result.stopped_by,
        wall_seconds=round(result.wall_seconds, 3),
        units_at_once=units_at_once,
        peak_memory_mb=_peak_memory_mb(result.device),
        device=result.device,
        trainable_parameters=result.trainable_parameters,
        n_train=len(rows["train"]),
        n_valid=len(rows["valid"]),
        n_test=len(rows["test"]),
        data_source=text_feature_label(dataset.provenance["features"], dataset.provenance["text"], spec.text_encoder),
        data_fingerprint=spec.fingerprint(),
        text_encoder=spec.text_encoder,
        package_version=csmsasr_utils.__version__,
        code_fingerprint=code_fingerprint(),
        torch_version=torch.__version__,
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        test_clip_ids=result.test_clip_ids,
        test_predictions=[round(p, 6) for p in result.test_predictions],
        history=[asdict(e) for e in result.history],
    )
    return row


def group_units(
    units: Sequence[Unit], units_at_once: int | str, spec: DataSpec, device: str | None, workers: int = 1
) -> list[list[Unit]]:
    """Split ``units`` into the groups trained together, in order of first appearance.

    Units share a group when they differ only in seed and fold and their model can be stacked
    (:func:`~csmsasr_utils.msa.members.can_stack`); a group keeps the units' order (for
    :func:`plan_units`, seed after seed, each seed's folds in turn). ``units_at_once``: an int K
    (groups of at most K), or ``'auto'`` — :func:`~csmsasr_utils.msa.members.auto_units_at_once`
    per model (what fits half the free memory, and only where stacking is faster on this device).

    With ``'auto'`` and ``workers`` local processes, the units of one model are also spread over
    the workers (groups of at most ``ceil(units / workers)``), so that no worker idles while
    another trains every unit: on a CPU two one-thread processes do more work than one two-thread
    process (benchmarks/README.md, "Two one-thread workers").
    """
    from csmsasr_utils.msa.members import auto_units_at_once, can_stack, gains_from_stacking

    if units_at_once != "auto" and (not isinstance(units_at_once, int) or units_at_once < 1):
        raise CsmsasrError(f"units_at_once must be a positive integer or 'auto', got {units_at_once!r}")
    by_kind: dict[tuple[str, str], list[Unit]] = {}
    for unit in units:
        by_kind.setdefault((unit.model, unit.protocol), []).append(unit)
    groups: list[list[Unit]] = []
    for (model, _), members in by_kind.items():
        if not can_stack(model) or len(members) == 1:
            size = 1
        elif units_at_once == "auto" and not gains_from_stacking(model, device):
            size = 1
        elif units_at_once == "auto":
            dataset, tensors = load_data(spec)
            size = auto_units_at_once(model, tensors, len(members), device)
            size = min(size, math.ceil(len(members) / max(1, workers)))
        else:
            size = int(units_at_once)
        groups.extend(members[i : i + size] for i in range(0, len(members), size))
    return groups


class ResultsFile(JsonLines):
    """The runner's results file: JSON lines (:class:`~csmsasr_utils.jsonl.JsonLines`) of unit rows."""

    def done_keys(self, budget: str, fingerprint: str) -> set[str]:
        """Keys of the units finished with this budget; raises if the file holds other data's rows."""
        rows = self.rows()
        others = {r.get("data_fingerprint") for r in rows} - {fingerprint}
        if others:
            raise CsmsasrError(
                f"{self.path} holds results of other data (fingerprint {sorted(map(str, others))}, "
                f"now {fingerprint}); use another results file so the two are never mixed"
            )
        return {r["key"] for r in rows if r.get("budget") == budget}


def _init_worker(busy: Any) -> None:
    """Make this process a local worker: its torch pool is its share of the cores, the cores divided
    by the workers that still have work (``busy``, kept up to date by the parent; see
    :class:`~csmsasr_utils.threads.CoreShare`; the user's own ``OMP_NUM_THREADS`` wins)."""
    join_core_share(CoreShare(busy, available_cores()))


def _run_group_on_dask_worker(
    units: list[Unit], spec: DataSpec, budget: str, device: str | None
) -> list[dict[str, Any]]:
    """:func:`run_units_together` in a Dask task: the worker's cores shared between the tasks it runs at once."""
    from dask.distributed import get_worker

    worker = get_worker()
    tasks_at_once = getattr(getattr(worker, "state", worker), "nthreads", 1) or 1
    limit_torch_threads(max(1, available_cores() // tasks_at_once))
    return run_units_together(units, spec, budget, device, False)


def run_units(
    units: Sequence[Unit],
    results_path: str | os.PathLike,
    spec: DataSpec = DataSpec(),
    *,
    budget: str = "full",
    device: str | None = "cpu",
    workers: int = 1,
    dask_address: str | None = None,
    show_progress: bool = True,
    units_at_once: int | str = "auto",
) -> pd.DataFrame:
    """Run the ``units`` not yet in ``results_path``; return all of the file's rows for this budget.

    ``workers > 1`` runs units in that many local processes, started as fresh interpreters (a
    script that calls this needs the usual ``if __name__ == "__main__":`` guard), each with its share
    of the cores: cores / N, and more once others have run out of work
    (:class:`~csmsasr_utils.threads.CoreShare`); ``dask_address`` (e.g.
    ``tcp://scheduler:8786``) submits them to a running Dask cluster instead, whose workers must see
    the same data paths. ``units_at_once`` trains up to that many units of one model (its seeds ×
    folds) as one stacked model (:func:`group_units`; 1 trains every unit alone).
    """
    store = ResultsFile(results_path)
    with store.exclusive():  # another process on the same file waits, then finds these units done
        _run_missing_units(units, store, spec, budget, device, workers, dask_address, show_progress, units_at_once)
    wanted = {u.key for u in units}
    first: dict[str, dict[str, Any]] = {}  # one row per unit (a file written before the lock may repeat one)
    for row in store.rows():
        if row["budget"] == budget and row["key"] in wanted:
            first.setdefault(row["key"], row)
    return results_frame(list(first.values()))


def _run_missing_units(
    units: Sequence[Unit],
    store: ResultsFile,
    spec: DataSpec,
    budget: str,
    device: str | None,
    workers: int,
    dask_address: str | None,
    show_progress: bool,
    units_at_once: int | str = 1,
) -> None:
    """The work of :func:`run_units`: run the units not yet in ``store``, appending each row as it finishes."""
    from csmsasr_utils.progress import progress

    done = store.done_keys(budget, spec.fingerprint())
    todo = [u for u in units if u.key not in done]
    groups = group_units(todo, units_at_once, spec, device, 1 if dask_address else workers)
    bar = progress(
        total=len(todo), desc=f"units ({len(done)} already done)", unit="unit", disable=None if show_progress else True
    )

    def record(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            store.append(row)
        bar.update(len(rows))

    if dask_address:
        try:
            from dask.distributed import Client, as_completed
        except ImportError as err:
            raise CsmsasrError("dask.distributed is not installed: pip install distributed") from err
        with Client(dask_address) as client:
            futures = [client.submit(_run_group_on_dask_worker, g, spec, budget, device, pure=False) for g in groups]
            for future in as_completed(futures):
                record(future.result())
    elif workers > 1:
        # Fresh interpreters, not forks: a child forked after this process has run torch on several
        # threads (as choosing the groups above does) inherits GNU OpenMP's thread pool half-alive
        # and waits forever at its first parallel loop.
        spawn = multiprocessing.get_context("spawn")
        busy = spawn.Value("i", min(workers, len(groups)))  # workers that still have work
        with cf.ProcessPoolExecutor(workers, mp_context=spawn, initializer=_init_worker, initargs=(busy,)) as pool:
            futures = [pool.submit(run_units_together, g, spec, budget, device, False) for g in groups]
            for finished, future in enumerate(cf.as_completed(futures), start=1):
                busy.value = min(workers, len(groups) - finished)  # the others take the freed cores
                record(future.result())
    else:
        for group in groups:
            record(run_units_together(group, spec, budget, device, show_progress))
    bar.close()


#: The six fastest models, which the book's build trains (chapter 4; chapter 6 reads the same runs).
BOOK_MODELS: tuple[str, ...] = ("LF_DNN", "EF_LSTM", "LMF", "MFN", "MLF_DNN", "MLMF")


def book_results(models: Sequence[str] = BOOK_MODELS, seed: int = SEEDS[0], show_progress: bool = True) -> pd.DataFrame:
    """The book's own MSA runs: ``models`` × one seed on the paper split with the ``book`` budget.

    Cached in ``<cache>/msa/book-<data fingerprint>-<code fingerprint>.jsonl``, so every chapter
    that asks gets the same runs, trained once per data and code version (and switching between
    the real data and the demo never meets a results file of the other).
    """
    from csmsasr_utils.data.dataset import data_fingerprint
    from csmsasr_utils.data.sources import cache_dir

    path = cache_dir() / "msa" / f"book-{data_fingerprint()}-{code_fingerprint()}.jsonl"
    return run_units(
        plan_units(models, seeds=[seed], protocol="paper"), path, budget="book", show_progress=show_progress
    )


def results_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Result rows as a table (list-valued columns kept as Python lists)."""
    return pd.DataFrame(list(rows))


def summarize(results: pd.DataFrame, metrics: Sequence[str] = METRIC_NAMES) -> pd.DataFrame:
    """Mean and standard deviation of each test metric per model (over seeds and folds).

    Columns ``<metric>_mean``, ``<metric>_std`` and ``runs``; models in first-seen order.
    """
    if results.empty:
        raise CsmsasrError("no results to summarise")
    order = list(dict.fromkeys(results["model"]))
    grouped = results.groupby("model", sort=False)
    table = pd.DataFrame(index=pd.Index(order, name="model"))
    for metric in metrics:
        column = results[f"test_{metric}"].astype(float)
        table[f"{metric}_mean"] = column.groupby(results["model"]).mean()
        table[f"{metric}_std"] = column.groupby(results["model"]).std(ddof=1)
    table["runs"] = grouped.size()
    return table
