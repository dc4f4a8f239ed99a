"""TorchScript modules of the bundle's models, for users who stay in torch.

`torch.jit.load(path)` gives a module with no streamfit in it; its
`forward` takes what the ONNX graph takes (`streamfit.export.onnx_graph`):
`(ids, offsets, weights)` for a bag model, with `offsets` the `rows + 1`
CSR row pointer, and the padded `ids [rows, length]` for sepCNN, and returns
the bundle's probabilities, float32 `[rows, classes]`.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from streamfit.export.network import BagNet


class BagClassifier(nn.Module):
    """A bag model on CSR input: `EmbeddingBag(mode="sum")` rows, dense layers, probabilities."""

    def __init__(self, net: BagNet):
        super().__init__()
        self.register_buffer("embedding", torch.from_numpy(np.array(net.embedding, np.float32)))
        width = net.embedding.shape[1]
        bias = np.zeros(width, np.float32) if net.bias is None else net.bias
        self.register_buffer("bias", torch.from_numpy(np.array(bias, np.float32)))
        self.dense = nn.ModuleList()
        for weight, b in net.dense:
            layer = nn.Linear(weight.shape[1], weight.shape[0])
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(np.asarray(weight, np.float32)))
                layer.bias.copy_(torch.from_numpy(np.asarray(b, np.float32)))
            self.dense.append(layer)
        self.relu = net.relu
        self.output = net.output

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        h = F.embedding_bag(ids, self.embedding, offsets, mode="sum", per_sample_weights=weights,
                            include_last_offset=True) + self.bias
        for layer in self.dense:
            h = layer(torch.relu(h) if self.relu else h)
        return _probabilities(h, self.output)


class SequenceClassifier(nn.Module):
    """A sepCNN module on padded ids, giving probabilities."""

    def __init__(self, module: nn.Module, output: str):
        super().__init__()
        self.module = module
        self.output = output

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return _probabilities(self.module(ids), self.output)


def _probabilities(logits: torch.Tensor, output: str) -> torch.Tensor:
    logits = logits.float()
    if output == "softmax":
        return torch.softmax(logits, dim=-1)
    p = torch.sigmoid(logits)
    if output == "binary":
        return torch.cat([1 - p, p], dim=1)
    return p


def script(module: nn.Module) -> torch.jit.ScriptModule:
    """`torch.jit.script` of a classifier above, in eval mode, frozen of gradients."""
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    with warnings.catch_warnings():  # TorchScript is deprecated, and still what torch.jit.load reads
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(module)


def save(scripted: torch.jit.ScriptModule, file) -> None:
    """`torch.jit.save` to an open binary file, without its deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, file)
