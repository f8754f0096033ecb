"""Seeded defects: every invariant has teeth, and the reference the bugs are seeded into is clean.

``tests/defects`` holds a correct pure-torch drop-in LSTM (``ReferenceLSTM``) and one subclass
per realistic bug. Here:

* the unmutated reference passes every invariant, so a defect's failure is its bug's doing;
* each defect is *failed* by the invariants ``EXPECTED`` names, for the reason given there (a
  substring of the failure message, and where it matters the form of the counterexample);
* every invariant in the catalogue is the expected catcher of at least one defect, or is
  listed in ``PURE_GUARDS`` with the reason it cannot be.

Each defect is checked only against its expected catchers (many more invariants fail on most
of them; see each defect's docstring). The checks run under the "default" profile with a
fixed seed and no example database (so a verdict never depends on earlier runs), and
torch's global generator seeded for dropout.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import pytest
import torch
from hypothesis import settings

from conformance.profiles import profile_settings
from conformance.runner import run_check
from spec.harness import Subject
from spec.invariants import INVARIANTS, by_id
from tests import defects as d

SEED = 0
# No example database: a verdict here must never depend on an earlier run.
SETTINGS = settings(profile_settings("default"), database=None)


@dataclass(frozen=True)
class Caught:
    """An expected catch: the check fails with ``why`` in its message, on a counterexample
    whose case description (``Case.describe()``) has the items of ``case``."""

    why: str
    case: dict = field(default_factory=dict)


ORACLE = Caught("vs the float64 oracle")
GRADIENTS = Caught("vs the float64 reference")
GATE_PROBE = Caught("vs the gate-probe closed form")
ZERO_WEIGHTS = Caught("vs the zero-weight closed form")
CELL_STATE = Caught("vs sigmoid(z_o) * tanh(c_n[")
TIME_REVERSAL = Caught("vs flip(reverse-weights run on flip(x))")
CONTINUATION = Caught("then x[")
FIRST_BACKWARD = Caught("(top layer, backward) vs o[0, :, ")
LAST_FORWARD = Caught("(top layer, forward) vs o[len_b-1, b, ")
STACKED = Caught("run alone's h_n")
BATCH_INDEPENDENCE = Caught("run alone vs in the batch")
PERMUTATION = Caught("of the batch permuted by")
CAUSALITY = Caught(" vs of x")
BOUNDS = Caught("exceeds its bound")
PACKED = Caught("run alone vs packed", {"form": "packed"})


def _packed_oracle(why: str) -> Caught:
    return Caught(f"{why} vs the float64 oracle", {"form": "packed"})


#: Defect -> {invariant id: how it is caught}, as observed with SEED under SETTINGS.
EXPECTED: dict[type, dict[str, Caught]] = {
    # -- one step's equations
    d.SwappedForgetCandidate: {"gate-probe": GATE_PROBE, "matches-oracle": ORACLE,
                               "gradients": GRADIENTS},
    d.OnnxGateOrder: {"gate-probe": GATE_PROBE, "cell-state-consistency": CELL_STATE,
                      "matches-oracle": ORACLE},
    d.TanhOutputGate: {"gate-probe": GATE_PROBE, "zero-weights": ZERO_WEIGHTS,
                       "cell-state-consistency": CELL_STATE, "matches-oracle": ORACLE},
    d.NoTanhOnCell: {"bounds": Caught("|h_n[0]| exceeds its bound"),
                     "zero-weights": ZERO_WEIGHTS, "gate-probe": GATE_PROBE,
                     "cell-state-consistency": CELL_STATE, "matches-oracle": ORACLE},
    d.SingleBias: {"gate-probe": GATE_PROBE, "cell-state-consistency": CELL_STATE,
                   "matches-oracle": ORACLE},
    d.ForgetBiasPlusOne: {"gate-probe": GATE_PROBE, "zero-weights": ZERO_WEIGHTS,
                          "matches-oracle": ORACLE},
    d.ProjectionRecurrenceSlice: {
        "state-continuation": Caught("then x[", {"proj_size": 1}),
        "cell-state-consistency": CELL_STATE, "matches-oracle": ORACLE},
    # -- directions
    d.BackwardInputNotReversed: {"time-reversal": TIME_REVERSAL, "causality": CAUSALITY,
                                 "cell-state-consistency": CELL_STATE,
                                 "matches-oracle": ORACLE},
    d.BackwardOutputNotFlipped: {"first-step-backward": FIRST_BACKWARD,
                                 "time-reversal": TIME_REVERSAL, "causality": CAUSALITY,
                                 "matches-oracle": ORACLE},
    d.ReverseUsesForwardWeights: {"time-reversal": TIME_REVERSAL, "gate-probe": GATE_PROBE,
                                  "cell-state-consistency": CELL_STATE,
                                  "matches-oracle": ORACLE},
    d.ReverseUsesForwardProjection: {"time-reversal": TIME_REVERSAL, "gate-probe": GATE_PROBE,
                                     "matches-oracle": ORACLE},
    d.BackwardFirstConcat: {"last-step-forward": LAST_FORWARD,
                            "first-step-backward": FIRST_BACKWARD,
                            "time-reversal": Caught("vs forward-only run"),
                            "matches-oracle": ORACLE},
    d.HnFromLastStepBothDirections: {
        "first-step-backward": FIRST_BACKWARD,
        "time-reversal": Caught("h_n[1] vs its one-direction run"),
        "packed-per-sequence": Caught("h_n of sequence", {"form": "packed"}),
        "matches-oracle": Caught("h_n vs the float64 oracle")},
    d.UpperLayersIgnoreBackwardHalf: {"stacked-layers": STACKED, "matches-oracle": ORACLE},
    # -- states
    d.DirectionMajorStates: {"last-step-forward": LAST_FORWARD, "stacked-layers": STACKED,
                             "matches-oracle": Caught("h_n vs the float64 oracle")},
    # bounds (|c_n|) and matches-oracle catch these two only on some seeds: the initial
    # state must be large, or the batch mix visible, in one of 25 cases. Not expected here.
    d.LayersShareInitialState: {"stacked-layers": STACKED, "state-continuation": CONTINUATION},
    d.InitialStateReshape: {"batch-independence": BATCH_INDEPENDENCE,
                            "batch-permutation": PERMUTATION,
                            "state-continuation": CONTINUATION},
    d.StaleCellState: {"cell-state-consistency": CELL_STATE, "state-continuation": CONTINUATION,
                       "matches-oracle": Caught("c_n vs the float64 oracle")},
    d.CellStateIsHidden: {"cell-state-consistency": CELL_STATE,
                          "state-continuation": CONTINUATION,
                          "output-shapes": Caught("c_n: shape")},
    d.HxNoneIsPointOne: {"hx-none-is-zeros": Caught("with hx=None vs with zero (h0, c0)"),
                         "matches-oracle": Caught("vs the float64 oracle",
                                                  {"initial_state": False})},
    d.StateLeaksBetweenCalls: {
        "determinism": Caught("of the second call vs the first call", {"initial_state": False}),
        "hx-none-is-zeros": Caught("with hx=None vs with zero (h0, c0)")},
    d.BatchMeanForgetGate: {"batch-independence": BATCH_INDEPENDENCE, "matches-oracle": ORACLE},
    # -- layouts, forms, input checks, hygiene
    # output-shapes runs every case both ways, so its counterexample may be seq-first:
    # its message names the batch-first variant.
    d.StatesBatchFirst: {"output-shapes": Caught("batched, batch_first input: h_n: shape"),
                         "batch-first": Caught("h_n: shape", {"batch_first": True})},
    d.BatchFirstIgnored: {"output-shapes": Caught("batched, batch_first input: "),
                          "batch-first": Caught("h_n: shape", {"batch_first": True})},
    # matches-oracle catches it only when it draws batch_first with an initial state.
    d.HxReadBatchFirst: {
        "batch-first": Caught("(batch_first) vs the seq-first run", {"initial_state": True})},
    d.UnbatchedAsBatch: {
        "unbatched-is-batch-of-one": Caught("(unbatched) vs a batch of one"),
        "matches-oracle": Caught("vs the float64 oracle", {"form": "unbatched"})},
    d.SingleStepSqueeze: {"output-shapes": Caught("output: shape", {"seq_len": 1})},
    d.FlattensExtraDims: {
        "bad-input-raises": Caught("4-D input: accepted without an error")},
    d.WritesBackState: {"no-mutation": Caught("after the calls vs before"),
                        "determinism": Caught("of the second call vs the first call")},
    # -- packed input
    d.PackedStatesAtPaddedEnd: {
        "packed-per-sequence": Caught("h_n of sequence", {"form": "packed"}),
        "last-step-forward": Caught("vs o[len_b-1, b, ", {"form": "packed"}),
        "matches-oracle": _packed_oracle("h_n")},
    d.PackedBackwardStartsInPadding: {"packed-per-sequence": PACKED},
    d.PackedHxInSortedOrder: {"packed-per-sequence": PACKED,
                              "batch-permutation": Caught("of the batch permuted by",
                                                          {"form": "packed"})},
    d.PackedEqualLengthsBatchMajor: {
        "packed-uniform-is-dense": Caught("(packed, equal lengths) vs dense"),
        "packed-per-sequence": PACKED},
    # -- dropout
    d.DropoutAfterLastLayer: {"dropout-train-structure": Caught("in training",
                                                                {"training": True})},
    d.DropoutInEval: {"dropout-eval": Caught("in eval with dropout=")},
    # -- numerics
    d.ReducedPrecision: {"matches-oracle": ORACLE, "gate-probe": GATE_PROBE,
                         "gradients": GRADIENTS},
    d.OverflowingTanh: {
        name: Caught("non-finite value(s), first nan", {"input_scale": "saturating"})
        for name in ("bounds", "output-shapes", "matches-oracle")},
    d.TruncatedBackprop: {"gradients": GRADIENTS},
}

#: Invariants that no seeded defect is expected to fail, with the reason. Empty: every
#: invariant in the catalogue catches at least one defect above.
PURE_GUARDS: dict[str, str] = {}


def _check(defect: type, invariant_id: str):
    with torch.random.fork_rng():  # dropout draws from torch's global generator
        torch.manual_seed(SEED)
        return run_check(Subject(defect.__name__, defect), by_id(invariant_id), SETTINGS, SEED)


@pytest.mark.parametrize("invariant_id", [inv.id for inv in INVARIANTS])
def test_reference_passes(invariant_id):
    outcome = _check(d.ReferenceLSTM, invariant_id)
    assert outcome.status == "passed", (outcome.message, outcome.counterexample)


@pytest.mark.parametrize("defect", list(EXPECTED), ids=lambda cls: cls.__name__)
def test_defect_is_caught(defect):
    wrong = []
    for invariant_id, caught in EXPECTED[defect].items():
        outcome = _check(defect, invariant_id)
        case = (outcome.counterexample or {}).get("case") or {}
        mismatched = {k: case.get(k) for k, v in caught.case.items() if case.get(k) != v}
        if outcome.status != "failed" or caught.why not in (outcome.message or "") or mismatched:
            wrong.append(f"{invariant_id}: {outcome.status}, expected failed with "
                         f"{caught.why!r} on {caught.case or 'any case'}; message "
                         f"{outcome.message!r}, case items {mismatched or case}")
    assert not wrong, f"{defect.__name__}:\n  " + "\n  ".join(wrong)


def test_every_defect_is_in_the_table():
    assert set(EXPECTED) == set(d.DEFECTS)
    assert len(d.DEFECTS) >= 28


def test_every_invariant_has_teeth():
    known = {inv.id for inv in INVARIANTS}
    expected = {inv_id for catches in EXPECTED.values() for inv_id in catches}
    assert expected <= known, f"unknown invariant ids in EXPECTED: {sorted(expected - known)}"
    assert set(PURE_GUARDS) <= known, f"unknown ids in PURE_GUARDS: {set(PURE_GUARDS) - known}"
    assert not set(PURE_GUARDS) & expected, "a pure guard is also expected to catch a defect"
    toothless = known - expected - set(PURE_GUARDS)
    assert not toothless, f"no seeded defect is expected to fail {sorted(toothless)}"


@pytest.mark.parametrize("defect", d.DEFECTS, ids=lambda cls: cls.__name__)
def test_defect_is_one_documented_bug(defect):
    """Each defect subclasses the reference, overrides one or two hooks, and its docstring
    names every invariant the table expects to catch it."""
    assert issubclass(defect, d.ReferenceLSTM) and defect is not d.ReferenceLSTM
    doc = " ".join((inspect.getdoc(defect) or "").split())
    assert "Bug:" in doc and "Caught by" in doc
    undocumented = [inv_id for inv_id in EXPECTED.get(defect, {}) if inv_id not in doc]
    assert not undocumented, f"the docstring does not mention {undocumented}"
    hooks = [name for name, value in vars(defect).items()
             if callable(value) and not name.startswith("__")]
    assert 1 <= len(hooks) <= 2, hooks
