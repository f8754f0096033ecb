"""The words the suite's records use: input forms, check statuses, conformance levels.

They are ``StrEnum`` members, so they compare equal to, and serialise as, the plain strings
that ``results.json`` holds (``Status.PASSED == "passed"``), while a misspelt name fails at
import instead of silently never matching.
"""

from __future__ import annotations

from enum import StrEnum


class Form(StrEnum):
    """How an input reaches the implementation."""

    BATCHED = "batched"  # 3-D, seq-first or batch-first as the config says
    UNBATCHED = "unbatched"  # 2-D (L, input_size) with 2-D (h0, c0)
    PACKED = "packed"  # a PackedSequence


ALL_FORMS = tuple(Form)


class Status(StrEnum):
    """How one check of one implementation ended (``results.json``: a result's ``status``)."""

    PASSED = "passed"
    FAILED = "failed"  # the implementation ran and broke the invariant
    ERROR = "error"  # it raised, hung, crashed, or returned something that is not an LSTM result
    NOT_APPLICABLE = "not_applicable"  # it lacks what the check needs, and says so
    KNOWN_FAILURE = "known_failure"  # it failed, as its author declared it would
    UNEXPECTEDLY_PASSED = "unexpectedly_passed"  # declared a known failure, but it passed

    @property
    def is_bad(self) -> bool:
        """Whether this status makes an implementation non-conformant."""
        return self in (Status.FAILED, Status.ERROR)


class Level(StrEnum):
    """How far an implementation conforms (``results.json``: an implementation's ``level``)."""

    FULL = "full"  # conformant, nothing declared unsupported or found not applicable
    PARTIAL = "partial"  # conformant within the capabilities it declares
    APPROXIMATE = "approximate"  # conformant within a tolerance it declares itself
    CORE = "core"  # not conformant, but conformant on core cases (one unidirectional layer)


class Layout(StrEnum):
    """How the input and state tensors sit in memory when they reach the implementation.

    Modules receive views: a batch-first tensor that is a transpose, features sliced out of
    a wider tensor, every other time step, a learned initial state expanded over the batch.
    Every layout holds the same values; only the strides differ (``spec.harness``).
    """

    DENSE = "dense"  # contiguous, as most callers pass it
    TRANSPOSED = "transposed"  # stored in the other of time-major / batch-major order
    FEATURE_SLICE = "feature-slice"  # x[..., :I] of a wider tensor (NaN in the rest)
    TIME_STRIDE = "time-stride"  # every other step (state: row) of a longer tensor
    EXPANDED_STATE = "expanded-state"  # (h0, c0) of one column, expanded (stride 0) over N


class GradMode(StrEnum):
    """The autograd mode a call is made in."""

    GRAD = "grad"  # torch.enable_grad(), the default of a training loop
    NO_GRAD = "no_grad"  # torch.no_grad(), evaluation code
    INFERENCE = "inference_mode"  # torch.inference_mode(), serving code


class Frozen(StrEnum):
    """Which of the module's parameters have ``requires_grad=False``."""

    NONE = "none"
    SOME = "some"  # the bottom layer (or, with one layer, the input weights): fine-tuning
    ALL = "all"  # every parameter: a frozen feature extractor
