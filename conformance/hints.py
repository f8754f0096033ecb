"""Likely causes: from what the failures of one root cause show to the class of bug behind it.

A hint is a starting point for debugging, never a verdict; it is chosen from evidence and
never contradicts it. The evidence of a root cause (``Evidence``, built from its failures
as they appear in ``results.json``) is:

* which of output, h_n and c_n differ and which agree (the comparisons of
  ``spec.invariants.common.compare_all`` go output, h_n, c_n and stop at the first
  difference: a failure on h_n means the output agreed in that comparison);
* where they differ: time steps, directions (the halves of the output's feature axis, the
  rows of h_n/c_n), layers, batch columns (from the failure's expected and actual tensors);
* whether the actual values equal other expected ones: rows or batch columns in another
  order (``conformance.pictures.permutation``), or, for h_n compared with the oracle, the
  output of some time step (the case is rebuilt from its seed and the oracle run on it);
* the size of the difference (a near miss, or float64 results at float32 accuracy);
* the features of every failing case (``bidirectional``, ``packed``, ``float64``, ...) and
  the condition the runner found;
* the names of what failed: invariant ids and the stable ``check`` keys of violations.

Rules are data, tried in order; the first that fits gives the likely cause. An evidence
rule (``EVIDENCE_FIRST``, ``EVIDENCE_RULES``) is a function of the evidence; the first
ones read errors (under a feature: a feature not implemented; the same error in many
checks on every case: a kind of call it cannot make), before any name rule, since where
an error happened says nothing of its cause; so does wrong output from step 0 exactly
when an (h0, c0) is passed, which every check that passes one meets. A name rule
(``RULES``) is keyed on invariant ids and check keys: an ``only`` rule fits when one of
its names fails and nothing outside its group does (and something outside it was
checked); an ``includes`` rule whenever one of its names fails. Every rule is then held
against the evidence: a rule whose class needs a feature that no failing case has
(``NEEDS``), or that blames a tensor the reference comparisons found right
(``BLAMES_OUTPUT``), is skipped. When nothing fits,
the root cause has no likely cause, and ``Evidence.summary`` says what the evidence shows
in plain words. Adding a rule keyed on an invariant id or check key is one line in
``RULES`` (and, if its class needs a feature, one entry in ``NEEDS``).

Each seeded defect in ``tests/defects`` declares its class (a rule's ``id``); how often the
likely cause is right is measured on defects the rules were tuned on and on held-out ones
(``python -m tests.measure_hints``, docs/HINTS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from lstm_conformance.spec.vocabulary import Status


class Rule(NamedTuple):
    """At least one of ``trigger`` fails and, unless ``within`` is None, nothing outside it."""

    id: str
    trigger: frozenset[str]
    within: frozenset[str] | None
    cause: str


def only(id: str, trigger: tuple[str, ...], cause: str, *, also: tuple[str, ...] = ()) -> Rule:
    """A rule for "one of ``trigger`` fails, and nothing else but (some of) ``also``"."""
    return Rule(id, frozenset(trigger), frozenset(trigger + also), cause)


def includes(id: str, trigger: tuple[str, ...], cause: str) -> Rule:
    """A rule for "one of ``trigger`` fails", whatever else fails with it."""
    return Rule(id, frozenset(trigger), None, cause)


#: What fails beside almost every bug: the comparisons with a reference (the oracle, at any
#: size; nn.LSTM in the lifecycle machine; the float64 gradients) and the dropout checks
#: that read h_n rows. Rules allow these to fail too.
COLLATERAL = ("matches-oracle", "oracle", "block-boundaries", "oracle-at-scale", "lifecycle",
              "lifecycle-call", "lifecycle-gradient", "lifecycle-dropout", "gradients",
              "gradient", "gradients-at-scale", "gradient-at-scale", "near-miss")
#: The closed forms and the c_n/h_n consistency: they fail with any wrong formula.
FORMULA = ("gate-probe", "zero-weights", "cell-state-consistency", "cell-state", "bounds",
           "bound-h", "bound-c")

BACKWARD_TEXT = ("The backward direction: its input is not read in reverse, its output is not "
                 "flipped back to align with time, or it uses the forward direction's weights.")
PRECISION_TEXT = ("Precision: results close to the oracle's but beyond the dtype's tolerance, "
                  "from computing in a narrower type (bfloat16 or float16 gates, a float16 "
                  "accumulator) than the input's.")

#: The check keys of dropout as a distribution.
DROPOUT_DISTRIBUTION = ("dropout-scale", "dropout-kept-fraction", "dropout-fresh-masks",
                        "dropout-seeded")

RULES: tuple[Rule, ...] = (
    # The module contract (spec/invariants/module.py): each check key names its class.
    includes("strided", ("strided-view",),
             "Memory layout: the input or (h0, c0) is read as if it were contiguous (a raw "
             "pointer with dense strides), so a transposed, sliced, strided or expanded view "
             "is read wrong. Call .contiguous() (or honour the strides) before the kernel."),
    includes("frozen-weights", ("frozen-input-gradient", "gradient-lost"),
             "Frozen weights: with no parameter requiring grad, the forward pass runs without "
             "autograd (torch.no_grad() or detached), so the input and state lose their "
             "gradients."),
    only("dropout-distribution", DROPOUT_DISTRIBUTION,
             "Dropout as a distribution: the kept elements must be scaled by 1/(1-p), kept "
             "with probability 1-p (not p), with a fresh mask on every call (from torch's "
             "generator, if it does not declare seeded_dropout unsupported).",
         also=("dropout-distribution",)),
    includes("lifecycle", ("dropout-inactive",),
             "In training, nothing is dropped: the module does not follow train() after a "
             "call in eval mode (the mode read once, or a cached graph or session keeping the "
             "mode it was made in)."),
    only("state-dict", ("strict-loading", "non-strict-report", "state-dict-keys",
                        "state-dict-values", "state-dict-round-trip"),
             "The state_dict contract: state_dict() must use nn.LSTM's keys, shapes and "
             "layout, and load_state_dict must refuse (strict) or report (strict=False) "
             "missing, unexpected and wrongly shaped keys, as nn.Module's does.",
         also=COLLATERAL + ("state-dict",)),
    only("parameter-identity", ("parameter-followed",),
             "Parameters read from a reference captured at construction (or a copy made "
             "once): read the module's attributes at every call, so that a new Parameter, "
             "torch.nn.utils.parametrize or prune is what it computes with.",
         also=COLLATERAL + ("parameter-identity",)),
    only("empty-batch", ("empty-batch-answered", "empty-batch"),
             "An empty batch: a reshape, split or concatenation over the batch that fails "
             "for N = 0; nn.LSTM returns empty results.",
         also=COLLATERAL),
    includes("output-ownership", ("output-overwritten", "output-aliases"),
             "Output ownership: a returned tensor is a buffer the module writes again (a "
             "static output of a replayed graph, a reused workspace), or a view of the "
             "caller's input or of a parameter; return fresh tensors."),
    includes("overflow", ("finite",),
             "Non-finite values: an activation computed in a way that overflows for large "
             "pre-activations (tanh as 2*sigmoid(2x)-1 or via exp), or a division by zero."),
    includes("batch-first", ("shape-batch-first",),
             "batch_first applied to h0/h_n (it changes only input and output), or ignored."),
    includes("output-shapes", ("shape",),
             "Shapes: the output, h_n or c_n has the wrong shape for this input form (a "
             "squeezed time or batch dimension, batch-first states, h returned as c_n)."),
    includes("missing-tanh", ("bound-h",),
             "A missing tanh, on the cell state or on the output."),
    only("lifecycle", ("lifecycle",),
         "Something kept across calls goes stale: weights prepacked or copied at the first "
         "call (or per batch size), the train/eval mode read once, or state carried from "
         "one call into the next after backward. Refresh what you cache when the weights "
         "(parameters' _version), the mode or the dtype change.",
         also=("lifecycle-call", "lifecycle-dropout", "lifecycle-gradient", "near-miss",
               "parameter-identity", "parameter-followed", "dropout-distribution",
               "dropout-inactive")),
    only("block-boundary", ("block-boundaries",),
         "A tile or chunk boundary: the partial last tile of hidden units or input "
         "features, a time chunk that does not carry the state, or a batch split reading "
         "the wrong rows of (h0, c0). The counterexample's large dimension is the first "
         "size that fails.", also=("oracle-at-scale", "near-miss")),
    only("backward-pass", ("gradients",),
         "The backward pass: gradients are truncated, detached or computed by a wrong "
         "custom backward.", also=("gradient", "lifecycle", "lifecycle-gradient", "near-miss",
                                   "gradients-at-scale", "gradient-at-scale")),
    # Only past block sizes and long sequences: what gradients at tiny sizes do not see.
    only("gradient-at-scale", ("gradient-at-scale",),
         "The backward pass at long sequences or large sizes: a backward kernel that works "
         "through time (or hidden units) in windows and drops the contribution of all but "
         "one window, or a partial last tile in the backward kernel only.",
         also=("gradients-at-scale", "near-miss")),
    only("precision", ("near-miss",), PRECISION_TEXT, also=COLLATERAL + FORMULA),
    only("packed", ("packed-per-sequence", "packed-uniform-is-dense"),
         "PackedSequence handling: h_n taken at the padded end instead of each sequence's "
         "last step, the backward direction starting in the padding, or hx not permuted by "
         "sorted_indices.",
         also=COLLATERAL + ("last-step-forward", "first-step-backward", "batch-permutation",
                            "packed-uniform", "packed-padding")),
    only("backward-direction", ("first-step-backward", "time-reversal"), BACKWARD_TEXT,
         also=COLLATERAL + FORMULA + (
             "causality", "causality-forward", "causality-backward", "packed-per-sequence",
             "last-step-forward", "time-reversal-backward", "time-reversal-forward",
             "time-reversal-state", "dropout-train-structure", "dropout-last-layer")),
    only("gate-order", ("gate-probe",),
         "Gate order or gate activations: torch's row blocks are i, f, g, o (ONNX's i, o, f, c "
         "read as torch's order; input and forget gates swapped; tanh instead of sigmoid on a "
         "gate; a forget-gate bias added, or only one of b_ih and b_hh used).",
         also=COLLATERAL + FORMULA),
    only("hx-default", ("hx-none-is-zeros",),
         "The default initial state: hx=None must mean zeros for both h0 and c0.",
         also=COLLATERAL + FORMULA),
    includes("mutation", ("mutation",),
             "In-place edits of the caller's tensors (input, hx or weights); other failures "
             "may follow from them."),
    includes("determinism", ("determinism-repeat",),
             "State leaking from one call into the next: the module keeps h/c, a cache or a "
             "counter between calls."),
    includes("dropout-eval", ("dropout-eval",), "Dropout is active in eval mode."),
    # After the rules of what lives across calls, which also differs between modes.
    includes("grad-mode", ("grad-mode", "inference-then-train"),
             "Autograd modes: another code path under no_grad or inference_mode (approximate "
             "or fused), or something cached under inference_mode (an inference tensor) that "
             "a later call with grad cannot save for backward."),
    only("dropout-placement", ("dropout-train-structure",),
         "Dropout is applied after the last layer, or to h_n/c_n; it belongs only between "
         "layers.", also=("dropout-last-layer", "dropout-first-layer", "dropout-one-layer",
                          "dropout-p1", "lifecycle", "lifecycle-dropout",
                          "dropout-distribution") + DROPOUT_DISTRIBUTION),
    includes("batch-first", ("batch-first",),
             "batch_first applied to h0/h_n (it changes only input and output), or ignored."),
    # the check's id, not its keys: a wrong exception type is an error, with no key
    includes("input-validation", ("bad-input-raises",),
             "Input validation: malformed input (wrong rank, sizes, hx) must raise nn.LSTM's "
             "ValueError or RuntimeError (not another type, not a wrapper around it), not be "
             "reshaped or accepted."),
    includes("unbatched", ("unbatched-is-batch-of-one",),
             "2-D (unbatched) input: it is one sequence (L, I) with 2-D hx, not L sequences "
             "of length 1."),
    includes("stacked-layers", ("stacked-layers",),
             "Stacked layers: h_n/c_n rows must be ordered layer*D + direction, and each layer "
             "must start from its own rows of h0/c0 and read the whole output of the layer "
             "below (both directions)."),
    includes("batch-mixing", ("batch-independence", "batch-permutation"),
             "Batch elements are mixed, typically by reshaping hx instead of indexing it, or "
             "by a statistic over the batch (or over the whole call, as a dynamic "
             "quantization scale from the min/max of every step and batch element)."),
    includes("state-carry", ("state-continuation", "cell-state-consistency"),
             "The recurrent state carried between steps and returned: with projections the "
             "recurrence must use W_hr h (not h[:P]), and (h_n, c_n) must be the last step's "
             "(c_n the cell state, not h)."),
)

#: A class whose cause lives in a feature: some failing case must have it (a case feature
#: of ``spec.case.Case.features``, or ``"batch>1"``).
NEEDS: dict[str, str] = {
    "strided": "strided",
    "backward-direction": "bidirectional",
    "packed": "packed",
    "stacked-layers": "multi_layer",
    "batch-first": "batch_first",
    "unbatched": "unbatched",
    "batch-mixing": "batch>1",
    "dropout-placement": "training",
    "dropout-eval": "dropout",
}
#: Classes whose cause would make the output wrong: contradicted when every reference
#: comparison (the oracle, a closed form) found the output right and none found it wrong.
BLAMES_OUTPUT = frozenset({"gate-order", "missing-tanh", "precision", "overflow"})
#: The same for the generic backward-direction text (input not reversed, output not flipped).
BLAMES_OUTPUT_TEXT = {"backward-direction": BACKWARD_TEXT}


# -- the evidence ---------------------------------------------------------------------------

#: Check keys whose comparison goes output, h_n, c_n and stops at the first difference
#: (``compare_all``): a failure on h_n says the output agreed, on c_n that both agreed.
IN_ORDER = frozenset({
    "oracle", "oracle-at-scale", "zero-weights", "gate-probe", "batch-independence",
    "batch-permutation", "state-continuation", "hx-none-is-zeros", "batch-first", "unbatched",
    "packed-per-sequence", "packed-uniform", "dropout-eval", "dropout-one-layer",
    "lifecycle-call", "determinism-repeat"})
#: Check keys whose expected values come from a reference for the same case (the float64
#: oracle, nn.LSTM, a closed form): their agreement says a tensor is right.
REFERENCE = frozenset({"oracle", "oracle-at-scale", "zero-weights", "gate-probe",
                       "lifecycle-call"})
TENSORS = ("output", "h_n", "c_n")
#: A failed comparison whose largest |diff| is below this many times its atol is a near
#: miss: the formula is right and the arithmetic is not precise enough.
NEAR_MISS = 1000.0
#: float64 results wrong by less than this are float64 computed at float32 (or lower)
#: accuracy: a wrong formula misses by far more at the spec's scales.
LOW_ACCURACY = {"float64": 1e-4}


def _mapping(value) -> dict:
    """``value`` when it is a dict (a counterexample, a case), else an empty one."""
    return value if isinstance(value, dict) else {}


def near_miss(counterexample: dict | None) -> bool:
    found = _mapping(counterexample)
    atol = (found.get("tolerance") or {}).get("atol")
    diff = found.get("max_abs_diff")
    return bool(atol) and diff is not None and diff < NEAR_MISS * atol


def case_features(case: dict | None) -> set[str]:
    """``Case.features`` from a case's description in results.json (plus ``batch>1`` and
    ``training``)."""
    case = _mapping(case)
    if not case:
        return set()
    used = {str(case.get("dtype"))}
    used |= {"multi_layer"} if (case.get("num_layers") or 1) > 1 else set()
    used |= {"bidirectional"} if case.get("bidirectional") else set()
    used |= {"proj_size"} if case.get("proj_size") else set()
    used |= {"no_bias"} if case.get("bias") is False else set()
    form = case.get("form")
    used |= {"batch_first"} if case.get("batch_first") and form == "batched" else set()
    used |= {"unbatched"} if form == "unbatched" else set()
    used |= {"packed"} if form == "packed" else set()
    used |= {"initial_state"} if case.get("initial_state") else set()
    used |= {"training"} if case.get("training") else set()
    used |= {"dropout"} if case.get("training") and (case.get("dropout") or 0) > 0 \
        and (case.get("num_layers") or 1) > 1 else set()
    used |= {"batch>1"} if (case.get("batch") or 1) > 1 else set()
    used |= {"strided"} if case.get("layout", "dense") != "dense" else set()
    used |= {"no_grad"} if case.get("grad_mode", "grad") != "grad" else set()
    used |= {"frozen_weights"} if case.get("frozen", "none") != "none" else set()
    return used


def _where(failure: dict) -> dict:
    """Where a failed comparison differs, from its tensors: time steps, directions, layers,
    batch columns (only what its dimensions say)."""
    tensors = failure.get("tensors") or {}
    found = _mapping(failure.get("counterexample"))
    if "expected" not in tensors or not found.get("tolerance"):
        return {}
    try:
        e = np.asarray(tensors["expected"], dtype=float)
        a = np.asarray(tensors["actual"], dtype=float)
    except (TypeError, ValueError):
        return {}
    if e.shape != a.shape or not e.size:
        return {}
    tol = found["tolerance"]
    bad = ~np.isclose(a, e, atol=tol.get("atol", 0.0), rtol=tol.get("rtol", 0.0), equal_nan=True)
    if not bad.any():
        return {}
    dims = tensors.get("dims") or []
    case = _mapping(found.get("case"))
    h_out = case.get("proj_size") or case.get("hidden_size") or 0
    D = 2 if case.get("bidirectional") else 1
    where: dict = {}
    for axis, dim in enumerate(dims if len(dims) == bad.ndim else []):
        hit = sorted({int(i) for i in np.nonzero(bad.any(axis=tuple(
            j for j in range(bad.ndim) if j != axis)))[0]})
        size = bad.shape[axis]
        if dim == "t":
            where["steps"] = hit
            where["seq_len"] = size
        elif dim == "batch":
            where["batch"] = hit
        elif dim == "row":
            where["rows"] = hit
            if size == D * (case.get("num_layers") or 1):
                where["directions"] = sorted({("forward", "backward")[r % D] for r in hit})
                where["layers"] = sorted({r // D for r in hit})
        elif dim == "feature" and found.get("tensor") == "output" and D == 2 and h_out \
                and size == 2 * h_out:
            where["directions"] = sorted({("forward", "backward")[f // h_out] for f in hit})
    return where


def _rebuild(case: dict):
    """The case of a counterexample, made again from its seed (None when it cannot be)."""
    try:
        from lstm_conformance.spec.case import Case
        from lstm_conformance.spec.config import LSTMConfig
        from lstm_conformance.spec.strategies import (
            DTYPES,
            INPUT_SCALES,
            WEIGHT_SCALES,
            make_input,
            make_state,
            make_weights,
        )

        fields = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                  "bidirectional", "proj_size")
        config = LSTMConfig(**{k: case[k] for k in fields})
        dtype = DTYPES[case["dtype"]]
        seed = case["weight_seed"]
        weights = make_weights(config, seed, WEIGHT_SCALES[case["weight_scale"]], dtype)
        x = make_input(config, case["seq_len"], case["batch"], seed,
                       INPUT_SCALES[case["input_scale"]][dtype], dtype)
        hx = make_state(config, case["batch"], seed, dtype) if case.get("initial_state") \
            else None
        return Case(config, dtype, weights, x, hx, form=case["form"], weight_seed=seed,
                    weight_scale=case["weight_scale"], input_scale=case["input_scale"])
    except Exception:  # an old or foreign counterexample: no rebuilt evidence
        return None


#: Comparisons whose actual values are the implementation's h_n on the counterexample's own
#: case, by row: the whole h_n (the oracle check), or the top layer's forward or backward row.
STATE_ROWS = {"oracle": None, "last-step-forward": 0, "first-step-backward": 1}


def _state_equals_output(failure: dict) -> list[str]:
    """For a wrong h_n on a case that can be made again: which wrong rows of the top layer
    equal the oracle's output at some time step (either half), e.g. "h_n[1] (backward)
    equals output[T-1]'s backward half"."""
    found = _mapping(failure.get("counterexample"))
    case = _mapping(found.get("case"))
    tensors = failure.get("tensors") or {}
    kind = found.get("check")
    if kind not in STATE_ROWS or (kind == "oracle" and found.get("tensor") != "h_n") \
            or "actual" not in tensors or case.get("form") not in ("batched", "unbatched") \
            or case.get("proj_size") or "weight_seed" not in case:
        return []
    rebuilt = _rebuild(case)
    if rebuilt is None:
        return []
    from lstm_conformance.spec.invariants.common import oracle

    output = oracle(rebuilt)[0].numpy()  # (T, N, D*H), seq-first
    T, N = output.shape[0], output.shape[1]
    D, H = (2 if case["bidirectional"] else 1), case["hidden_size"]
    top = (case["num_layers"] - 1) * D
    actual = np.asarray(tensors["actual"], dtype=float)
    expected = np.asarray(tensors["expected"], dtype=float)
    if kind == "oracle":
        if actual.size != D * case["num_layers"] * N * H:
            return []
        actual = actual.reshape(-1, N, H)[top:top + D]
        expected = expected.reshape(-1, N, H)[top:top + D]
        rows = list(range(D))
    else:
        if actual.size != N * H or STATE_ROWS[kind] >= D:
            return []
        actual, expected = actual.reshape(1, N, H), None
        rows = [STATE_ROWS[kind]]
    said = []
    for n, d_row in enumerate(rows):
        if expected is not None and np.allclose(actual[n], expected[n], rtol=1e-4, atol=1e-6):
            continue
        for t in range(T):
            for d, half in enumerate(("forward", "backward")[:D]):
                if np.allclose(actual[n], output[t, :, d * H:(d + 1) * H], rtol=1e-4,
                               atol=1e-6):
                    step = "T-1" if t == T - 1 and T > 1 else str(t)
                    said.append(f"h_n[{top + d_row}] ({('forward', 'backward')[d_row]}) "
                                f"equals output[{step}]'s {half} half")
    return said


