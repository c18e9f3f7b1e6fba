"""Speech recognisers behind one interface: ``engine.transcribe(audio) -> str``.

``whisper_ct2``  OpenAI Whisper through faster-whisper (CTranslate2), CPU int8, offline-capable.
"""
