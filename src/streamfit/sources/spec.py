"""What to read: `SourceSpec`, the format of a file, and column arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from streamfit.errors import OptionError, UserError, check_number

FORMATS = ("csv", "tsv", "jsonl", "parquet", "fasttext", "text")
PRESETS = ("zhang",)
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ft": "fasttext",
    ".fasttext": "fasttext",
    ".txt": "text",
}

Column = str | int


@dataclass(frozen=True)
class SourceSpec:
    """Where the rows are and how to read them.

    Args:
        paths: files, globs ("shards/*.csv.gz") or folders (all their data
            files, sorted); a single string is taken as one path.
        format: "csv", "tsv", "jsonl", "parquet", "fasttext" or "text"; None
            guesses it per file from the extension after stripping .gz, .bz2,
            .xz or .zst (.csv, .tsv/.tab, .jsonl/.ndjson, .parquet/.pq,
            .ft/.fasttext, .txt = text).
        text: the text columns, by header name or 0-based index, joined with
            one space. Ignored by the line formats (fasttext, text).
        label: the label column, or None for unlabelled data (prediction).
            For fasttext any non-None value means "read the __label__ words".
            Labels are text: CSV/TSV labels as written; JSON Lines and
            Parquet numbers in one form whatever parsed them (a float that is
            integral is its integer, 1.0 -> "1"; any other float its shortest
            repr, "0.5"; booleans "true"/"false"). Surrounding whitespace is
            stripped from every label (" pos" is "pos", counted in
            notes["labels_stripped"]); labels equal up to case ("pos", "Pos")
            stay distinct and are reported (notes["labels_differing_by_case"]).
        id: a column copied to every row as its id (`streamfit predict --id`),
            by header name, 0-based index or JSON Lines key, or None (the
            default) for none. It is never part of training and never a
            reason to skip a row: a null or missing id (a JSON Lines object
            without the key) is null, a blank one is kept as written. It
            changes no other column choice (the zhang preset's text is still
            every column but the label). Read as labels are (numbers in
            `rows.number_text`'s form) but not stripped. The fasttext and
            text formats have no columns and refuse it (`UserError`).
        header: csv/tsv: the first line names the columns. Without a header
            columns can only be given by index.
        encoding: the files' text encoding (any Python codec name).
        preset: "zhang": the headerless layout of the DBPedia / Yelp / Amazon /
            AG News CSVs. It forces format csv and header False; the label
            becomes column 0 unless `label` is None or not the default
            "label"; the text becomes every other column, joined, unless
            `text` is not the default ("text",). Escaped line breaks in the
            text are turned into real ones (see `presets`).
        strict: raise `DataError` on the first bad row instead of skipping it.
        multi_label: read every label of a row: the batches' `label` column
            is then a list of strings (`pa.list_(pa.string())`), each label
            stripped, empty ones dropped, duplicates within a row removed
            (first kept, notes["duplicate_labels"]). fasttext: every
            `__label__` word; csv/tsv: the cell split on `label_sep` (an empty
            cell is a row with no labels, kept); jsonl: a list of strings or
            numbers, a scalar being a one-element list; parquet: a list
            column, or a scalar one. An empty list is a valid "no label" row;
            only a null or absent label is "missing_label". Without it, a row
            with several labels keeps its first (notes["several_labels"]).
        label_sep: a literal separator (";") splitting each label value into
            several labels; needs `multi_label`.
        block_size: bytes read per chunk (1 MiB: on IMDB, 4 MiB chunks raised the
            prepare peak by about 100 MB for no measurable speed); memory holds about two chunks plus
            the longest row.

    Raises:
        OptionError: for an unknown format or preset, no paths, no text
            columns, an id that is not a column name or index, a block size
            below 1, or a `label_sep` that is empty or given without
            `multi_label`.
    """

    paths: tuple[str, ...]
    format: str | None = None
    text: tuple[Column, ...] = ("text",)
    label: Column | None = "label"
    header: bool = True
    encoding: str = "utf-8"
    preset: str | None = None
    strict: bool = False
    block_size: int = 1 << 20
    # Last, so that positional construction stays as it was; with None,
    # `dataclasses.asdict` users see one more key ("id": None).
    id: Column | None = None
    # After `id`, for the same reason.
    multi_label: bool = False
    label_sep: str | None = None

    def __post_init__(self):
        # Frozen, so normalise in place the two arguments callers most often
        # pass in a looser form (one path string, one column).
        if isinstance(self.paths, (str, PurePath)):
            object.__setattr__(self, "paths", (str(self.paths),))
        else:
            object.__setattr__(self, "paths", tuple(str(p) for p in self.paths))
        if isinstance(self.text, (str, int)):
            object.__setattr__(self, "text", (self.text,))
        else:
            object.__setattr__(self, "text", tuple(self.text))
        if not self.paths:
            raise OptionError("paths", self.paths, "is empty; pass at least one file, glob or folder")
        if self.format is not None and self.format not in FORMATS:
            raise OptionError("format", self.format, f"is unknown; use one of {', '.join(FORMATS)}")
        if self.preset is not None and self.preset not in PRESETS:
            raise OptionError("preset", self.preset, f"is unknown; use one of {', '.join(PRESETS)}")
        if self.preset == "zhang":  # the layout is a headerless CSV, whatever else was given
            object.__setattr__(self, "format", "csv")
            object.__setattr__(self, "header", False)
        if not self.text:
            raise OptionError("text", self.text, "names no column; give a column name or index")
        check_number("block_size", self.block_size, minimum=1)
        if self.id is not None and (isinstance(self.id, bool) or not isinstance(self.id, (str, int))
                                    or self.id == "" or (isinstance(self.id, int) and self.id < 0)):
            raise OptionError("id", self.id, "is not a column; give a column name or a 0-based index")
        if self.label_sep is not None:
            if not self.multi_label:
                raise OptionError("label_sep", self.label_sep, "splits a row's labels, which needs "
                                  "multi_label (--multi-label); add it, or drop the separator")
            if not isinstance(self.label_sep, str) or not self.label_sep:
                raise OptionError("label_sep", self.label_sep, "is empty; give the literal text "
                                  "between labels, like ';'")


def split_compression(path: str) -> tuple[str, str | None]:
    """Split a path into (path without the compression suffix, compression or None)."""
    suffix = PurePath(path).suffix.lower()
    if suffix in COMPRESSIONS:
        return path[: -len(suffix)], COMPRESSIONS[suffix]
    return path, None


def guess_format(path: str) -> str | None:
    """Return the format that `path`'s extension names, or None when it names none."""
    stem, _ = split_compression(path)
    return EXTENSIONS.get(PurePath(stem).suffix.lower())


def file_format(spec: SourceSpec, path: str) -> str:
    """Return the format to read `path` with.

    Raises:
        OptionError: when the spec gives no format and the extension names none.
    """
    if spec.format is not None:
        return spec.format
    found = guess_format(path)
    if found is None:
        raise OptionError("format", None, f"is needed: the extension of {path} names no format; "
                          f"give one of {', '.join(FORMATS)}")
    return found


def parse_columns(value: str) -> tuple[Column, ...]:
    """Parse a column argument: comma-separated names or 0-based indexes.

    A part made only of digits is an index, anything else a name; spaces
    around parts are ignored.

    >>> parse_columns("text"), parse_columns("1,2"), parse_columns("title, body")
    (('text',), (1, 2), ('title', 'body'))

    Raises:
        UserError: for an empty argument or an empty part ("a,,b").
    """
    parts = [part.strip() for part in str(value).split(",")]
    if not any(parts) or not all(parts):
        raise UserError(f"column list {value!r} has an empty part; give names or 0-based "
                        "indexes separated by commas, like 'title,body' or '1,2'")
    return tuple(int(part) if part.isdigit() else part for part in parts)
