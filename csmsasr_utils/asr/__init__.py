"""Speech recognition on CS-MSASR: the CER protocol, audio sources, recognisers and error analysis.

``normalize``       text normalisation (CS-Mage's, plus Traditional → Simplified)
``metrics``         corpus and per-utterance CER, S/D/I, sentence error rate, WER on jieba words
``published``       the only published ASR numbers for CS-MSASR, with their provenance
``audio``           real clips (``CSMSASR_AUDIO_DIR``) or synthetic speech of the transcripts
``tts``             the neural Mandarin voice (Kokoro-82M) reading the real transcripts, varied per clip
``augment``         rate, pitch, room and noise applied to one synthetic utterance
``engines``         recognisers behind one interface (faster-whisper, transformers, FunASR), offline
``transcribe``      batch transcription with a progress bar and a TSV cache
``mfcc``            MFCC + Δ + ΔΔ features with per-utterance normalisation
``lexicon``         characters → Mandarin initials and finals (pypinyin)
``ngram``           the character bigram language model
``hmm``             GMM emissions, forward / Viterbi, the character-loop beam decoder
``hmm_gmm``         the HMM-GMM recogniser (flat start, embedded Viterbi training, mixture splitting)
``svm_asr``         the MFCC + SVM recogniser (frame SVM on the HMM-GMM's alignment, same decoder)
``ctc``             the book's small CNN-BiGRU-CTC recogniser
``benchmark``       every recogniser on the whole test split: results rows and the authors' table layout
``error_analysis``  error analysis: alignments, confusions, recall of dialect markers, loops
``token_cost``      how many tokens a recogniser's tokenizer spends on each character
``ct2_to_hf``       sub-package: CTranslate2 Whisper → transformers Whisper (to fine-tune Whisper-base offline)
``finetune``        Whisper fine-tuning with the authors' recipe
"""
