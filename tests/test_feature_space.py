"""Pooling, UMAP caching and separability measures against loops, numpy and brute force."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from csmsasr_utils import feature_space as F
from csmsasr_utils.data import features_from_dict


@pytest.fixture
def feature_set(small_demo):
    return features_from_dict(copy.deepcopy(small_demo))


def test_pool_valid_matches_a_loop(feature_set):
    lengths = feature_set.vision_lengths
    pooled = F.pool_valid(feature_set.vision, lengths)
    for i in (0, 7, 33):
        assert np.allclose(pooled[i], feature_set.vision[i, : lengths[i]].astype(np.float64).mean(axis=0))
    assert np.array_equal(F.pool_valid(np.ones((2, 3, 1)), [0, 3]), [[0.0], [1.0]])
    with pytest.raises(ValueError):
        F.pool_valid(np.ones((2, 3, 1)), [4, 1])


def test_pool_padded_is_mmsa_mean_with_nan_to_zero():
    x = np.array([[[1.0, np.nan], [3.0, 1.0], [0.0, 1.0]]])
    assert F.pool_padded(x).tolist() == [[4.0 / 3.0, 0.0]]
    rng = np.random.default_rng(0)
    y = rng.normal(size=(130, 7, 4)).astype(np.float32)
    assert np.allclose(F.pool_padded(y), y.astype(np.float64).mean(axis=1))


def test_text_lengths_from_padding_and_from_bert_mask(feature_set, small_demo):
    expected = np.clip([len(t) + 2 for t in small_demo["raw_text"]], 3, 12)
    assert np.array_equal(F.text_lengths(feature_set), expected)
    mask = np.zeros((len(expected), 3, 12))
    for i, n in enumerate(expected):
        mask[i, 1, :n] = 1
    feature_set.text_bert = mask
    assert np.array_equal(F.text_lengths(feature_set), expected)


def test_pooling_difference(feature_set):
    table = F.pooling_difference(feature_set)
    assert list(table.index) == ["text", "audio", "vision"]
    fraction = np.median(feature_set.audio_lengths / feature_set.audio.shape[1])
    assert table.loc["audio", "median_valid_fraction"] == pytest.approx(fraction)
    # padded = valid · L/T exactly (no NaN here), so the cosine is 1 and the relative difference 1 − L/T
    assert table["median_cosine"].to_numpy() == pytest.approx(1.0)
    ratios = 1 - feature_set.vision_lengths / feature_set.vision.shape[1]
    assert table.loc["vision", "median_relative_diff"] == pytest.approx(np.median(ratios))


def test_standardize_and_combine():
    rng = np.random.default_rng(1)
    pooled = {
        "text": rng.normal(5, 3, (50, 20)),
        "audio": rng.normal(0, 9, (50, 4)),
        "vision": rng.normal(-2, 1, (50, 9)),
    }
    z = F.standardize(pooled["audio"])
    assert np.allclose(z.mean(axis=0), 0) and np.allclose(z.std(axis=0), 1)
    combined = F.combine_modalities(pooled)
    assert combined.shape == (50, 33)
    block_variance = [combined[:, s].var(axis=0).sum() for s in (slice(0, 20), slice(20, 24), slice(24, 33))]
    assert block_variance == pytest.approx([1.0, 1.0, 1.0])
    assert F.reduce(combined, 5).shape == (50, 5) and F.reduce(combined, None).shape == (50, 33)


def test_knn_purity_matches_brute_force():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 3))
    labels = rng.integers(0, 3, 60)
    distances = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    neighbours = np.argsort(distances, axis=1)[:, :5]
    expected = np.mean(labels[neighbours] == labels[:, None])
    assert F.knn_purity(x, labels, k=5) == pytest.approx(expected)
    assert F.chance_purity([0, 0, 1, 1, 1, 2]) == pytest.approx((4 + 9 + 1) / 36)
    with pytest.raises(ValueError):
        F.knn_purity(x, labels, k=60)


def _folds(n, k=5):
    order = np.random.default_rng(0).permutation(n)
    return [(np.setdiff1d(order, part), part) for part in np.array_split(order, k)]


def test_linear_probe_learns_a_linear_target_and_not_noise():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 10))
    y = np.clip(np.round(x @ rng.normal(size=10) / 4 * 2) / 2, -1, 1)
    good = F.linear_probe(x, y, _folds(400))
    assert good["Mult_acc_2"] > 0.85 and good["MAE"] < good["majority_MAE"] / 2
    noise = F.linear_probe(rng.normal(size=(400, 10)), y, _folds(400))
    assert noise["Mult_acc_5"] < good["Mult_acc_5"]
    assert set(good) == {
        "Mult_acc_2",
        "Mult_acc_3",
        "Mult_acc_5",
        "MAE",
        "majority_Mult_acc_2",
        "majority_Mult_acc_3",
        "majority_Mult_acc_5",
        "majority_MAE",
    }


def test_speaker_probe_and_separability_table():
    rng = np.random.default_rng(5)
    videos = np.repeat(np.arange(6), 30)
    centres = rng.normal(0, 10, (6, 4))
    x = centres[videos] + rng.normal(size=(180, 4))
    assert F.speaker_probe(x, videos, _folds(180)) == pytest.approx(1.0)
    y = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], 180)
    table = F.separability_table({"all": x}, y, {"all": y}, videos, _folds(180), k=5)
    assert table.loc["all", "silhouette_video"] == pytest.approx(silhouette_score(x, videos))
    assert table.loc["all", "knn_purity_video"] > 0.95
    assert table.loc["all", "chance_purity_video"] == pytest.approx(1 / 6)


@pytest.mark.slow
def test_umap_is_seeded_and_cached(tmp_path):
    rng = np.random.default_rng(6)
    x = np.vstack([rng.normal(0, 1, (60, 5)), rng.normal(8, 1, (60, 5))])
    first = F.umap_embedding(x, cache_dir=tmp_path, n_neighbors=10)
    files = list(tmp_path.glob("umap-*.npy"))
    assert first.shape == (120, 2) and len(files) == 1
    assert np.array_equal(F.umap_embedding(x, cache_dir=tmp_path, n_neighbors=10), first)
    np.save(files[0], np.zeros((120, 2)))  # proves the second call read the cache
    assert not F.umap_embedding(x, cache_dir=tmp_path, n_neighbors=10).any()
    refit = F.umap_embedding(x, n_neighbors=10)
    assert np.allclose(refit, first)  # same seed, same embedding
    centre_a, centre_b = first[:60].mean(axis=0), first[60:].mean(axis=0)
    assert np.linalg.norm(centre_a - centre_b) > 2 * first[:60].std(axis=0).max()
    F.umap_embedding(x, cache_dir=tmp_path, n_neighbors=11)
    assert len(list(tmp_path.glob("umap-*.npy"))) == 2


def test_linear_probe_scores_like_an_independent_ridge_and_mmsa_bins():
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import accuracy_score
    from sklearn.preprocessing import StandardScaler

    def bins(values, k):  # MMSA's intervals (lo, hi], by hand
        inner = {2: [0.0], 3: [-0.1, 0.1], 5: [-0.7, -0.1, 0.1, 0.7]}[k]
        return np.searchsorted(inner, np.clip(values, -1, 1), side="left")

    rng = np.random.default_rng(6)
    x = rng.normal(size=(150, 6))
    y = np.clip(np.round(x @ rng.normal(size=6) / 3 * 2) / 2, -1, 1)
    folds = _folds(150)
    expected = {f"Mult_acc_{k}": [] for k in (2, 3, 5)} | {"MAE": [], "majority_MAE": []}
    for train, test in folds:
        scaler = StandardScaler().fit(x[train])
        ridge = RidgeCV(alphas=np.logspace(-2, 5, 15)).fit(scaler.transform(x[train]), y[train])
        pred = np.clip(ridge.predict(scaler.transform(x[test])), -1, 1)
        for k in (2, 3, 5):
            expected[f"Mult_acc_{k}"].append(accuracy_score(bins(y[test], k), bins(pred, k)))
        expected["MAE"].append(np.mean(np.abs(pred - y[test])))
        expected["majority_MAE"].append(np.mean(np.abs(y[test] - np.median(y[train]))))
    got = F.linear_probe(x, y, folds)
    for key, values in expected.items():
        assert got[key] == pytest.approx(np.mean(values)), key
