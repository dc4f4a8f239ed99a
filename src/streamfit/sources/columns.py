"""Find the text, label and id columns of a file from the spec (names or indexes)."""

from __future__ import annotations

from streamfit.errors import OptionError, UserError
from streamfit.sources.spec import Column, SourceSpec

ZHANG_DEFAULT_TEXT = ("text",)
ZHANG_DEFAULT_LABEL = "label"


def select_columns(spec: SourceSpec, path: str, names: list[str] | None,
                   count: int) -> tuple[list[int], int | None, int | None]:
    """Return (text column indexes, label index or None, id index or None) for one file.

    With preset "zhang" the label is column 0 and the text every other column,
    unless the spec changed them from their defaults (see `SourceSpec`); the
    id changes neither.

    Args:
        spec: the source spec.
        path: the file, for messages.
        names: the header's column names, or None when the file has no header
            (then only indexes can be used).
        count: how many columns the file has.

    Raises:
        OptionError: for the `text`, `label` or `id` column at fault: an unknown
            name (listing the columns there are), an index out of range, or a
            name used without a header.
        UserError: the zhang preset on a file with one column.
    """
    label = spec.label
    if spec.preset == "zhang" and label == ZHANG_DEFAULT_LABEL:
        label = 0
    label_index = None if label is None else _index(spec, path, names, count, label, "label")
    id_index = None if spec.id is None else _index(spec, path, names, count, spec.id, "id")
    if spec.preset == "zhang" and spec.text == ZHANG_DEFAULT_TEXT:
        text = [i for i in range(count) if i != (0 if label_index is None else label_index)]
        if not text:
            raise UserError(f"{path}: the zhang preset needs a label column and at least one "
                            f"text column, but the file has {count} column")
        return text, label_index, id_index
    text = [_index(spec, path, names, count, column, "text") for column in spec.text]
    return text, label_index, id_index


def _index(spec: SourceSpec, path: str, names: list[str] | None, count: int,
           column: Column, role: str) -> int:
    # `role` is the argument at fault ("text", "label" or "id"): the command line
    # shows these errors with its flag.
    if isinstance(column, int):
        if not 0 <= column < count:
            raise OptionError(role, column, f"is out of range: {path} has {count} columns "
                              f"(0..{count - 1})")
        return column
    if names is None:
        raise OptionError(role, column, f"is a name, but {path} is read without a header, so "
                          "its columns have no names; give a 0-based index (e.g. 1)")
    if column in names:
        return names.index(column)
    have = ", ".join(repr(name) for name in names)
    unlabelled = ", or no label for prediction" if role == "label" else ""
    raise OptionError(role, column, f"is not a column of {path}; its columns are {have}; give "
                      f"one of them{unlabelled}")
