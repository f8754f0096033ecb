"""Defects with two bugs at once, for the diagnosis tests (tests/test_diagnosis.py): the
report must show both, each with its own condition, and the checks that pass without
them as passing there. Not in ``DEFECTS``: one seeded bug each is the rule there.
"""

from __future__ import annotations

import torch

from .base import ReferenceLSTM
from .directions import UpperLayersIgnoreBackwardHalf
from .packed import PackedStatesAtPaddedEnd


class LoudProjectionQuietPacked(PackedStatesAtPaddedEnd):
    """Raises on every projection case (loud), and takes h_n and c_n of packed sequences
    at the padded end (quiet)."""

    def project(self, h, w_hr):
        if w_hr is not None:
            raise RuntimeError("projections are not supported by this converter")
        return super().project(h, w_hr)


class DeepBidirectionalAndFloat64(UpperLayersIgnoreBackwardHalf):
    """Wrong for bidirectional LSTMs with two or more layers (the upper layers read only
    the forward half), and errs on every float64 case."""

    def canonical(self, input, hx):
        data = input.data if hasattr(input, "batch_sizes") else input
        if data.dtype == torch.float64:
            raise TypeError("this kernel has no float64 path")
        return super().canonical(input, hx)


__all__ = ["DeepBidirectionalAndFloat64", "LoudProjectionQuietPacked", "ReferenceLSTM"]
