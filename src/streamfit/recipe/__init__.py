"""The recipe: raw files to a saved bundle, and the bundle read back.

| module | owns |
| --- | --- |
| `config` | `TrainConfig`: the recipe's options, each with its help, flag, checks and whether resuming needs it the same; `start_prepare`. No torch |
| `train` | `train_text_classifier`: prepare, features, model, fit, save, as named steps |
| `bundle` | everything needed to predict on raw text, saved without pickle |
| `evaluation` | the streamed confusion matrix, the multi-label counts, P@k/R@k, and their report |
| `thresholds` | the multi-label decision threshold tuned on validation data (global micro-F1 or per label). No torch |
| `selection` | top-k and threshold label choice, as fastText's `predict-prob k threshold`. No torch |

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

from streamfit.lazy import lazy_exports

# Public names and the module that defines each, imported on first use (streamfit.lazy).
_EXPORTS = {
    **dict.fromkeys(("MODEL_KINDS", "TrainConfig", "start_prepare"), "streamfit.recipe.config"),
    **dict.fromkeys(("TrainResult", "train_text_classifier"), "streamfit.recipe.train"),
    **dict.fromkeys(("Bundle", "load_bundle", "save_bundle"), "streamfit.recipe.bundle"),
    **dict.fromkeys(("ConfusionMatrix", "format_report"), "streamfit.recipe.evaluation"),
    "select_labels": "streamfit.recipe.selection", "tune_thresholds": "streamfit.recipe.thresholds",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
