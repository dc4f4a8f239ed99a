"""Sampling layer: which row ids make each batch (seed, epoch, shard, step, remainder)."""

from streamfit.sampling.sampler import EpochSampler, SamplerState

__all__ = ["EpochSampler", "SamplerState"]
