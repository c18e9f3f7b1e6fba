"""Multimodal sentiment analysis: MMSA's baselines reimplemented, one trainer, one runner.

``hparams``          MMSA's ``sims`` hyper-parameter tables, as data, with their source
``registry``         ``build_model(name)`` with CS-MSASR's dimensions and lengths
``base``             the contract of a model (inputs, optimiser, losses as hooks)
``alignment``        MMSA's input treatments: averaging and average-pool alignment
``subnets``, ``transformer``   building blocks shared by several models
``models``           the twelve baselines, one module each
``bert``             bert-base-chinese for ALMT: local folder, ``CSMSASR_BERT_DIR``, or a config (random weights)
``bert_tokens``      transcripts → MMSA's ``text_bert`` (token ids, attention mask, segment ids)
``tensors``          features as tensors, batches by indexing
``trainer``          the training loop with early stopping (``train_baseline``)
``members``          several units of one model (seeds × folds) trained as one stacked model, each as if alone
``runner``           many models × seeds × folds, resumable, local processes or Dask
``side_by_side``     what the benchmark costs here and in MMSA's own code: the committed record
``metrics``          MMSA's SIMS regression metrics, bootstrap intervals
``report``           result tables: mean ± std over runs, bootstrap intervals, the CH-SIMS anchor
``text_baselines``   real text-only baselines on the public transcripts
``text_robustness``  text models reading other text than the manual transcripts (ASR output, ablations)
``analysis``         per-clip error analysis
``published``        MMSA's CH-SIMS numbers (another dataset, an anchor)
``inspect_model``    shape walk-throughs of a model
``cli``              the ``csmsasr msa …`` commands
"""
