"""The twelve baselines, one module each; importing this package registers them all.

In :data:`~csmsasr_utils.msa.hparams.MODEL_NAMES` order:

``lf_dnn``     LF_DNN: late fusion of three unimodal encoders by a small feed-forward network
``tfn``        TFN: Tensor Fusion Network (Zadeh et al., EMNLP 2017)
``ef_lstm``    EF_LSTM: early fusion of aligned features, read by one LSTM
``lmf``        LMF: Low-rank Multimodal Fusion (Liu et al., ACL 2018)
``mfn``        MFN: Memory Fusion Network (Zadeh et al., AAAI 2018)
``graph_mfn``  Graph-MFN: MFN with a Dynamic Fusion Graph (Zadeh et al., ACL 2018)
``mfm``        MFM: Multimodal Factorization Model (Tsai et al., ICLR 2019)
``mult``       MulT: the Multimodal Transformer (Tsai et al., ACL 2019)
``mtfn``       MTFN: multi-task Tensor Fusion Network (Yu et al., ACL 2020)
``mlf_dnn``    MLF_DNN: multi-task late fusion with a deep network (Yu et al., ACL 2020)
``mlmf``       MLMF: multi-task Low-rank Multimodal Fusion (Yu et al., ACL 2020)
``almt``       ALMT: the Adaptive Language-guided Multimodal Transformer (Zhang et al., EMNLP 2023)
"""

from importlib import import_module

from csmsasr_utils.msa.hparams import MODEL_NAMES

for _key in MODEL_NAMES:
    import_module(f"csmsasr_utils.msa.models.{_key}")