#: What a wrong or misshapen h_n or c_n is when it is the other state (the final states
#: returned as (c_n, h_n)): the words ``states_swapped`` says, the shape's and the values'.
SWAPPED_SHAPE = "{} has {}'s shape"
SWAPPED_VALUES = "{} equals the oracle's {}"


def states_swapped(failure: dict, *, rebuild: bool = True) -> list[str]:
    """Whether a failure's h_n (or c_n) is the other state. Its shape: h_n with hidden_size
    features where proj_size belong (c_n's), or c_n with proj_size features. Its values
    (with ``rebuild``; an oracle comparison on a case that can be made again): equal to the
    oracle's other state."""
    found = _mapping(failure.get("counterexample"))
    case = _mapping(found.get("case"))
    tensor = found.get("tensor")
    if tensor not in ("h_n", "c_n") or failure.get("status") != Status.FAILED:
        return []
    other = "c_n" if tensor == "h_n" else "h_n"
    if found.get("check") == "shape":
        actual, expected = found.get("actual_shape"), found.get("expected_shape")
        H, P = case.get("hidden_size"), case.get("proj_size")
        sizes = (H, P) if tensor == "h_n" else (P, H)
        if P and actual and expected and len(actual) == len(expected) \
                and list(actual[:-1]) == list(expected[:-1]) \
                and (actual[-1], expected[-1]) == sizes:
            return [SWAPPED_SHAPE.format(tensor, other)]
        return []
    tensors = failure.get("tensors") or {}
    if not rebuild or found.get("check") != "oracle" or "actual" not in tensors \
            or case.get("form") not in ("batched", "unbatched") or "weight_seed" not in case:
        return []
    rebuilt = _rebuild(case)
    if rebuilt is None:
        return []
    from lstm_conformance.spec.invariants.common import oracle

    reference = oracle(rebuilt)[2 if other == "c_n" else 1].numpy()
    actual = np.asarray(tensors["actual"], dtype=float)
    tol = found.get("tolerance") or {}
    if actual.size != reference.size or not np.allclose(
            actual.reshape(reference.shape), reference, rtol=10 * tol.get("rtol", 1e-5) + 1e-6,
            atol=10 * tol.get("atol", 1e-5) + 1e-6):
        return []
    return [SWAPPED_VALUES.format(tensor, other)]


