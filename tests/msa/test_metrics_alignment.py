"""MMSA's SIMS metrics and input treatments, against independent calculations."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score

from csmsasr_utils.msa.alignment import (
    align_to_length,
    mean_over_padded_time,
    padded_length_after_alignment,
)
from csmsasr_utils.msa.metrics import METRIC_NAMES, sims_bins, sims_regression_metrics


def _bins_by_masks(values, edges):
    """MMSA's own way: for each interval (lo, hi], mark the values inside it."""
    v = np.clip(values, -1, 1)
    out = np.full(v.shape, -1)
    bounds = [-1.01, *edges, 1.01]
    for i in range(len(bounds) - 1):
        out[(v > bounds[i]) & (v <= bounds[i + 1])] = i
    return out


EDGES = {2: [0.0], 3: [-0.1, 0.1], 5: [-0.7, -0.1, 0.1, 0.7]}


@pytest.mark.parametrize("k", [2, 3, 5])
def test_bins_match_interval_masks_including_edges(k):
    rng = np.random.default_rng(k)
    values = np.concatenate([rng.uniform(-1.5, 1.5, 500), EDGES[k], [-1.0, 1.0, -1.2, 1.3]])
    assert np.array_equal(sims_bins(values, k), _bins_by_masks(values, EDGES[k]))


def test_metrics_against_sklearn_and_scipy():
    rng = np.random.default_rng(0)
    true = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], 300)
    pred = np.clip(true + rng.normal(0, 0.5, 300), -1.4, 1.4)
    got = sims_regression_metrics(pred, true, decimals=None)
    pc, tc = np.clip(pred, -1, 1), np.clip(true, -1, 1)
    for k in (2, 3, 5):
        assert got[f"Mult_acc_{k}"] == pytest.approx(
            accuracy_score(_bins_by_masks(tc, EDGES[k]), _bins_by_masks(pc, EDGES[k]))
        )
    assert got["F1_score"] == pytest.approx(f1_score(tc > 0, pc > 0, average="weighted"))
    assert got["MAE"] == pytest.approx(np.abs(pc - tc).mean())
    assert got["Corr"] == pytest.approx(pearsonr(pc, tc)[0])
    assert list(got) == list(METRIC_NAMES)


def test_metrics_round_to_four_decimals_and_accept_tensors():
    pred = torch.tensor([[0.123456], [-0.654321], [0.3], [0.9]])
    true = torch.tensor([0.5, -0.5, 0.0, 1.0])
    rounded = sims_regression_metrics(pred, true)
    exact = sims_regression_metrics(pred.numpy(), true.numpy(), decimals=None)
    assert rounded["MAE"] == round(exact["MAE"], 4) != exact["MAE"]


def test_neutral_zero_counts_as_negative_in_two_classes():
    # MMSA's 2-class bins are [-1, 0] and (0, 1]: a 0 label and a 0.05 prediction disagree.
    assert sims_regression_metrics([0.05], [0.0], decimals=None)["Mult_acc_2"] == 0.0
    assert sims_regression_metrics([-0.05], [0.0], decimals=None)["Mult_acc_2"] == 1.0


@pytest.mark.parametrize(
    "pred, true, message",
    [
        ([0.1, np.nan], [0.0, 0.5], "NaN"),
        ([], [], "empty"),
        ([0.1, 0.2], [0.0], "values"),
        ([0.1, np.inf], [0.0, 0.5], "infinite"),
    ],
)
def test_metrics_reject_bad_input(pred, true, message):
    with pytest.raises(ValueError, match=message):
        sims_regression_metrics(pred, true)


