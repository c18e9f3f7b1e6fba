"""mmsa_bin_value: a value inside each MMSA bin, checked against MMSA's interval masks."""

import numpy as np
import pytest

from csmsasr_utils.data.labels import mmsa_bin_value, mmsa_bins
from csmsasr_utils.errors import CsmsasrError

#: MMSA's intervals (lo, hi], written out by hand from MMSA/utils/metricsTop.py.
INTERVALS = {
    2: [(-1.01, 0.0), (0.0, 1.01)],
    3: [(-1.01, -0.1), (-0.1, 0.1), (0.1, 1.01)],
    5: [(-1.01, -0.7), (-0.7, -0.1), (-0.1, 0.1), (0.1, 0.7), (0.7, 1.01)],
}


@pytest.mark.parametrize("k", [2, 3, 5])
def test_each_bin_value_lies_in_its_interval(k):
    for index, (lo, hi) in enumerate(INTERVALS[k]):
        value = mmsa_bin_value(k, index)
        assert lo < value <= hi and -1.0 <= value <= 1.0
        assert mmsa_bins(np.full(3, value), k).tolist() == [index] * 3


def test_bin_values_by_hand():
    assert [mmsa_bin_value(2, b) for b in range(2)] == [0.0, 1.0]
    assert [mmsa_bin_value(5, b) for b in range(5)] == [-0.7, -0.1, 0.1, 0.7, 1.0]


def test_bin_value_refuses_unknown_bins():
    with pytest.raises(CsmsasrError, match="n_classes"):
        mmsa_bin_value(4, 0)
    for bad in (-1, 3, 1.0, True):
        with pytest.raises(CsmsasrError, match="bin index"):
            mmsa_bin_value(3, bad)
