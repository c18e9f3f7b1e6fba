"""The book's settings: the one table of ``CSMSASR_*`` environment variables, and one accessor each.

Every variable the package reads is a path, named here with what it means and whether it names a
file or a folder. No other module reads a ``CSMSASR_*`` variable: they call the accessors below,
so the data fingerprint, ``csmsasr data info``, the Makefile (which makes the paths absolute before
the notebooks run in ``notebooks/``), the tests' isolation and the chapters all agree on one list.

Rules the accessors apply, so that every caller behaves the same:

* unset or blank means "not set" (``None``; the cache folder falls back to the OS user cache);
* ``~`` is expanded and a relative path is made absolute from the current folder at the time of
  the call (``make`` does the same for the notebooks, which run from ``notebooks/``);
* a variable that is set to a path that does not exist, or is a folder where a file is meant (or
  the reverse), raises :class:`SettingError`, which says which variable, what it holds, and what
  to do — a typo never silently falls back to the demo data.

(The thread budget and OpenMP wait policy that the package sets for torch live beside this
module, in :mod:`csmsasr_utils.threads`.)
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from csmsasr_utils.errors import CsmsasrError


class SettingError(CsmsasrError):
    """A ``CSMSASR_*`` variable is set to a path that does not exist or is of the wrong kind."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, what it points to, and whether that must exist."""

    name: str
    kind: Literal["file", "folder"]
    meaning: str
    #: What to do when the variable is wrong (the second half of the error message).
    advice: str
    #: ``False`` for folders the package creates itself (the cache).
    must_exist: bool = True


#: Every variable the package reads, in the order ``csmsasr data info`` lists them.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "CSMSASR_PUBLIC_DIR",
        "folder",
        "the public metadata files (transcripts, splits, folds, BERT vocabulary), laid out as in the "
        "dataset's repositories; read without network",
        "point it at a folder holding cs-msasr-lists/ etc. (see `csmsasr data fetch`), or unset it to "
        "download the files into the cache",
    ),
    Setting(
        "CSMSASR_CACHE_DIR",
        "folder",
        "downloads, converted models, synthetic audio and UMAP maps (default: the OS user cache folder 'csmsasr')",
        "point it at a writable folder, or unset it to use the OS user cache",
        must_exist=False,
    ),
    Setting(
        "CSMSASR_FEATURES",
        "file",
        "your copy of the feature file CS-MSASR_fulldata.pkl (without it the book uses the synthetic demo)",
        "point it at CS-MSASR_fulldata.pkl from the dataset's Google Drive / Baidu folder, or unset it for the demo",
    ),
    Setting(
        "CSMSASR_AUDIO_DIR",
        "folder",
        "the clips' audio, one <clip_id>.wav (or video) file each (without it: synthetic speech)",
        "point it at the folder of <clip_id>.wav files, or unset it for synthetic speech",
    ),
    Setting(
        "CSMSASR_BERT_DIR",
        "folder",
        "a local bert-base-chinese (config.json + weights) for ALMT",
        "download it once (e.g. huggingface-cli download bert-base-chinese --local-dir DIR) and set "
        "CSMSASR_BERT_DIR=DIR, or unset it",
    ),
    Setting(
        "CSMSASR_MSA_RESULTS",
        "file",
        "the results JSONL of a full `csmsasr msa run`, which chapter 4 renders",
        "point it at the results file the run wrote, or unset it",
    ),
    Setting(
        "CSMSASR_ASR_TRANSCRIPTS",
        "file",
        "recogniser output (JSONL of `csmsasr asr transcribe`) that chapter 6 analyses instead of the "
        "book's own Whisper runs",
        "point it at the transcripts file, or unset it",
    ),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def setting(name: str) -> Setting:
    """The :class:`Setting` called ``name`` (a ``CSMSASR_*`` variable of :data:`SETTINGS`)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise SettingError(f"unknown setting {name!r}; the package reads only {known}") from None


def raw_value(name: str) -> str:
    """The variable's text as set (stripped; ``""`` when unset), for provenance lines and fingerprints."""
    return os.environ.get(setting(name).name, "").strip()


def _absolute(value: str, base: Path | None = None) -> Path:
    """``value`` as a normalised absolute path: ``~`` expanded, a relative path taken from ``base``
    (default the current folder)."""
    return Path(os.path.normpath((Path.cwd() if base is None else base) / Path(value).expanduser()))


