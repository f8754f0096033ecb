"""Seeded defects: drop-in LSTMs with one realistic bug each, to prove the invariants bite.

``base.ReferenceLSTM`` is a correct pure-torch ``nn.LSTM`` made of small hooks; every
defect is a subclass that overrides one hook (its docstring says the bug, its real-world
analogue and which invariants should catch it). ``tests/test_seeded_defects.py`` runs
each defect against the invariants expected to catch it.
"""

from .base import ReferenceLSTM
from .directions import (
    BackwardFirstConcat,
    BackwardInputNotReversed,
    BackwardOutputNotFlipped,
    HnFromLastStepBothDirections,
    ReverseUsesForwardProjection,
    ReverseUsesForwardWeights,
    UpperLayersIgnoreBackwardHalf,
)
from .dropout import DropoutAfterLastLayer, DropoutInEval
from .forms import (
    BatchFirstIgnored,
    FlattensExtraDims,
    HxReadBatchFirst,
    SingleStepSqueeze,
    StatesBatchFirst,
    UnbatchedAsBatch,
    WritesBackState,
)
from .gates import (
    ForgetBiasPlusOne,
    NoTanhOnCell,
    OnnxGateOrder,
    ProjectionRecurrenceSlice,
    SingleBias,
    SwappedForgetCandidate,
    TanhOutputGate,
)
from .kernels import (
    BatchPast64StartsFromZeros,
    CellResetAt256Steps,
    HiddenTile128LosesRecurrentBias,
    InputPastTile128Ignored,
)
from .lifecycle import (
    CacheKeyedOnBatchSize,
    ModeReadOnce,
    StateCarriedAfterBackward,
    WeightsCachedAtFirstCall,
)
from .module import (
    ApproximateInferencePath,
    DropoutMaskDrawnOnce,
    DropoutWithoutRescale,
    EmptyBatchInTiles,
    FrozenWeightsRunWithoutGrad,
    GradientWindowOf64Steps,
    InferenceTensorCached,
    InputReadWithDenseStrides,
    LenientLoader,
    OutputBufferReused,
    ParametersCapturedAtConstruction,
    StateDictInKernelLayout,
    StateReadWithDenseStrides,
)
from .numerics import CellStateInFloat16, OverflowingTanh, ReducedPrecision, TruncatedBackprop
from .packed import (
    PackedBackwardStartsInPadding,
    PackedEqualLengthsBatchMajor,
    PackedHxInSortedOrder,
    PackedStatesAtPaddedEnd,
)
from .scale import (
    BatchChunkReadsFirstChunkState,
    CellResetAtTimeChunk,
    HiddenTileRemainderDropped,
    InputTileRemainderIgnored,
)
from .states import (
    BatchMeanForgetGate,
    CellStateIsHidden,
    DirectionMajorStates,
    HxNoneIsPointOne,
    InitialStateReshape,
    LayersShareInitialState,
    StaleCellState,
    StateLeaksBetweenCalls,
)

#: Every seeded defect: the bugs real projects shipped first, then the rest.
DEFECTS = (
    SwappedForgetCandidate, OnnxGateOrder, TanhOutputGate, NoTanhOnCell, SingleBias,
    ForgetBiasPlusOne, BackwardInputNotReversed, BackwardOutputNotFlipped,
    ReverseUsesForwardWeights, BackwardFirstConcat, HnFromLastStepBothDirections,
    DirectionMajorStates, LayersShareInitialState, InitialStateReshape, StaleCellState,
    CellStateIsHidden, HxNoneIsPointOne, StatesBatchFirst, UnbatchedAsBatch,
    PackedStatesAtPaddedEnd, PackedBackwardStartsInPadding, PackedHxInSortedOrder,
    DropoutAfterLastLayer, DropoutInEval, ProjectionRecurrenceSlice,
    ReverseUsesForwardProjection, ReducedPrecision, OverflowingTanh, TruncatedBackprop,
    WritesBackState, BatchMeanForgetGate, SingleStepSqueeze, StateLeaksBetweenCalls,
    FlattensExtraDims, BatchFirstIgnored, HxReadBatchFirst, UpperLayersIgnoreBackwardHalf,
    PackedEqualLengthsBatchMajor, CellStateInFloat16,
)

#: Defects that every fresh-module invariant at tiny sizes misses: they live across calls
#: on one module (caught by the lifecycle machine) or past block sizes (block-boundaries).
LIFECYCLE_DEFECTS = (WeightsCachedAtFirstCall, ModeReadOnce, CacheKeyedOnBatchSize,
                     StateCarriedAfterBackward)
SCALE_DEFECTS = (HiddenTileRemainderDropped, InputTileRemainderIgnored, CellResetAtTimeChunk,
                 BatchChunkReadsFirstChunkState, HiddenTile128LosesRecurrentBias,
                 InputPastTile128Ignored, CellResetAt256Steps, BatchPast64StartsFromZeros)
#: Defects of the module contract: exact on every call the checks before it made (dense
#: tensors, calls with grad, nothing frozen, dropout judged by its structure).
MODULE_DEFECTS = (InputReadWithDenseStrides, StateReadWithDenseStrides,
                  ApproximateInferencePath, FrozenWeightsRunWithoutGrad, InferenceTensorCached,
                  GradientWindowOf64Steps, DropoutWithoutRescale, DropoutMaskDrawnOnce,
                  LenientLoader, StateDictInKernelLayout, ParametersCapturedAtConstruction,
                  EmptyBatchInTiles, OutputBufferReused)
DEFECTS = DEFECTS + LIFECYCLE_DEFECTS + SCALE_DEFECTS + MODULE_DEFECTS

#: Defects the hint rules were never tuned on: the held-out part of the hint measurement.
from .heldout import HELDOUT as HELDOUT_DEFECTS  # noqa: E402, F401

__all__ = ["DEFECTS", "ReferenceLSTM", *(d.__name__ for d in DEFECTS)]
