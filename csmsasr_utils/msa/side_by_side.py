"""What the MSA benchmark costs here and in MMSA: the committed side-by-side record.

Chapter 4 tells its readers what the full benchmark costs, and that number must be measured, not
estimated: ``benchmarks/bench_vs_mmsa.py --record FILE`` runs the dataset authors' MMSA through its
own ``MMSA_run`` and this project's ``csmsasr msa run`` one model after the other on one machine,
on the same pickle with the same seeds and MMSA's early stopping, and writes a JSON record: the
command, the code version, MMSA's commit, the machine (CPU, widest vector unit, cores, torch, its
float32 matrix-product rate), the pickle's SHA-256, and per model each side's wall time and epochs,
the mean test MAE and Acc-2, each results row's peak memory, and seed by seed whether the two made
the same run. The book renders the committed record (:data:`BOOK_RECORD`) rather than measure
for an hour and more.

Timings belong to the machine that made them, so a test cannot re-run them; what it re-runs is
the arithmetic here (the ratios, against a hand-worked record) and a slice of the training.

Reading a record: the **wall ratio** (csmsasr's seconds / MMSA's) is what a user waits; the
**per-epoch ratio** divides out early stopping, which can end the two sides' runs after other
numbers of epochs when their sums are ordered differently (``--workers 2`` gives each worker one
thread where MMSA has two; stacked members batch their products). When every seed made MMSA's run
the two ratios are equal.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.versions import REPO

#: The committed record chapter 4 renders (``bench_vs_mmsa.py --record`` writes one).
BOOK_RECORD = REPO / "results" / "msa" / "vs_mmsa_cpu.json"

#: What a record says about the run as a whole.
RUN_KEYS = ("command", "started", "code_version", "mmsa", "machine", "data", "seeds", "workers", "models")
#: What it says about each model.
MODEL_KEYS = (
    "model", "stacks", "mmsa_seconds", "mmsa_epochs", "csmsasr_seconds", "csmsasr_epochs",
    "mmsa_MAE", "csmsasr_MAE", "peak_memory_mb", "same_run",
)  # fmt: skip

_SAME_RUN_LINE = re.compile(
    r"seed (?P<seed>\d+): epochs (?P<mmsa_epochs>\d+)/(?P<csmsasr_epochs>\d+), "
    r"(?:(?P<equal>all validation losses equal)|first different epoch (?P<parted>\d+)), "
    r"test MAE (?P<mmsa_MAE>[-\d.?]+)/(?P<csmsasr_MAE>[-\d.na]+)$"
)


class RecordError(CsmsasrError):
    """A side-by-side record that cannot be read: the message names the file and what is wrong."""


@dataclass(frozen=True)
class SideBySide:
    """A loaded record: ``run`` (the record's keys other than ``models``) and ``models`` (its entries)."""

    path: Path
    run: dict[str, Any]
    models: list[dict[str, Any]]


def cpu_description() -> dict[str, str]:
    """This machine's CPU model and widest vector unit (``AVX-512``, ``AVX2``, ``AVX`` or ``none``):
    the math libraries order a product's sums by the CPU they dispatch for, so a record's runs are
    repeatable only on a machine with the same CPU model and vector unit."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    units = {"avx512f": "AVX-512", "avx2": "AVX2", "avx": "AVX"}
    return {"cpu": model, "vector_unit": next((name for flag, name in units.items() if flag in flags), "none")}


def load_record(path: str | Path = BOOK_RECORD) -> SideBySide:
    """Read and check a record written by ``bench_vs_mmsa.py --record``.

    Refused with a :class:`RecordError` naming the file and the problem: a missing or unreadable
    file, text that is not JSON, a missing key, a model without a positive time or epoch count, or a
    per-seed line in a form :func:`seed_runs` cannot read.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: no such record (write one with benchmarks/bench_vs_mmsa.py --record)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordError(f"{path}: not a readable JSON record ({error})") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path}: a record is a JSON object, found {type(record).__name__}")
    missing = [key for key in RUN_KEYS if key not in record]
    if missing:
        raise RecordError(f"{path}: the record lacks {', '.join(missing)}")
    if not isinstance(record["models"], list) or not record["models"]:
        raise RecordError(f"{path}: 'models' must be a non-empty list of entries")
    for number, entry in enumerate(record["models"], start=1):
        name = entry.get("model", f"entry {number}") if isinstance(entry, dict) else f"entry {number}"
        if not isinstance(entry, dict):
            raise RecordError(f"{path}: {name} is not a JSON object")
        absent = [key for key in MODEL_KEYS if key not in entry]
        if absent:
            raise RecordError(f"{path}: {name} lacks {', '.join(absent)}")
        for key in ("mmsa_seconds", "mmsa_epochs", "csmsasr_seconds", "csmsasr_epochs"):
            if not isinstance(entry[key], int | float) or entry[key] <= 0:
                raise RecordError(f"{path}: {name}'s {key} must be a positive number, found {entry[key]!r}")
        try:
            seed_runs(entry)
        except ValueError as error:
            raise RecordError(f"{path}: {name}: {error}") from None
    run = {key: value for key, value in record.items() if key != "models"}
    return SideBySide(path=path, run=run, models=record["models"])


