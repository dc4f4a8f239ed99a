"""Models: the guide's MLP and sepCNN, and a fastText-style bag of n-grams.

| name | class | input | from the features layer |
| --- | --- | --- | --- |
| `mlp` | `NgramMLP` | sparse CSR rows | `NgramTfidf` |
| `sepcnn` | `SepCNN` | int64 `[n, length]` | `Sequences` |
| `fasttext` | `FastTextModel` | sparse CSR rows | `HashedNgrams` |

Every model has `get_config()` (JSON-ready constructor arguments, so
`build_model(name, **model.get_config())` rebuilds it), `num_outputs` (1 logit
for binary, else one per class) and `accepts_sparse` (whether it takes
`torch.sparse_csr_tensor` input). `choose_model` is the guide's rule for
picking `mlp` or `sepcnn`.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from streamfit.errors import UserError
from streamfit.models.fasttext import FastTextModel
from streamfit.models.mlp import NgramMLP
from streamfit.models.select import auto_model, choose_model
from streamfit.models.sepcnn import SepCNN
from streamfit.training.registry import register_module

MODELS: dict[str, type[nn.Module]] = {
    "mlp": NgramMLP,
    "sepcnn": SepCNN,
    "fasttext": FastTextModel,
}
for _cls in MODELS.values():  # so streamfit.load_model rebuilds them without module=
    register_module(_cls)


def build_model(name: str, **config: Any) -> nn.Module:
    """Build a model by registry name with its constructor arguments.

    Raises:
        UserError: the name is unknown, or an argument is not one of the model's.
    """
    if name not in MODELS:
        raise UserError(f"model {name!r} is unknown; use one of {', '.join(MODELS)}")
    cls = MODELS[name]
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise UserError(f"model {name!r} has no argument {unknown[0]!r}; use "
                        f"{', '.join(accepted)}")
    return cls(**config)


__all__ = ["MODELS", "FastTextModel", "NgramMLP", "SepCNN", "auto_model", "build_model", "choose_model"]
