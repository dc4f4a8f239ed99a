"""Batch sets: batch `i` of epoch `e` computed on demand, never pulled from a stream.

| batch set | data | each epoch |
| --- | --- | --- |
| `ArrayBatches` | in-memory arrays (numpy, scipy sparse, dicts) | every row once, reshuffled |
| `LineBatches` | a text file, one sample per line, parsed by `process_line` | every line once, reshuffled |
| `RandomBatches` | in-memory arrays | rows drawn with replacement |
"""

from streamfit.batches.arrays import ArrayBatches
from streamfit.batches.base import Batch, BatchSet
from streamfit.batches.lines import LineBatches
from streamfit.batches.random import RandomBatches

__all__ = ["ArrayBatches", "Batch", "BatchSet", "LineBatches", "RandomBatches"]
