"""CTranslate2's ``model.bin``: the format, and a reader into numpy arrays that needs no CT2.

**The model.bin format** (binary versions 4–6; little-endian; read from what CTranslate2's
``ModelSpec._serialize`` writes and its C++ loader reads)::

    uint32 binary_version
    string spec_name, uint32 spec_revision            # e.g. "WhisperSpec", 3
    uint32 n_variables, then n_variables times:
        string name; uint8 rank; uint32 dims[rank]
        uint8 dtype (0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16)
        uint32 n_bytes (= product(dims) × item size); n_bytes of raw row-major data
    uint32 n_aliases, then n_aliases times: string alias; string target
    (string = uint16 length including a trailing NUL, the UTF-8 bytes, the NUL)

Versions 1–3 stored an item size instead of a dtype and are refused, as are newer versions.
Scalars (rank 0) are model attributes, e.g. ``encoder/num_heads``. Aliases name a variable that
the converter found equal to another one; CT2 stores it once (Whisper: ``decoder/projection/weight``
→ ``decoder/embeddings/weight``, the tied output projection).

The conversion's two errors live here too: :class:`CT2Model` already raises the second one (a
"scalar" that is not one).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from csmsasr_utils.errors import CsmsasrError

#: Binary versions of model.bin this reader understands (same layout; 5 and 6 only changed how
#: CTranslate2 itself rounds when it quantises at load time).
SUPPORTED_BINARY_VERSIONS = (4, 5, 6)

#: CTranslate2's ``DataType`` ids (include/ctranslate2/types.h), as numpy dtypes (bfloat16 as raw uint16).
_DTYPES: dict[int, tuple[str, np.dtype]] = {
    0: ("float32", np.dtype("<f4")),
    1: ("int8", np.dtype("i1")),
    2: ("int16", np.dtype("<i2")),
    3: ("int32", np.dtype("<i4")),
    4: ("float16", np.dtype("<f2")),
    5: ("bfloat16", np.dtype("<u2")),
}
_MAX_RANK = 8


class CT2FormatError(CsmsasrError):
    """A ``model.bin`` that cannot be read: not a CTranslate2 model, truncated, or of an unsupported version/dtype."""


class CT2ConversionError(CsmsasrError):
    """A readable CTranslate2 model that cannot be converted exactly to transformers' Whisper."""


@dataclass(frozen=True, eq=False)
class CT2Model(Mapping):
    """The content of a ``model.bin``: header, variables and aliases.

    As a mapping it holds every stored variable and every alias (an alias returns its target's
    array). ``variables`` are read-only numpy arrays in their stored dtype, except bfloat16, which
    numpy lacks and which is widened (exactly) to float32; ``stored_dtypes`` keeps CT2's dtype names.
    """

    path: Path
    binary_version: int
    spec_name: str
    spec_revision: int
    variables: dict[str, np.ndarray]
    stored_dtypes: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def __iter__(self) -> Iterator[str]:
        yield from self.variables
        yield from self.aliases

    def __len__(self) -> int:
        return len(self.variables) + len(self.aliases)

    def scalar(self, name: str) -> int | float:
        """The Python value of a rank-0 variable (a model attribute such as ``encoder/num_heads``)."""
        value = self[name]
        if value.ndim != 0:
            raise CT2ConversionError(f"{self.path}: {name} should be a scalar, has shape {value.shape}")
        return value.item()


