"""One figure style for the whole book, with a font that renders Chinese.

Call :func:`use_book_style` once at the top of a notebook; give every figure a
data source with :func:`title_with_source`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import font_manager

from csmsasr_utils.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: CJK fonts tried in order (Debian's fonts-noto-cjk provides the first ones).
CJK_FONT_CANDIDATES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
    "SimHei",
    "Microsoft YaHei",
)

#: Colours of the five sentiment classes, negative (red) to positive (blue).
CLASS_COLOURS: tuple[str, ...] = ("#b2182b", "#ef8a62", "#bababa", "#67a9cf", "#2166ac")


def find_cjk_font() -> str | None:
    """Name of the first installed font of :data:`CJK_FONT_CANDIDATES`, or ``None``."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONT_CANDIDATES if name in installed), None)


def show_figures_inline() -> bool:
    """In a Jupyter kernel whose backend is plain ``Agg``, switch to the inline backend.

    ``MPLBACKEND=Agg`` in the environment (common on CI machines and servers) is inherited by the
    kernels that execute the book, and with it ``plt.show()`` displays nothing: the chapters would
    build without a single figure. Returns whether it switched.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell" or matplotlib.get_backend().lower() != "agg":
        return False
    shell.run_line_magic("matplotlib", "inline")
    return True


def use_book_style() -> str | None:
    """Apply the book's matplotlib/seaborn style; return the CJK font used (warn if none).

    Figures are shown inline in notebooks even under ``MPLBACKEND=Agg`` (:func:`show_figures_inline`).
    Without a CJK font, Chinese characters in figures render as empty boxes:
    install Debian's ``fonts-noto-cjk`` (the README's setup does).
    """
    import seaborn as sns

    show_figures_inline()

    sns.set_theme(context="notebook", style="whitegrid")
    font = find_cjk_font()
    if font is None:
        warnings.warn(
            "no CJK font found: Chinese text in figures will not render. Install fonts-noto-cjk.",
            stacklevel=2,
        )
    else:
        matplotlib.rcParams["font.sans-serif"] = [font, *matplotlib.rcParams["font.sans-serif"]]
        matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams.update(
        {
            "axes.unicode_minus": False,
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "figure.figsize": (8, 4),
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
        }
    )
    return font


def title_with_source(ax: plt.Axes, title: str, source: str) -> None:
    """Title an axis, with the data source on a second, smaller line ("Data: …")."""
    ax.set_title(f"{title}\n", loc="left")
    ax.text(0.0, 1.01, f"Data: {source}", transform=ax.transAxes, fontsize=9, color="#555555", ha="left", va="bottom")


def figure_with_source(fig: plt.Figure, title: str, source: str) -> None:
    """Title a whole (multi-panel) figure, with the data source on a second line."""
    fig.suptitle(f"{title}\nData: {source}", x=0.01, ha="left", fontsize=12)


def annotated_heatmap(
    ax: plt.Axes,
    values: pd.DataFrame,
    annotations: pd.DataFrame | None = None,
    *,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    fmt: str = "{:.2f}",
    fontsize: float = 10,
) -> None:
    """A heat map of a DataFrame, each cell annotated with its value or with ``annotations``."""
    import seaborn as sns

    text = values.map(lambda v: "" if v != v else fmt.format(v)) if annotations is None else annotations
    sns.heatmap(
        values.astype(float),
        ax=ax,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        annot=text.to_numpy(),
        fmt="",
        cbar=True,
        square=True,
        linewidths=0.5,
        linecolor="white",
        annot_kws={"fontsize": fontsize},
    )
    ax.tick_params(axis="y", rotation=0)


def embedding_scatter(ax: plt.Axes, xy: np.ndarray, values: np.ndarray, *, kind: str, title: str) -> None:
    """Scatter a 2-d embedding coloured by sentiment class (``kind='label'``, values in [-1, 1])
    or by category (``kind='category'``, e.g. the source video; no legend)."""
    import numpy as np
    import seaborn as sns

    from csmsasr_utils.data.labels import mmsa_bins

    if kind == "label":
        colours = np.asarray(CLASS_COLOURS)[mmsa_bins(values, 5)]
    elif kind == "category":
        categories, codes = np.unique(np.asarray(values), return_inverse=True)
        colours = np.asarray(sns.color_palette("husl", len(categories)))[codes]
    else:
        raise InvalidArgument(f"kind must be 'label' or 'category', got {kind!r}")
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=5, alpha=0.8, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)


def class_legend(fig: plt.Figure, **kwargs) -> None:
    """A figure legend of the five sentiment classes and their colours."""
    from matplotlib.patches import Patch

    from csmsasr_utils.data.labels import CLASS_NAMES

    handles = [Patch(color=c, label=n) for c, n in zip(CLASS_COLOURS, CLASS_NAMES)]
    fig.legend(handles=handles, ncol=5, frameon=False, **{"loc": "lower center", **kwargs})
