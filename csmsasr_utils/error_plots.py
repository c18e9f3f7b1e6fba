"""The figures of the error analysis, each drawn from one table the package computes.

Each function takes a table of :mod:`csmsasr_utils.msa.analysis`,
:mod:`csmsasr_utils.msa.text_robustness` / :mod:`csmsasr_utils.msa.cascade` or
:mod:`csmsasr_utils.asr.token_cost`, draws it in the book's style (:mod:`csmsasr_utils.plots`)
with a title and the data source, and shows it at once (``plt.show()``), so that in a notebook the
figure stands where it is called among the cell's outputs. The computations stay in those modules,
so a figure shows exactly the numbers a test has checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import cycle

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.plots import figure_with_source, title_with_source

#: Colours of the models or runs compared in one figure, in order.
MODEL_COLOURS: tuple[str, ...] = ("#4c72b0", "#dd8452", "#55a868", "#8172b3")

#: Grey, for floors, controls and everything else.
GREY = "#8c8c8c"

#: Red, for what is highlighted (the published CERs, the ablated characters).
RED = "#c44e52"


def show_difficulty(shares: pd.DataFrame, n_models: int, title: str, source: str) -> None:
    """Stacked horizontal bars: per true class, the share of clips that 0 … ``n_models`` models miss.

    ``shares`` is :func:`~csmsasr_utils.msa.analysis.wrong_class_shares`' table; darker red means
    more models in the wrong class.
    """
    fig, ax = plt.subplots(figsize=(8, 3.6))
    left = np.zeros(len(shares))
    colors = plt.cm.Reds(np.linspace(0.15, 0.85, shares.shape[1]))
    for column, color in zip(shares.columns, colors):
        ax.barh(shares.index, shares[column], left=left, color=color, label=f"{column} of {n_models} wrong")
        left += shares[column].to_numpy()
    ax.invert_yaxis()
    ax.set_xlabel("share of the clips of each true class")
    ax.legend(frameon=False, fontsize=8, ncol=n_models + 1, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    title_with_source(ax, title, source)
    plt.show()


def show_agreement(tables: Mapping[str, pd.DataFrame], title: str, source: str) -> None:
    """One panel per modality: the MAE of each group of models where its label agrees with M or not.

    ``tables`` maps a modality (``'t'``, ``'a'``, ``'v'``) to
    :func:`~csmsasr_utils.msa.analysis.mae_by_agreement`' table; the panels share the MAE axis and
    one legend (the groups of models).
    """
    if not tables:
        raise CsmsasrError("show_agreement needs at least one modality's table")
    fig, axes = plt.subplots(1, len(tables), figsize=(4 * len(tables), 3.6), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, (modality, table) in zip(axes, tables.items()):
        table.plot.bar(ax=ax, rot=0, color=["#4c72b0", RED], legend=False)
        ax.set_xlabel(f"{modality.upper()} label vs M")
        ax.set_ylabel("MAE")
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        frameon=False,
        fontsize=9,
        ncol=2,
        loc="lower center",
        bbox_to_anchor=(0.5, -0.08),
    )
    fig.subplots_adjust(top=0.8)
    figure_with_source(fig, title, source)
    plt.show()


def show_token_cost(cost: pd.DataFrame, title: str, source: str) -> None:
    """Per group of characters, the share needing more than one token, annotated with the counts.

    ``cost`` is :func:`~csmsasr_utils.asr.token_cost.token_cost_table`'s table (groups in its order,
    the dialect groups first).
    """
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.barh(cost.index, cost["share_multi_token"], color=[RED, "#dd8452", "#4c72b0", GREY])
    for y, row in enumerate(cost.itertuples()):
        ax.annotate(
            f"{row.occurrences:,} occurrences, {row.tokens_per_occurrence:.2f} tokens each",
            (row.share_multi_token, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_xlim(0, 1.6)
    ax.set_xlabel("share of the written characters that need more than one Whisper token")
    title_with_source(ax, title, source)
    plt.show()


def show_noise_curves(
    curves: Mapping[str, pd.DataFrame],
    floor_mae: float,
    cer_levels: Mapping[str, float],
    title: str,
    source: str,
    metrics: Sequence[str] = ("MAE", "Corr"),
    floor_label: str = "majority baseline",
) -> None:
    """One panel per metric: each model's noise curve against the realised CER, with the CERs marked.

    ``curves`` maps a text model to its :func:`~csmsasr_utils.msa.text_robustness.noise_curve`
    (every seed a faint point, the mean over seeds a line); the MAE panel has the floor as a dashed
    line, and every panel the CERs of ``cer_levels`` (name → CER) as red verticals.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 3.8), squeeze=False)
    axes = axes[0]
    for ax, metric in zip(axes, metrics):
        for (name, curve), color in zip(curves.items(), cycle(MODEL_COLOURS)):
            mean = curve.groupby("rate")[["realised_cer", metric]].mean()
            ax.plot(curve["realised_cer"], curve[metric], "o", alpha=0.3, color=color)
            ax.plot(mean["realised_cer"], mean[metric], "-", color=color, label=f"{name} (mean of seeds)")
        if metric == "MAE":
            ax.axhline(floor_mae, color=GREY, ls="--", label=floor_label)
        for name, cer in cer_levels.items():
            ax.axvline(cer, color=RED, lw=0.8, alpha=0.6)
            ax.annotate(
                name.replace(" (", "\n(").replace(" on CS-MSASR", ""),
                (cer, 1),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                va="top",
                fontsize=7,
                color=RED,
            )
        ax.set_xlabel("character error rate of the text read")
        ax.set_ylabel(metric)
        ax.set_xlim(-0.02, 1.0)
    axes[0].legend(frameon=False, fontsize=8, loc="lower right")
    figure_with_source(fig, title, source)
    plt.show()


