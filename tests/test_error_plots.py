"""The error-analysis figures draw exactly the numbers of their tables (read back from the artists)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from csmsasr_utils import error_plots  # noqa: E402
from csmsasr_utils.errors import CsmsasrError  # noqa: E402


@pytest.fixture
def shown(monkeypatch):
    """The figures the functions show, in order (``plt.show`` records instead of displaying)."""
    figures: list[plt.Figure] = []
    monkeypatch.setattr(error_plots.plt, "show", lambda: figures.append(plt.gcf()))
    yield figures
    plt.close("all")


def _texts(fig: plt.Figure) -> str:
    return " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


def test_difficulty_bars_stack_the_shares(shown):
    shares = pd.DataFrame({0: [0.5, 0.2], 1: [0.25, 0.3], 2: [0.25, 0.5]}, index=["Negative", "Neutral"])
    error_plots.show_difficulty(shares, 2, "Missed", "toy data")
    (fig,) = shown
    bars = fig.axes[0].patches
    assert [b.get_width() for b in bars] == pytest.approx([0.5, 0.2, 0.25, 0.3, 0.25, 0.5])
    assert [b.get_x() for b in bars] == pytest.approx([0.0, 0.0, 0.5, 0.2, 0.75, 0.5])  # stacked left to right
    assert "Missed" in _texts(fig) and "Data: toy data" in _texts(fig) and "2 of 2 wrong" in _texts(fig)


def test_agreement_bars_one_panel_per_modality(shown):
    table = pd.DataFrame(
        {"text": [0.3, 0.5], "multimodal": [0.2, 0.4]}, index=["same class as M", "other class than M"]
    )
    error_plots.show_agreement({"t": table, "a": table * 2}, "Disagreement", "toy data")
    (fig,) = shown
    assert len(fig.axes) == 2 and fig.axes[1].get_xlabel() == "A label vs M"
    heights = [b.get_height() for b in fig.axes[1].patches]
    assert heights == pytest.approx([0.6, 1.0, 0.4, 0.8])  # column by column
    with pytest.raises(CsmsasrError):
        error_plots.show_agreement({}, "Disagreement", "toy data")


def test_token_cost_bars_and_annotations(shown):
    cost = pd.DataFrame(
        {
            "distinct": [6, 100],
            "occurrences": [1234, 50000],
            "tokens_per_occurrence": [2.0, 1.25],
            "share_multi_token": [1.0, 0.2],
        },
        index=["Changsha particles", "all other characters"],
    )
    error_plots.show_token_cost(cost, "Cost", "toy data")
    (fig,) = shown
    assert [b.get_width() for b in fig.axes[0].patches] == pytest.approx([1.0, 0.2])
    assert "1,234 occurrences, 2.00 tokens each" in _texts(fig)


def test_noise_curves_draw_points_means_floor_and_cers(shown):
    curve = pd.DataFrame(
        {
            "rate": [0.0, 0.0, 0.5, 0.5],
            "seed": [0, 1, 0, 1],
            "realised_cer": [0.0, 0.0, 0.4, 0.6],
            "MAE": [0.4, 0.4, 0.5, 0.7],
            "Corr": [0.6, 0.6, 0.3, 0.1],
        }
    )
    error_plots.show_noise_curves({"ridge": curve}, 0.8, {"Whisper-base (direct inference)": 0.7762}, "Noise", "toy")
    (fig,) = shown
    mae_axis = fig.axes[0]
    mean_line = next(line for line in mae_axis.lines if line.get_label() == "ridge (mean of seeds)")
    np.testing.assert_allclose(mean_line.get_xdata(), [0.0, 0.5])
    np.testing.assert_allclose(mean_line.get_ydata(), [0.4, 0.6])
    floor = next(line for line in mae_axis.lines if line.get_label() == "majority baseline")
    np.testing.assert_allclose(floor.get_ydata(), [0.8, 0.8])
    assert not any(line.get_label() == "majority baseline" for line in fig.axes[1].lines)  # the MAE panel only
    assert "Whisper-base\n(direct inference)" in _texts(fig)


def test_shift_against_cer_caps_the_cer(shown):
    cer = pd.DataFrame({"greedy": [0.5, 3.0]}, index=["a", "b"])
    shift = pd.DataFrame({"hypothesis (greedy)": [-0.2, 0.4]}, index=["a", "b"])
    error_plots.show_shift_against_cer(cer, shift, "Shift", "toy")
    (fig,) = shown
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets(), [[0.5, 0.2], [2.0, 0.4]])
    with pytest.raises(CsmsasrError, match="do not line up"):
        error_plots.show_shift_against_cer(cer, shift.iloc[:1], "Shift", "toy")


def test_ablation_bars_zoom_on_the_mae(shown):
    ablation = pd.DataFrame(
        {"MAE": [0.5, 0.55, 0.52], "mean prediction": [0.1, 0.0, 0.05]},
        index=["transcript", "啰 removed", "random characters removed (seed 0)"],
    )
    error_plots.show_ablation(ablation, "Ablation", "toy")
    (fig,) = shown
    assert [b.get_width() for b in fig.axes[0].patches] == pytest.approx([0.5, 0.55, 0.52])
    assert fig.axes[0].get_xlim() == pytest.approx((0.45, 0.57))


def test_protocol_bars_show_means_over_folds(shown):
    rows = pd.DataFrame(
        {
            "protocol": ["seen (a)"] * 4 + ["unseen (b)"] * 4,
            "model": ["Majority", "Majority", "Ridge", "Ridge"] * 2,
            "test_MAE": [0.6, 0.8, 0.4, 0.5, 0.7, 0.7, 0.6, 0.7],
        }
    )
    error_plots.show_protocols(rows, ["MAE"], "Protocols", "toy")
    (fig,) = shown
    heights = [b.get_height() for b in fig.axes[0].patches]
    assert heights == pytest.approx([0.7, 0.7, 0.45, 0.65])  # Majority seen, unseen; Ridge seen, unseen
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["seen", "unseen"]


def test_paired_scatter_points_and_diagonal(shown):
    table = pd.DataFrame({"seen": [0.3, 0.5], "unseen": [0.4, 0.9]}, index=["01", "02"])
    error_plots.show_paired_scatter(table, "Per video", "toy")
    (fig,) = shown
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[0.3, 0.4], [0.5, 0.9]])
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0.25, 0.25], [0.95, 0.95]])
    assert ax.get_xlabel() == "MAE, seen" and ax.get_ylabel() == "MAE, unseen"
    with pytest.raises(CsmsasrError, match="two columns"):
        error_plots.show_paired_scatter(table.assign(third=1.0), "Per video", "toy")
