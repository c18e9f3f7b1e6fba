"""The registry of public CS-MSASR / CS-Mage metadata files, and how to get them.

Each file is pinned by the commit it was published at and by its SHA-256.
A file is read from, in order:

1. the folder named by ``CSMSASR_PUBLIC_DIR`` (or the ``public_dir`` argument),
   laid out like the registry's ``relpath`` column (tests and CI point it at a
   read-only copy);
2. otherwise the user cache (``CSMSASR_CACHE_DIR``, default the OS cache folder
   ``csmsasr``), downloading into it with :mod:`pooch` when absent.

A file whose hash differs from the registry is refused with
:class:`~csmsasr_utils.errors.HashMismatchError`; it is never used. A download
that cannot happen fails after a short timeout with
:class:`~csmsasr_utils.errors.PublicDataUnavailable`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from csmsasr_utils import settings
from csmsasr_utils.errors import HashMismatchError, PublicDataUnavailable
from csmsasr_utils.optional import import_pooch
from csmsasr_utils.settings import cache_dir  # re-exported: csmsasr_utils.data.cache_dir

#: Raw-file base URLs of the two public repositories, at pinned commits.
BASE_URLS: dict[str, str] = {
    "CS-MSASR": "https://raw.githubusercontent.com/Yaoooyu/CS-MSASR/c9125be3d5be148fe41ddd383d0c523fa2aa269f/",
    "CS-Mage": "https://raw.githubusercontent.com/Yaoooyu/CS-Mage/3e3d797bf575472eda9d8162849ee9e6b56c1f09/",
}

#: Seconds before a download attempt is abandoned (the book then falls back to demo metadata).
DOWNLOAD_TIMEOUT_S = 8.0


@dataclass(frozen=True)
class PublicFile:
    """One public metadata file: where it lives here, where it comes from, its hash."""

    relpath: str  #: path inside a public-data folder (and the cache)
    repo: str  #: key of :data:`BASE_URLS`
    remote_path: str  #: path inside that repository
    sha256: str
    description: str

    def url(self, base_urls: dict[str, str] | None = None) -> str:
        """The download URL (non-ASCII path segments percent-encoded)."""
        base = (base_urls or BASE_URLS)[self.repo]
        return base + quote(self.remote_path)


def _registry() -> dict[str, PublicFile]:
    files = [
        PublicFile(
            "cs-msasr-lists/all_text.txt",
            "CS-MSASR",
            "speech-recognize/list/train_text.txt_total_1085_无标点",
            "8d6bb396458014755be9bf63759caf4125c37ba0e806159d11f17b263d0407ff",
            "transcripts of all 1,085 clips, no punctuation",
        ),
        PublicFile(
            "cs-msasr-lists/all_text_punct.txt",
            "CS-MSASR",
            "speech-recognize/list/train_text.txt_total_1085_有标点",
            "6d48668e3e64709c325ff9b169dc77332d7de6178ca4deea765d145e65b76114",
            "transcripts of all 1,085 clips, with punctuation",
        ),
        PublicFile(
            "cs-msasr-lists/train_text.txt",
            "CS-MSASR",
            "speech-recognize/list/train_text.txt",
            "0149c38d20464dab7986a3ff0f4109649b0fc051fce0d044df85c0a29f543398",
            "original ASR split: training clips (869)",
        ),
        PublicFile(
            "cs-msasr-lists/val_text.txt",
            "CS-MSASR",
            "speech-recognize/list/val_text.txt",
            "4feea7e3511d7deda606ecdcf0d89efdc2909319e23044096ab464ef5d2fd3f7",
            "original ASR split: validation clips (108)",
        ),
        PublicFile(
            "cs-msasr-lists/test_text.txt",
            "CS-MSASR",
            "speech-recognize/list/test_text.txt",
            "107fe99941d7fb4cc4015ea0779c2144739a04ab84125682ecfc6a49257a0750",
            "original ASR split: test clips (108)",
        ),
        PublicFile(
            "cs-msasr-lists/train.jsonl",
            "CS-MSASR",
            "speech-recognize/list/train.jsonl",
            "7eab6f110d1aa22a1856f5ace75e9cd484bf87cfbb25df5e07d77478e686c31d",
            "durations (source_len, 10 ms units) of the training clips",
        ),
        PublicFile(
            "cs-msasr-lists/val.jsonl",
            "CS-MSASR",
            "speech-recognize/list/val.jsonl",
            "1d97a17af1f3b9f14a8e5ebc71bc001090a8a143bc6e128dc1cbb83c1db6d88e",
            "durations (source_len, 10 ms units) of the validation clips",
        ),
    ]
    fold_hashes = [
        "9a719a1f86a7056ec4d1f422d6c63e31f42c39d71437a4072717c30f903ef04a",
        "3f7706f1c2da778edb6858c048e18ed8bf6016b8097fe52158256a4d0bd1c5c9",
        "6189c8d9794a99fe0fc0b651ac5cc61121a9cbbc5bbb2ef366a8a7a019abaad8",
        "9afdeb364215f1465e68ec87ebf1a1b9b18dd2a1006852aff1f5b6195dbcbc72",
        "5dd1346333910e91b8cb55081977c75d258a436e9d8fbbc6848f52c6787001a9",
    ]
    for k, digest in enumerate(fold_hashes, start=1):
        files.append(
            PublicFile(
                f"cs-mage-splits/msa/fold_{k}.csv",
                "CS-Mage",
                f"splits/msa/fold_{k}.csv",
                digest,
                f"official 5-fold MSA protocol, fold {k} (with multimodal labels)",
            )
        )
    for split, digest in [
        ("train", "963a255d03bfc5c6d56f8feee49af287b63d234c9fe8a21e6d758aae2c03bf86"),
        ("validation", "46a63ca6e2f690ef3d4419bf2ef7d7287ff9b610f496ac4923ab2028950c616f"),
        ("test", "887dc7ab18b3f99bcdfab6268d6e473224de0e957a7ed53bad64f1f2cde889c4"),
    ]:
        files.append(
            PublicFile(
                f"cs-mage-splits/asr/{split}.csv",
                "CS-Mage",
                f"splits/asr/{split}.csv",
                digest,
                f"official ASR split (760/160/165): {split}",
            )
        )
    for name, digest in [
        ("vocab.txt", "45bbac6b341c319adc98a532532882e91a9cefc0329aa57bac9ae761c27b291c"),
        ("config.json", "88af762cfb15fa9ce183c84dcbfdc9d635196ba635dfe81f265fdd21d67f4c4c"),
        ("tokenizer_config.json", "0f6d13e6f4da6f9e24f22ada6bc3be571123d858d7c0c05a8a7cd55a9c23c2e8"),
    ]:
        files.append(
            PublicFile(
                f"bert-base-chinese/{name}",
                "CS-Mage",
                f"assets/bert-base-chinese/{name}",
                digest,
                f"bert-base-chinese {name} (tokenisation only, no weights)",
            )
        )
    return {f.relpath: f for f in files}


#: Every public file, keyed by its ``relpath``.
REGISTRY: dict[str, PublicFile] = _registry()


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, entry: PublicFile) -> Path:
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise HashMismatchError(
            f"{path} has SHA-256 {actual}, but the pinned {entry.relpath} has {entry.sha256}. "
            "The file was refused: it is not the published version. Replace it with the "
            f"file from {entry.url()} (or delete it to let the package download it)."
        )
    return path


def fetch_public_file(
    relpath: str,
    public_dir: str | os.PathLike | None = None,
    *,
    base_urls: dict[str, str] | None = None,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Return a local, hash-verified path to one public file.

    ``public_dir`` (default: ``CSMSASR_PUBLIC_DIR``) is read without network
    access; otherwise the file is downloaded into :func:`~csmsasr_utils.settings.cache_dir`.
    ``base_urls`` overrides :data:`BASE_URLS` (tests use a loopback server).
    """
    if relpath not in REGISTRY:
        raise PublicDataUnavailable(f"{relpath!r} is not a registered public file; known: {sorted(REGISTRY)}")
    entry = REGISTRY[relpath]
    folder = Path(public_dir) if public_dir is not None else settings.public_dir()
    if folder is not None:
        path = folder / relpath
        if not path.is_file():
            raise PublicDataUnavailable(
                f"{path} does not exist. The public-data folder {folder} (CSMSASR_PUBLIC_DIR) must be "
                "laid out like the registry: e.g. cs-msasr-lists/all_text.txt, cs-mage-splits/msa/fold_1.csv."
            )
        return _verified(path, entry)
    return _download(entry, base_urls=base_urls, timeout_s=timeout_s)