@dataclass
class Evidence:
    """What the failures of one root cause show (see the module docstring)."""

    names: set[str] = field(default_factory=set)
    statuses: set[str] = field(default_factory=set)
    wrong: set[str] = field(default_factory=set)
    #: Tensors a comparison found right before one failed, and those that a reference
    #: comparison (oracle, closed form) found right.
    agreed: set[str] = field(default_factory=set)
    agreed_with_reference: set[str] = field(default_factory=set)
    wrong_in_reference: set[str] = field(default_factory=set)
    directions: set[str] = field(default_factory=set)
    layers: set[int] = field(default_factory=set)
    #: The time steps a tensor is wrong at, in its first failure; and the first of them in
    #: each failure (a state misread is wrong from step 0 of a call, though a check that
    #: continues from a state of its own sees it first at a later step).
    steps: dict[str, list[int]] = field(default_factory=dict)
    first_steps: dict[str, set[int]] = field(default_factory=dict)
    equals: list[str] = field(default_factory=list)
    #: Features every failing case has; features some failing case has.
    common: set[str] | None = None
    some: set[str] = field(default_factory=set)
    condition: list[str] | None = None
    diffs: list[tuple[float, float | None, str]] = field(default_factory=list)
    numeric: int = 0
    other: int = 0
    #: Whether to rebuild a case and run the oracle for ``equals`` (off for grouping).
    rebuild: bool = True
    #: Check keys of the wrong results (``names`` also has invariant ids).
    kinds: set[str] = field(default_factory=set)
    #: Whether every numeric failure of the whole implementation is a near miss (None:
    #: unknown): a near miss in one root cause beside far misses is no precision problem.
    everywhere_near: bool | None = None
    #: The kinds of the errors (``error:raised:RuntimeError``, ``error:crash``, ...), and
    #: the first line of the first error's message.
    errors: set[str] = field(default_factory=set)
    error_message: str | None = None
    #: The features every error's condition has (errors "on every kind of case tried" say
    #: nothing of where they happen and are left out); None when no error has one.
    error_condition: set[str] | None = None
    #: The invariants (checks) that failed.
    invariants: set[str] = field(default_factory=set)

    def add(self, invariant_id: str, failure: dict) -> None:
        found = _mapping(failure.get("counterexample"))
        raised = _mapping(found.get("raised"))
        if failure.get("status") == Status.FAILED and raised.get("kind"):
            # a check that fails because the implementation raised (an empty batch) shows
            # an error, as the same error in any other check does
            failure = {**failure, "status": Status.ERROR, "kind": raised["kind"],
                       "message": raised.get("message")}
        kind = failure.get("kind")
        self.statuses.add(failure.get("status"))
        self.names.add(invariant_id)
        self.invariants.add(invariant_id)
        condition = _mapping(failure.get("condition")).get("features")
        if condition and (failure.get("status") == Status.ERROR or found.get("raised")):
            self.error_condition = set(condition) if self.error_condition is None \
                else self.error_condition & set(condition)
        if failure.get("status") != Status.FAILED:
            self.other += 1
            if failure.get("status") == Status.ERROR and kind:
                self.errors.add(kind)
                if self.error_message is None and failure.get("message"):
                    self.error_message = str(failure["message"]).splitlines()[0][:200]
            features = case_features(found.get("case"))
            self._features(features, failure)
            return
        if kind:
            self.names.add(kind)
            self.kinds.add(kind)
            if kind == "shape" and "batch_first" in str(found.get("input")):
                self.names.add("shape-batch-first")
        tensor = found.get("tensor")
        if tensor in TENSORS:
            self.wrong.add(tensor)
            before = set(TENSORS[:TENSORS.index(tensor)]) if kind in IN_ORDER else set()
            self.agreed |= before
            if kind in REFERENCE:
                self.agreed_with_reference |= before
                self.wrong_in_reference.add(tensor)
        if found.get("max_abs_diff") is not None:
            self.numeric += 1
            atol = (found.get("tolerance") or {}).get("atol")
            self.diffs.append((float(found["max_abs_diff"]), atol,
                               str(_mapping(found.get("case")).get("dtype"))))
        else:
            self.other += 1
        where = _where(failure)
        self.directions |= set(where.get("directions", ()))
        self.layers |= set(where.get("layers", ()))
        if where.get("steps") and tensor:
            self.steps.setdefault(tensor, where["steps"])
            self.first_steps.setdefault(tensor, set()).add(where["steps"][0])
        from lstm_conformance.pictures import permutation

        words = permutation(failure)
        if words and "; " in words:  # a permutation moves two rows at least
            self.equals.append(f"{tensor or 'actual'}: {words}")
        said = states_swapped(failure, rebuild=self.rebuild)
        if self.rebuild:
            said += _state_equals_output(failure)
        self.equals += [e for e in said if e not in self.equals]
        self._features(case_features(found.get("case")), failure)

    def _features(self, features: set[str], failure: dict) -> None:
        if features:
            self.common = features if self.common is None else self.common & features
            self.some |= features
        condition = (failure.get("condition") or {}).get("features")
        if condition is not None and self.condition is None:
            self.condition = list(condition)

    @property
    def near_miss(self) -> bool:
        """Every numeric failure missed by less than ``NEAR_MISS`` times its atol."""
        return bool(self.diffs) and not self.other and self.everywhere_near is not False \
            and all(atol and diff < NEAR_MISS * atol for diff, atol, _ in self.diffs)

    @property
    def low_accuracy(self) -> str | None:
        """The dtype whose results are all off by little more than a narrower type's
        rounding (float64 at float32 accuracy), or None."""
        dtypes = {dtype for _, _, dtype in self.diffs}
        if len(dtypes) != 1 or self.other or not self.diffs:
            return None
        dtype = dtypes.pop()
        limit = LOW_ACCURACY.get(dtype)
        return dtype if limit and all(diff < limit for diff, _, _ in self.diffs) else None

    @property
    def raised(self) -> list[str]:
        """The exception types raised (from ``error:raised:TYPE`` kinds), sorted."""
        prefix = "error:raised:"
        return sorted({k[len(prefix):] for k in self.errors if k.startswith(prefix)} - {""})

    def has(self, feature: str) -> bool:
        return feature in self.some or feature in (self.condition or ())

    def as_dict(self) -> dict:
        """The evidence as results.json keeps it (with ``summary``, in plain words)."""
        largest = max(self.diffs, default=None)
        return {
            "wrong": sorted(self.wrong, key=TENSORS.index),
            "agreed": sorted(self.agreed - self.wrong, key=TENSORS.index),
            "agreed_with_reference": sorted(self.agreed_with_reference
                                            - self.wrong_in_reference, key=TENSORS.index),
            "directions": sorted(self.directions),
            "layers": sorted(self.layers),
            "steps": self.steps,
            "equals": self.equals[:6],
            "features": sorted(self.common or ()),
            "largest_diff": None if largest is None else largest[0],
            "near_miss": self.near_miss,
            "summary": self.summary(),
        }

    def summary(self) -> str:
        """What the evidence shows, in plain words."""
        parts = []
        if self.wrong:
            parts.append(" and ".join(sorted(self.wrong, key=TENSORS.index)) + " differ"
                         + ("s" if len(self.wrong) == 1 else ""))
        right = self.agreed_with_reference - self.wrong_in_reference
        if right:
            parts.append(" and ".join(sorted(right, key=TENSORS.index))
                         + (" agree" if len(right) > 1 else " agrees") + " with the reference")
        elif self.agreed - self.wrong:
            same = self.agreed - self.wrong
            parts.append(" and ".join(sorted(same, key=TENSORS.index))
                         + (" agree" if len(same) > 1 else " agrees"))
        if self.directions:
            parts.append("only in the " + " and ".join(sorted(self.directions))
                         + " direction" + ("s" if len(self.directions) > 1 else ""))
        if self.layers:
            parts.append("in layer " + ", ".join(map(str, sorted(self.layers))))
        steps = self.steps.get("output")
        if steps:
            parts.append(f"output wrong at time step{'s' if len(steps) > 1 else ''} "
                         + ", ".join(map(str, steps[:8])) + ("..." if len(steps) > 8 else ""))
        parts += self.equals[:3]
        if self.diffs:
            diff, atol, dtype = max(self.diffs)
            ratio = f" ({_ratio(diff / atol)} its tolerance)" if atol else ""
            parts.append(f"largest difference {diff:.3g} in {dtype}{ratio}")
        if self.statuses - {Status.FAILED}:
            parts.append("the implementation raised or returned something that is not an "
                         "LSTM result")
        features = sorted((self.common or set()) - {"float32", "batch>1"})
        if self.condition:
            parts.append("fails when " + ", ".join(self.condition))
        elif features:
            parts.append("every failing case has " + ", ".join(features))
        return "; ".join(parts) or "no details recorded"


