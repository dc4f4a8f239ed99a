"""Batch sets: batch `i` of epoch `e` computed on demand, never pulled from a stream."""

from streamfit.batches.arrays import ArrayBatches
from streamfit.batches.base import Batch, BatchSet

__all__ = ["ArrayBatches", "Batch", "BatchSet"]
