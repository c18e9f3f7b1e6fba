"""The FunASR Paraformer adapter, offline, with a tiny randomly initialised Paraformer.

The model is built from a config (SANM encoder, SANM decoder, CIF predictor, 56-dim LFR features
over 8 mel bins, a six-token vocabulary) and saved as a FunASR model folder; the engine loads it
through ``funasr.AutoModel`` exactly as it loads the real Paraformer-large. Any attempt to open an
internet socket fails the test.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import socket
import sys

import numpy as np
import pytest

from csmsasr_utils.asr.engines.paraformer import ParaformerEngine, join_tokens
from csmsasr_utils.errors import CsmsasrError

needs_funasr = pytest.mark.skipif(
    importlib.util.find_spec("funasr") is None, reason="funasr is not installed (extra 'paraformer')"
)

TOKENS = ["<blank>", "<s>", "</s>", "长", "沙", "话", "<unk>"]  # FunASR's layout: blank, sos, eos ... unk
N_MELS, LFR_M, LFR_N = 8, 7, 6
CONFIG = {
    "model": "Paraformer",
    "model_conf": {"ctc_weight": 0.0, "predictor_weight": 1.0, "predictor_bias": 1, "sampling_ratio": 0.75},
    "encoder": "SANMEncoder",
    "encoder_conf": {
        "output_size": 16,
        "attention_heads": 2,
        "linear_units": 32,
        "num_blocks": 2,
        "dropout_rate": 0.0,
        "positional_dropout_rate": 0.0,
        "attention_dropout_rate": 0.0,
        "input_layer": "pe",
        "pos_enc_class": "SinusoidalPositionEncoder",
        "normalize_before": True,
        "kernel_size": 3,
        "sanm_shfit": 0,
        "selfattention_layer_type": "sanm",
    },
    "decoder": "ParaformerSANMDecoder",
    "decoder_conf": {
        "attention_heads": 2,
        "linear_units": 32,
        "num_blocks": 1,
        "att_layer_num": 1,
        "dropout_rate": 0.0,
        "positional_dropout_rate": 0.0,
        "self_attention_dropout_rate": 0.0,
        "src_attention_dropout_rate": 0.0,
        "kernel_size": 3,
        "sanm_shfit": 0,
    },
    "predictor": "CifPredictorV2",
    "predictor_conf": {"idim": 16, "threshold": 1.0, "l_order": 1, "r_order": 1, "tail_threshold": 0.45},
    "frontend": "WavFrontend",
    "frontend_conf": {
        "fs": 16000,
        "window": "hamming",
        "n_mels": N_MELS,
        "frame_length": 25,
        "frame_shift": 10,
        "lfr_m": LFR_M,
        "lfr_n": LFR_N,
    },  # dither left at FunASR's default (1.0)
    "specaug": None,
    "normalize": None,
    "tokenizer": "CharTokenizer",
    "tokenizer_conf": {"unk_symbol": "<unk>", "split_with_space": True},
}


def _write_cmvn(path, dim: int) -> None:
    """A Kaldi-nnet ``am.mvn`` as FunASR reads it: shift then scale of each feature."""
    shift, scale = " ".join(["-8.0"] * dim), " ".join(["0.3"] * dim)
    path.write_text(
        f"<Nnet>\n<Splice> {dim} {dim}\n[ 0 ]\n"
        f"<AddShift> {dim} {dim}\n<LearnRateCoef> 0 [ {shift} ]\n"
        f"<Rescale> {dim} {dim}\n<LearnRateCoef> 0 [ {scale} ]\n</Nnet>\n",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def tiny_paraformer(tmp_path_factory):
    """A FunASR model folder (config.yaml, model.pt, tokens.json, am.mvn) and its state dict."""
    from csmsasr_utils.asr.engines.paraformer import import_funasr

    import_funasr()
    import torch
    import yaml
    from funasr.models.paraformer.model import Paraformer

    folder = tmp_path_factory.mktemp("tiny-paraformer")
    (folder / "config.yaml").write_text(yaml.safe_dump(CONFIG, allow_unicode=True), encoding="utf-8")
    (folder / "tokens.json").write_text(json.dumps(TOKENS, ensure_ascii=False), encoding="utf-8")
    _write_cmvn(folder / "am.mvn", N_MELS * LFR_M)
    parts = {
        k: CONFIG[k]
        for k in (
            "encoder",
            "encoder_conf",
            "decoder",
            "decoder_conf",
            "predictor",
            "predictor_conf",
            "specaug",
            "normalize",
        )
    }
    with torch.random.fork_rng():
        torch.manual_seed(1)  # not FunASR's load seed (0), so a model that ignored model.pt would differ
        model = Paraformer(**parts, **CONFIG["model_conf"], input_size=N_MELS * LFR_M, vocab_size=len(TOKENS))
    with torch.no_grad():
        model.predictor.cif_output.bias.fill_(4.0)  # the CIF fires on almost every frame: ~1 token per 60 ms
        model.decoder.output_layer.bias[[0, 1, 2, 6]] = -30.0  # only the three characters can win
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(state, folder / "model.pt")
    return folder, state


@pytest.fixture
def no_network(monkeypatch):
    """Fail any TCP/UDP connection; also tell the Hugging Face hub to stay offline."""
    attempts = []
    real_connect = socket.socket.connect

    def guarded(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network access attempted in an offline test: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return attempts


@needs_funasr
def test_paraformer_adapter_runs_offline(tiny_paraformer, no_network):
    import torch

    folder, state = tiny_paraformer
    root = logging.getLogger()
    before = (list(root.handlers), root.level, torch.get_num_threads(), np.random.get_state()[1].copy())
    engine = ParaformerEngine(folder)
    assert engine.name == f"paraformer-{folder.name}"
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32)
    text, seconds = engine.timed_transcribe(audio)
    assert isinstance(text, str) and seconds > 0
    assert 5 <= len(text) <= 20 and set(text) <= set("长沙话")  # ~17 LFR frames, no spaces, no <unk>
    assert engine.transcribe(audio) == text  # dither off: deterministic
    assert engine.transcribe(np.zeros(0, dtype=np.float32)) == ""
    loaded = engine._load().model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())  # model.pt was really loaded
    assert engine._load().kwargs["frontend"].dither == 0.0
    after = (list(root.handlers), root.level, torch.get_num_threads(), np.random.get_state()[1])
    assert after[:3] == before[:3] and np.array_equal(after[3], before[3])  # FunASR's side effects contained
    assert no_network == []


@needs_funasr
def test_paraformer_modelscope_layout(tiny_paraformer, tmp_path, no_network):
    """A folder as ModelScope ships it: configuration.json names the files FunASR reads."""
    import shutil

    import torch

    folder, state = tiny_paraformer
    for name in ("config.yaml", "model.pt", "tokens.json", "am.mvn"):
        shutil.copy(folder / name, tmp_path / name)
    metas = {
        "init_param": "model.pt",
        "config": "config.yaml",
        "tokenizer_conf": {"token_list": "tokens.json"},
        "frontend_conf": {"cmvn_file": "am.mvn"},
    }
    (tmp_path / "configuration.json").write_text(
        json.dumps({"framework": "pytorch", "task": "auto-speech-recognition", "file_path_metas": metas}),
        encoding="utf-8",
    )
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32)
    engine = ParaformerEngine(tmp_path)
    assert engine.transcribe(audio) == ParaformerEngine(folder).transcribe(audio)
    loaded = engine._load().model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert no_network == []


@needs_funasr
def test_paraformer_rejects_stereo(tiny_paraformer, no_network):
    with pytest.raises(CsmsasrError, match="mono"):
        ParaformerEngine(tiny_paraformer[0]).transcribe(np.zeros((2, 1600), dtype=np.float32))


def test_paraformer_folder_errors(tmp_path):
    with pytest.raises(CsmsasrError, match="does not exist.*--online"):
        ParaformerEngine(tmp_path / "absent").transcribe(np.zeros(1600, dtype=np.float32))
    (tmp_path / "config.yaml").write_text("model: Paraformer\n", encoding="utf-8")
    with pytest.raises(CsmsasrError, match="missing model.pt, tokens.json or tokens.txt"):
        ParaformerEngine(tmp_path).transcribe(np.zeros(1600, dtype=np.float32))
    with pytest.raises(CsmsasrError, match="not a directory"):
        ParaformerEngine(tmp_path / "config.yaml").transcribe(np.zeros(1600, dtype=np.float32))


def test_paraformer_without_funasr(tmp_path, monkeypatch):
    for name in ("config.yaml", "model.pt", "tokens.txt"):
        (tmp_path / name).write_text("", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "funasr", None)  # `import funasr` now fails
    with pytest.raises(CsmsasrError, match=r"csmsasr-utils\[paraformer\]"):
        ParaformerEngine(tmp_path).transcribe(np.zeros(1600, dtype=np.float32))


@needs_funasr
def test_funasr_load_errors_become_csmsasr_errors(tmp_path, no_network):
    (tmp_path / "config.yaml").write_text("model: NoSuchModel\ntokenizer_conf: {}\n", encoding="utf-8")
    (tmp_path / "model.pt").write_bytes(b"")
    (tmp_path / "tokens.json").write_text("[]", encoding="utf-8")
    with pytest.raises(CsmsasrError, match="FunASR could not load .*NoSuchModel.* not registered"):
        ParaformerEngine(tmp_path).transcribe(np.zeros(1600, dtype=np.float32))
    assert no_network == []


def test_join_tokens_keeps_latin_spaces():
    assert join_tokens(" 长 沙 话 ") == "长沙话"
    assert join_tokens("我 用 the app 好") == "我用the app好"