class _Cursor:
    """Sequential reads from the file's bytes, with errors that say what was being read and where."""

    def __init__(self, data: bytes, path: Path):
        self.data = data
        self.path = path
        self.pos = 0

    def take(self, n_bytes: int, what: str) -> memoryview:
        end = self.pos + n_bytes
        if end > len(self.data):
            raise CT2FormatError(
                f"{self.path} is truncated: reading {what} needs {n_bytes} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} are left (file size {len(self.data)}). Re-copy or "
                "re-join the model file."
            )
        view = memoryview(self.data)[self.pos : end]
        self.pos = end
        return view

    def uint(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        length = self.uint("H", f"the length of {what}")
        raw = bytes(self.take(length, what))
        if length == 0 or raw[-1] != 0:
            raise CT2FormatError(
                f"{self.path}: {what} at offset {self.pos - length} is not a NUL-terminated "
                "string: this is not a CTranslate2 model.bin, or it is corrupt"
            )
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as err:
            raise CT2FormatError(
                f"{self.path}: {what} is not UTF-8 text: not a CTranslate2 model.bin, or corrupt"
            ) from err


def read_ct2_model(path: str | Path) -> CT2Model:
    """Read a CTranslate2 ``model.bin`` (a file, or the folder holding it) into numpy arrays.

    The whole file is read into memory once and every variable is a view into it, so reading the
    145 MB Whisper-base takes a fraction of a second and no copy. Raises :class:`CT2FormatError`
    for a file that is not a CT2 model, that is truncated or has trailing bytes, whose binary
    version is not one of :data:`SUPPORTED_BINARY_VERSIONS`, or that holds an unknown dtype.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    if not path.is_file():
        raise CT2FormatError(f"{path} does not exist: expected a CTranslate2 model.bin (or its folder)")
    cursor = _Cursor(path.read_bytes(), path)
    if len(cursor.data) < 4:
        raise CT2FormatError(f"{path} has {len(cursor.data)} bytes: not a CTranslate2 model.bin")
    version = cursor.uint("I", "the binary version")
    if version not in SUPPORTED_BINARY_VERSIONS:
        if 1 <= version < SUPPORTED_BINARY_VERSIONS[0]:
            problem = "an old layout (item sizes, no dtypes); re-convert the model with a current CTranslate2"
        elif SUPPORTED_BINARY_VERSIONS[-1] < version <= 255:
            problem = "newer than this reader; check the format against CTranslate2's model_spec.py"
        else:
            raise CT2FormatError(
                f"{path} is not a CTranslate2 model.bin: its first 4 bytes read as binary "
                f"version {version} (CTranslate2 writes 1–{SUPPORTED_BINARY_VERSIONS[-1]})"
            )
        raise CT2FormatError(
            f"{path} has CTranslate2 binary version {version}, {problem} "
            f"(supported: {', '.join(map(str, SUPPORTED_BINARY_VERSIONS))})"
        )
    spec_name = cursor.string("the model spec name")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", spec_name):
        raise CT2FormatError(f"{path} is not a CTranslate2 model.bin: spec name {spec_name[:40]!r} is not a class name")
    spec_revision = cursor.uint("I", "the spec revision")
    n_variables = cursor.uint("I", "the number of variables")
    variables: dict[str, np.ndarray] = {}
    stored: dict[str, str] = {}
    for index in range(n_variables):
        name = cursor.string(f"the name of variable #{index}")
        rank = cursor.uint("B", f"the rank of {name}")
        if rank > _MAX_RANK:
            raise CT2FormatError(f"{path}: variable {name!r} has rank {rank}: corrupt or not a CTranslate2 model")
        shape = tuple(cursor.uint("I", f"the shape of {name}") for _ in range(rank))
        type_id = cursor.uint("B", f"the dtype of {name}")
        if type_id not in _DTYPES:
            raise CT2FormatError(
                f"{path}: variable {name!r} has dtype id {type_id}, which this reader does not "
                f"know (known: {', '.join(f'{k} {v[0]}' for k, v in _DTYPES.items())})"
            )
        dtype_name, dtype = _DTYPES[type_id]
        n_bytes = cursor.uint("I", f"the byte size of {name}")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if n_bytes != expected:
            raise CT2FormatError(
                f"{path}: variable {name!r} declares {n_bytes} bytes but shape {shape} of "
                f"{dtype_name} needs {expected}: corrupt or not a CTranslate2 model"
            )
        array = np.frombuffer(cursor.take(n_bytes, f"the data of {name}"), dtype=dtype).reshape(shape)
        if dtype_name == "bfloat16":  # the upper half of a float32: widen exactly
            array = (array.astype(np.uint32) << 16).view(np.float32)
        if name in variables:
            raise CT2FormatError(f"{path}: variable {name!r} is stored twice: corrupt model")
        variables[name] = array
        stored[name] = dtype_name
    aliases: dict[str, str] = {}
    for index in range(cursor.uint("I", "the number of aliases")):
        alias = cursor.string(f"alias #{index}")
        target = cursor.string(f"the target of alias {alias!r}")
        if target not in variables:
            raise CT2FormatError(f"{path}: alias {alias!r} points to {target!r}, which is not stored")
        if alias in variables or alias in aliases:
            raise CT2FormatError(f"{path}: alias {alias!r} is also a variable or a second alias: corrupt model")
        aliases[alias] = target
    if cursor.pos != len(cursor.data):
        raise CT2FormatError(
            f"{path} has {len(cursor.data) - cursor.pos} unexpected bytes after the aliases "
            "(a concatenated or corrupt file)"
        )
    return CT2Model(path, version, spec_name, spec_revision, variables, stored, aliases)
