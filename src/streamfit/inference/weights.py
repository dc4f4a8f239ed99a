"""A bundle's model weights as `weights.npz`: written reproducibly, read back checked, no torch.

`weights.npz` is a zip of `.npy` files, one per state-dict entry (`np.load`
reads it, with `allow_pickle=False`). `write_weights` stores the members
uncompressed with a fixed time stamp, so the same weights make the same bytes.
`read_weights` trusts nothing in the file: each member's header (dtype,
shape) is read and compared with the shapes the model config declares, and
with the member's size, before any array is allocated; object arrays
(pickles) are refused unread. A quantized bundle's arrays (bundle.json's
`"quantized"`) are expanded by `streamfit.inference.quantize.dequantize`.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy

from streamfit.errors import UserError
from streamfit.files import open_regular, write_atomic

#: The weights file of bundles written since issue 16 (older ones hold `weights.pt`, read with torch).
WEIGHTS_NPZ = "weights.npz"
#: The weights file of older bundles: a torch state dict.
WEIGHTS_PT = "weights.pt"
_STAMP = (1980, 1, 1, 0, 0, 0)


def as_arrays(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A state dict (torch tensors or arrays) as contiguous numpy arrays, floats as float32."""
    arrays = {}
    for name, value in state.items():
        if hasattr(value, "detach"):  # a torch tensor, without importing torch
            value = value.detach().cpu().numpy()
        array = np.ascontiguousarray(value)
        if array.dtype.kind == "f":
            array = array.astype(np.float32, copy=False)
        arrays[name] = array
    return arrays


def write_weights(path: str | os.PathLike, state: Mapping[str, Any]) -> int:
    """Write a state dict to `path` as an `.npz`, atomically, the same bytes for the same weights.

    Args:
        path: the file (`weights.npz` in a bundle's work folder).
        state: names to torch tensors or numpy arrays (floats stored as float32).

    Returns:
        The bytes of array data written.

    Raises:
        UserError: a value holds Python objects (which would need pickle).
        OSError: the write failed (a full disk among them).
    """
    arrays = as_arrays(state)
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise UserError(f"the weight {name!r} holds Python objects; only numeric arrays are saved")

    def write(file) -> None:
        with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_STAMP)
                info.external_attr = 0o600 << 16
                with archive.open(info, "w", force_zip64=True) as member:
                    npy.write_array(member, array, allow_pickle=False)

    write_atomic(path, write)
    return sum(array.nbytes for array in arrays.values())


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype, int]:
    """A member's (shape, dtype, header bytes), read without reading its data."""
    with archive.open(info) as member:
        version = npy.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(member)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy.read_array_header_2_0(member)
        else:
            raise ValueError(f"npy format version {version}")
        return tuple(shape), np.dtype(dtype), member.tell()


def check_shapes(expected: Mapping[str, tuple[int, ...]], held: Mapping[str, tuple[int, ...]],
                 declared_by: str, weights_name: str) -> None:
    """Compare the shapes a config declares with those a weights file holds.

    Raises:
        UserError: `declared_by implies input_layer.bias of shape [1], weights_name holds [32]`;
            a tensor missing or extra.
    """
    for name, shape in expected.items():
        if name not in held:
            raise UserError(f"{declared_by} implies a tensor {name!r}, which {weights_name} lacks")
        if tuple(held[name]) != tuple(shape):
            raise UserError(f"{declared_by} implies {name} of shape {list(shape)}, {weights_name} "
                            f"holds {list(held[name])}")
    extra = [name for name in held if name not in expected]
    if extra:
        raise UserError(f"{weights_name} holds a tensor {extra[0]!r}, which {declared_by} has no place for")


def read_weights(directory: str | os.PathLike, meta: Mapping[str, Any], *,
                 shapes: Mapping[str, tuple[int, ...]] | None = None,
                 declared_by: str = "bundle.json's model.config") -> dict[str, np.ndarray]:
    """A bundle's `weights.npz` as float32 arrays by state-dict name, dequantized, checked.

    Args:
        directory: the bundle.
        meta: its bundle.json's fields (`"quantized"`, when there, says how
            the arrays are encoded: `streamfit.inference.quantize.dequantize`).
        shapes: the shapes the model config declares, by name; compared with
            the file's headers before any data is read (after dequantizing
            for a quantized bundle). None: not compared.
        declared_by: what declared `shapes`, for the message.

    Returns:
        The arrays, float32 (other numeric dtypes, such as a batch norm's
        int64 counter, as stored).

    Raises:
        UserError: one line naming the file: a link or not a regular file,
            not a zip of `.npy` members, truncated, a member holding Python
            objects or declaring more data than it holds, or shapes, names or
            dtypes that do not fit `shapes`.
    """
    path = Path(directory) / WEIGHTS_NPZ
    quantized = meta.get("quantized")
    with open_regular(path) as file:
        try:
            archive = zipfile.ZipFile(file)
            members = {}
            for info in archive.infolist():
                if not info.filename.endswith(".npy") or info.is_dir():
                    raise UserError(f"{path}: holds {info.filename!r}, which is no .npy array")
                members[info.filename[:-4]] = (info, *_header(archive, info))
        except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as error:
            raise UserError(f"{path}: not a readable array file ({_first_line(error)})") from None
        for name, (info, shape, dtype, header) in members.items():
            if dtype.hasobject:
                raise UserError(f"{path}: {name} holds pickled Python objects, not only numbers; "
                                "it was refused unread")
            if dtype.kind not in "fiub" or header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize \
                    != info.file_size:
                raise UserError(f"{path}: {name} declares {dtype} {list(shape)}, which is not the "
                                f"{info.file_size - header} bytes it holds")
        if shapes is not None and quantized is None:
            held = {name: shape for name, (_, shape, _, _) in members.items()}
            try:
                check_shapes(shapes, held, declared_by, WEIGHTS_NPZ)
            except UserError as error:
                raise UserError(f"{path}: {error}") from None
        try:
            arrays = {name: npy.read_array(archive.open(info), allow_pickle=False)
                      for name, (info, _, _, _) in members.items()}
        except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
            raise UserError(f"{path}: not a readable array file ({_first_line(error)})") from None
    if quantized is not None:
        from streamfit.inference.quantize import dequantize

        try:
            arrays = dequantize(arrays, quantized)
        except UserError as error:
            raise UserError(f"{path}: {error}") from None
        except (KeyError, ValueError, TypeError, IndexError) as error:
            raise UserError(f"{path}: does not fit bundle.json's quantized ({_first_line(error)})") from None
        if shapes is not None:
            try:
                check_shapes(shapes, {name: a.shape for name, a in arrays.items()}, declared_by,
                             WEIGHTS_NPZ)
            except UserError as error:
                raise UserError(f"{path}: {error}") from None
    for name, array in arrays.items():
        if array.dtype.kind == "f" and array.dtype != np.float32:
            arrays[name] = array.astype(np.float32)
    return arrays


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
