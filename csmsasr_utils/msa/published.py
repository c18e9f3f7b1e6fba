"""MMSA's published regression results on CH-SIMS — another dataset, shown only as an anchor.

Source: ``thuiar/MMSA`` ``results/result-stat.md`` (commit ``a94e65d``), section "Regression",
"SIMS", unaligned features. The file reports every metric ×100 (MAE and Corr included); the
table below keeps its values as they stand and :func:`chsims_anchor` converts them to MMSA's own
scale (accuracies and F1 in [0, 1], MAE in label units, Corr as r). MFM and ALMT are not in that
table. No MSA results for CS-MSASR have been published.
"""

from __future__ import annotations

import pandas as pd

SOURCE = "thuiar/MMSA@a94e65d results/result-stat.md (Regression, SIMS, unaligned); values ×100"

_COLUMNS = ("Mult_acc_2", "Mult_acc_3", "Mult_acc_5", "F1_score", "MAE", "Corr")

#: model → (Mult_acc_2, Mult_acc_3, Mult_acc_5, F1_score, MAE, Corr), all ×100, as published.
CHSIMS_REGRESSION_X100: dict[str, tuple[float, ...]] = {
    "EF_LSTM": (69.37, 54.27, 21.23, 56.82, 59.07, 5.45),
    "LF_DNN": (77.02, 64.33, 39.74, 77.27, 44.63, 55.51),
    "TFN": (78.38, 65.12, 39.3, 78.62, 43.22, 59.1),
    "LMF": (77.77, 64.68, 40.53, 77.88, 44.12, 57.59),
    "MFN": (77.9, 65.73, 39.47, 77.88, 43.49, 58.24),
    "Graph_MFN": (78.77, 65.65, 39.82, 78.21, 44.5, 57.84),
    "MulT": (78.56, 64.77, 37.94, 79.66, 45.32, 56.41),
    "MLF_DNN": (80.44, 69.37, 40.22, 80.28, 39.58, 66.52),
    "MTFN": (81.09, 68.80, 40.31, 81.01, 39.54, 66.58),
    "MLMF": (79.34, 68.36, 41.05, 79.07, 40.91, 63.90),
}


def chsims_anchor() -> pd.DataFrame:
    """MMSA's CH-SIMS results on MMSA's scale (divided by 100), one row per model.

    >>> round(float(chsims_anchor().loc["TFN", "MAE"]), 4)
    0.4322
    """
    frame = pd.DataFrame.from_dict(CHSIMS_REGRESSION_X100, orient="index", columns=list(_COLUMNS)) / 100.0
    frame.index.name = "model"
    return frame
