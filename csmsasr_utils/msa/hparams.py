"""MMSA's hyper-parameters for CH-SIMS-shaped data, one table per model, as data.

Source: ``config_regression.json`` of the dataset authors' copy of MMSA
(``Yaoooyu/CS-MSASR``, ``sentiment-analyze/config/config_regression.json`` at commit
``c9125be``), which equals ``thuiar/MMSA`` ``src/MMSA/config/config_regression.json`` (commit
``a94e65d``) for these twelve models except ALMT's ``feature_dims``/``feature_length``, which the
authors changed to ``[512, 13, 37]``/``[39, 553, 321]``. MMSA builds a model's configuration as
``{**dataset, **commonParams, **datasetParams['sims']}`` and its data loader then overwrites
``feature_dims`` with the dimensions found in the feature file (768 for text when BERT tokens are
used), so ALMT's ``feature_dims`` entry has no effect; its ``feature_length`` does (see
:mod:`csmsasr_utils.msa.models.almt`).

Each table is ``commonParams`` merged with ``datasetParams['sims']``, keys in the file's order.
The dataset-level settings shared by all models are :data:`SIMS_DATASET`.
"""

from __future__ import annotations

import copy
from typing import Any

from csmsasr_utils.errors import UnknownName

SOURCE = (
    "Yaoooyu/CS-MSASR@c9125be sentiment-analyze/config/config_regression.json "
    "(= thuiar/MMSA@a94e65d src/MMSA/config/config_regression.json)"
)

#: ``datasetCommonParams.sims.unaligned`` of the authors' file (CS-MSASR's own dims and lengths).
SIMS_DATASET: dict[str, Any] = {
    "seq_lens": [39, 553, 321],
    "feature_dims": [768, 13, 347],
    "train_samples": 868,
    "num_classes": 5,
    "language": "cn",
    "KeyEval": "Loss",
}

#: MMSA's default seeds (``MMSA.run``: ``[1111, 1112, 1113, 1114, 1115]``).
SEEDS: tuple[int, ...] = (1111, 1112, 1113, 1114, 1115)

