"""One figure style for the whole book, with a font that renders Chinese.

Call :func:`use_book_style` once at the top of a notebook; give every figure a
data source with :func:`title_with_source`.
"""

from __future__ import annotations

import warnings

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import font_manager

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


def use_book_style() -> str | None:
    """Apply the book's matplotlib/seaborn style; return the CJK font used (warn if none).

    Without a CJK font, Chinese characters in figures render as empty boxes:
    install Debian's ``fonts-noto-cjk`` (the README's setup does).
    """
    import seaborn as sns

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
    ax.text(0.0, 1.01, f"Data: {source}", transform=ax.transAxes, fontsize=9, color="#555555",
            ha="left", va="bottom")


def figure_with_source(fig: plt.Figure, title: str, source: str) -> None:
    """Title a whole (multi-panel) figure, with the data source on a second line."""
    fig.suptitle(f"{title}\nData: {source}", x=0.01, ha="left", fontsize=12)
