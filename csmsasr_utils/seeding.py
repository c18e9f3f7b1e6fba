"""One place that seeds every random number generator the package's training loops draw from.

The MSA trainer, the CTC recogniser and Whisper fine-tuning all call :func:`seed_everything`
before building a model, so the same seed gives the same initial weights, batches and dropout
masks on the same machine. torch is imported only when called: the data layer does not need it.
"""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) and make cuDNN deterministic, like MMSA."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
