"""ONNX graphs of the bundle's models, built node by node with `onnx.helper` (no torch).

`torch.onnx.export` cannot express the sparse first layer (a CSR tensor
into an `EmbeddingBag`), so the graph is written out here. A bag model
(mlp, fasttext) takes a batch in CSR form:

| input | type | shape | meaning |
| --- | --- | --- | --- |
| `ids` | int64 | `[nnz]` | feature columns, all rows concatenated |
| `offsets` | int64 | `[rows + 1]` | row r's entries are `offsets[r]:offsets[r + 1]` (`offsets[0] = 0`) |
| `weights` | float32 | `[nnz]` | each entry's value (TF-IDF, count or mean weight) |

and gives `probabilities` float32 `[rows, classes]`. The first layer is
`Gather` of the embedding rows, scaled by `weights`, and a segment sum: the
row of each entry is the cumulative count of row starts up to it
(`ScatterElements(reduction="add")` of ones at `offsets[1:-1]`, then
`CumSum`), and `ScatterND(reduction="add")` adds the entries into their
rows. Empty rows (and a batch of none) are valid. sepCNN takes `ids` int64
`[rows, length]` (the padded word ids) and gives the same output.

Opset 17 (onnxruntime 1.12 and later).
"""

from __future__ import annotations

import numpy as np

from streamfit.export.network import BagNet, SepCNNNet

OPSET = 17


class _Graph:
    """Nodes and initializers, named uniquely."""

    def __init__(self):
        import onnx
        from onnx import helper, numpy_helper

        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.nodes, self.initializers = [], []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str | None = None, **attributes) -> str:
        output = self.name(stem or op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [output], **attributes))
        return output

    def model(self, inputs, output: str, classes: int, doc: str):
        helper, tensor = self.helper, self.onnx.TensorProto
        self.nodes.append(helper.make_node("Identity", [output], ["probabilities"]))
        graph = helper.make_graph(
            self.nodes, "streamfit", inputs,
            [helper.make_tensor_value_info("probabilities", tensor.FLOAT, ["rows", classes])],
            initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="streamfit", doc_string=doc)
        model.ir_version = 8  # onnxruntime 1.12 and later read it
        self.onnx.checker.check_model(model, full_check=True)
        return model

    def probabilities(self, logits: str, output: str) -> str:
        if output == "softmax":
            return self.node("Softmax", [logits], axis=-1)
        p = self.node("Sigmoid", [logits])
        if output == "sigmoid":
            return p
        return self.node("Concat", [self.node("Sub", [self.constant("one", np.float32(1)), p]), p],
                         axis=1)

    def dense(self, h: str, weight: np.ndarray, bias: np.ndarray) -> str:
        return self.node("Gemm", [h, self.constant("dense_weight", weight.astype(np.float32)),
                                  self.constant("dense_bias", bias.astype(np.float32))], transB=1)