def _ratio(ratio: float) -> str:
    return "> 1e6 times" if ratio > 1e6 else f"{ratio:.3g} times"


def evidence_of(failures: list[tuple[str, dict]], *, rebuild: bool = True) -> Evidence:
    """The evidence of one root cause: its (invariant id, failure) pairs."""
    ev = Evidence(rebuild=rebuild)
    for invariant_id, failure in failures:
        ev.add(invariant_id, failure)
    return ev


# -- rules on the evidence ------------------------------------------------------------------

def _backward_state(ev: Evidence) -> str | None:
    """Output right, the backward direction's h_n wrong: h_n read at the wrong step."""
    if not ev.has("bidirectional") or "output" in ev.wrong or "packed" in (ev.common or ()):
        return None
    hn_backward = ("h_n" in ev.wrong and ev.directions == {"backward"}) or (
        "first-step-backward" in ev.names and "h_n" not in ev.agreed_with_reference)
    if not hn_backward or "output" not in ev.agreed:
        return None
    seen = [e for e in ev.equals if "(backward) equals output[" in e]
    if any(e.endswith("forward half") for e in seen):
        text = ("The backward direction's h_n is read from the forward half of the output: "
                "it is the backward half at time step 0, output[0, :, H_out:]. The output "
                "itself is right.")
    elif seen and all("output[0]" not in e for e in seen):
        text = ("The backward direction's h_n is taken at the wrong time step: it must be the "
                "state after the backward direction's last step, which is time step 0 "
                "(h_n[top + 1] == output[0, :, H_out:]), not the output's last time step T-1 "
                "as for the forward direction. The output itself is right.")
    else:
        text = ("The backward direction's h_n is not the state after its last step: that is "
                "time step 0, h_n[top + 1] == output[0, :, H_out:] (read at T-1 as for the "
                "forward direction, or from the wrong half or row). The output itself is "
                "right.")
    return text + (f" Seen: {'; '.join(seen[:2])}." if seen else "")


