"""Agreement functions against hand-worked matrices and scikit-learn / scipy / krippendorff directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from csmsasr_utils import agreement as ag
from csmsasr_utils.data.labels import mmsa_bins

LEVELS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])


@pytest.fixture(scope="module")
def labels():
    rng = np.random.default_rng(3)
    m = rng.choice(LEVELS, size=300)
    noisy = {
        k: np.clip(np.round((m + rng.normal(0, s, 300)) * 2) / 2, -1, 1)
        for k, s in {"T": 0.3, "A": 0.5, "V": 0.4}.items()
    }
    return pd.DataFrame({"M": m, **noisy}, index=[f"01_{i:04d}" for i in range(1, 301)])


def test_hand_worked_confusion_and_kappa():
    a = np.array([-1.0, -1.0, 0.0, 0.5, 1.0, 1.0])
    b = np.array([-1.0, -0.5, 0.0, 0.5, 0.5, 1.0])
    table = ag.confusion(a, b)
    assert table.loc["Negative", "Negative"] == 1 and table.loc["Negative", "Weakly negative"] == 1
    assert table.loc["Positive", "Weakly positive"] == 1 and table.to_numpy().sum() == 6
    # observed agreement 4/6; expected: row shares (2,0,1,1,2)/6 · column shares (1,1,1,2,1)/6
    p_o = 4 / 6
    p_e = (2 * 1 + 0 * 1 + 1 * 1 + 1 * 2 + 2 * 1) / 36
    assert ag.cohen_kappa(mmsa_bins(a, 5), mmsa_bins(b, 5), 5) == pytest.approx((p_o - p_e) / (1 - p_e))


def test_confusion_matches_sklearn(labels):
    for n_classes in (3, 5):
        ours = ag.confusion(labels["M"], labels["V"], n_classes).to_numpy()
        theirs = confusion_matrix(
            mmsa_bins(labels["M"], n_classes), mmsa_bins(labels["V"], n_classes), labels=list(range(n_classes))
        )
        assert np.array_equal(ours, theirs)
    assert ag.polarity_confusion(labels["M"], labels["A"]).shape == (3, 3)


@pytest.mark.parametrize("weights", [None, "quadratic"])
def test_kappa_matches_sklearn(labels, weights):
    a, b = mmsa_bins(labels["M"], 5), mmsa_bins(labels["A"], 5)
    assert ag.cohen_kappa(a, b, 5, weights) == pytest.approx(cohen_kappa_score(a, b, weights=weights))


def test_pair_metrics_match_scipy(labels):
    metrics = ag.pair_metrics(labels["M"], labels["T"])
    assert set(metrics) == set(ag.METRICS)
    assert metrics["spearman"] == pytest.approx(spearmanr(labels["M"], labels["T"]).statistic)
    assert metrics["pearson"] == pytest.approx(pearsonr(labels["M"], labels["T"]).statistic)
    assert metrics["mean_abs_diff"] == pytest.approx(np.mean(np.abs(labels["M"] - labels["T"])))
    bins_m, bins_t = mmsa_bins(labels["M"], 5), mmsa_bins(labels["T"], 5)
    assert metrics["exact"] == pytest.approx(np.mean(bins_m == bins_t))
    assert metrics["within_one"] == pytest.approx(np.mean(np.abs(bins_m - bins_t) <= 1))


def test_pairwise_alpha_matches_the_package(labels):
    import krippendorff

    metrics = ag.pair_metrics(labels["M"], labels["V"], domain=LEVELS)
    expected = krippendorff.alpha(
        reliability_data=np.vstack([labels["M"], labels["V"]]), value_domain=LEVELS, level_of_measurement="ordinal"
    )
    assert metrics["alpha_ordinal"] == pytest.approx(expected)


def test_pair_metrics_worked_example():
    metrics = ag.pair_metrics([-1.0, -0.5, 0.5, 1.0], [-1.0, 0.0, 0.5, 0.5])
    assert metrics["exact"] == 0.5 and metrics["within_one"] == 1.0
    assert metrics["mean_abs_diff"] == 0.25 and metrics["polarity"] == 0.75
    with pytest.raises(ValueError):
        ag.pair_metrics([0.0, 1.0], [0.0])


def _interval_alpha(values: np.ndarray) -> float:
    """Krippendorff's interval α from its definition (no missing values): 1 − D_o / D_e."""
    units, raters = values.shape
    within = sum(((u[:, None] - u[None, :]) ** 2).sum() / (raters - 1) for u in values)
    pooled = values.ravel()
    n = len(pooled)
    d_o = within / n
    d_e = ((pooled[:, None] - pooled[None, :]) ** 2).sum() / (n * (n - 1))
    return 1.0 - d_o / d_e


