"""Speech recognition on CS-MSASR: the CER protocol, audio sources and engines.

``normalize``  text normalisation (CS-Mage's, plus Traditional → Simplified)
``metrics``    corpus and per-utterance CER, S/D/I, sentence error rate, WER on jieba words
``audio``      real clips (``CSMSASR_AUDIO_DIR``) or synthetic speech of the transcripts (espeak-ng)
``engines``    recognisers behind one small interface (faster-whisper Whisper-base, offline)
``transcribe`` batch transcription with a progress bar and a TSV cache
``ct2_to_hf``  CTranslate2 Whisper → transformers Whisper (offline fine-tuning of Whisper-base)
"""