def _low_accuracy(ev: Evidence) -> str | None:
    dtype = ev.low_accuracy
    if dtype is None:
        return None
    largest = max(diff for diff, _, _ in ev.diffs)
    return (f"Precision: {dtype} results are off by at most {largest:.2g}, the accuracy of a "
            "narrower type: the computation (or part of it, an accumulator or one code "
            f"path) runs in float32 or lower and is cast back to {dtype}.")


def _backward_output(ev: Evidence) -> str | None:
    """The output wrong in its backward half only."""
    if ev.has("bidirectional") and "output" in ev.wrong and ev.directions == {"backward"} \
            and "packed" not in (ev.common or ()):  # packed only: the packed handling
        return BACKWARD_TEXT
    return None


def _halves_swapped(ev: Evidence) -> str | None:
    if ev.has("bidirectional") and {"last-step-forward", "first-step-backward"} <= ev.kinds \
            and "output" not in ev.agreed_with_reference:
        return ("The two directions' halves of each layer's output are swapped: it must be "
                "cat(forward, backward) on the feature axis.")
    return None


#: Checks every case of which has what they test (a batch of 0): an error only there is
#: that check's class, whatever condition the search found among the other features.
CASE_DEFINED = frozenset({"empty-batch"})


def _fails_under_feature(ev: Evidence) -> str | None:
    """Every failure an error (raised or crashed), only under a condition: a feature the
    implementation does not implement. Where such errors happened says nothing of their
    cause, so this comes before every rule keyed on names, except for an error only in a
    check whose every case has what it tests (``CASE_DEFINED``)."""
    if not ev.errors or ev.statuses != {Status.ERROR} or not ev.condition \
            or ev.invariants <= CASE_DEFINED:
        return None
    raised = ev.raised
    crashed = "error:crash" in ev.errors
    if not raised and not crashed:
        return None
    what = " and ".join(filter(None, [
        f"raises {', '.join(raised)}" if raised else "", "crashes" if crashed else ""]))
    features = ", ".join(ev.condition)
    declared = ", ".join(f'"{name}"' for name in ev.condition)
    return (f"A feature the implementation does not implement: it {what} whenever a case "
            f"has {features}, and runs otherwise. Implement it, or declare it unsupported "
            f"(lstm_conformance_unsupported = frozenset({{{declared}}})) so that no check "
            "draws it; the report then says what the rest does.")