def _align_by_loop(x: np.ndarray, target: int) -> np.ndarray:
    """Reference: pad with the last frame to a multiple of target, average each window."""
    length = x.shape[1]
    pool = -(-length // target)
    padded = np.concatenate([x, np.repeat(x[:, -1:], pool * target - length, axis=1)], axis=1)
    return np.stack([padded[:, i * pool : (i + 1) * pool].mean(axis=1) for i in range(target)], axis=1)


@pytest.mark.parametrize("length, padded", [(553, 585), (321, 351), (78, 78), (1, 39), (39, 39)])
def test_alignment_matches_loop_reference(length, padded):
    rng = np.random.default_rng(length)
    x = rng.normal(size=(2, length, 3)).astype(np.float32)
    got = align_to_length(torch.from_numpy(x), 39).numpy()
    assert got.shape == (2, 39, 3)
    np.testing.assert_allclose(got, _align_by_loop(x, 39), rtol=1e-5, atol=1e-6)
    assert padded_length_after_alignment(length, 39) == padded


def test_mean_over_padded_time_counts_padding_and_zeroes_nan():
    x = torch.tensor([[[2.0, np.nan], [4.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
    out = mean_over_padded_time(x)
    assert out.shape == (1, 1, 2)
    assert out.flatten().tolist() == [1.5, 0.0]  # padding zeros included; NaN mean → 0


@pytest.mark.parametrize("length, dim", [(553, 13), (321, 347), (1, 5)])
def test_mean_over_padded_time_is_mmsas_numpy_mean_bit_for_bit(length, dim):
    """MMSA's ``__normalize``: ``np.mean`` over the (time, clip, dim) transpose of float32 arrays."""
    rng = np.random.default_rng(length)
    x = (rng.standard_normal((40, length, dim)) * 10).astype(np.float32)
    x[:, length // 2 + 1 :] = 0.0  # padding
    theirs = np.transpose(np.mean(np.transpose(x, (1, 0, 2)), axis=0, keepdims=True), (1, 0, 2))
    assert np.array_equal(mean_over_padded_time(torch.from_numpy(x)).numpy(), theirs)


def test_vectorised_resample_metrics_equal_the_reference():
    from csmsasr_utils.msa.metrics import _resampled_metrics

    rng = np.random.default_rng(5)
    true = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], 60)
    pred = true + rng.normal(0, 0.6, 60)
    index = rng.integers(0, 60, size=(25, 60))
    index[0] = np.flatnonzero(true <= 0)[0]  # a resample with one class only (F1 edge case, Corr NaN)
    fast = _resampled_metrics(pred, true, index)
    for b in range(25):
        slow = sims_regression_metrics(pred[index[b]], true[index[b]], decimals=None)
        np.testing.assert_allclose(fast[b], [slow[m] for m in METRIC_NAMES], rtol=1e-9, atol=1e-12, equal_nan=True)


def test_bootstrap_interval_brackets_the_value_and_is_seeded():
    from csmsasr_utils.msa.metrics import bootstrap_metrics

    rng = np.random.default_rng(1)
    true = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], 200)
    pred = true + rng.normal(0, 0.5, 200)
    a, b = bootstrap_metrics(pred, true, n_boot=300, seed=3), bootstrap_metrics(pred, true, n_boot=300, seed=3)
    assert a.equals(b)
    assert ((a["low"] <= a["value"]) & (a["value"] <= a["high"])).all()
    assert (a["high"] - a["low"] > 0).all()


def test_bootstrap_of_a_constant_predictor_has_no_correlation_interval():
    import warnings

    from csmsasr_utils.msa.metrics import bootstrap_metrics

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = bootstrap_metrics(np.full(50, -0.5), np.linspace(-1, 1, 50), n_boot=50)
    assert np.isnan(table.loc["Corr", ["value", "low", "high"]].astype(float)).all()
    assert table.loc["MAE", "low"] <= table.loc["MAE", "value"] <= table.loc["MAE", "high"]


def _mmsa_float32_bins(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """MMSA's own SIMS binning (``__eval_sims_regression``) on a float32 array: clip, then
    ``preds > lo and preds <= hi`` against Python floats — which numpy evaluates in float32."""
    preds = np.clip(values, a_min=-1.0, a_max=1.0)
    out = preds.copy()
    bounds = [-1.01, *edges, 1.01]
    for i in range(len(bounds) - 1):
        out[np.logical_and(preds > bounds[i], preds <= bounds[i + 1])] = i
    return out.astype(int)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_float32_values_on_every_edge_fall_in_mmsas_bins(k):
    edges32 = np.float32(EDGES[k])
    values = np.concatenate(
        [edges32, np.nextafter(edges32, np.float32(2)), np.nextafter(edges32, np.float32(-2)), np.float32([-1.0, 1.0])]
    ).astype(np.float32)
    assert values.dtype == np.float32
    expected = _mmsa_float32_bins(values, EDGES[k])
    assert np.array_equal(sims_bins(values, k), expected)
    # a float32 model output exactly on an edge scores as in MMSA against a label in the bin below
    labels = np.full(len(edges32), -1.0, dtype=np.float32)
    for i, edge in enumerate(EDGES[k]):
        labels[i] = edge - 0.05 if edge > -0.7 else -0.9
    got = sims_regression_metrics(edges32, labels, decimals=None)[f"Mult_acc_{k}"]
    assert got == pytest.approx(np.mean(_mmsa_float32_bins(edges32, EDGES[k]) == _mmsa_float32_bins(labels, EDGES[k])))


def test_float32_binning_differs_from_float64_where_mmsa_says_so():
    """0.1 in float32 is 0.100000001…: MMSA (float32) puts it at the edge, float64 above it."""
    value = np.float32(0.1)
    assert sims_bins(np.array([value]), 3)[0] == _mmsa_float32_bins(np.array([value]), EDGES[3])[0] == 1
    assert sims_bins(np.array([value], dtype=np.float64), 3)[0] == 2
