"""The restricted unpickler: real malicious payloads must be refused before they run."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess

import numpy as np
import pytest

from csmsasr_utils.data.pickle_io import safe_load_pickle
from csmsasr_utils.errors import FeatureFileError, UnsafePickleError


class _Payload:
    """Pickles as a call of ``func(*args)``: what an attacker would ship."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    write = f"open({str(marker)!r}, 'w').write('pwned')"
    return {
        "os.system": _Payload(os.system, f"touch {marker}"),
        "eval": _Payload(builtins.eval, write),
        "builtins.exec": _Payload(builtins.exec, write),
        "subprocess.Popen": _Payload(subprocess.Popen, ["touch", str(marker)]),
        "os.popen": _Payload(os.popen, f"touch {marker}"),
    }


@pytest.mark.parametrize("name", ["os.system", "eval", "builtins.exec", "subprocess.Popen", "os.popen"])
@pytest.mark.parametrize("nesting", ["top", "inside_feature_dict", "inside_object_array"])
def test_malicious_payloads_never_run(tmp_path, name, nesting):
    marker = tmp_path / "marker"
    payload = _payloads(marker)[name]
    if nesting == "top":
        obj = payload
    elif nesting == "inside_feature_dict":
        obj = {"id": np.array(["01_0001"], dtype=object), "text": np.zeros((1, 2, 3), np.float32), "raw_text": payload}
    else:
        obj = {"id": np.array([payload], dtype=object)}
    path = tmp_path / "evil.pkl"
    for protocol in (2, 4, 5):
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        with pytest.raises(UnsafePickleError) as info:
            safe_load_pickle(path)
        assert "refused to unpickle global" in str(info.value)
        assert info.value.module in {"posix", "nt", "os", "builtins", "subprocess"}
    assert not marker.exists(), "the payload ran"


def test_the_refused_global_is_named(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Payload(subprocess.Popen, ["true"])))
    with pytest.raises(UnsafePickleError, match=r"subprocess\.Popen"):
        safe_load_pickle(path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_and_containers_load(tmp_path, protocol):
    obj = {
        "text": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "id": np.array(["01_0001", "01_0002"], dtype=object),
        "raw_text": ["一", "二"],
        "lengths": np.array([3, 2], dtype=np.int64),
        "scalar": np.float64(0.5),
        "bytes": b"\x00\x01",
        "misc": (1, 2.5, None, True, {"a": frozenset({1})}),
    }
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    loaded = safe_load_pickle(path)
    assert np.array_equal(loaded["text"], obj["text"]) and loaded["text"].dtype == np.float32
    assert loaded["id"].tolist() == obj["id"].tolist()
    assert loaded["raw_text"] == obj["raw_text"] and loaded["misc"] == obj["misc"]
    assert loaded["scalar"] == 0.5 and loaded["bytes"] == b"\x00\x01"


@pytest.mark.parametrize("old,new", [(b"numpy._core.", b"numpy.core."), (b"numpy.core.", b"numpy._core.")])
def test_both_numpy_module_paths_load(tmp_path, old, new):
    """Files written by numpy 1.x (numpy.core) and 2.x (numpy._core) both load."""
    array = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    data = pickle.dumps({"a": array, "s": np.float32(2.0)}, protocol=2)  # text GLOBAL opcodes
    other = data.replace(old, new) if old in data else data
    path = tmp_path / "np.pkl"
    path.write_bytes(other)
    loaded = safe_load_pickle(path)
    assert np.array_equal(loaded["a"], array) and loaded["s"] == np.float32(2.0)


def test_missing_file(tmp_path):
    with pytest.raises(FeatureFileError, match="does not exist"):
        safe_load_pickle(tmp_path / "nope.pkl")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(FeatureFileError, match="not a file"):
        safe_load_pickle(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pkl"
    path.write_bytes(b"")
    with pytest.raises(FeatureFileError, match="empty"):
        safe_load_pickle(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_truncated_file(tmp_path, protocol):
    data = pickle.dumps({"text": np.ones((4, 5, 6), np.float32), "id": ["a"] * 4}, protocol=protocol)
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FeatureFileError, match="truncated"):
        safe_load_pickle(path)


@pytest.mark.parametrize(
    "content", [b"id,text\n01_0001,hello\n", b"\x89PNG\r\n\x1a\n" + bytes(range(50)), "长沙话".encode()]
)
def test_not_a_pickle(tmp_path, content):
    path = tmp_path / "foreign.pkl"
    path.write_bytes(content)
    with pytest.raises(FeatureFileError, match="not a readable pickle|truncated"):
        safe_load_pickle(path)
