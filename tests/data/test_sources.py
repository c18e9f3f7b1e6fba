"""The registry of public files: hashes, local folders, downloads (from a loopback server), refusals."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from csmsasr_utils.data import sources
from csmsasr_utils.data.sources import REGISTRY, fetch_public_file
from csmsasr_utils.errors import HashMismatchError, PublicDataUnavailable


def test_registry_covers_the_published_files():
    assert len(REGISTRY) == 7 + 5 + 3 + 3
    for entry in REGISTRY.values():
        assert len(entry.sha256) == 64 and entry.url().startswith("https://raw.githubusercontent.com/")
    assert "%E6%97%A0%E6%A0%87%E7%82%B9" in REGISTRY["cs-msasr-lists/all_text.txt"].url()


def test_pinned_hashes_match_the_public_copies(public_dir):
    for relpath, entry in REGISTRY.items():
        digest = hashlib.sha256((public_dir / relpath).read_bytes()).hexdigest()
        assert digest == entry.sha256, relpath


def test_local_folder_is_verified(public_dir):
    path = fetch_public_file("cs-mage-splits/msa/fold_1.csv", public_dir)
    assert path == public_dir / "cs-mage-splits/msa/fold_1.csv"


def _copy_public(public_dir: Path, target: Path) -> Path:
    shutil.copytree(public_dir, target)
    for path in target.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return target


def test_a_tampered_local_file_is_refused(public_dir, tmp_path):
    folder = _copy_public(public_dir, tmp_path / "public")
    target = folder / "cs-msasr-lists/all_text.txt"
    target.write_bytes(target.read_bytes().replace("谢谢".encode(), "多谢".encode(), 1))
    with pytest.raises(HashMismatchError, match="refused"):
        fetch_public_file("cs-msasr-lists/all_text.txt", folder)


def test_missing_local_file_is_a_clear_error(tmp_path):
    with pytest.raises(PublicDataUnavailable, match="does not exist"):
        fetch_public_file("cs-msasr-lists/all_text.txt", tmp_path)


def test_unknown_relpath_is_refused(tmp_path):
    with pytest.raises(PublicDataUnavailable, match="not a registered"):
        fetch_public_file("evil/../../etc/passwd", tmp_path)


@pytest.fixture
def loopback_server(tmp_path):
    """Serve a folder over HTTP on 127.0.0.1; yields (root folder, base_urls)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield root, {"CS-MSASR": base + "msasr/", "CS-Mage": base + "mage/"}
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


def _publish(public_dir: Path, root: Path, relpath: str, content: bytes | None = None) -> None:
    entry = REGISTRY[relpath]
    folder = "msasr" if entry.repo == "CS-MSASR" else "mage"
    target = root / folder / entry.remote_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content if content is not None else (public_dir / relpath).read_bytes())


def test_download_is_verified_and_cached(public_dir, loopback_server, tmp_path, monkeypatch):
    root, base_urls = loopback_server
    monkeypatch.setenv("CSMSASR_CACHE_DIR", str(tmp_path / "cache"))
    relpath = "cs-msasr-lists/all_text.txt"  # its remote name is not ASCII
    _publish(public_dir, root, relpath)
    path = fetch_public_file(relpath, base_urls=base_urls)
    assert path == tmp_path / "cache" / relpath
    assert path.read_bytes() == (public_dir / relpath).read_bytes()
    shutil.rmtree(root / "msasr")  # a second call must use the cache, not the network
    assert fetch_public_file(relpath, base_urls=base_urls) == path


def test_a_tampered_download_is_refused_and_not_kept(public_dir, loopback_server, tmp_path, monkeypatch):
    root, base_urls = loopback_server
    monkeypatch.setenv("CSMSASR_CACHE_DIR", str(tmp_path / "cache"))
    relpath = "cs-mage-splits/asr/test.csv"
    _publish(public_dir, root, relpath, content=b"sample_id,split\nvideo_1_1,test\n")
    with pytest.raises(HashMismatchError, match="refused"):
        fetch_public_file(relpath, base_urls=base_urls)
    assert not (tmp_path / "cache" / relpath).exists()


def test_unreachable_server_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("CSMSASR_CACHE_DIR", str(tmp_path / "cache"))
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/"
    start = time.monotonic()
    with pytest.raises(PublicDataUnavailable, match="could not download"):
        fetch_public_file("cs-msasr-lists/all_text.txt", base_urls={"CS-MSASR": base, "CS-Mage": base})
    assert time.monotonic() - start < sources.DOWNLOAD_TIMEOUT_S
