"""Labels and MMSA bins, checked against hand-worked values and a literal re-statement of MMSA's loop."""

import numpy as np
import pytest

from csmsasr_utils.data.labels import CLASS_NAMES, class_to_value, mmsa_bins, value_to_class_name
from csmsasr_utils.errors import CsmsasrError


def mmsa_loop_bins(values, edges):
    """MMSA's own formulation: bin i holds values in (edges[i], edges[i+1]], after clipping."""
    clipped = np.clip(np.asarray(values, dtype=float), -1.0, 1.0)
    out = np.full(clipped.shape, -1)
    for i in range(len(edges) - 1):
        out[(clipped > edges[i]) & (clipped <= edges[i + 1])] = i
    return out


def test_hand_worked_bins():
    values = [-1.0, -0.7, -0.69, -0.1, -0.09, 0.0, 0.1, 0.11, 0.7, 0.71, 1.0]
    assert mmsa_bins(values, 2).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert mmsa_bins(values, 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert mmsa_bins(values, 5).tolist() == [0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4]


@pytest.mark.parametrize(
    "k,edges", [(2, [-1.01, 0.0, 1.01]), (3, [-1.01, -0.1, 0.1, 1.01]), (5, [-1.01, -0.7, -0.1, 0.1, 0.7, 1.01])]
)
def test_bins_match_mmsa_loop(k, edges):
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(-1.5, 1.5, 2000), np.array(edges[1:-1]), [-1.2, 1.3]])
    assert np.array_equal(mmsa_bins(values, k), mmsa_loop_bins(values, edges))


def test_class_values_and_names_round_trip():
    values = class_to_value([1, 2, 3, 4, 5])
    assert values.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert list(value_to_class_name(values)) == list(CLASS_NAMES)
    assert mmsa_bins(values, 5).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("bad", [[0], [6], [1.5], ["x"]])
def test_class_to_value_rejects_other_classes(bad):
    with pytest.raises(CsmsasrError, match="1..5"):
        class_to_value(bad)


def test_bins_reject_nan_and_bad_k():
    with pytest.raises(CsmsasrError, match="NaN"):
        mmsa_bins([0.0, np.nan], 3)
    with pytest.raises(CsmsasrError, match="2, 3 or 5"):
        mmsa_bins([0.0], 4)