_TABLES: dict[str, dict[str, Any]] = {
    "lf_dnn": {
        # commonParams
        "need_data_aligned": False,
        "need_model_aligned": False,
        "need_normalized": True,
        "early_stop": 8,
        "use_bert": False,
        # datasetParams.sims
        "hidden_dims": [128, 32, 128],
        "text_out": 256,
        "post_fusion_dim": 32,
        "dropouts": [0.3, 0.3, 0.3, 0.5],
        "batch_size": 128,
        "learning_rate": 0.005,
        "weight_decay": 0.005,
    },
    "tfn": {
        # commonParams
        "need_data_aligned": False,
        "need_model_aligned": False,
        "need_normalized": True,
        "early_stop": 8,
        # datasetParams.sims
        "hidden_dims": [128, 32, 128],
        "text_out": 256,
        "post_fusion_dim": 32,
        "dropouts": [0.4, 0.4, 0.4, 0.4],
        "batch_size": 32,
        "learning_rate": 0.0005,
    },
    "ef_lstm": {
        # commonParams
        "need_data_aligned": True,
        "need_model_aligned": True,
        "need_normalized": False,
        "early_stop": 8,
        # datasetParams.sims
        "hidden_dims": 32,
        "num_layers": 3,
        "dropout": 0.5,
        "batch_size": 128,
        "learning_rate": 0.0005,
        "weight_decay": 0.001,
    },
    "lmf": {
        # commonParams
        "need_data_aligned": False,
        "need_model_aligned": False,
        "need_normalized": True,
        "early_stop": 8,
        # datasetParams.sims
        "hidden_dims": [64, 16, 64],
        "dropouts": [0.2, 0.2, 0.2, 0.2],
        "rank": 4,
        "batch_size": 64,
        "learning_rate": 0.002,
        "factor_lr": 0.0005,
        "weight_decay": 0.005,
    },
    "mfn": {
        # commonParams
        "need_data_aligned": True,
        "need_model_aligned": True,
        "need_normalized": True,
        "early_stop": 8,
        # datasetParams.sims
        "hidden_dims": [64, 16, 64],
        "memsize": 64,
        "windowsize": 2,
        "NN1Config": {"drop": 0.2, "shapes": 128},
        "NN2Config": {"drop": 0.0, "shapes": 128},
        "gamma1Config": {"drop": 0.2, "shapes": 64},
        "gamma2Config": {"drop": 0.7, "shapes": 64},
        "outConfig": {"drop": 0.7, "shapes": 64},
        "batch_size": 32,
        "learning_rate": 0.001,
        "weight_decay": 0.0,
    },
    "graph_mfn": {
        # commonParams
        "need_data_aligned": True,
        "need_model_aligned": True,
        "need_normalized": False,
        "early_stop": 8,
        # datasetParams.sims
        "hidden_dims": [256, 32, 256],
        "memsize": 64,
        "inner_node_dim": 128,
        "NNConfig": {"drop": 0.5, "shapes": 256},
        "gamma1Config": {"drop": 0.2, "shapes": 32},
        "gamma2Config": {"drop": 0.7, "shapes": 32},
        "outConfig": {"drop": 0.2, "shapes": 256},
        "batch_size": 64,
        "learning_rate": 0.0005,
        "weight_decay": 0.001,
    },
    "mfm": {
        # commonParams
        "need_data_aligned": True,
        "need_model_aligned": True,
        "need_normalized": False,
        "early_stop": 8,
        # datasetParams.sims
        "hidden_dims": [64, 16, 64],
        "zy_size": 48,
        "zl_size": 256,
        "za_size": 32,
        "zv_size": 80,
        "fy_size": 48,
        "fl_size": 256,
        "fa_size": 80,
        "fv_size": 48,
        "zy_to_fy_dropout": 0.5,
        "zl_to_fl_dropout": 0.0,
        "za_to_fa_dropout": 0.7,
        "zv_to_fv_dropout": 0.0,
        "fy_to_y_dropout": 0.7,
        "lda_mmd": 200,
        "lda_xl": 0.5,
        "lda_xa": 0.01,
        "lda_xv": 0.01,
        "memsize": 128,
        "windowsize": 2,
        "NN1Config": {"drop": 0.5, "shapes": 32},
        "NN2Config": {"drop": 0.5, "shapes": 64},
        "gamma1Config": {"drop": 0.7, "shapes": 64},
        "gamma2Config": {"drop": 0.0, "shapes": 256},
        "outConfig": {"drop": 0.2, "shapes": 128},
        "batch_size": 128,
        "learning_rate": 0.002,
        "weight_decay": 0.005,
    },
    "mult": {
        # commonParams
        "need_data_aligned": False,
        "need_model_aligned": False,
        "early_stop": 8,
        "use_bert": False,
        "use_bert_finetune": False,
        "attn_mask": True,
        "update_epochs": 8,
        # datasetParams.sims
        "attn_dropout_a": 0.1,
        "attn_dropout_v": 0.0,
        "relu_dropout": 0.0,
        "embed_dropout": 0.1,
        "res_dropout": 0.2,
        "dst_feature_dim_nheads": [50, 10],
        "batch_size": 16,
        "learning_rate": 0.002,
        "nlevels": 2,
        "conv1d_kernel_size_l": 5,
        "conv1d_kernel_size_a": 1,
        "conv1d_kernel_size_v": 1,
        "text_dropout": 0.3,
        "attn_dropout": 0.2,
        "output_dropout": 0.1,
        "grad_clip": 0.6,
        "patience": 10,
        "weight_decay": 0.001,
        "transformers": "bert",
        "pretrained": "bert-base-chinese",
    },
    "mtfn": {
        # commonParams
        "need_data_aligned": False,
        "need_model_aligned": False,
        "need_normalized": True,
        "early_stop": 8,
        # datasetParams.sims
        "hidden_dims": [256, 32, 256],
        "text_out": 256,
        "post_fusion_dim": 64,
        "post_text_dim": 64,
        "post_audio_dim": 4,
        "post_video_dim": 8,
        "dropouts": [0.2, 0.2, 0.2],
        "post_dropouts": [0.2, 0.2, 0.2, 0.2],
        "batch_size": 64,
        "learning_rate": 0.005,
        "M": 0.6,
        "T": 0.4,
        "A": 0.0,
        "V": 1.0,
        "text_weight_decay": 0.001,
        "audio_weight_decay": 0.0001,
        "video_weight_decay": 1e-05,
        "weight_decay": 0.005,
    },
    "mlf_dnn": {
        # commonParams
        "need_data_aligned": False,
        "need_model_aligned": False,
        "need_normalized": True,
        "early_stop": 8,
        # datasetParams.sims
        "hidden_dims": [64, 32, 64],
        "text_out": 32,
        "post_fusion_dim": 32,
        "post_text_dim": 16,
        "post_audio_dim": 4,
        "post_video_dim": 32,
        "dropouts": [0.3, 0.3, 0.3],
        "post_dropouts": [0.5, 0.5, 0.5, 0.5],
        "batch_size": 32,
        "learning_rate": 0.002,
        "M": 0.6,
        "T": 0.2,
        "A": 0.8,
        "V": 0.8,
        "text_weight_decay": 0.0001,
        "audio_weight_decay": 0.001,
        "video_weight_decay": 0.0001,
        "weight_decay": 0.0,
    },
    "mlmf": {
        # commonParams
        "need_data_aligned": False,
        "need_model_aligned": False,
        "need_normalized": True,
        "early_stop": 8,
        # datasetParams.sims
        "hidden_dims": [256, 32, 256],
        "post_text_dim": 8,
        "post_audio_dim": 4,
        "post_video_dim": 32,
        "post_dropouts": [0.4, 0.4, 0.4, 0.4],
        "dropouts": [0.3, 0.3, 0.3],
        "rank": 3,
        "batch_size": 128,
        "learning_rate": 0.001,
        "factor_lr": 0.001,
        "M": 0.2,
        "T": 1.0,
        "A": 0.4,
        "V": 0.8,
        "text_weight_decay": 0.0001,
        "audio_weight_decay": 0.0,
        "video_weight_decay": 0.0001,
        "weight_decay": 0.005,
    },
    "almt": {
        # commonParams
        "need_data_aligned": False,
        "need_model_aligned": False,
        "need_normalized": False,
        "use_bert": True,
        "use_finetune": True,
        "max_epochs": 200,
        "early_stop": 32,
        # datasetParams.sims
        "transformers": "bert",
        "pretrained": "bert-base-chinese",
        "learning_rate": 0.0001,
        "weight_decay": 0.0001,
        "max_grad_norm": 2,
        "batch_size": 64,
        "feature_dims": [512, 13, 37],
        "feature_length": [39, 553, 321],
        "dst_feature_dims": 128,
        "dst_feature_hidden_dims": 128,
        "dst_embedding_length": 8,
        "embedding_depth": [1, 1, 1],
        "embedding_heads": [8, 8, 8],
        "l_encoder_heads": 8,
        "AHL_depth": 3,
        "h_hyper_layer_heads": 8,
        "fusion_hidden_d": 128,
        "fusion_heads": 8,
        "fusion_layer_depth": 4,
    },
}

#: MMSA key → display name, in the order of the dataset paper's table.
MODEL_NAMES: dict[str, str] = {
    "lf_dnn": "LF_DNN",
    "tfn": "TFN",
    "ef_lstm": "EF_LSTM",
    "lmf": "LMF",
    "mfn": "MFN",
    "graph_mfn": "Graph_MFN",
    "mfm": "MFM",
    "mult": "MulT",
    "mtfn": "MTFN",
    "mlf_dnn": "MLF_DNN",
    "mlmf": "MLMF",
    "almt": "ALMT",
}


def model_key(name: str) -> str:
    """MMSA's key for ``name`` (``'MulT'``, ``'mult'`` and ``'MULT'`` all give ``'mult'``)."""
    key = name.strip().lower()
    if key not in _TABLES:
        raise UnknownName(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES.values())}")
    return key


def hyperparameters(name: str) -> dict[str, Any]:
    """A fresh copy of the merged ``sims`` table of model ``name`` (safe to modify)."""
    return copy.deepcopy(_TABLES[model_key(name)])
