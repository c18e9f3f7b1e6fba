"""The settings table: one reader of the CSMSASR_* variables, paths resolved the same way everywhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from csmsasr_utils import settings
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.settings import SETTINGS, SettingError

REPO = Path(__file__).resolve().parents[1]


def test_unset_and_blank_mean_unset(monkeypatch):
    monkeypatch.setenv("CSMSASR_FEATURES", "   ")
    assert settings.features_path() is None and settings.raw_value("CSMSASR_FEATURES") == ""
    monkeypatch.delenv("CSMSASR_AUDIO_DIR", raising=False)
    assert settings.audio_dir() is None


def test_a_relative_path_resolves_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.pkl").write_bytes(b"x")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CSMSASR_FEATURES", "data/f.pkl")
    assert settings.features_path() == tmp_path / "data" / "f.pkl"
    monkeypatch.chdir(tmp_path / "notebooks")  # where the book's kernels run: the same file, named from there
    monkeypatch.setenv("CSMSASR_FEATURES", "../data/f.pkl")
    assert settings.features_path() == tmp_path / "data" / "f.pkl"  # normalised, absolute


def test_the_user_folder_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "audio").mkdir()
    monkeypatch.setenv("CSMSASR_AUDIO_DIR", "~/audio")
    assert settings.audio_dir() == tmp_path / "audio"


def test_a_set_path_that_does_not_exist_is_an_error_that_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CSMSASR_FEATURES", str(tmp_path / "typo.pkl"))
    with pytest.raises(SettingError) as caught:
        settings.features_path()
    message = str(caught.value)
    assert "CSMSASR_FEATURES" in message and "typo.pkl" in message and "does not exist" in message
    assert "To fix:" in message and "CS-MSASR_fulldata.pkl" in message
    assert isinstance(caught.value, CsmsasrError)


def test_a_file_where_a_folder_is_meant_and_the_reverse(tmp_path, monkeypatch):
    (tmp_path / "f.txt").write_text("x")
    monkeypatch.setenv("CSMSASR_AUDIO_DIR", str(tmp_path / "f.txt"))
    with pytest.raises(SettingError, match="is a file; expected folder"):
        settings.audio_dir()
    monkeypatch.setenv("CSMSASR_MSA_RESULTS", str(tmp_path))
    with pytest.raises(SettingError, match="is a folder; expected file"):
        settings.msa_results_path()


def test_the_cache_folder_need_not_exist_yet_and_has_a_default(tmp_path, monkeypatch):
    monkeypatch.setenv("CSMSASR_CACHE_DIR", str(tmp_path / "new-cache"))
    assert settings.cache_dir() == tmp_path / "new-cache"
    monkeypatch.delenv("CSMSASR_CACHE_DIR")
    assert settings.cache_dir().name == "csmsasr"


def test_describe_lists_every_setting_and_reports_errors_instead_of_raising(tmp_path, monkeypatch):
    monkeypatch.setenv("CSMSASR_BERT_DIR", str(tmp_path / "missing"))
    rows = {row["name"]: row["value"] for row in settings.describe()}
    assert list(rows) == [s.name for s in SETTINGS]
    assert rows["CSMSASR_FEATURES"] == "unset" and rows["CSMSASR_BERT_DIR"].startswith("ERROR: CSMSASR_BERT_DIR")


def test_an_unknown_setting_name_is_refused():
    with pytest.raises(SettingError, match="unknown setting 'CSMSASR_FEATURE'"):
        settings.path_setting("CSMSASR_FEATURE")


def _reads_of_csmsasr_variables(path: Path) -> list[int]:
    """Lines of ``path`` where os.environ / os.getenv is used with a CSMSASR_* literal."""
    source = path.read_text(encoding="utf-8")
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"CSMSASR_[A-Z_]+", node.value)
        ):
            line = source.splitlines()[node.lineno - 1]
            if "environ" in line or "getenv" in line:
                lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_variables():
    offenders = {
        str(path.relative_to(REPO)): lines
        for path in sorted((REPO / "csmsasr_utils").rglob("*.py"))
        if path.name != "settings.py" and (lines := _reads_of_csmsasr_variables(path))
    }
    assert offenders == {}
    for chapter in sorted((REPO / "notebooks").glob("*.md")):
        text = chapter.read_text(encoding="utf-8")
        assert not re.search(r"(environ|getenv)[^\n]*CSMSASR_", text), chapter.name


def test_every_variable_named_anywhere_is_in_the_table():
    known = {s.name for s in SETTINGS}
    named = set()
    for folder in ("csmsasr_utils", "notebooks", "book"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in {".py", ".md"}:
                named |= set(re.findall(r"CSMSASR_[A-Z_]*[A-Z]", path.read_text(encoding="utf-8")))
    assert named <= known, named - known


def test_the_makefile_makes_every_setting_absolute():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    listed = re.search(r"^SETTINGS\s*:=\s*((?:.*\\\n)*.*)$", makefile, re.M).group(1)
    assert listed.replace("\\", " ").split() == [s.name for s in SETTINGS]


def test_paths_made_absolute_for_a_process_started_elsewhere(tmp_path, monkeypatch):
    """What the book's build does before its kernels start in notebooks/: each set path absolute from
    the build's folder, ~ expanded, blank and other variables untouched; then an accessor called from
    notebooks/ finds the file the user named."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.pkl").write_bytes(b"x")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {"CSMSASR_FEATURES": "data/f.pkl", "CSMSASR_AUDIO_DIR": "~/audio", "CSMSASR_BERT_DIR": "", "PATH": "bin"}
    changed = settings.make_paths_absolute(env, tmp_path)
    assert changed == {
        "CSMSASR_FEATURES": str(tmp_path / "data" / "f.pkl"),
        "CSMSASR_AUDIO_DIR": str(tmp_path / "audio"),
    }
    assert env["CSMSASR_BERT_DIR"] == "" and env["PATH"] == "bin"
    assert settings.make_paths_absolute(env, tmp_path / "notebooks") == {}  # absolute already: unchanged

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CSMSASR_FEATURES", "data/f.pkl")
    settings.make_paths_absolute()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert settings.features_path() == tmp_path / "data" / "f.pkl"
