"""Progress bars that suit where the code runs.

* In Jupyter with ``ipywidgets`` installed: tqdm's widget bar.
* In a terminal: tqdm's text bar.
* Where nobody watches (output is not a terminal, e.g. while the book builds): nothing, so
  executed notebooks do not fill up with carriage-return noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """Wrap ``iterable`` in a tqdm bar (see module docstring); ``kwargs`` go to tqdm."""
    kwargs.setdefault("leave", False)
    try:
        import ipywidgets  # noqa: F401  (only its presence matters)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm

        kwargs.setdefault("disable", None)  # None: disabled when the output is not a terminal
    return tqdm(iterable, **kwargs)
