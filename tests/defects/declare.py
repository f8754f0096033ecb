"""How a seeded defect declares what must catch it: one source of truth for bug knowledge.

Each defect class carries::

    catches = {"gate-probe": GATE_PROBE, "matches-oracle": ORACLE}   # invariant -> Caught
    hint = "gate-order"                                              # conformance.hints id

(``LIFECYCLE_DEFECTS`` and ``SCALE_DEFECTS`` in ``tests/defects/__init__.py`` are also
declared to pass every check of a fresh module at tiny sizes, and a test holds them to it.)

``tests/test_seeded_defects.py`` checks that each named invariant fails for the declared
reason, ``tests/test_hints.py`` that the report's top hint is the declared one, and
``benchmarks/time_to_failure.py`` times the catches. A ``Caught`` matches the stable keys
of a violation's detail (``spec.asserts``), never the wording of its message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lstm_conformance.hints import near_miss


@dataclass(frozen=True, kw_only=True)
class Caught:
    """The check fails with a violation whose ``detail["check"]`` is ``check`` (one of them,
    for a tuple); where given, ``detail["tensor"]``, ``detail["quantity"]`` and
    ``detail["input"]`` are ``tensor``, ``quantity`` and ``input``; and the shrunk case
    (``Case.describe()``) has the items of ``case``."""

    check: str | tuple[str, ...]
    tensor: str | None = None
    quantity: str | None = None
    input: str | None = None
    case: dict = field(default_factory=dict)
    #: The largest |diff| is below ``conformance.hints.NEAR_MISS`` times the tolerance: a
    #: precision problem, which the hints tell apart from a wrong formula by this.
    near_miss: bool = False

    def mismatches(self, counterexample: dict | None) -> dict:
        """What in ``counterexample`` differs from this expectation (empty: it matches)."""
        found = counterexample or {}
        checks = (self.check,) if isinstance(self.check, str) else self.check
        wrong = {}
        if found.get("check") not in checks:
            wrong["check"] = found.get("check")
        for key in ("tensor", "quantity", "input"):
            if getattr(self, key) is not None and found.get(key) != getattr(self, key):
                wrong[key] = found.get(key)
        if self.near_miss and not near_miss(found):
            wrong["near_miss"] = (found.get("max_abs_diff"), found.get("tolerance"))
        case = found.get("case") or {}
        wrong.update({k: case.get(k) for k, v in self.case.items() if case.get(k) != v})
        return wrong


def on(caught: Caught, **changes) -> Caught:
    """``caught`` with more required (``on(ORACLE, tensor="h_n")``)."""
    fields = {k: getattr(caught, k) for k in ("check", "tensor", "quantity", "input",
                                              "near_miss")}
    case = {**caught.case, **changes.pop("case", {})}
    return Caught(**{**fields, **changes}, case=case)


ORACLE = Caught(check="oracle")
GRADIENTS = Caught(check="gradient")
GATE_PROBE = Caught(check="gate-probe")
ZERO_WEIGHTS = Caught(check="zero-weights")
CELL_STATE = Caught(check="cell-state")
TIME_REVERSAL = Caught(check="time-reversal-backward")
CONTINUATION = Caught(check="state-continuation")
FIRST_BACKWARD = Caught(check="first-step-backward")
LAST_FORWARD = Caught(check="last-step-forward")
STACKED = Caught(check="stacked-layer-state", tensor="h_n")
BATCH_INDEPENDENCE = Caught(check="batch-independence")
PERMUTATION = Caught(check="batch-permutation")
CAUSALITY = Caught(check=("causality-forward", "causality-backward"))
PACKED = Caught(check="packed-per-sequence", case={"form": "packed"})
SHAPE = Caught(check="shape")
AT_SCALE = Caught(check="oracle-at-scale")
DROPOUT_TRAIN = Caught(check=("dropout-last-layer", "dropout-first-layer", "dropout-one-layer",
                              "dropout-p1"), case={"training": True})
LIFECYCLE = Caught(check=("lifecycle-call", "lifecycle-dropout", "lifecycle-gradient"))

# The module contract (tests/defects/module.py).
STRIDED = Caught(check="strided-view")
GRAD_MODE = Caught(check="grad-mode")
FROZEN_INPUT = Caught(check="frozen-input-gradient")
GRADIENT_LOST = Caught(check="gradient-lost")
INFERENCE_THEN_TRAIN = Caught(check="inference-then-train")
GRADIENTS_AT_SCALE = Caught(check="gradient-at-scale")
DROPOUT_SCALE = Caught(check="dropout-scale")
DROPOUT_FRESH = Caught(check="dropout-fresh-masks")
STRICT_LOADING = Caught(check="strict-loading")
STATE_DICT_KEYS = Caught(check="state-dict-keys")
PARAMETER_IDENTITY = Caught(check="parameter-followed")
EMPTY_BATCH = Caught(check="empty-batch-answered")
OUTPUT_OVERWRITTEN = Caught(check="output-overwritten")
