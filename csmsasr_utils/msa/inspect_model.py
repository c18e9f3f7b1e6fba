"""Look inside a baseline: each layer's output shape and parameter count on real-size input.

A shape walk-through is the quickest way to understand a fusion model: feed one batch and record,
for every sub-module, what comes out. :func:`layer_shapes` does that with forward hooks, so the
table always describes the code as it runs.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn


def _shape(value) -> str:
    if isinstance(value, torch.Tensor):
        return "×".join(str(s) for s in value.shape)
    if isinstance(value, (tuple, list)):
        return ", ".join(_shape(v) for v in value if isinstance(v, (torch.Tensor, tuple, list)))
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shape(v)}" for k, v in value.items() if isinstance(v, torch.Tensor))
    return type(value).__name__


def layer_shapes(model: nn.Module, inputs: tuple[torch.Tensor, ...], depth: int = 1) -> pd.DataFrame:
    """Run ``model(*inputs)`` once (eval mode, no gradients) and tabulate its sub-modules.

    One row per sub-module up to ``depth`` levels below the model, in the order they ran:
    ``module`` (dotted name), ``type``, ``output`` (shape), ``parameters`` (trainable, including
    those of its children). Modules that did not run are left out.
    """
    rows: list[dict] = []
    handles = []
    for name, module in model.named_modules():
        if not name or name.count(".") >= depth:
            continue

        def hook(mod, args, output, name=name):
            rows.append(
                {
                    "module": name,
                    "type": type(mod).__name__,
                    "output": _shape(output),
                    "parameters": sum(p.numel() for p in mod.parameters() if p.requires_grad),
                }
            )

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    seen: set[str] = set()
    unique = [r for r in rows if not (r["module"] in seen or seen.add(r["module"]))]
    unique.append(
        {
            "module": "(model output)",
            "type": type(model).__name__,
            "output": _shape(output),
            "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        }
    )
    return pd.DataFrame(unique)
