"""Paraformer through FunASR (optional extra ``paraformer``): the authors' best published model.

:class:`ParaformerEngine` loads a FunASR model folder, for instance ModelScope's
``iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-pytorch`` (FunASR's Mandarin
Paraformer-large, the checkpoint the authors fine-tuned: their
``speech-recognize/paraformer/finetune.sh`` starts from it) or a folder from fine-tuning it with
FunASR. The folder needs
``config.yaml``, ``model.pt`` and ``tokens.json`` (or ``tokens.txt``); ``am.mvn``,
``configuration.json`` and ``seg_dict`` are used when present. Download the weights once with
``modelscope download iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-pytorch
--local-dir DIR``; after that loading is offline: FunASR's update check is switched off and a
local folder never touches a model hub. A hub id (or a FunASR alias such as ``paraformer-zh``)
is downloaded only with ``online=True`` (CLI: ``--online``).

Decoding is FunASR's: CIF predicts the number of tokens, the decoder emits them in one pass and
each position takes its most likely token. FunASR returns Chinese characters without spaces;
the engine also removes any space next to a Chinese character and keeps the spaces between
Latin words. The frontend's dither (random noise added before the filterbank) is set to 0 by
default so that a clip always gives the same transcript.

FunASR prints to stdout, configures the root logger, reseeds Python's, NumPy's and torch's random
generators and may change torch's thread count when it is imported and when it loads a model;
the engine keeps all of that inside its own calls. Tested offline with a tiny randomly
initialised Paraformer built from a config (``tests/asr/test_paraformer_engine.py``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from csmsasr_utils.asr.engines.base import TimedTranscription
from csmsasr_utils.errors import CsmsasrError

#: Files every FunASR Paraformer folder must hold (plus one of :data:`TOKEN_FILES`).
REQUIRED_FILES = ("config.yaml", "model.pt")
#: The token list, in either of FunASR's two formats.
TOKEN_FILES = ("tokens.json", "tokens.txt")
#: The ModelScope id of FunASR's Mandarin Paraformer-large (16 kHz, 8404 tokens).
PARAFORMER_LARGE_ZH = "iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-pytorch"

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACE_NEXT_TO_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


@contextlib.contextmanager
def _contained():
    """Run FunASR code without letting its prints, logging setup or reseeding leak out.

    Yields the buffer that collects what FunASR printed (quoted in error messages).
    """
    root = logging.getLogger()
    handlers, level, disabled = list(root.handlers), root.level, root.manager.disable
    states = [random.getstate(), np.random.get_state()]
    try:
        import torch
    except ImportError:  # pragma: no cover - funasr itself needs torch
        torch = None
    if torch is not None:
        states.append(torch.get_rng_state())
        threads = torch.get_num_threads()
    printed = io.StringIO()
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield printed
    finally:
        logging.disable(disabled)
        root.handlers[:] = handlers
        root.setLevel(level)
        random.setstate(states[0])
        np.random.set_state(states[1])
        if torch is not None:
            torch.set_rng_state(states[2])
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)


def import_funasr():
    """The ``funasr`` module, imported quietly; :class:`.CsmsasrError` when it is not installed."""
    try:
        with _contained():
            import funasr
            from funasr import AutoModel  # noqa: F401 - imports the model registry
    except ImportError as err:
        raise CsmsasrError(
            f"funasr is not installed or cannot be imported ({err}): pip install "
            "'csmsasr-utils[paraformer]' (funasr and kaldi-native-fbank; the book's requirements.txt "
            "pins both)"
        ) from err
    from funasr.utils import fbank

    if not getattr(fbank, "_HAS_TORCHAUDIO", True) and getattr(fbank, "_knf", True) is None:
        raise CsmsasrError(
            "FunASR has no filterbank backend: pip install kaldi-native-fbank (or the torchaudio matching your torch)"
        )
    return funasr


def check_model_folder(folder: str | Path) -> Path:
    """``folder`` as a :class:`~pathlib.Path` if it is a FunASR model folder, else :class:`.CsmsasrError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CsmsasrError(f"Paraformer model folder {folder} is not a directory")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in TOKEN_FILES):
        missing.append(" or ".join(TOKEN_FILES))
    if missing:
        raise CsmsasrError(
            f"{folder} is not a FunASR model folder: missing {', '.join(missing)}. Download one with "
            f"`modelscope download {PARAFORMER_LARGE_ZH} --local-dir DIR`"
        )
    return folder


def join_tokens(text: str) -> str:
    """FunASR's text without spaces next to Chinese characters (spaces between Latin words stay).

    >>> join_tokens("长 沙 话 hello world 好")
    '长沙话hello world好'
    """
    return _SPACE_NEXT_TO_CJK.sub("", text).strip()


@dataclass
class ParaformerEngine(TimedTranscription):
    """A FunASR Paraformer: a local model folder or, with ``online=True``, a hub id.

    ``hub`` is FunASR's: ``"ms"`` (ModelScope) or ``"hf"`` (Hugging Face), used only for
    downloads. ``dither=None`` keeps the frontend's dither from ``config.yaml``.
    """

    model: str | Path
    device: str = "cpu"
    online: bool = False
    hub: str = "ms"
    dither: float | None = 0.0
    _auto: object = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        return f"paraformer-{Path(str(self.model)).name}"

    def _source(self) -> str:
        path = Path(self.model)
        if path.exists():
            return str(check_model_folder(path))
        if self.online:
            return str(self.model)  # a hub id or a FunASR alias, downloaded by FunASR
        raise CsmsasrError(
            f"Paraformer model folder {path} does not exist. Download it first (`modelscope download "
            f"{PARAFORMER_LARGE_ZH} --local-dir DIR`) or allow a download from the hub with "
            "online=True (CLI: --online)"
        )

    def _load(self):
        if self._auto is None:
            source = self._source()
            import_funasr()
            import torch
            from funasr import AutoModel

            options = {} if self.dither is None else {"frontend_conf": {"dither": float(self.dither)}}
            with _contained() as printed:
                try:  # config.yaml's own values, with the dither override merged into frontend_conf
                    auto = AutoModel(
                        model=source,
                        hub=self.hub,
                        device=self.device,
                        disable_update=True,
                        disable_pbar=True,
                        log_level="ERROR",
                        ncpu=torch.get_num_threads(),
                        **options,
                    )
                except Exception as err:  # FunASR raises many kinds; report them as one
                    said = printed.getvalue().strip().splitlines()[-3:]
                    first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
                    raise CsmsasrError(
                        f"FunASR could not load a model from {source}: {first}"
                        + (f" (FunASR said: {' | '.join(said)})" if said else "")
                    ) from err
            self._auto = auto
        return self._auto

    def transcribe(self, audio: np.ndarray) -> str:
        """The transcript of one 16 kHz mono clip (float32 samples in [-1, 1])."""
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise CsmsasrError(f"Paraformer needs mono audio (one dimension), got shape {samples.shape}")
        auto = self._load()
        if samples.size == 0:
            return ""
        with _contained():
            results = auto.generate(input=samples, key="clip")
        return join_tokens(results[0].get("text", "")) if results else ""
