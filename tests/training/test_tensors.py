"""Batch to tensors: dtypes, sparse inputs, dict inputs, output selection, devices."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from streamfit.errors import OptionError, UserError
from streamfit.training import Model
from streamfit.training.tensors import (
    call_module,
    inputs_of,
    num_rows,
    resolve_device,
    select_output,
    split_batch,
    to_tensors,
)

CPU = torch.device("cpu")


def test_numpy_dtypes_become_float32_or_int64():
    assert to_tensors(np.zeros((2, 3)), CPU).dtype == torch.float32
    assert to_tensors(np.zeros(2, np.int32), CPU).dtype == torch.int64
    assert to_tensors(np.zeros(2, np.uint8), CPU).dtype == torch.int64
    assert to_tensors(np.array([True, False]), CPU).dtype == torch.float32
    matrix = to_tensors(np.asmatrix([[1.0, 2.0]]), CPU)
    assert matrix.dtype == torch.float32 and matrix.shape == (1, 2)
    readonly = np.arange(3.0)
    readonly.flags.writeable = False
    assert to_tensors(readonly, CPU).tolist() == [0.0, 1.0, 2.0]
    tensor = torch.ones(2, dtype=torch.float64)
    assert to_tensors(tensor, CPU) is tensor


def test_text_values_are_a_user_error():
    with pytest.raises(UserError, match="x of batch 0 holds <U5 values; .* vectorize text"):
        to_tensors(np.array(["hello"]), CPU, where="x of batch 0")


def test_sparse_rows_become_dense_or_csr_tensors():
    matrix = sp.random(5, 7, density=0.3, random_state=0, format="csr", dtype=np.float64)
    dense = to_tensors(matrix, CPU)
    assert dense.dtype == torch.float32 and dense.layout == torch.strided
    np.testing.assert_allclose(dense.numpy(), matrix.toarray(), rtol=1e-6)
    csr = to_tensors(matrix.tocoo(), CPU, keep_sparse=True)
    assert csr.layout == torch.sparse_csr and csr.values().dtype == torch.float32
    assert csr.crow_indices().dtype == torch.int64 and csr.col_indices().dtype == torch.int64
    np.testing.assert_allclose(csr.to_dense().numpy(), matrix.toarray(), rtol=1e-6)


def test_dicts_and_tuples_convert_each_value():
    converted = to_tensors({"a": np.zeros(2), "b": (np.zeros(2, np.int16), None)}, CPU)
    assert converted["a"].dtype == torch.float32 and converted["b"][0].dtype == torch.int64
    assert converted["b"][1] is None


def test_a_module_with_accepts_sparse_receives_csr(data):
    x, y = data
    layouts = []

    class SparseLinear(torch.nn.Module):
        accepts_sparse = True

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(300, 3))

        def forward(self, rows):
            layouts.append(rows.layout)
            return torch.sparse.mm(rows, self.weight)

    Model(SparseLinear(), loss="sparse_categorical_crossentropy", seed=0).fit(
        x, y, batch_size=300, verbose=0)
    assert layouts == [torch.sparse_csr, torch.sparse_csr]


def test_call_module_maps_dicts_to_arguments_and_tuples_to_positions():
    class Two(torch.nn.Module):
        def forward(self, left, right=None):
            return left - right

    class Any(torch.nn.Module):
        def forward(self, **inputs):
            return sorted(inputs)

    one, two = torch.ones(1), torch.full((1,), 2.0)
    assert call_module(Two(), {"right": one, "left": two}).item() == 1.0
    assert call_module(Two(), (two, one)).item() == 1.0
    assert call_module(Any(), {"b": one, "a": one}) == ["a", "b"]
    with pytest.raises(UserError, match=r"input key 'middle' is not an argument of "
                                        r"Two.forward\(left, right=None\); rename the key"):
        call_module(Two(), {"left": one, "middle": one})


def test_select_output_pairs_one_output_with_its_target():
    logits, other, target = torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2)
    assert select_output(logits, {"output": target}) == (logits, target)
    assert select_output({"a": other, "output": logits}, {"output": target})[0] is logits
    assert select_output({"only": logits}, target)[0] is logits
    with pytest.raises(UserError, match="outputs \\['a', 'output'\\] but the target is named 'out'"):
        select_output({"a": other, "output": logits}, {"out": target})
    with pytest.raises(UserError, match="single-output models"):
        select_output(logits, {"a": target, "b": target})
    with pytest.raises(UserError, match="returned a tuple; return a tensor"):
        select_output((logits, other), target)


def test_batch_parts():
    assert split_batch((1, 2), "b") == (1, 2, None)
    assert split_batch([1, 2, 3], "b") == (1, 2, 3)
    with pytest.raises(UserError, match="batch 4 of epoch 1 is not \\(x, y\\)"):
        split_batch((1, None), "batch 4 of epoch 1")
    assert inputs_of((1, None)) == 1 and inputs_of(5) == 5
    assert num_rows({"a": (np.zeros((4, 2)), 0)}) == 4


def test_devices():
    assert resolve_device("cpu") == CPU
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(OptionError, match="device='tpu' is not a device; use 'auto', 'cpu' or 'cuda'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_user_error():
    with pytest.raises(OptionError, match="device='cuda' but torch sees no CUDA GPU"):
        Model(torch.nn.Linear(2, 2), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batches_arrive_on_the_gpu(data):
    x, y = data
    model = Model(torch.nn.Linear(300, 3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device="cuda", seed=0)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert next(model.module.parameters()).is_cuda and len(history.history["loss"]) == 2
    assert model.predict(x[:4]).shape == (4, 3)
