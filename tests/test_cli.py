"""The `csmsasr` command line."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from csmsasr_utils.cli import main
from csmsasr_utils.data import make_demo


def _write(obj, path):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=4)
    return str(path)


def test_check_a_good_file(tmp_path, capsys, public_dir):
    from csmsasr_utils.data import load_metadata

    raw = make_demo(n_clips=40, seq_lens={"text": 8, "audio": 9, "vision": 7}, metadata=load_metadata(public_dir))
    assert main(["data", "check", _write(raw, tmp_path / "f.pkl"), "--public-dir", str(public_dir)]) == 0
    out = capsys.readouterr().out
    assert "layout:  flat" in out and "clips:   40" in out and "problems found: none" in out
    assert "audio  : shape (40, 9, 13)" in out


def test_check_reports_problems(tmp_path, capsys):
    raw = make_demo(n_clips=10, seq_lens={"text": 8, "audio": 9, "vision": 7})
    raw["regression_labels"] = raw["regression_labels"] * np.nan
    assert main(["data", "check", _write(raw, tmp_path / "bad.pkl"), "--public-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "public metadata unavailable" in out and "10 NaN label" in out


def test_check_refuses_a_malicious_file(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    assert main(["data", "check", _write(Evil(), tmp_path / "evil.pkl"), "--public-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "refused to unpickle global 'builtins.print'" in out and "pwned" not in out


def test_demo_and_fetch(tmp_path, capsys, public_dir):
    assert main(["data", "demo", str(tmp_path / "d.pkl"), "--n-clips", "12"]) == 0
    assert "NOT real data" in capsys.readouterr().out
    assert main(["data", "fetch", "--public-dir", str(public_dir)]) == 0
    assert "sha256 verified" in capsys.readouterr().out


def test_errors_become_exit_code_2(tmp_path, capsys):
    assert main(["data", "fetch", "--public-dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "csmsasr_utils.cli", "data", "--help"], capture_output=True, text=True, check=True
    )
    assert "check" in result.stdout and "fingerprint" in result.stdout


@pytest.mark.parametrize("engine", ["wav2vec2", "paraformer"])
def test_asr_engine_needs_a_model_folder(engine, capsys, public_dir, monkeypatch):
    monkeypatch.setattr(
        "csmsasr_utils.asr.speech_source.audio_for_clips",
        lambda rows, cache, audio_dir=None: (rows[["clip_id"]].assign(path=""), "stub"),
    )
    code = main(["asr", "transcribe", "--engine", engine, "--limit", "1", "--public-dir", str(public_dir)])
    assert code == 2 and "needs --model-dir" in capsys.readouterr().err


def test_training_options_default_to_the_recipes_own_settings():
    """`asr train` and `asr finetune` take their defaults from the config classes, not copies of them."""
    from csmsasr_utils.asr.training_config import FinetuneConfig, TrainConfig
    from csmsasr_utils.cli import build_parser

    parser = build_parser()
    train = parser.parse_args(["asr", "train"])
    assert (train.epochs, train.patience, train.max_steps, train.seed) == (
        TrainConfig.epochs,
        TrainConfig.patience,
        TrainConfig.max_steps,
        TrainConfig.seed,
    )
    tune = parser.parse_args(["asr", "finetune"])
    recipe = FinetuneConfig()
    for option in ("epochs", "batch_size", "learning_rate", "max_steps", "label_prefix", "select"):
        assert getattr(tune, option) == getattr(recipe, option), option
    help_text = subprocess.run(
        [sys.executable, "-m", "csmsasr_utils.cli", "asr", "train", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"(default {TrainConfig.epochs})" in help_text and f"(default {TrainConfig.patience};" in help_text


def test_the_command_line_starts_without_torch():
    """Building the parser (every `csmsasr` call, `--help` included) does not import torch (~2 s)."""
    probe = "import sys, csmsasr_utils.cli as c; c.build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("option", [["--epochs", "0"], ["--max-steps", "-1"], ["--patience", "-2"]])
def test_asr_train_refuses_a_bad_budget_before_reading_audio(option, capsys, public_dir, monkeypatch):
    def no_audio(*_args, **_kwargs):
        raise AssertionError("audio was read before the settings were checked")

    monkeypatch.setattr("csmsasr_utils.asr.speech_source.audio_for_clips", no_audio)
    code = main(["asr", "train", *option, "--limit", "1", "--public-dir", str(public_dir)])
    assert code == 2 and "must be positive" in capsys.readouterr().err
