"""Models: the guide's MLP and sepCNN, and a fastText-style bag of n-grams.

| model kind | class | input | from the features layer |
| --- | --- | --- | --- |
| `mlp` | `NgramMLP` | sparse CSR rows | `NgramTfidf` |
| `sepcnn` | `SepCNN` | int64 `[n, length]` | `Sequences` |
| `fasttext` | `FastTextModel` | sparse CSR rows | `HashedNgrams` |

Every module class here has `get_config()` (JSON-ready constructor arguments, so
`build_model(kind, **module.get_config())` rebuilds it), `num_outputs` (1 logit
for binary, else one per class; with `multi_label=True` one per label, also
for two, for a sigmoid and binary cross-entropy on multi-hot targets),
`output_bias` (the output logits' biases) and `accepts_sparse` (whether it
takes `torch.sparse_csr_tensor` input). `choose_model` is the guide's rule for
picking `mlp` or `sepcnn`. The classes are registered in `registry` under
their model kind and class name, so `build_model` and `load_model` find them
in one place.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from streamfit.errors import OptionError
from streamfit.models.fasttext import FastTextModel
from streamfit.models.mlp import NgramMLP
from streamfit.models.registry import MODEL_KINDS, register_module
from streamfit.models.select import auto_model, choose_model
from streamfit.models.sepcnn import SepCNN

register_module(NgramMLP, kind="mlp")
register_module(SepCNN, kind="sepcnn")
register_module(FastTextModel, kind="fasttext")

def build_model(kind: str, **config: Any) -> nn.Module:
    """Build the module of a model kind ("mlp", "sepcnn", "fasttext") with its constructor arguments.

    Raises:
        OptionError: the kind is unknown (`model_kind`), or an argument is not
            one of the model's.
    """
    if kind not in MODEL_KINDS:
        raise OptionError("model_kind", kind, f"is unknown; use one of {', '.join(MODEL_KINDS)}")
    cls = MODEL_KINDS[kind]
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise OptionError(unknown[0], config[unknown[0]], f"is no argument of the {kind} model; "
                          f"use {', '.join(accepted)}")
    return cls(**config)


__all__ = ["MODEL_KINDS", "FastTextModel", "NgramMLP", "SepCNN", "auto_model", "build_model", "choose_model"]
