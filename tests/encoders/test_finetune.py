"""e5 fine-tuned as a regressor: the committed run is re-checked, its metrics recomputed from its predictions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from csmsasr_utils.encoders import finetune
from csmsasr_utils.errors import CsmsasrError


def _committed_rows():
    rows = finetune.JsonLines(finetune.BOOK_RESULTS).rows()
    assert rows, f"{finetune.BOOK_RESULTS} is committed and holds the chapter's run"
    return rows


def test_the_committed_metrics_are_those_of_its_predictions(public_dir):
    from csmsasr_utils.data import load_metadata, official_folds
    from csmsasr_utils.msa.metrics import sims_regression_metrics

    meta = load_metadata(public_dir)
    rows = _committed_rows()
    assert {r["transcripts_fingerprint"] for r in rows} == {finetune.labelled_transcripts_fingerprint(meta)}
    labels = meta.set_index("clip_id")["label_m"]
    folds = official_folds(meta)
    assert sorted(r["fold"] for r in rows if r["protocol"] == "official") == [1, 2, 3, 4, 5]
    for row in rows:
        assert sorted(row["test_clip_ids"]) == sorted(folds[row["fold"] - 1]["test"])
        again = sims_regression_metrics(
            np.asarray(row["test_predictions"]), labels.loc[row["test_clip_ids"]].to_numpy()
        )
        for name, value in again.items():
            assert row[f"test_{name}"] == pytest.approx(value, abs=1e-9, nan_ok=True), name
        assert row["best_epoch"] == 1 + int(np.argmin(row["valid_MAE"]))
        assert row["command"].startswith("csmsasr msa finetune-text") and row["code"]["git"]


@pytest.mark.slow
def test_the_committed_fine_tuning_starts_as_recorded(use_e5_cache, public_dir):
    """Re-run the first two steps of the first fold: the recorded losses come back (rel 1e-4)."""
    from csmsasr_utils.data import load_metadata, official_folds
    from csmsasr_utils.data.ids import row_positions
    from csmsasr_utils.encoders.e5 import e5_model_dir

    meta = load_metadata(public_dir)
    row = next(r for r in _committed_rows() if r["fold"] == 1 and r["protocol"] == "official")
    config = dataclasses.replace(finetune.TextFinetuneConfig(**row["config"]), epochs=1, max_steps=2)
    ids, texts, labels = meta["clip_id"].to_numpy(), meta["text"].to_numpy(), meta["label_m"].to_numpy()
    split = {k: row_positions(ids, v) for k, v in official_folds(meta)[0].items()}
    fit = finetune.finetune_fold(
        e5_model_dir(),
        (texts[split["train"]], labels[split["train"]]),
        (texts[split["valid"]], labels[split["valid"]]),
        texts[split["test"]][:4],
        config,
        show_progress=False,
    )
    np.testing.assert_allclose(fit["step_losses"], row["step_losses"][:2], rtol=1e-4)
    assert fit["steps"] == 2 and len(fit["test_predictions"]) == 4


def test_mismatched_labels_are_refused(tmp_path):
    with pytest.raises(CsmsasrError, match="as many labels as texts"):
        finetune.finetune_fold(tmp_path, (["好", "坏"], [1.0]), ([], []), [])
