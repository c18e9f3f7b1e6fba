"""The only published ASR numbers for CS-MSASR, with their provenance.

They stood in a table of the successor repository's README (Yaoooyu/CS-Mage at commit 0aca1d43,
dated 2026-03-20) and have since been removed from it. The README did not state the test set,
the text normaliser or the CER tool, so they are anchors, not targets: the book's protocol
(:mod:`csmsasr_utils.asr.metrics`) may differ from theirs in any of those three.
"""

from __future__ import annotations

import pandas as pd

SOURCE = "Yaoooyu/CS-Mage README, commit 0aca1d43 (2026-03-20), since removed"

#: (model, setting, CER %) as published.
PUBLISHED_CER: tuple[tuple[str, str, float], ...] = (
    ("Whisper-base", "direct inference", 77.62),
    ("Whisper-small", "direct inference", 138.32),
    ("Whisper-small", "fine-tuned on CS-MSASR", 48.36),
    ("Paraformer", "fine-tuned on CS-MSASR", 34.24),
    ("HMM-GMM", "trained on CS-MSASR", 133.44),
    ("MFCC + SVM", "trained on CS-MSASR", 111.54),
)


def published_table() -> pd.DataFrame:
    """The published CERs as a table with columns ``model, setting, CER %, source``."""
    frame = pd.DataFrame(PUBLISHED_CER, columns=["model", "setting", "CER %"])
    frame["source"] = SOURCE
    return frame
