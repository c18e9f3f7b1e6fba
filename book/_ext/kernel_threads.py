"""A Sphinx extension of this book: notebook kernels that see the build's settings and never stall.

* **Threads.** The kernels that execute the chapters inherit this process's environment, so the
  thread budget and the passive OpenMP wait policy of :mod:`csmsasr_utils.threads` are put into it
  here, before any kernel starts (the user's own variables win). Without it, torch's spinning
  threads made one training cell of chapter 4 run ten times slower beside two busy processes and
  hit the cell timeout.
* **Paths.** Each kernel runs in its page's folder (``notebooks/``, ``book/``), so the
  ``CSMSASR_*`` paths they inherit are made absolute here, from the folder the build was started
  in (:func:`csmsasr_utils.settings.make_paths_absolute`): ``CSMSASR_PUBLIC_DIR=../shared/data
  jupyter-book build .`` reads the same folder as ``make book`` does.
* **Timeouts explained.** Should a cell still run past ``execute.timeout`` (``_config.yml``), the
  build stops with one clear sentence — which notebook, the limit, what to do — instead of
  nbclient's stack trace.
* **No lost output.** After a cell's reply, nbclient waits only ``iopub_timeout`` seconds (4 by
  default) for the cell's remaining output; past it, it logs a warning and goes on *without* the
  rest. On a busy machine the output channel can lag that long, and a chapter then silently loses
  the end of a cell's printed text (seen in CI: two builds of chapter 3 differed in the last line
  of one cell). The kernels here wait up to :data:`IOPUB_TIMEOUT` seconds, which costs nothing when
  the output comes at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the package, also without pip install -e

from csmsasr_utils.settings import make_paths_absolute  # noqa: E402
from csmsasr_utils.threads import configure_threads  # noqa: E402

#: Seconds nbclient waits for a cell's remaining output after its reply (nbclient's default is 4).
IOPUB_TIMEOUT = 120


class NotebookTimeout(TimeoutError):
    """A cell of a chapter ran longer than the book's cell time limit."""


def explain_timeout(result: Any, folder: str, timeout: int | None) -> Any:
    """``result`` (jupyter-cache's ExecutionResult) with a timeout turned into one clear message."""
    from nbclient.exceptions import CellTimeoutError

    if isinstance(result.err, CellTimeoutError):
        preview = str(result.err).split("Here is a preview of the cell contents:")[-1].strip()[:300]
        message = (
            f"a cell of a notebook in {folder} ran longer than the book's limit of {timeout} s per cell "
            "(execute.timeout in _config.yml) and was stopped. Usually the machine is busy: close "
            "other heavy programs and run `make book` again (finished notebooks are cached and not "
            "re-run), or raise execute.timeout. The cell: " + preview
        )
        result.err = NotebookTimeout(message)
        result.exc_string = message
    return result


def _wrap(module: Any) -> None:
    original = module.single_nb_execution
    if getattr(original, "_explains_timeouts", False):
        return

    def single_nb_execution(nb, cwd, timeout, allow_errors, *args, **kwargs):
        kwargs.setdefault("iopub_timeout", IOPUB_TIMEOUT)  # passed on to nbclient's NotebookClient
        result = original(nb, cwd, timeout, allow_errors, *args, **kwargs)
        return explain_timeout(result, str(cwd), timeout)

    single_nb_execution._explains_timeouts = True
    module.single_nb_execution = single_nb_execution


def setup(app) -> dict[str, Any]:
    configure_threads()
    make_paths_absolute()
    from myst_nb.core.execute import cache, direct

    for module in (cache, direct):
        _wrap(module)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