def show_shift_against_cer(cer: pd.DataFrame, shift: pd.DataFrame, title: str, source: str) -> None:
    """Per clip, how far the prediction moves against the CER of the hypothesis read (capped at 2).

    ``cer`` (:func:`~csmsasr_utils.msa.cascade.clip_cer`, a column per run) and ``shift``
    (:func:`~csmsasr_utils.msa.cascade.prediction_shift`) have the same rows, and their columns
    pair up in order; the legend names the runs.
    """
    if cer.shape != shift.shape:
        raise CsmsasrError(f"CER table {cer.shape} and prediction shifts {shift.shape} do not line up")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name, column in zip(cer.columns, shift.columns):
        ax.scatter(np.minimum(cer[name].to_numpy(), 2.0), shift[column].abs(), label=name, alpha=0.5, s=12)
    ax.set_xlabel("CER of the clip's hypothesis (capped at 200 %)")
    ax.set_ylabel("|prediction change|")
    ax.legend(frameon=False, fontsize=8)
    title_with_source(ax, title, source)
    plt.show()


def show_ablation(
    ablation: pd.DataFrame, title: str, source: str, metrics: Sequence[str] = ("MAE", "mean prediction")
) -> None:
    """Side-by-side bars of a :func:`~csmsasr_utils.msa.text_robustness.deletion_ablation`.

    Rows in its order: the transcript (blue), the characters removed (red), the random controls
    (grey). The MAE axis is zoomed on the range of the rows, where the differences are.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.2), sharey=True, squeeze=False)
    axes = axes[0]
    colors = ["#4c72b0", RED] + [GREY] * (len(ablation) - 2)
    for ax, metric in zip(axes, metrics):
        ax.barh(ablation.index, ablation[metric], color=colors)
        ax.set_xlabel(metric)
        if metric == "MAE":
            ax.set_xlim(ablation["MAE"].min() - 0.05, ablation["MAE"].max() + 0.02)
    axes[0].invert_yaxis()
    figure_with_source(fig, title, source)
    plt.show()


def show_protocols(
    results: pd.DataFrame, metrics: Sequence[str], title: str, source: str, floor: str = "Majority"
) -> None:
    """One panel per metric: each model's mean ± std over folds, grouped by protocol.

    ``results`` are rows with ``protocol``, ``model`` and ``test_<metric>`` (e.g. text baselines
    evaluated under several protocols); the ``floor`` model is grey, the others blue. Protocols
    are labelled by their name up to the space before ``(``.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.4), squeeze=False)
    axes = axes[0]
    for ax, metric in zip(axes, metrics):
        table = results.pivot_table(index="protocol", columns="model", values=f"test_{metric}", aggfunc="mean")
        spread = results.pivot_table(index="protocol", columns="model", values=f"test_{metric}", aggfunc="std")
        table.plot.bar(
            ax=ax,
            yerr=spread,
            rot=0,
            color=[GREY if m == floor else "#4c72b0" for m in table.columns],
            legend=ax is axes[0],
            capsize=3,
        )
        ax.set_xticks(range(len(table)), [p.split(" (")[0] for p in table.index], fontsize=8)
        ax.set_xlabel("")
        ax.set_title(metric, fontsize=10)
    axes[0].legend(frameon=False, fontsize=8, loc="lower left")
    fig.subplots_adjust(top=0.78)
    figure_with_source(fig, title, source)
    plt.show()


def show_paired_scatter(table: pd.DataFrame, title: str, source: str, quantity: str = "MAE") -> None:
    """Each row of a two-column table as a point (first column across, second up), labelled by its
    index, with the diagonal: e.g. :func:`~csmsasr_utils.msa.analysis.mae_by_protocol` per video,
    where a point above the diagonal got worse in the second column."""
    if table.shape[1] != 2:
        raise CsmsasrError(f"show_paired_scatter takes a table of two columns, got {list(table.columns)}")
    x, y = table.columns
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(table[x], table[y], color="#4c72b0")
    for label, row in table.iterrows():
        ax.annotate(str(label), (row[x], row[y]), fontsize=7, xytext=(2, 2), textcoords="offset points")
    low, high = table.min().min() - 0.05, table.max().max() + 0.05
    ax.plot([low, high], [low, high], color=GREY, lw=0.8)
    ax.set_xlabel(f"{quantity}, {x}")
    ax.set_ylabel(f"{quantity}, {y}")
    title_with_source(ax, title, source)
    plt.show()