def test_interval_alpha_matches_its_definition(labels):
    small = labels.iloc[:80]
    assert ag.krippendorff_alpha(small, "interval") == pytest.approx(_interval_alpha(small.to_numpy()))


def test_alpha_of_perfect_agreement_is_one():
    same = pd.DataFrame({"M": LEVELS, "T": LEVELS, "A": LEVELS, "V": LEVELS})
    assert ag.krippendorff_alpha(same, "ordinal") == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ag.krippendorff_alpha(same, "nominal-ish")


def test_bootstrap_is_seeded_and_brackets_the_value(labels):
    first = ag.pairwise_agreement(labels, n_boot=200, seed=5)
    again = ag.pairwise_agreement(labels, n_boot=200, seed=5)
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 6 * len(ag.METRICS)
    assert (first["ci_low"] <= first["value"] + 1e-12).all() and (first["value"] <= first["ci_high"] + 1e-12).all()
    other = ag.pairwise_agreement(labels, n_boot=200, seed=6)
    assert not np.allclose(first["ci_low"], other["ci_low"])


def test_bootstrap_interval_of_a_mean_is_close_to_normal_theory():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    table = ag.bootstrap(lambda idx: {"mean": float(x[idx].mean())}, len(x), n_boot=2000, seed=1)
    half_width = (table.loc["mean", "ci_high"] - table.loc["mean", "ci_low"]) / 2
    assert half_width == pytest.approx(1.96 * x.std() / np.sqrt(len(x)), rel=0.1)


def test_alpha_table_and_matrix(labels):
    alphas = ag.alpha_table(labels, n_boot=50, seed=0)
    assert list(alphas.index) == ["alpha_ordinal", "alpha_interval"]
    table = ag.pairwise_agreement(labels, n_boot=20)
    matrix = ag.agreement_matrix(table, "kappa")
    assert np.isnan(np.diag(matrix.to_numpy())).all()
    assert matrix.loc["T", "M"] == matrix.loc["M", "T"]
    assert matrix.loc["M", "T"] == pytest.approx(ag.pair_metrics(labels["M"], labels["T"])["kappa"])


def test_opposing_polarity_and_rates():
    meta = pd.DataFrame(
        {
            "clip_id": ["a", "b", "c", "d"],
            "video_id": ["01", "01", "02", "02"],
            "text": ["w", "x", "y", "z"],
            "label_m": [1.0, -1.0, 0.0, 0.5],
            "label_t": [-1.0, -0.5, 1.0, 0.5],
            "label_a": [0.5, 0.5, 0.0, -0.5],
            "label_v": [1.0, -1.0, 0.0, 0.5],
        }
    )
    assert list(ag.opposing_polarity(meta, "T")["clip_id"]) == ["a"]  # c: M neutral is not opposed
    assert list(ag.opposing_polarity(meta, "A")["clip_id"]) == ["b", "d"]  # |0.5+1| > |-0.5-0.5|
    assert ag.opposing_polarity(meta, "V").empty
    rates = ag.disagreement_rate(meta, "video_id")
    assert rates.loc["01", "T"] == 0.5 and rates.loc["02", "T"] == 0.5 and rates.loc["02", "A"] == 0.5
    assert rates["n_clips"].tolist() == [2, 2]
    with pytest.raises(ValueError):
        ag.opposing_polarity(meta, "M")


def test_label_matrix_needs_the_columns():
    with pytest.raises(KeyError, match="label_t"):
        ag.label_matrix(pd.DataFrame({"clip_id": ["a"], "label_m": [0.0]}))


def test_summary_table_and_annotated_matrix(labels):
    table = ag.pairwise_agreement(labels, n_boot=30, seed=1)
    summary = ag.summary_table(table)
    assert list(summary.index) == ["M–T", "M–A", "M–V", "T–A", "T–V", "A–V"]
    assert list(summary.columns) == list(ag.METRICS)
    row = table[(table["pair"] == "T–V") & (table["metric"] == "pearson")].iloc[0]
    assert summary.loc["T–V", "pearson"] == f"{row.value:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    values, text = ag.annotated_matrix(table, "exact")
    assert text.loc["A", "M"] == text.loc["M", "A"] != "" and text.loc["M", "M"] == ""
    assert text.loc["M", "A"].startswith(f"{values.loc['M', 'A']:.2f}\n[")
