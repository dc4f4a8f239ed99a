"""Interop layer: streamfit batch sets inside other frameworks' training loops.

| module | gives | needs |
| --- | --- | --- |
| `torch_data` | `TorchBatches`: a batch set as a map-style torch `Dataset` | torch |
| `keras` | `as_pydataset` (a Keras 3 `PyDataset`) and Keras 2's `fit_generator` | keras >= 3.5, imported on use (`streamfit.keras`) |

Nothing is imported here, so that `import streamfit.interop` never pulls in
an optional framework.
"""
