"""streamfit: train text classifiers on data that does not fit in memory.

Batches stream from disk into a PyTorch training loop in memory that does not
grow with the data, behind Keras' `fit` / `fit_generator` API.

Which layer owns which argument (the data flows top to bottom):

| layer | package | owns |
| --- | --- | --- |
| sources | `sources/` | files, globs, folders; formats, compression, columns, encodings, bad rows |
| prepare | `prepare/` | tokenizer, vocabulary, label map, n-gram counts, stats, the on-disk cache (checksummed; `folders`: private or refused), validation split, preparing in a child process |
| sampling | `sampling/` | shuffle seed, epoch, shard (rank, world size), step, remainder |
| features | `features/` | n-gram TF-IDF, hashed n-grams, padded sequences |
| batch sets | `batches/` | batch `step` of epoch `e` as a pure function: arrays, lines, prepared data |
| loader | `loader/` | workers, threads or processes, max_queue_size, the data-wait meter |
| training | `training/` | the Keras-style `Model`: loss, optimizer, epochs, validation, class weights; the loop's state (`state`, `stateful`); callbacks one per module (`callbacks/`, also `streamfit.callbacks` as Keras spells it); checkpoints and resuming (`checkpoint/`) |
| models | `models/` | the guide's MLP and sepCNN, a fastText-style bag of n-grams; the registry of module classes by name and model kind |
| recipe | `recipe/` | raw files to a bundle: its options (`config`, no torch), its steps (`train`); the bundle, saved without pickle (`bundle`); the evaluation report (`evaluation`) |
| distributed | `distributed/` | torchrun's environment and the `--nproc` launcher (`launcher`); the process group and ranks (`ranks`) |
| shared | `errors.py`, `files.py`, `workspace.py`, `records.py`, `prefetch.py`, `lazy.py` | errors by kind and the one number check; the durable atomic writer and the disk-full check; the locked work folders that caches and bundles are built in and swept from; what two JSON records (fingerprints, run identities) differ in; the bounded prefetch thread; lazy exports |
| cli | `cli/` | `train`, `evaluate`, `predict`, `prepare`, `inspect`: thin over the above |
| interop | `interop/` | torch `Dataset`, Keras 3 `PyDataset` |

Example (the "Batch training" appendix of Google's text classification guide):

    >>> import streamfit
    >>> model = streamfit.Model(my_torch_module, loss="sparse_categorical_crossentropy",
    ...                         optimizer="adam", metrics=["accuracy"])       # doctest: +SKIP
    >>> history = model.fit_generator(generator=training_generator, steps_per_epoch=steps,
    ...                               epochs=10, verbose=2)                    # doctest: +SKIP
"""

from streamfit.lazy import lazy_exports

__version__ = "0.1.0"

# Public names and the module that defines each, imported on first use, so
# that `import streamfit.prepare...` does not pay for torch (streamfit.lazy);
# `streamfit.keras` is there without importing keras (an optional extra).
_EXPORTS = {
    "ArrayBatches": "streamfit.batches", "BatchSet": "streamfit.batches",
    "LineBatches": "streamfit.batches", "RandomBatches": "streamfit.batches",
    "DataError": "streamfit.errors", "OptionError": "streamfit.errors",
    "UserError": "streamfit.errors",
    "Callback": "streamfit.training", "History": "streamfit.training", "Model": "streamfit.training",
    "callbacks": "streamfit.callbacks", "load_model": "streamfit.training",
    "register_module": "streamfit.training", "keras": "streamfit.keras",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for name in _EXPORTS if name != "keras")
