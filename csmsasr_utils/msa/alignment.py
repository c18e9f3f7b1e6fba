"""How MMSA turns padded audio/vision sequences into what each model reads.

Two input treatments, applied exactly as MMSA applies them:

* **normalised** (``need_normalized``; LF_DNN, TFN, LMF, MFN, MTFN, MLF_DNN, MLMF): audio and
  vision are averaged over the *whole padded length*, padding zeros included (MMSA's data loader
  does not use the true lengths), NaN becomes 0; the result keeps a length-1 time axis.
* **aligned** (``need_model_aligned``; EF_LSTM, MFN, Graph_MFN, MFM): audio and vision are cut
  into contiguous windows, one per text token, and each window is averaged. When the length is not
  a multiple of the text length the sequence is first padded by repeating its last frame
  (553 → 585 in windows of 15; 321 → 351 in windows of 9).

MFN uses both: its length-1 averages are then repeated to the text length.
"""

from __future__ import annotations

import math

import torch

from csmsasr_utils.errors import InvalidArgument


def mean_over_padded_time(x: torch.Tensor) -> torch.Tensor:
    """Average ``(batch, time, dim)`` over all ``time`` steps (zeros included); NaN → 0.

    Returns ``(batch, 1, dim)``, like MMSA's ``__normalize``, to the last bit: that calls
    ``np.mean`` over the ``(time, clip, dim)`` transpose of the float32 arrays, and numpy adds along
    an outer axis one step after the other, ``((x₀ + x₁) + x₂) + …``, then divides by the length.
    The same running sum here (``Tensor.mean`` adds in another order: up to ~1e-6 apart, which
    a long training run turns into other validation losses). It runs once per dataset
    (:meth:`~csmsasr_utils.msa.tensors.MSATensors.averaged_audio_vision`).

    >>> mean_over_padded_time(torch.tensor([[[1.0], [3.0], [0.0], [0.0]]])).flatten().tolist()
    [1.0]
    """
    if x.ndim != 3:
        raise InvalidArgument(f"expected (batch, time, dim), got shape {tuple(x.shape)}")
    total = x[:, 0].clone()
    for step in range(1, x.shape[1]):
        total += x[:, step]
    mean = (total / x.shape[1]).unsqueeze(1)
    return torch.nan_to_num(mean, nan=0.0, posinf=float("inf"), neginf=float("-inf"))


def pool_window(length: int, target_len: int) -> tuple[int, int]:
    """``(pool_size, pad_len)`` of MMSA's average-pool alignment from ``length`` to ``target_len``.

    >>> pool_window(553, 39), pool_window(321, 39), pool_window(78, 39), pool_window(1, 39)
    ((15, 32), (9, 30), (2, 0), (1, 38))
    """
    if length < 1 or target_len < 1:
        raise InvalidArgument(f"lengths must be positive, got {length} and {target_len}")
    if length % target_len == 0:
        return length // target_len, 0
    return length // target_len + 1, target_len - length % target_len


def align_to_length(x: torch.Tensor, target_len: int) -> torch.Tensor:
    """Average-pool ``(batch, time, dim)`` to ``(batch, target_len, dim)`` with contiguous windows.

    The sequence is padded by repeating its last frame up to ``pool_size * target_len``; a
    sequence already ``target_len`` long is returned unchanged.

    >>> x = torch.arange(5.0).reshape(1, 5, 1)          # frames 0 1 2 3 4, padded with 4
    >>> align_to_length(x, 2).flatten().tolist()      # windows (0 1 2), (3 4 4)
    [1.0, 3.6666667461395264]
    """
    if x.ndim != 3:
        raise InvalidArgument(f"expected (batch, time, dim), got shape {tuple(x.shape)}")
    length = x.size(1)
    if length == target_len:
        return x
    pool_size, pad_len = pool_window(length, target_len)
    if pad_len:
        x = torch.cat([x, x[:, -1:, :].expand(-1, pad_len, -1)], dim=1)
    return x.reshape(x.size(0), target_len, pool_size, x.size(2)).mean(dim=2)


def padded_length_after_alignment(length: int, target_len: int) -> int:
    """The padded length the alignment pools over (``553 → 585`` for a 39-token text)."""
    return math.ceil(length / target_len) * target_len if length % target_len else length