def seed_runs(entry: dict[str, Any]) -> pd.DataFrame:
    """One model's per-seed lines as a table: seed, each side's epochs and test MAE, and whether
    every epoch's validation loss was equal (``same_run``; else ``parted_at``, the first epoch that
    differs; MMSA's MAE is NaN where its log had none). Raises ``ValueError`` on a line of another form."""
    rows = []
    for line in entry["same_run"]:
        match = _SAME_RUN_LINE.match(line)
        if match is None:
            raise ValueError(f"cannot read the per-seed line {line!r}")
        fields = match.groupdict()
        rows.append(
            {
                "seed": int(fields["seed"]),
                "mmsa_epochs": int(fields["mmsa_epochs"]),
                "csmsasr_epochs": int(fields["csmsasr_epochs"]),
                "same_run": fields["equal"] is not None,
                "parted_at": None if fields["parted"] is None else int(fields["parted"]),
                "mmsa_MAE": float("nan") if fields["mmsa_MAE"] == "?" else float(fields["mmsa_MAE"]),
                "csmsasr_MAE": float(fields["csmsasr_MAE"]),
            }
        )
    return pd.DataFrame(rows)


def cost_table(record: SideBySide) -> pd.DataFrame:
    """Per model: each side's wall time, epochs and seconds per epoch, the wall and per-epoch
    ratios (csmsasr / MMSA), how the seeds trained (``stacks``: ``3+2`` = stacked groups of three
    and two), how many seeds made MMSA's very run, the mean test MAE on each side and the largest
    peak memory of a results row; then a row ``all`` with the summed wall times and their ratio."""
    rows = []
    for entry in record.models:
        seeds = seed_runs(entry)
        mmsa_per_epoch = entry["mmsa_seconds"] / entry["mmsa_epochs"]
        own_per_epoch = entry["csmsasr_seconds"] / entry["csmsasr_epochs"]
        rows.append(
            {
                "model": entry["model"],
                "MMSA s": entry["mmsa_seconds"],
                "MMSA epochs": entry["mmsa_epochs"],
                "MMSA s/epoch": mmsa_per_epoch,
                "csmsasr s": entry["csmsasr_seconds"],
                "csmsasr epochs": entry["csmsasr_epochs"],
                "csmsasr s/epoch": own_per_epoch,
                "wall ratio": entry["csmsasr_seconds"] / entry["mmsa_seconds"],
                "per-epoch ratio": own_per_epoch / mmsa_per_epoch,
                "stacks": entry["stacks"],
                "same runs": f"{int(seeds['same_run'].sum())} / {len(seeds)}",
                "test MAE (MMSA)": entry["mmsa_MAE"],
                "test MAE (csmsasr)": entry["csmsasr_MAE"],
                "peak memory MB": max(entry["peak_memory_mb"]) if entry["peak_memory_mb"] else float("nan"),
            }
        )
    table = pd.DataFrame(rows).set_index("model")
    mmsa_total, own_total = table["MMSA s"].sum(), table["csmsasr s"].sum()
    table.loc["all"] = pd.Series({"MMSA s": mmsa_total, "csmsasr s": own_total, "wall ratio": own_total / mmsa_total})
    return table.astype({"MMSA epochs": "Int64", "csmsasr epochs": "Int64"})


#: How :func:`styled_cost_table` writes each column of :func:`cost_table`.
COLUMN_FORMATS: dict[str, str] = {
    "MMSA s": "{:,.1f}", "csmsasr s": "{:,.1f}", "MMSA s/epoch": "{:.2f}", "csmsasr s/epoch": "{:.2f}",
    "wall ratio": "{:.2f}", "per-epoch ratio": "{:.2f}", "test MAE (MMSA)": "{:.4f}",
    "test MAE (csmsasr)": "{:.4f}", "peak memory MB": "{:,.0f}",
}  # fmt: skip


def styled_cost_table(table: pd.DataFrame, caption: str):
    """:func:`cost_table` for the book: the report's compact style, each column at its own precision."""
    from csmsasr_utils.msa.report import styled

    return styled(table, caption).format(COLUMN_FORMATS, na_rep="—")


def describe(record: SideBySide) -> str:
    """One line of provenance: when, on what machine, with which code and data."""
    machine, data, code = record.run["machine"], record.run["data"], record.run["code_version"]
    return (
        f"measured {record.run['started'][:10]} on {machine['cores']} cores of an {machine['cpu']} "
        f"({machine['vector_unit']}, float32 2048² product {machine['gemm_2048_gflops']:.0f} GFLOP/s, "
        f"torch {machine['torch']}); csmsasr {code['git']}, MMSA {record.run['mmsa']}; "
        f"{data['source']}, {data['bytes'] / 1e6:,.0f} MB, SHA-256 {data['sha256'][:12]}…; "
        f"seeds {', '.join(map(str, record.run['seeds']))}; csmsasr --workers {record.run['workers']}"
    )


def plot_ratios(ax: plt.Axes, table: pd.DataFrame, target: float = 0.5) -> None:
    """Wall and per-epoch ratio per model as paired bars, with the ``target`` ratio as a line."""
    models = table.drop(index="all", errors="ignore")
    positions = range(len(models))
    ax.bar([p - 0.2 for p in positions], models["wall ratio"], width=0.4, label="wall time", color="#4c72b0")
    ax.bar([p + 0.2 for p in positions], models["per-epoch ratio"], width=0.4, label="per epoch", color="#dd8452")
    ax.axhline(target, color="#333333", linestyle="--", linewidth=1)
    ax.text(-0.45, target, f"{target:g} of MMSA's time", va="center", ha="left", fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})  # fmt: skip
    ax.set_xticks(list(positions), models.index, rotation=30, ha="right")
    ax.set_ylabel("csmsasr time / MMSA time")
    ax.set_ylim(0, max(1.0, float(models[["wall ratio", "per-epoch ratio"]].max().max()) * 1.1))
    ax.legend(frameon=False, fontsize=8)
