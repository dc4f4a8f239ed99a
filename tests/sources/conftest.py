"""Helpers shared by the sources tests."""

from pathlib import Path

import pytest

from streamfit.sources import RowAccounting, SourceSpec, iter_records
from streamfit.sources.rows import record_schema

DATASETS = Path(__file__).parents[2] / ".." / "shared" / "datasets"


def _read(paths, **options):
    """Read a spec; return (rows as dicts, accounting), checking the invariants."""
    if isinstance(paths, (str, Path)):
        paths = (paths,)
    accounting = RowAccounting()
    rows = []
    for batch in iter_records(SourceSpec(tuple(str(p) for p in paths), **options), accounting):
        assert batch.schema.equals(record_schema(options.get("id") is not None,
                                                 options.get("multi_label", False)))
        assert batch.num_rows > 0
        rows.extend(batch.to_pylist())
    assert accounting.rows_used == len(rows)
    assert accounting.rows_read == accounting.rows_used + sum(accounting.skipped.values())
    return rows, accounting


@pytest.fixture
def datasets():
    """The shared real datasets folder; skips the test when it is absent."""
    if not DATASETS.is_dir():
        pytest.skip(f"the shared datasets folder {DATASETS} is absent")
    return DATASETS


@pytest.fixture
def read():
    """`read(paths, **spec_options)` -> (rows as dicts, accounting), invariants checked."""
    return _read
