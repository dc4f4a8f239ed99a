"""Loader layer: produce batches ahead of the trainer, in index order."""

from streamfit.loader.loader import BatchLoader

__all__ = ["BatchLoader"]