def _download(entry: PublicFile, *, base_urls: dict[str, str] | None, timeout_s: float) -> Path:
    pooch = import_pooch()

    target = cache_dir() / entry.relpath
    if target.is_file() and sha256_of(target) == entry.sha256:
        return target
    downloader = pooch.HTTPDownloader(timeout=timeout_s, progressbar=False)
    try:
        path = pooch.retrieve(
            entry.url(base_urls),
            known_hash=f"sha256:{entry.sha256}",
            fname=target.name,
            path=target.parent,
            downloader=downloader,
        )
    except ValueError as err:  # pooch's hash mismatch; the bad download is deleted by pooch
        raise HashMismatchError(
            f"the download of {entry.relpath} from {entry.url(base_urls)} does not have the pinned "
            f"SHA-256 {entry.sha256}; it was refused and deleted ({err})"
        ) from err
    except Exception as err:  # network errors of every kind: requests, OSError, timeouts
        raise PublicDataUnavailable(
            f"could not download {entry.relpath} from {entry.url(base_urls)} "
            f"({type(err).__name__}: {err}). Offline? Set CSMSASR_PUBLIC_DIR to a folder with "
            "the public files, or run `csmsasr data fetch` where the internet is reachable."
        ) from err
    return Path(path)


def fetch_all(
    public_dir: str | os.PathLike | None = None,
    *,
    base_urls: dict[str, str] | None = None,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> dict[str, Path]:
    """Fetch (or locate) every registered file; stop at the first failure."""
    return {
        relpath: fetch_public_file(relpath, public_dir, base_urls=base_urls, timeout_s=timeout_s)
        for relpath in REGISTRY
    }
