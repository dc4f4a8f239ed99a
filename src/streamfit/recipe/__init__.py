"""The recipe: raw files to a saved bundle, and the bundle read back.

| module | owns |
| --- | --- |
| `config` | `TrainConfig`: the recipe's options, each with its help, flag, checks and whether resuming needs it the same; `start_prepare`. No torch |
| `train` | `train_text_classifier`: prepare, features, model, fit, save, as named steps |
| `bundle` | everything needed to predict on raw text, saved without pickle |
| `evaluation` | the streamed confusion matrix and its report |

The names below are this package's too (`from streamfit.recipe import
TrainConfig, train_text_classifier`), imported on first use (PEP 562), so
that `TrainConfig` does not load torch: `streamfit train` starts preparing
the data before it does.

Example:
    >>> from streamfit.recipe import TrainConfig, train_text_classifier
    >>> from streamfit.sources import SourceSpec
    >>> result = train_text_classifier(SourceSpec(("train.csv",)),
    ...                                TrainConfig(output="runs/m"))  # doctest: +SKIP
"""

import importlib

# Public names and the module that defines each.
_EXPORTS = {
    "MODEL_KINDS": "config", "TrainConfig": "config", "start_prepare": "config",
    "TrainResult": "train", "train_text_classifier": "train",
    "Bundle": "bundle", "load_bundle": "bundle", "save_bundle": "bundle",
    "ConfusionMatrix": "evaluation", "format_report": "evaluation",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"streamfit.recipe.{_EXPORTS[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'streamfit.recipe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
