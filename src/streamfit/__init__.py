"""streamfit: train text classifiers on data that does not fit in memory.

Batches stream from disk into a PyTorch training loop in memory that does not
grow with the data, behind Keras' `fit` / `fit_generator` API.

Which layer owns which argument (the data flows top to bottom):

| layer | package | owns |
| --- | --- | --- |
| sources | `sources/` | files, globs, folders; formats, compression, columns, encodings, bad rows |
| prepare | `prepare/` | tokenizer, vocabulary, label map, n-gram counts, stats, the on-disk cache, validation split, preparing in a child process |
| sampling | `sampling/` | shuffle seed, epoch, shard (rank, world size), step, remainder |
| features | `features/` | n-gram TF-IDF, hashed n-grams, padded sequences |
| batch sets | `batches/` | batch `step` of epoch `e` as a pure function: arrays, lines, prepared data |
| loader | `loader/` | workers, threads or processes, max_queue_size, the data-wait meter |
| training | `training/` | the Keras-style `Model`: loss, optimizer, epochs, validation, class weights; the loop's state (`state`, `stateful`); callbacks one per module (`callbacks/`); checkpoints and resuming (`checkpoint/`) |
| models | `models/` | the guide's MLP and sepCNN, a fastText-style bag of n-grams; the registry of module classes by name and model kind |
| recipe | `recipe/` | raw files to a bundle: its options (`config`, no torch), its steps (`train`); the bundle, saved without pickle (`bundle`); the evaluation report (`evaluation`) |
| distributed | `distributed/` | torchrun's environment and the `--nproc` launcher (`launcher`); the process group and ranks (`ranks`) |
| shared | `errors.py`, `files.py`, `prefetch.py` | errors by kind and the one number check; the durable atomic writer; the bounded prefetch thread |
| cli | `cli/` | `train`, `evaluate`, `predict`, `prepare`, `inspect`: thin over the above |
| interop | `interop/` | torch `Dataset`, Keras 3 `PyDataset` |

Example (the "Batch training" appendix of Google's text classification guide):

    >>> import streamfit
    >>> model = streamfit.Model(my_torch_module, loss="sparse_categorical_crossentropy",
    ...                         optimizer="adam", metrics=["accuracy"])       # doctest: +SKIP
    >>> history = model.fit_generator(generator=training_generator, steps_per_epoch=steps,
    ...                               epochs=10, verbose=2)                    # doctest: +SKIP
"""

import importlib

__version__ = "0.1.0"

# Public names and the module that defines each. They are imported on first
# use (PEP 562), so that `import streamfit.prepare...` does not pay for torch
# (about 1 s): `streamfit train` prepares the data while torch is imported on
# another thread.
_EXPORTS = {
    "ArrayBatches": "streamfit.batches", "BatchSet": "streamfit.batches",
    "LineBatches": "streamfit.batches", "RandomBatches": "streamfit.batches",
    "DataError": "streamfit.errors", "UserError": "streamfit.errors",
    "Callback": "streamfit.training", "History": "streamfit.training", "Model": "streamfit.training",
    "callbacks": "streamfit.training", "load_model": "streamfit.training",
    "register_module": "streamfit.training",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    # `streamfit.keras` without importing keras (an optional extra) at `import streamfit`.
    if name == "keras":
        return importlib.import_module("streamfit.keras")
    raise AttributeError(f"module 'streamfit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
