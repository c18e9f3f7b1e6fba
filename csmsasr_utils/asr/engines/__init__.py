"""Speech recognisers behind one interface: ``engine.transcribe(audio) -> str``.

``base``         what every recogniser offers: ``name``, ``transcribe(audio) -> str``, a timed variant.
``whisper_ct2``  OpenAI Whisper through faster-whisper (CTranslate2), CPU int8, offline-capable.
``hf``           transformers' Whisper and wav2vec 2.0 CTC (optional extra ``hf``).
``paraformer``   FunASR's Paraformer, the authors' best published model (optional extra ``paraformer``).

All three engines load from a local model folder without network access; the ``hf`` and ``paraformer``
adapters are tested offline with tiny randomly initialised models.
"""
