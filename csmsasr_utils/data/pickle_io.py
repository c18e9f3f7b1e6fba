"""Reading pickles that come from the internet, without letting them run code or copy data.

A pickle is a small program: it may name any importable callable (``os.system``,
``builtins.eval`` …) and call it while loading. :class:`RestrictedUnpickler`
only resolves the globals on :data:`ALLOWED_GLOBALS` — what numpy arrays,
dtypes and scalars (numpy 1.x ``numpy.core`` and 2.x ``numpy._core`` paths)
and builtin containers need. Any other global raises
:class:`~csmsasr_utils.errors.UnsafePickleError` naming it, before it is
imported, let alone called.

Numeric arrays come back as views on the pickled bytes (see :class:`_PickledArray`),
so loading needs about one copy of the data, not two. Those views are read-only
for pickles of protocol 2–4: call ``.copy()`` on an array before changing it in place.
"""

from __future__ import annotations

import _compat_pickle
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from csmsasr_utils.errors import FeatureFileError, UnsafePickleError

#: (module, name) pairs a feature pickle may refer to.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        # numpy arrays, dtypes and scalars — both the numpy 1.x and 2.x module paths
        *(
            (core, name)
            for core in ("numpy.core.multiarray", "numpy._core.multiarray")
            for name in ("_reconstruct", "scalar")
        ),
        *((core, "_frombuffer") for core in ("numpy.core.numeric", "numpy._core.numeric")),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # bytes pickled by Python 3 with protocol < 3 go through _codecs.encode(str, 'latin1')
        ("_codecs", "encode"),
        # plain containers and values
        ("builtins", "bytearray"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("builtins", "range"),
        ("collections", "OrderedDict"),
    }
)


def _installed_numpy_path(module: str) -> str:
    """Translate numpy's core module path between 1.x (``numpy.core``) and 2.x (``numpy._core``).

    A file pickled under one major version then loads under the other without
    touching numpy's deprecated alias modules.
    """
    major = int(np.__version__.split(".")[0])
    if major >= 2 and module.startswith("numpy.core."):
        return "numpy._core." + module[len("numpy.core.") :]
    if major < 2 and module.startswith("numpy._core."):
        return "numpy.core." + module[len("numpy._core.") :]
    return module


class _PickledArray:
    """Stands in for an ndarray while unpickling, so that its data is not copied.

    numpy's own ``ndarray.__setstate__`` copies the raw bytes of each array, and the
    unpickler's memo keeps those bytes alive until the end of the load: the peak would
    be twice the data. Here a numeric array becomes a view on the pickled bytes instead
    (read-only for protocols 2–4, writeable for protocol 5's bytearrays), so the data
    exists once. Object arrays (ids, texts) go through numpy's own ``__setstate__``.
    """

    __slots__ = ("array",)

    def __setstate__(self, state: tuple) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("unexpected ndarray state in the pickle")
        shape, dtype, fortran, raw = state[-4:]
        if not isinstance(dtype, np.dtype):
            raise pickle.UnpicklingError("ndarray state without a numpy dtype")
        if isinstance(raw, (bytes, bytearray)) and not dtype.hasobject:
            count = int(np.prod(shape, dtype=np.int64))
            if len(raw) != count * dtype.itemsize:
                raise pickle.UnpicklingError(f"array data of {len(raw)} bytes does not fit shape {shape}")
            flat = np.frombuffer(raw, dtype=dtype, count=count)
            self.array = flat.reshape(shape, order="F" if fortran else "C")
        else:
            array = np.ndarray.__new__(np.ndarray, (0,), np.uint8)
            array.__setstate__(state)
            self.array = array


def _reconstruct(cls: type, shape: tuple, typecode: bytes) -> _PickledArray:
    if cls is not np.ndarray:
        raise UnsafePickleError(getattr(cls, "__module__", "?"), getattr(cls, "__name__", "?"))
    return _PickledArray()


def _resolve(obj: Any, seen: set[int] | None = None) -> Any:
    """Replace every :class:`_PickledArray` in a loaded structure by its array."""
    if isinstance(obj, _PickledArray):
        return _resolve(obj.array, seen)
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return obj
    if isinstance(obj, dict):
        seen.add(id(obj))
        for key, value in obj.items():
            obj[key] = _resolve(value, seen)
    elif isinstance(obj, list):
        seen.add(id(obj))
        obj[:] = [_resolve(value, seen) for value in obj]
    elif isinstance(obj, tuple):
        return tuple(_resolve(value, seen) for value in obj)
    elif isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        seen.add(id(obj))
        flat = obj.reshape(-1)
        for i, value in enumerate(flat):
            if isinstance(value, (_PickledArray, dict, list, tuple, np.ndarray)):
                flat[i] = _resolve(value, seen)
    return obj


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` (and copies no array data)."""

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle API
        # Python-2 names (__builtin__, copy_reg …) are checked as the Python-3 globals that
        # pickle would load for them (protocol < 3 writes builtins as __builtin__).
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(module, name)
        if name == "_reconstruct":
            return _reconstruct
        return super().find_class(_installed_numpy_path(module), name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"persistent id {repr(pid)[:40]} (feature files never use them)")


def safe_load_pickle(path: str | os.PathLike) -> Any:
    """Unpickle a file with :class:`RestrictedUnpickler`, turning every failure into a clear error.

    * missing or unreadable file, empty file, truncated pickle, not a pickle →
      :class:`~csmsasr_utils.errors.FeatureFileError`;
    * a global outside the allow-list → :class:`~csmsasr_utils.errors.UnsafePickleError`.
    """
    file = Path(path).expanduser()
    if not file.exists():
        raise FeatureFileError(
            f"feature file {file} does not exist. Download CS-MSASR_fulldata.pkl from the dataset's "
            "Google Drive / Baidu folder and point CSMSASR_FEATURES at it."
        )
    if not file.is_file():
        raise FeatureFileError(f"feature path {file} is not a file")
    size = file.stat().st_size
    if size == 0:
        raise FeatureFileError(f"feature file {file} is empty (0 bytes): the download did not complete")
    try:
        with open(file, "rb") as handle:
            return _resolve(RestrictedUnpickler(handle).load())
    except UnsafePickleError:
        raise
    except EOFError as err:
        raise FeatureFileError(
            f"feature file {file} ({size:,} bytes) ends in the middle of the pickle: it is truncated. "
            "Download it again."
        ) from err
    except (
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        ImportError,
        UnicodeDecodeError,
        OverflowError,
        MemoryError,
        RecursionError,
    ) as err:
        if "truncated" in str(err):
            raise FeatureFileError(
                f"feature file {file} ({size:,} bytes) ends in the middle of the pickle: it is "
                "truncated. Download it again."
            ) from err
        raise FeatureFileError(
            f"feature file {file} is not a readable pickle ({type(err).__name__}: {err}). "
            "Expected CS-MSASR_fulldata.pkl (or an MMSA-layout .pkl)."
        ) from err