#: "One kind of call" needs the same error in this many checks (as a run's "cannot run its
#: simplest case" does); in one or two it is those checks' own cause.
CANNOT_RUN_CHECKS = 3


def _cannot_run_a_kind_of_call(ev: Evidence) -> str | None:
    """The same exception in many checks, on every kind of case they tried: no feature of
    a case separates it, so it is no one check's cause but a kind of call the implementation
    cannot make (how the checks call it: the grad mode, train or eval, hx given or not)."""
    if ev.statuses != {Status.ERROR} or ev.condition \
            or len(ev.invariants) < CANNOT_RUN_CHECKS \
            or not ev.errors or len(ev.raised) != len(ev.errors):  # raised, not crashed
        return None
    raised = ", ".join(ev.raised)
    return (f"A kind of call the implementation cannot run: it raises {raised} in "
            f"{len(ev.invariants)} checks, on every kind of case they tried, so no feature "
            "of the case (dtype, layers, directions, form, sizes) separates it. Look at how "
            "those checks call it: the grad mode (an input that does not require grad while "
            "the parameters do, no_grad), train or eval, hx given or not; the error reads: "
            f"{ev.error_message or raised}")


def _initial_state_misread(ev: Evidence) -> str | None:
    """Wrong results exactly when the caller passes (h0, c0), from the first step on."""
    if ev.condition != ["initial_state"] or Status.FAILED not in ev.statuses \
            or "output" not in ev.wrong or 0 not in ev.first_steps.get("output", ()):
        return None
    if ev.error_condition and "proj_size" in ev.error_condition:
        # with projections h0 has proj_size features and c0 hidden_size: the one case where
        # taking one for the other breaks a shape instead of giving wrong values
        return ("The initial state: h0 and c0 are most likely swapped, c0 read where h0 "
                "belongs (hx unpacked as (c0, h0), or passed on in the wrong order). The "
                "results are wrong from the first time step whenever an explicit (h0, c0) is "
                "given, and with proj_size > 0, where h0 has proj_size features and c0 "
                f"hidden_size, it raises {', '.join(ev.raised) or 'an error'} instead: "
                f"{ev.error_message or ''}")
    return ("The initial state: the (h0, c0) a caller passes is ignored or misread (zeros "
            "used instead, h0 and c0 swapped, the rows of another layer or direction, or "
            "batch_first applied to it). The results are wrong from the first time step, and "
            "only when an explicit (h0, c0) is given.")