def path_setting(name: str) -> Path | None:
    """The absolute path named by variable ``name``, ``None`` when it is unset or blank.

    Raises :class:`SettingError` when the variable is set but the path does not exist (for a
    setting that must exist) or is a folder where a file is meant, or the reverse.
    """
    spec = setting(name)
    value = raw_value(name)
    if not value:
        return None
    path = _absolute(value)
    found = "a folder" if path.is_dir() else "a file" if path.exists() else None
    if found is None and not spec.must_exist:
        return path
    if found != f"a {spec.kind}":
        what = f"is {found}" if found else "does not exist"
        relative = "" if Path(value).expanduser().is_absolute() else f" (relative to {Path.cwd()})"
        raise SettingError(
            f"{name} is set to {value!r}{relative}, which {what}; expected {spec.kind} with {spec.meaning}. "
            f"To fix: {spec.advice}."
        )
    return path


def make_paths_absolute(environ: MutableMapping[str, str] | None = None, base: Path | None = None) -> dict[str, str]:
    """Rewrite each set variable of :data:`SETTINGS` in ``environ`` (default ``os.environ``) as an
    absolute path, ``~`` expanded, relative ones from ``base`` (default the current folder); return
    the variables it changed.

    For processes that start in another folder and inherit the environment: the book's kernels run
    in their page's folder (``notebooks/``, ``book/``), so a ``CSMSASR_PUBLIC_DIR=../shared/data``
    given to ``jupyter-book build .`` must be resolved in the build's folder first (``make`` does
    the same with ``abspath``). Whether the path exists is checked later, by the accessors, with
    their clear message.

    >>> env = {"CSMSASR_FEATURES": "data/f.pkl", "CSMSASR_AUDIO_DIR": " ", "HOME_DIR": "x"}
    >>> make_paths_absolute(env, Path("/work/book"))
    {'CSMSASR_FEATURES': '/work/book/data/f.pkl'}
    """
    target = os.environ if environ is None else environ
    changed = {}
    for spec in SETTINGS:
        value = str(target.get(spec.name, "")).strip()
        if value and (path := str(_absolute(value, base))) != target[spec.name]:
            changed[spec.name] = target[spec.name] = path
    return changed


def public_dir() -> Path | None:
    """``CSMSASR_PUBLIC_DIR``: the local folder of public metadata files, or ``None``."""
    return path_setting("CSMSASR_PUBLIC_DIR")


def cache_dir() -> Path:
    """``CSMSASR_CACHE_DIR``, or the OS user cache folder ``csmsasr`` when it is unset."""
    folder = path_setting("CSMSASR_CACHE_DIR")
    if folder is not None:
        return folder
    from csmsasr_utils.optional import import_pooch

    return Path(import_pooch().os_cache("csmsasr"))


def features_path() -> Path | None:
    """``CSMSASR_FEATURES``: the user's feature pickle, or ``None`` (the demo)."""
    return path_setting("CSMSASR_FEATURES")


def audio_dir() -> Path | None:
    """``CSMSASR_AUDIO_DIR``: the folder of real clip audio, or ``None`` (synthetic speech)."""
    return path_setting("CSMSASR_AUDIO_DIR")


def bert_dir() -> Path | None:
    """``CSMSASR_BERT_DIR``: a local bert-base-chinese folder for ALMT, or ``None``."""
    return path_setting("CSMSASR_BERT_DIR")


def msa_results_path() -> Path | None:
    """``CSMSASR_MSA_RESULTS``: the results file of a full MSA run for chapter 4, or ``None``."""
    return path_setting("CSMSASR_MSA_RESULTS")


def asr_transcripts_path() -> Path | None:
    """``CSMSASR_ASR_TRANSCRIPTS``: recogniser output for chapter 6, or ``None``."""
    return path_setting("CSMSASR_ASR_TRANSCRIPTS")


def describe() -> list[dict[str, str]]:
    """One row per setting: name, kind, meaning, and its value here (``"unset"`` or an error)."""
    rows = []
    for spec in SETTINGS:
        try:
            path = path_setting(spec.name)
            value = "unset" if path is None else str(path)
        except SettingError as err:
            value = f"ERROR: {err}"
        rows.append({"name": spec.name, "kind": spec.kind, "meaning": spec.meaning, "value": value})
    return rows
