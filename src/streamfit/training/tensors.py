"""Turn one batch into tensors on the device and feed it to the module.

Conversion happens per batch, so only the current batch ever lives on the
device:

- numpy arrays and `np.matrix`: floats and booleans become float32, integers
  int64;
- scipy sparse matrices: a dense float32 tensor, unless the module has a
  truthy `accepts_sparse` attribute, then a `torch.sparse_csr_tensor` (int64
  crow/col indices, float32 values) that it can feed to an `EmbeddingBag`;
- torch tensors: moved as they are;
- dicts (named inputs or outputs) and tuples (positional inputs): each value.

On CUDA the host copy is pinned and sent with `non_blocking=True`, so the copy
overlaps the previous step's work.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse
import torch
from torch.nn.parallel import DistributedDataParallel

from streamfit.errors import OptionError, UserError


def resolve_device(device: str | torch.device) -> torch.device:
    """Pick the device from `"auto"`, `"cpu"`, `"cuda"` or `"cuda:N"`.

    Raises:
        OptionError: an unknown device, or CUDA when torch cannot see a GPU.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda"):
        raise OptionError("device", device, "is not a device; use 'auto', 'cpu' or 'cuda'")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(
            "device", device, "but torch sees no CUDA GPU (torch.cuda.is_available() is "
            "False); use 'auto' or 'cpu', or install a CUDA build of torch")
    return resolved


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with `threads` intra-op threads, then restore torch's setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def sparse_model_threads(module: torch.nn.Module) -> int:
    """Intra-op threads for running `module`: 1 for sparse bag models, else torch's.

    The steps of an EmbeddingBag model over a batch of CSR rows are too small to
    split across cores (measured here: 2 threads made an IMDB epoch 6x slower on
    a busy 2-core machine); the other cores are better spent producing batches.
    """
    return 1 if getattr(module, "accepts_sparse", False) else torch.get_num_threads()


def _move(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _from_numpy(array: np.ndarray, where: str) -> torch.Tensor:
    if array.dtype.kind in "fb":
        array = array.astype(np.float32, copy=False)
    elif array.dtype.kind in "iu":
        array = array.astype(np.int64, copy=False)
    else:
        raise UserError(
            f"{where} holds {array.dtype} values; the module needs numbers, so "
            "vectorize text (or encode labels) before batching")
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(np.ascontiguousarray(array))


def _from_sparse(matrix: Any, device: torch.device, keep_sparse: bool) -> torch.Tensor:
    csr = matrix.tocsr()
    if not keep_sparse and device.type == "cpu":
        return torch.from_numpy(csr.astype(np.float32).toarray())
    # Send only the non-zeros; densify on the GPU when the module wants dense.
    # scipy has checked the structure already; torch's check would cost a pass per batch.
    with warnings.catch_warnings():
        # torch warns once per process that its CSR layout is "in beta"; streamfit
        # only builds CSR tensors and feeds them to EmbeddingBag, which is stable.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        tensor = torch.sparse_csr_tensor(
            _move(torch.from_numpy(csr.indptr.astype(np.int64)), device),
            _move(torch.from_numpy(csr.indices.astype(np.int64)), device),
            _move(torch.from_numpy(csr.data.astype(np.float32)), device),
            size=csr.shape, check_invariants=False)
    return tensor if keep_sparse else tensor.to_dense()


def to_tensors(value: Any, device: torch.device, *, keep_sparse: bool = False,
               where: str = "the batch") -> Any:
    """Convert a batch element (array, sparse matrix, tensor, dict, tuple) to tensors.

    Args:
        value: the element; None stays None.
        device: where the tensors go.
        keep_sparse: scipy sparse -> `torch.sparse_csr_tensor` instead of dense.
        where: names the element in error messages ("x of batch 3 of epoch 0").

    Returns:
        The same structure with tensors on `device`.

    Raises:
        UserError: values that are not numbers (strings, objects).
    """
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return _move(value, device)
    if isinstance(value, dict):
        return {key: to_tensors(item, device, keep_sparse=keep_sparse, where=f"{where}[{key!r}]")
                for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(to_tensors(item, device, keep_sparse=keep_sparse, where=f"{where}[{i}]")
                     for i, item in enumerate(value))
    if scipy.sparse.issparse(value):
        return _from_sparse(value, device, keep_sparse)
    return _move(_from_numpy(np.asarray(value), where), device)


def split_batch(item: Any, where: str) -> tuple[Any, Any, Any]:
    """Split `(x, y)` or `(x, y, sample_weight)` into three parts.

    Raises:
        UserError: anything else, or a missing target.
    """
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        x, y, *rest = item
        if y is not None:
            return x, y, rest[0] if rest else None
    raise UserError(
        f"{where} is not (x, y) or (x, y, sample_weight) with a target; yield labelled "
        "batches for fit and evaluate")


def inputs_of(item: Any) -> Any:
    """The inputs of a batch for prediction: `x`, or the first element of `(x, ...)`."""
    return item[0] if isinstance(item, (tuple, list)) else item


def num_rows(x: Any) -> int:
    """Rows in a batch's inputs (the first array of a dict or tuple)."""
    while isinstance(x, (dict, tuple)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return int(x.shape[0])


def call_module(module: torch.nn.Module, x: Any) -> Any:
    """Run `module` on converted inputs: dicts by argument name, tuples by position.

    Raises:
        UserError: a dict key that is not an argument of `module.forward`.
    """
    if isinstance(x, dict):
        # The DDP wrapper passes keywords on: its module's forward names them.
        inner = module.module if isinstance(module, DistributedDataParallel) else module
        signature = inspect.signature(inner.forward)
        params = signature.parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        unknown = [key for key in x if key not in params]
        if unknown and not takes_any:
            raise UserError(
                f"input key {unknown[0]!r} is not an argument of "
                f"{type(inner).__name__}.forward{signature}; rename the key in the batch "
                "dict or the forward argument so they match")
        return module(**x)
    if isinstance(x, tuple):
        return module(*x)
    return module(x)


def select_output(output: Any, target: Any) -> tuple[torch.Tensor, Any]:
    """Pair the module's single output with its target.

    A dict target `{"name": y}` gives `y`; when the module returns a dict too,
    its entry `name` is the output. A dict output with one entry matches a
    plain target.

    Raises:
        UserError: several targets, names that do not match, or an output that
            is neither a tensor nor a dict of tensors.
    """
    name = None
    if isinstance(target, dict):
        if len(target) != 1:
            raise UserError(
                f"the batch has targets {sorted(target)}; streamfit trains single-output "
                "models, so give one target")
        (name, target), = target.items()
    if isinstance(output, dict):
        if name is None and len(output) == 1:
            name = next(iter(output))
        if name not in output:
            raise UserError(
                f"the module returns outputs {sorted(output)} but the target is "
                f"{'named ' + repr(name) if name else 'unnamed'}; name the target after one output")
        output = output[name]
    if not isinstance(output, torch.Tensor):
        raise UserError(
            f"the module returned a {type(output).__name__}; return a tensor or a dict "
            "of named tensors from forward")
    return output, target