def _returned_states_swapped(ev: Evidence) -> str | None:
    """The returned h_n is the oracle's c_n: (h_n, c_n) returned swapped. Only c_n equal to
    the oracle's h_n is not a swap ((h_n, h_n) returned: its h_n agrees) and is left to the
    other rules, the evidence saying it."""
    if SWAPPED_VALUES.format("h_n", "c_n") not in ev.equals:
        return None
    said = [e for e in ev.equals if e in (SWAPPED_VALUES.format("h_n", "c_n"),
                                          SWAPPED_VALUES.format("c_n", "h_n"))]
    shapes = [e for e in ev.equals if e in (SWAPPED_SHAPE.format("h_n", "c_n"),
                                            SWAPPED_SHAPE.format("c_n", "h_n"))]
    return ("The final states are returned swapped, (c_n, h_n) where nn.LSTM returns "
            f"output, (h_n, c_n): {'; '.join(said + shapes)}. "
            + ("Every check that reads h_n or c_n fails beside it (and one that continues "
               "from them, in its output)" if "output" in ev.wrong
               else "The output is right; every check that reads h_n or c_n fails beside it")
            + (", and with proj_size > 0, where h_n must have proj_size features and c_n "
               "hidden_size, their shapes are wrong." if shapes else "."))


def _default_state(ev: Evidence) -> str | None:
    """Failing only without a state: each failing case passes with an explicit zero
    (h0, c0), nn.LSTM's own default (the condition ``default_state``)."""
    if "default_state" not in (ev.condition or ()):
        return None
    raised = (f" Without a state it raises {', '.join(ev.raised)} (the first: "
              f"{ev.error_message})." if ev.raised else "")
    return ("The default initial state: when hx is None the implementation builds its own "
            "(h0, c0), and builds it wrong; every failing case passes when the same call is "
            f"given an explicit zero (h0, c0).{raised} nn.LSTM's default is zeros of shape "
            "(num_layers * num_directions, N, proj_size or hidden_size) for h0 and "
            "(num_layers * num_directions, N, hidden_size) for c0 (without N for unbatched "
            "input; N is batch_sizes[0] for a PackedSequence), in the input's dtype.")


def _dropout_in_eval(ev: Evidence) -> str | None:
    """Failing only in eval mode with dropout between layers: each failing case passes with
    dropout=0 (the condition ``eval_dropout``)."""
    if "eval_dropout" not in (ev.condition or ()):
        return None
    return ("Dropout is active in eval mode: with dropout > 0 between layers the results in "
            "eval mode are random, and every failing case passes with dropout=0. Dropout "
            "must follow the module's mode (F.dropout(x, p, training=self.training); "
            "F.dropout's own default is training=True).")


