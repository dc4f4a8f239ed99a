"""`Model.summary()`: layers, output shapes and parameter counts, as Keras 3 prints them.

The layers are the module's leaves, except that a module holding parameters
of its own (a `SparseLinear`: an `EmbeddingBag` and a bias) is one layer with
everything under it, as a Keras `Dense` is. Output shapes are recorded by
forward hooks during the first batch the model runs (training, evaluation or
prediction), or on a sample given to `summary(x=...)`; until then they read
`?`. The batch dimension reads `None`, as in Keras.

The table is Keras 3's, drawn without `rich`: the same box characters, the
same column widths from `line_length` and `positions`, the parameter counts
and their sizes below it. Unlike Keras, the optimizer's state is not counted.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from streamfit.errors import OptionError

#: Keras 3's defaults for a sequential-like model: 88 columns, split at 45% and 80%.
_LINE_LENGTH = 88
_POSITIONS = (0.45, 0.80, 1.0)
_HEADER = ("Layer (type)", "Output Shape", "Param #")
_RIGHT = (False, False, True)


def layers_of(module: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """`(qualified name, module)` of each layer, in registration order (see the module docstring).

    The root's own parameters, if it has any, are a layer named after its class.
    """
    layers = []
    if next(module.parameters(recurse=False), None) is not None:
        layers.append(("", module))

    def visit(prefix: str, parent: torch.nn.Module) -> None:
        for name, child in parent.named_children():
            qualified = f"{prefix}{name}"
            holds_own = next(child.parameters(recurse=False), None) is not None
            if holds_own or next(child.children(), None) is None:
                layers.append((qualified, child))
            else:
                visit(f"{qualified}.", child)

    visit("", module)
    return layers


def _weights(module: torch.nn.Module, recurse: bool = True) -> Iterator[torch.Tensor]:
    """Parameters and floating-point buffers (a BatchNorm's running statistics, as in Keras)."""
    yield from module.parameters(recurse=recurse)
    yield from (buffer for buffer in module.buffers(recurse=recurse)
                if buffer.is_floating_point())


def _count(tensors: list[torch.Tensor]) -> tuple[int, int]:
    """Numbers and bytes of distinct tensors (tied weights count once)."""
    unique = {id(tensor): tensor for tensor in tensors}.values()
    return (sum(tensor.numel() for tensor in unique),
            sum(tensor.numel() * tensor.element_size() for tensor in unique))


def _size(size: float) -> str:
    """Keras' `readable_memory_size`: `5.50 KB`."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _shape_text(value: Any, rows: int | None) -> str:
    """`(None, 64)` for a tensor whose first dimension is the batch's rows; lists and dicts too."""
    if isinstance(value, torch.Tensor):
        dims = ["None" if i == 0 and size == rows else str(size)
                for i, size in enumerate(value.shape)]
        return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
    if isinstance(value, (tuple, list)):
        return f"[{', '.join(_shape_text(item, rows) for item in value)}]"
    if isinstance(value, dict):
        items = (f"{key}: {_shape_text(item, rows)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    return "?"


class ShapeRecorder:
    """The output shape of each layer on the first batch that goes through the module."""

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.shapes: dict[str, str] | None = None

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Record the shapes of the next forward pass inside the block (unless recorded already)."""
        if self.shapes is not None:
            yield
            return
        seen: dict[str, Any] = {}
        handles = []

        def record(name: str) -> Callable:
            def hook(module: torch.nn.Module, inputs: Any, output: Any) -> None:
                seen.setdefault(name, output)
            return hook

        def done(module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            first = next((value for value in (*args, *kwargs.values())
                          if isinstance(value, torch.Tensor) and value.dim() > 0), None)
            count = None if first is None else first.shape[0]
            self.shapes = {name: _shape_text(value, count) for name, value in seen.items()}
            self.shapes[None] = _shape_text(output, count)
            for handle in handles:
                handle.remove()

        for name, layer in layers_of(self.module):
            if layer is not self.module:
                handles.append(layer.register_forward_hook(record(name)))
        handles.append(self.module.register_forward_hook(done, with_kwargs=True))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def _column_widths(line_length: int, positions: tuple[float, ...]) -> list[int]:
    """Content widths of the columns, as Keras 3 asks `rich` for them and `rich` lays them out."""
    widths, current = [], 0
    for position in positions:
        width = int(position * line_length) - current
        if width < 4:
            raise OptionError("line_length", line_length,
                              "is too narrow for the summary's columns; give at least 30")
        widths.append(width)
        current += width
    # rich pads each cell by one space a side and draws len(widths) + 1 borders within
    # line_length, taking the excess from the columns in turn (its ratio_reduce).
    padded = [width + 2 for width in widths]
    remaining, columns = sum(padded) - (line_length - len(widths) - 1), len(padded)
    if remaining > 0:
        for i, width in enumerate(padded):
            taken = min(width, round(remaining / columns))
            padded[i] -= taken
            remaining -= taken
            columns -= 1
    return [width - 2 for width in padded]


def _cell_lines(text: str, width: int) -> list[str]:
    """A cell's lines as rich lays them out: wrapped at spaces, a longer word cut with `…`."""
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]
    return [line if len(line) <= width else f"{line[:width - 1]}…" for line in lines]


def table(title: str, rows: list[tuple[str, str, str]], totals: list[str],
          line_length: int | None = None, positions: tuple[float, ...] | None = None) -> str:
    """The summary's text: the title, the boxed table of `rows`, then the `totals` lines.

    Raises:
        OptionError: a `line_length` too narrow for the columns.
    """
    if line_length is None:
        line_length = min(_LINE_LENGTH, shutil.get_terminal_size().columns - 4)
    widths = _column_widths(line_length, tuple(positions or _POSITIONS))

    def rule(left: str, fill: str, middle: str, right: str) -> str:
        return left + middle.join(fill * (width + 2) for width in widths) + right

    def row(cells: tuple[str, ...], bar: str) -> list[str]:
        wrapped = [_cell_lines(text, width) for text, width in zip(cells, widths, strict=True)]
        lines = []
        for i in range(max(map(len, wrapped))):
            parts = []
            for column, width in enumerate(widths):
                text = wrapped[column][i] if i < len(wrapped[column]) else ""
                parts.append(f" {text.rjust(width) if _RIGHT[column] else text.ljust(width)} ")
            lines.append(bar + bar.join(parts) + bar)
        return lines

    lines = [title, rule("┏", "━", "┳", "┓"), *row(_HEADER, "┃"), rule("┡", "━", "╇", "┩")]
    for i, cells in enumerate(rows):
        if i:
            lines.append(rule("├", "─", "┼", "┤"))
        lines.extend(row(cells, "│"))
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join([*lines, *totals]) + "\n"


def summary_text(module: torch.nn.Module, shapes: dict | None, line_length: int | None = None,
                 positions: tuple[float, ...] | None = None) -> str:
    """Keras 3's summary of `module`, with the recorded `shapes` (None: not seen yet)."""
    rows = []
    for name, layer in layers_of(module):
        label = f"{name or type(layer).__name__} ({type(layer).__name__})"
        shape = (shapes or {}).get(name if layer is not module else None, "?")
        count, _ = _count(list(_weights(layer, recurse=layer is not module)))
        rows.append((label, shape, f"{count:,}"))
    trainable = [weight for weight in module.parameters() if weight.requires_grad]
    frozen = [weight for weight in module.parameters() if not weight.requires_grad]
    frozen += [buffer for buffer in module.buffers() if buffer.is_floating_point()]
    counts = {"Total": _count([*trainable, *frozen]), "Trainable": _count(trainable),
              "Non-trainable": _count(frozen)}
    totals = [f" {kind} params: {count:,} ({_size(size)})"
              for kind, (count, size) in counts.items()]
    return table(f'Model: "{type(module).__name__}"', rows, totals, line_length, positions)