def bag_model(net: BagNet, doc: str = ""):
    """The ONNX `ModelProto` of a bag model (see the module docstring), checked by `onnx.checker`."""
    g = _Graph()
    tensor = g.onnx.TensorProto
    one, zero, minus_one = (g.constant(n, np.array([v], np.int64))
                            for n, v in (("one", 1), ("zero", 0), ("minus_one", -1)))
    # The row of each entry: the row starts at or before it, counted (offsets[1:-1] are rows 1..n-1).
    nnz = g.node("Shape", ["ids"], "nnz")
    starts = g.node("ConstantOfShape", [g.node("Add", [nnz, one])], "zeros",
                    value=g.helper.make_tensor("zero", tensor.INT64, [1], [0]))
    inner = g.node("Slice", ["offsets", one, minus_one], "inner_offsets")
    ones = g.node("ConstantOfShape", [g.node("Shape", [inner])], "ones",
                  value=g.helper.make_tensor("one", tensor.INT64, [1], [1]))
    marks = g.node("ScatterElements", [starts, inner, ones], "row_starts", axis=0, reduction="add")
    row = g.node("Slice", [g.node("CumSum", [marks, zero]), zero, nnz], "row")
    # The bag sum: each entry's embedding row times its weight, added into its row.
    embedding = g.constant("embedding", net.embedding.astype(np.float32))
    scaled = g.node("Mul", [g.node("Gather", [embedding, "ids"], axis=0),
                            g.node("Unsqueeze", ["weights", one])], "scaled_rows")
    rows = g.node("Sub", [g.node("Shape", ["offsets"]), one], "rows")
    width = g.constant("width", np.array([net.embedding.shape[1]], np.int64))
    empty = g.node("ConstantOfShape", [g.node("Concat", [rows, width], axis=0)], "empty",
                   value=g.helper.make_tensor("zero", tensor.FLOAT, [1], [0.0]))
    h = g.node("ScatterND", [empty, g.node("Unsqueeze", [row, one]), scaled], "bag",
               reduction="add")
    if net.bias is not None:
        h = g.node("Add", [h, g.constant("bias", net.bias.astype(np.float32))])
    for weight, bias in net.dense:
        h = g.dense(g.node("Relu", [h]) if net.relu else h, weight, bias)
    classes = 2 if net.output == "binary" else int(net.dense[-1][0].shape[0] if net.dense
                                                   else net.embedding.shape[1])
    inputs = [g.helper.make_tensor_value_info("ids", tensor.INT64, ["nnz"]),
              g.helper.make_tensor_value_info("offsets", tensor.INT64, ["rows_plus_one"]),
              g.helper.make_tensor_value_info("weights", tensor.FLOAT, ["nnz"])]
    return g.model(inputs, g.probabilities(h, net.output), classes, doc)


def sepcnn_model(net: SepCNNNet, doc: str = ""):
    """The ONNX `ModelProto` of a sepCNN: padded ids `[rows, length]` in, probabilities out.

    Dropout is the identity (inference); `padding="same"` pads `(k - 1) // 2`
    on the left and the rest on the right, as torch does; a sequence shorter
    than the pool is padded with zeros on the right, as `SepCNN.forward` does.
    """
    g = _Graph()
    tensor = g.onnx.TensorProto
    state = {key: np.asarray(value, np.float32) for key, value in net.state.items()}
    config = net.config
    k, pool = int(config["kernel_size"]), int(config["pool_size"])
    left = (k - 1) // 2
    h = g.node("Transpose", [g.node("Gather", [g.constant("embedding", state["embedding.weight"]),
                                               "ids"], axis=0)], perm=[0, 2, 1])
    length = net.length

    def separable(h: str, prefix: str) -> str:
        weight = state[f"{prefix}.depthwise.weight"]
        h = g.node("Conv", [h, g.constant("depthwise", weight)], group=int(weight.shape[0]),
                   kernel_shape=[k], pads=[left, k - 1 - left])
        h = g.node("Conv", [h, g.constant("pointwise", state[f"{prefix}.pointwise.weight"]),
                            g.constant("pointwise_bias", state[f"{prefix}.pointwise.bias"])],
                   kernel_shape=[1])
        return g.node("Relu", [h])

    for block in range(int(config["blocks"]) - 1):
        h = separable(separable(h, f"pooled_blocks.{block}.1"), f"pooled_blocks.{block}.2")
        if length < pool:
            h = g.node("Pad", [h, g.constant("pads", np.array([0, 0, 0, 0, 0, pool - length],
                                                              np.int64))])
            length = pool
        h = g.node("MaxPool", [h], kernel_shape=[pool], strides=[pool])
        length //= pool
    h = separable(separable(h, "last_block.0"), "last_block.1")
    h = g.dense(g.node("ReduceMean", [h], axes=[2], keepdims=0), state["output.weight"],
                state["output.bias"])
    classes = 2 if net.output == "binary" else int(state["output.weight"].shape[0])
    inputs = [g.helper.make_tensor_value_info("ids", tensor.INT64, ["rows", net.length])]
    return g.model(inputs, g.probabilities(h, net.output), classes, doc)