#: Rules read before any other: the evidence says plainly what the names would not.
EVIDENCE_FIRST: tuple[tuple[str, Callable[[Evidence], str | None]], ...] = (
    # a replayed condition names the code path: whatever fails there, and however
    ("hx-default", _default_state),
    # the values show it: the name rules (shapes, stacked layers, ...) see only its effects
    ("state-carry", _returned_states_swapped),
    ("dropout-eval", _dropout_in_eval),
    ("unsupported-feature", _fails_under_feature),
    ("unsupported-feature", _cannot_run_a_kind_of_call),
    # wrong from step 0 exactly when a state is passed: the checks that fail beside it
    # (batch-first, input validation, ...) all pass a state, and their names mislead
    ("initial-state", _initial_state_misread),
)

#: Rules that read the evidence: (class id, the text or None). They come after the name
#: rules that say what failed outright (non-finite values, shapes, a missing tanh's bound,
#: checks that fail only across calls, past block sizes or in the backward pass), before
#: the rule with id ``EVIDENCE_BEFORE`` and those after it.
EVIDENCE_RULES: tuple[tuple[str, Callable[[Evidence], str | None]], ...] = (
    ("backward-direction", _backward_state),
    ("precision", _low_accuracy),
    ("backward-direction", _halves_swapped),
    ("backward-direction", _backward_output),
)
EVIDENCE_BEFORE = "precision"


def contradicted(rule_id: str, text: str, ev: Evidence) -> bool:
    """Whether the evidence contradicts a rule's cause (``NEEDS``, ``BLAMES_OUTPUT``, and
    memory layout: blamed only when every failing case was a view, and then nothing else
    that non-finite values would suggest is)."""
    every_case_a_view = "strided" in (ev.common or set())
    if rule_id == "strided" and not every_case_a_view:
        return True
    if rule_id == "overflow" and every_case_a_view:
        return True
    need = NEEDS.get(rule_id)
    if need is not None and (ev.some or ev.condition is not None) and not ev.has(need):
        return True
    blames_output = rule_id in BLAMES_OUTPUT or BLAMES_OUTPUT_TEXT.get(rule_id) == text
    output_right = "output" in ev.agreed_with_reference and "output" not in ev.wrong
    if blames_output and output_right:
        return True
    return rule_id == "precision" and text == PRECISION_TEXT and not ev.near_miss \
        and ev.low_accuracy is None


def matches(rule: Rule, failed: set[str], applicable: set[str]) -> bool:
    """Whether ``rule`` describes this set of failing (and checked) names."""
    if not failed & rule.trigger:
        return False
    if rule.within is None:
        return True
    return failed <= rule.within and bool(applicable - rule.within)


def hint_rule(failed: set[str], applicable: set[str]) -> Rule | None:
    """The first name rule that describes ``failed`` (invariant ids and check keys that
    failed), given ``applicable`` (those checked and giving results: passed or failed)."""
    return next((rule for rule in RULES if matches(rule, failed, applicable)), None)


def hint(failed: set[str], applicable: set[str]) -> str | None:
    """The likely cause in words from names alone, or None when no rule matches."""
    rule = hint_rule(failed, applicable)
    return rule.cause if rule else None


def likely_cause(ev: Evidence, checked: set[str],
                 everything: set[str] | None = None) -> dict | None:
    """``{"id", "text"}`` of the first rule that fits the evidence and that the evidence
    does not contradict; None when none does (``ev.summary()`` then says what it shows).

    In order: ``EVIDENCE_FIRST`` (errors under a feature, the initial state); the name
    rules before
    ``EVIDENCE_BEFORE``; ``EVIDENCE_RULES``; the remaining name rules. A name rule fits when
    it matches ``everything`` that failed in the implementation (the pattern it was written
    for) or this root cause's names alone, and one of its names fails in this root
    cause."""
    failed = set(ev.names)
    if ev.near_miss:
        failed.add("near-miss")
    split = next(n for n, rule in enumerate(RULES) if rule.id == EVIDENCE_BEFORE)

    def by_name(rules: tuple[Rule, ...]) -> dict | None:
        for rule in rules:  # the order of the rules is their priority
            if any(matches(rule, names, checked) for names in (everything, failed) if names) \
                    and rule.trigger & failed and not contradicted(rule.id, rule.cause, ev):
                return {"id": rule.id, "text": rule.cause}
        return None

    for rule_id, read in EVIDENCE_FIRST:
        text = read(ev)
        if text:
            return {"id": rule_id, "text": text}
    found = by_name(RULES[:split])
    if found:
        return found
    for rule_id, read in EVIDENCE_RULES:
        text = read(ev)
        if text and not contradicted(rule_id, text, ev):
            return {"id": rule_id, "text": text}
    return by_name(RULES[split:])


def checked_names(entry: dict) -> set[str]:
    """The invariants of an implementation that gave a result (passed or failed)."""
    return {i for i, r in entry["results"].items()
            if r["status"] in (Status.PASSED, Status.FAILED)}


def evidence(entry: dict) -> tuple[set[str], set[str]]:
    """From one implementation's results: the names that failed (invariant ids and check
    keys of wrong results) and those checked."""
    ev = evidence_of([(i, f) for i, r in entry["results"].items() if r["status"] == Status.FAILED
                      for f in r.get("failures") or [] if f.get("status") == Status.FAILED]
                     or [(i, {"status": Status.FAILED}) for i, r in entry["results"].items()
                         if r["status"] == Status.FAILED])
    failed = {n for n in ev.names}
    if ev.near_miss:
        failed.add("near-miss")
    return failed, checked_names(entry)


def top_hint(entry: dict) -> str | None:
    """The likely cause of an implementation's first root cause, in words, or None."""
    causes = entry.get("root_causes")
    if not causes and entry.get("results"):  # a document written before root causes were kept
        from lstm_conformance.results import root_causes

        causes = root_causes(entry)
    likely = causes[0].get("likely_cause") if causes else None
    return likely["text"] if likely else None
