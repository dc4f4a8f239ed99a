"""Inference without torch: a bundle's weights as numpy arrays and the bag models' forward.

| module | owns |
| --- | --- |
| `weights` | `weights.npz` in a bundle: writing a state dict, reading it back checked (no pickle), dequantized |
| `forward` | the mlp and fasttext-style models' forward in numpy/scipy, equal to torch's to 1e-5 |
| `quantize` | the compact int8 form of a bundle's weights and `dequantize` |

Nothing here imports torch: `streamfit predict` and `evaluate` load a bag-model bundle through it.
"""
