"""The twelve baselines, one module each; importing this package registers them all."""

from importlib import import_module

from csmsasr_utils.msa.hparams import MODEL_NAMES

for _key in MODEL_NAMES:
    import_module(f"csmsasr_utils.msa.models.{_key}")
