"""Find the text and label columns of a file from the spec (names or indexes)."""

from __future__ import annotations

from streamfit.errors import UserError
from streamfit.sources.spec import Column, SourceSpec

ZHANG_DEFAULT_TEXT = ("text",)
ZHANG_DEFAULT_LABEL = "label"


def select_columns(spec: SourceSpec, path: str, names: list[str] | None,
                   count: int) -> tuple[list[int], int | None]:
    """Return (text column indexes, label column index or None) for one file.

    With preset "zhang" the label is column 0 and the text every other column,
    unless the spec changed them from their defaults (see `SourceSpec`).

    Args:
        spec: the source spec.
        path: the file, for messages.
        names: the header's column names, or None when the file has no header
            (then only indexes can be used).
        count: how many columns the file has.

    Raises:
        UserError: for an unknown name (listing the columns there are), an
            index out of range, a name used without a header, or a labelled
            read of a file without the label column.
    """
    label = spec.label
    if spec.preset == "zhang" and label == ZHANG_DEFAULT_LABEL:
        label = 0
    label_index = None if label is None else _index(spec, path, names, count, label, "label")
    if spec.preset == "zhang" and spec.text == ZHANG_DEFAULT_TEXT:
        text = [i for i in range(count) if i != (0 if label_index is None else label_index)]
        if not text:
            raise UserError(f"{path}: the zhang preset needs a label column and at least one "
                            f"text column, but the file has {count} column")
        return text, label_index
    return [_index(spec, path, names, count, column, "text") for column in spec.text], label_index


def _index(spec: SourceSpec, path: str, names: list[str] | None, count: int,
           column: Column, role: str) -> int:
    option = f"--{role}"
    if isinstance(column, int):
        if not 0 <= column < count:
            raise UserError(f"{path}: {role} column {column} is out of range, the file has "
                            f"{count} columns (0..{count - 1}); fix {option}")
        return column
    if names is None:
        raise UserError(f"{path}: {role} column {column!r} is a name, but without a header "
                        f"columns have no names; use 0-based indexes with --no-header "
                        f"(e.g. {option} 1)")
    if column in names:
        return names.index(column)
    have = ", ".join(repr(name) for name in names)
    if role == "label":
        raise UserError(f"{path}: no label column {column!r}; its columns are {have}; pass "
                        "--label with one of them, or no labels for prediction")
    raise UserError(f"{path}: no text column {column!r}; its columns are {have}; "
                    "pass --text with one of them")
