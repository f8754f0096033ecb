"""Likely causes: from the pattern of failing checks to the class of bug that produces it.

The rules come from seeding known bugs into a correct LSTM (``tests/defects``): each
seeded defect declares its bug class (a rule's ``id``) and the checks that catch it, and
the project's tests require the top hint for each defect's declared catches to be its
class. How often the top hint is right on real runs of every seeded defect is measured
(``docs/HINTS.md``). A hint is a starting point for debugging, never a verdict.

A rule reads three kinds of evidence, as one set of names: the ids of the invariants that
failed, the stable ``check`` keys of their violations (``"finite"``, ``"shape"``,
``"oracle"``, ...), and ``"near-miss"`` when every failed numeric comparison missed by
less than ``NEAR_MISS`` times its tolerance (a precision problem, not a wrong formula).
Rules are data, tried in order; the first that matches gives the
hint. An ``only`` rule matches when every failure lies in its group and at least one
invariant outside the group was checked (so "only these fail" says something). An
``includes`` rule matches whenever one of its names fails; those come after the
``only`` rules, root causes first.
"""

from __future__ import annotations

from typing import NamedTuple

from spec.vocabulary import Status


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
              "gradient", "near-miss")
#: The closed forms and the c_n/h_n consistency: they fail with any wrong formula.
FORMULA = ("gate-probe", "zero-weights", "cell-state-consistency", "cell-state", "bounds",
           "bound-h", "bound-c")

RULES: tuple[Rule, ...] = (
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
         also=("lifecycle-call", "lifecycle-dropout", "lifecycle-gradient", "near-miss")),
    only("block-boundary", ("block-boundaries",),
         "A tile or chunk boundary: the partial last tile of hidden units or input "
         "features, a time chunk that does not carry the state, or a batch split reading "
         "the wrong rows of (h0, c0). The counterexample's large dimension is the first "
         "size that fails.", also=("oracle-at-scale", "near-miss")),
    only("backward-pass", ("gradients",),
         "The backward pass: gradients are truncated, detached or computed by a wrong "
         "custom backward.", also=("gradient", "lifecycle", "lifecycle-gradient", "near-miss")),
    only("precision", ("near-miss",),
         "Precision: results close to the oracle's but beyond the dtype's tolerance, from "
         "computing in a narrower type (bfloat16 or float16 gates, a float16 accumulator) "
         "than the input's.", also=COLLATERAL + FORMULA),
    only("packed", ("packed-per-sequence", "packed-uniform-is-dense"),
         "PackedSequence handling: h_n taken at the padded end instead of each sequence's "
         "last step, the backward direction starting in the padding, or hx not permuted by "
         "sorted_indices.",
         also=COLLATERAL + ("last-step-forward", "first-step-backward", "batch-permutation",
                            "packed-uniform", "packed-padding")),
    only("backward-direction", ("first-step-backward", "time-reversal"),
         "The backward direction: its input is not read in reverse, its output is not flipped "
         "back to align with time, or it uses the forward direction's weights.",
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
    only("dropout-placement", ("dropout-train-structure",),
         "Dropout is applied after the last layer, or to h_n/c_n; it belongs only between "
         "layers.", also=("dropout-last-layer", "dropout-first-layer", "dropout-one-layer",
                          "dropout-p1", "lifecycle", "lifecycle-dropout")),
    includes("batch-first", ("batch-first",),
             "batch_first applied to h0/h_n (it changes only input and output), or ignored."),
    includes("input-validation", ("bad-input-accepted", "bad-input-message"),
             "Input validation: malformed input (wrong rank, sizes, hx) must raise nn.LSTM's "
             "ValueError or RuntimeError, not be reshaped or accepted."),
    includes("unbatched", ("unbatched-is-batch-of-one",),
             "2-D (unbatched) input: it is one sequence (L, I) with 2-D hx, not L sequences "
             "of length 1."),
    includes("stacked-layers", ("stacked-layers",),
             "Stacked layers: h_n/c_n rows must be ordered layer*D + direction, and each layer "
             "must start from its own rows of h0/c0 and read the whole output of the layer "
             "below (both directions)."),
    includes("batch-mixing", ("batch-independence", "batch-permutation"),
             "Batch elements are mixed, typically by reshaping hx instead of indexing it, or "
             "by a statistic over the batch."),
    includes("state-carry", ("state-continuation", "cell-state-consistency"),
             "The recurrent state carried between steps and returned: with projections the "
             "recurrence must use W_hr h (not h[:P]), and (h_n, c_n) must be the last step's "
             "(c_n the cell state, not h)."),
)


def matches(rule: Rule, failed: set[str], applicable: set[str]) -> bool:
    """Whether ``rule`` describes this set of failing (and checked) names."""
    if not failed & rule.trigger:
        return False
    if rule.within is None:
        return True
    return failed <= rule.within and bool(applicable - rule.within)


def hint_rule(failed: set[str], applicable: set[str]) -> Rule | None:
    """The first rule that describes ``failed`` (invariant ids and check keys that failed),
    given ``applicable`` (those checked and giving results: passed or failed)."""
    return next((rule for rule in RULES if matches(rule, failed, applicable)), None)


def hint(failed: set[str], applicable: set[str]) -> str | None:
    """The likely cause in words, or None when no rule matches."""
    rule = hint_rule(failed, applicable)
    return rule.cause if rule else None


#: A failed comparison whose largest |diff| is below this many times its atol is a near
#: miss: the formula is right and the arithmetic is not precise enough.
NEAR_MISS = 1000.0


def near_miss(counterexample: dict | None) -> bool:
    found = counterexample or {}
    atol = (found.get("tolerance") or {}).get("atol")
    diff = found.get("max_abs_diff")
    return bool(atol) and diff is not None and diff < NEAR_MISS * atol


def evidence(entry: dict) -> tuple[set[str], set[str]]:
    """From one implementation's results: the names that failed (invariant ids and check
    keys of wrong results; an error's message already names what was raised) and those
    checked."""
    failed, checked, near = set(), set(), []
    for invariant_id, result in entry["results"].items():
        status = result["status"]
        if status in (Status.PASSED, Status.FAILED):
            checked.add(invariant_id)
        if status == Status.FAILED:
            failed.add(invariant_id)
            wrong = [f for f in result.get("failures") or [] if f.get("status") == Status.FAILED]
            failed |= {f["kind"] for f in wrong if f.get("kind")}
            # a wrong shape only when the input is batch-first says which layout is wrong
            failed |= {"shape-batch-first" for f in wrong if f.get("kind") == "shape"
                       and "batch_first" in str((f.get("counterexample") or {}).get("input"))}
            near += [near_miss(f.get("counterexample")) for f in wrong]
    if near and all(near):
        failed.add("near-miss")
    return failed, checked


def top_hint(entry: dict) -> str | None:
    """The likely cause for one implementation's results, or None."""
    failed, checked = evidence(entry)
    return hint(failed, checked) if failed else None
