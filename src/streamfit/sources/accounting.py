"""Row accounting: every data row is used or skipped with a counted cause.

For every chunk that `iter_records` yields (see `rows.Rows.account`),
`rows_read` grows by the data rows parsed (good or bad, never a header or a
blank line), `rows_used` by the rows yielded, and `skip`/`skip_lines` record
each bad row under a cause with its location. So `rows_read == rows_used +
sum(skipped.values())` always holds, and nothing disappears silently.

Causes used by the readers (later layers may add their own, such as
"unseen_label"):

| cause | meaning |
| --- | --- |
| missing_label | the label is null, empty or only whitespace |
| wrong_field_count | a CSV/TSV row with more or fewer fields than the header |
| broken_quoting | a CSV row whose quotes do not close, or close mid-field |
| empty_text | the joined text is empty or only whitespace |
| bad_json | a JSON Lines line that does not parse or is not an object |
| missing_text_field | a JSON Lines object without the text key (or with null) |

Notes (`notes`) count observations that do not cost a row; some keep a few
examples (`note_examples`):

| note | counts |
| --- | --- |
| invalid_utf8_rows | rows whose bytes were not UTF-8 (replaced by U+FFFD; give the encoding) |
| blank_lines | empty lines, which are not rows |
| several_labels | rows with more than one label read without multi_label (the first one is used) |
| labels_stripped | rows whose label had surrounding whitespace, stripped (" pos" is "pos"); examples |
| duplicate_labels | multi_label: rows naming a label twice (kept once, at its first place); examples |
| labels_differing_by_case | distinct labels equal up to case ("pos", "Pos"): kept apart, reported; examples |

Labels equal up to case are not merged: they may be meant (`A` and `a`), and
a silent merge would change what the model predicts. The accounting sees
every yielded batch's labels (`observe_labels`, one `unique` per batch) and
tracks up to `MAX_TRACKED_LABELS` distinct ones.

A multi-label read (list labels, `SourceSpec.multi_label`) is also measured
as it streams: `to_dict` then holds "label_cardinality" (mean labels per used
row) and "label_sets" (how many distinct sets of labels the used rows have,
the empty set included), counted exactly up to a 64-bit hash per set (a sum of
one random 64-bit number per label, so 8 bytes per distinct set).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from streamfit.errors import DataError

MAX_EXAMPLES = 5
# Distinct labels tracked for "labels_differing_by_case" (a label column with
# more is a mistake the label map shows anyway).
MAX_TRACKED_LABELS = 100_000


class RowAccounting:
    """Counts of rows read, used and skipped (by cause), with example locations.

    Args:
        files: the resolved paths; a row's `source` is an index into it.
            `iter_records` appends the files it reads that are not there yet.
        strict: raise `DataError` on the first skipped row instead of counting.

    Attributes:
        rows_read: every data row seen, good or bad (headers and blank lines
            are not rows).
        rows_used: rows yielded to the caller.
        skipped: cause -> number of rows skipped for it.
        examples: cause -> the first `MAX_EXAMPLES` locations, "path:line".
        notes: non-fatal observations -> count.
        note_examples: note -> up to `MAX_EXAMPLES` examples, for the notes
            that keep them.
        log_skips: keep every skipped row's (cause, source, line) until
            `take_skipped` hands them out, for callers that answer each row in
            order (`streamfit predict`). Off by default: it grows with the
            skipped rows until taken (by at most one chunk's rows when taken
            after every batch of `iter_records`, which then yields empty
            batches for chunks of only bad rows).

    Example:
        >>> acc = RowAccounting(files=["a.csv"])
        >>> acc.rows_read = 3; acc.rows_used = 2
        >>> acc.skip("missing_label", 0, 4)
        >>> acc.summary()
        'read 3 rows, used 2, skipped 1: 1 missing_label (a.csv:4)'
    """

    def __init__(self, files: Iterable[str] | None = None, strict: bool = False,
                 log_skips: bool = False):
        self.files: list[str] = list(files or [])
        self.strict = strict
        self._skip_log: list[tuple[str, int, np.ndarray]] | None = [] if log_skips else None
        self.rows_read = 0
        self.rows_used = 0
        self.skipped: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}
        self.notes: dict[str, int] = {}
        self.note_examples: dict[str, list[str]] = {}
        self._labels_by_case: dict[str, list[str]] = {}
        self._labels_seen = 0
        self._label_sets: LabelSets | None = None

    def location(self, source: int, line: int | None) -> str:
        """Return "path:line" (or "path" when the line is unknown)."""
        path = self.files[source] if 0 <= source < len(self.files) else f"<source {source}>"
        return path if line is None else f"{path}:{line}"

    def skip(self, cause: str, source: int, line: int | None, detail: str = "") -> None:
        """Count one skipped row.

        Does not touch `rows_read`: the caller counted the row when it read it.

        Args:
            cause: why the row is skipped (see the module table).
            source: index of the row's file in `files`.
            line: 1-based line where the row starts, or None when unknown.
            detail: a short explanation added to the strict-mode error.

        Raises:
            DataError: in strict mode, naming "path:line" and the cause.
        """
        if self.strict:
            raise DataError(self._strict_message(cause, source, line, detail))
        self.skipped[cause] = self.skipped.get(cause, 0) + 1
        examples = self.examples.setdefault(cause, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(self.location(source, line))
        if self._skip_log is not None:
            self._skip_log.append((cause, source, np.array([-1 if line is None else line], np.int64)))

    def skip_lines(self, cause: str, source: int, lines, detail: str = "") -> None:
        """Count many skipped rows of one file at once (the columnar form of `skip`).

        Args:
            cause: why the rows are skipped.
            source: index of their file in `files`.
            lines: their 1-based lines, in file order (any integer sequence).
            detail: as in `skip`.

        Raises:
            DataError: in strict mode, for the first of `lines`.
        """
        lines = np.asarray(lines, dtype=np.int64)
        if len(lines) == 0:
            return
        if self.strict:
            raise DataError(self._strict_message(cause, source, int(lines[0]), detail))
        self.skipped[cause] = self.skipped.get(cause, 0) + len(lines)
        examples = self.examples.setdefault(cause, [])
        for line in lines[: MAX_EXAMPLES - len(examples)].tolist():
            examples.append(self.location(source, line))
        if self._skip_log is not None:
            self._skip_log.append((cause, source, lines.copy()))

    def reject(self, cause: str, sources, lines) -> None:
        """Skip rows that were counted as used, for a cause a later layer found.

        For example a validation or test label that training never saw: the
        row was read and passed on, and is taken back here, with its location.

        Args:
            cause: why the rows are skipped.
            sources: the file index of each row.
            lines: the 1-based line of each row (same length as `sources`).

        Raises:
            DataError: in strict mode, for the first row.
        """
        sources = np.asarray(sources, dtype=np.int64)
        lines = np.asarray(lines, dtype=np.int64)
        for source in np.unique(sources).tolist():
            self.skip_lines(cause, source, np.sort(lines[sources == source]))
        self.rows_used -= len(lines)

    @property
    def log_skips(self) -> bool:
        """Whether every skipped row is kept until `take_skipped` (see the class)."""
        return self._skip_log is not None

    @property
    def skips_pending(self) -> int:
        """How many skipped rows the log holds, not yet taken (0 without `log_skips`)."""
        return sum(len(lines) for _, _, lines in self._skip_log or ())

    def take_skipped(self) -> list[tuple[str, int, np.ndarray]]:
        """The rows skipped since the last call, as `(cause, source, lines)` groups.

        Needs `log_skips=True`. `iter_records` counts a chunk's skipped rows
        when it yields the chunk, so taking them right after each batch gives
        the skips among (and before) that batch's rows. With `log_skips` it
        also yields an empty batch for a chunk whose rows were all skipped, so
        taking the skips after every batch keeps the log to one chunk's rows,
        however long a run of bad rows is. A line of -1 is unknown.
        """
        if self._skip_log is None:
            raise ValueError("take_skipped needs RowAccounting(log_skips=True)")
        taken, self._skip_log = self._skip_log, []
        return taken

    def note(self, name: str, count: int = 1, examples: Iterable[str] = ()) -> None:
        """Add `count` to the observation `name` (no-op for 0), keeping a few examples."""
        if count:
            self.notes[name] = self.notes.get(name, 0) + int(count)
        examples = list(examples)
        if examples:
            kept = self.note_examples.setdefault(name, [])
            kept.extend(example for example in examples[: MAX_EXAMPLES - len(kept)]
                        if example not in kept)

    def observe_labels(self, labels) -> None:
        """Note the labels (a pyarrow array) that differ from earlier ones only by case.

        The note counts the distinct labels involved: "pos" then "Pos" add 2,
        a third spelling "POS" adds 1. Examples read "'pos' ~ 'Pos' ~ 'POS'".
        A list array (a multi-label read) is also measured (`LabelSets`) and
        its labels are checked one by one.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_list(labels.type):
            if self._label_sets is None:
                self._label_sets = LabelSets()
            self._label_sets.update(labels)
            labels = pc.list_flatten(labels)
        if self._labels_seen >= MAX_TRACKED_LABELS:
            return
        found = 0
        for label in labels.unique().to_pylist():
            if label is None:
                continue
            group = self._labels_by_case.setdefault(label.casefold(), [])
            if label in group:
                continue
            group.append(label)
            self._labels_seen += 1
            if len(group) > 1:
                found += 2 if len(group) == 2 else 1
                self._case_example(group)
        self.note("labels_differing_by_case", found)

    def _case_example(self, group: list[str]) -> None:
        examples = self.note_examples.setdefault("labels_differing_by_case", [])
        shown = " ~ ".join(repr(label) for label in group)
        first = " ~ ".join(repr(label) for label in group[:2])
        for i, example in enumerate(examples):
            if example.startswith(first):
                examples[i] = shown
                return
        if len(examples) < MAX_EXAMPLES:
            examples.append(shown)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict: rows_read, rows_used, skipped, examples, notes.

        And "note_examples" when a note kept examples; "label_cardinality"
        and "label_sets" after a multi-label read (see the module docstring).
        """
        sets = self._label_sets
        return {
            "rows_read": self.rows_read,
            "rows_used": self.rows_used,
            "skipped": dict(self.skipped),
            "examples": {cause: list(places) for cause, places in self.examples.items()},
            "notes": dict(self.notes),
            **({"note_examples": {name: list(found) for name, found in self.note_examples.items()}}
               if self.note_examples else {}),
            **({"label_cardinality": sets.cardinality, "label_sets": sets.distinct}
               if sets is not None else {}),
        }

    def summary(self) -> str:
        """Return human-readable lines.

        The first line is "read N rows, used M, skipped K" followed, when rows
        were skipped, by ": 3 missing_label (a.csv:4, a.csv:9, a.csv:12), ...";
        a second line lists the notes, if any.
        """
        total = sum(self.skipped.values())
        text = f"read {self.rows_read} rows, used {self.rows_used}, skipped {total}"
        if total:
            parts = []
            for cause, count in self.skipped.items():
                places = self.examples.get(cause, [])
                more = ", ..." if count > len(places) else ""
                parts.append(f"{count} {cause} ({', '.join(places)}{more})")
            text += ": " + ", ".join(parts)
        if self.notes:
            text += "\nnotes: " + ", ".join(describe_notes(self.to_dict()))
        return text

    def _strict_message(self, cause: str, source: int, line: int | None, detail: str) -> str:
        detail = f" ({detail})" if detail else ""
        return (f"{self.location(source, line)}: {cause}{detail}; fix the row, or read without "
                "strict to skip and count bad rows")


# Said after a note's count: what it means for the run and the fix.
NOTE_ADVICE = {
    "several_labels": "only the first label of each is used; pass --multi-label to keep them all",
}


def describe_notes(report: dict) -> list[str]:
    """Each note of an accounting report (`RowAccounting.to_dict()`) as "name: count (examples)".

    The one wording of the notes, for `summary`, `streamfit inspect` and
    `streamfit train`. A note with advice (`NOTE_ADVICE`: several_labels
    suggests --multi-label) has it after the count, following "; ".
    """
    lines = []
    for name, count in report.get("notes", {}).items():
        found = report.get("note_examples", {}).get(name)
        advice = f"; {NOTE_ADVICE[name]}" if name in NOTE_ADVICE else ""
        lines.append(f"{name}: {count}" + (f" ({'; '.join(found)})" if found else "") + advice)
    return lines


class LabelSets:
    """Label cardinality and distinct label sets of streamed list labels.

    Each label gets a 64-bit number (splitmix64 of its index in order of first
    sight); a row's set is the wrapping sum of its labels' numbers, which is
    the same for the same set in any order (rows hold no repeated label).
    Distinct sums are kept as sorted uint64 arrays, merged now and then, so
    memory is 8 bytes per distinct set plus the distinct labels.

    Attributes:
        rows: rows measured.
        labels: labels over all rows.
    """

    def __init__(self):
        self.rows = 0
        self.labels = 0
        self._index: dict[str, int] = {}
        self._distinct = np.zeros(0, dtype=np.uint64)
        self._pending: list[np.ndarray] = []
        self._pending_size = 0

    def update(self, lists) -> None:
        """Measure a pyarrow list<string> array of labels (no null rows)."""
        import pyarrow.compute as pc

        lengths = np.asarray(pc.list_value_length(lists).fill_null(0), dtype=np.int64)
        values = pc.list_flatten(lists)
        self.rows += len(lists)
        self.labels += int(lengths.sum())
        distinct = pc.unique(values)
        ids = np.empty(len(distinct), dtype=np.uint64)
        for i, label in enumerate(distinct.to_pylist()):
            ids[i] = self._index.setdefault(label, len(self._index))
        if len(values):
            where = np.asarray(pc.index_in(values, value_set=distinct), dtype=np.int64)
            numbers = _splitmix64(ids[where])
        else:
            numbers = np.zeros(0, dtype=np.uint64)
        total = np.zeros(len(numbers) + 1, dtype=np.uint64)
        np.cumsum(numbers, out=total[1:])
        ends = np.cumsum(lengths)
        sums = total[ends] - total[ends - lengths]
        self._pending.append(np.unique(sums))
        self._pending_size += len(self._pending[-1])
        if self._pending_size > max(1 << 16, len(self._distinct)):
            self._merge()

    def _merge(self) -> None:
        self._distinct = np.unique(np.concatenate([self._distinct, *self._pending]))
        self._pending, self._pending_size = [], 0

    @property
    def cardinality(self) -> float:
        """Mean labels per row (0.0 before any row)."""
        return self.labels / self.rows if self.rows else 0.0

    @property
    def distinct(self) -> int:
        """How many distinct label sets the rows have (the empty set counts as one)."""
        self._merge()
        return int(len(self._distinct))


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-mixed 64-bit number for each uint64 (wrapping)."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
