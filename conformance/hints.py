"""Likely causes: from the pattern of failing invariants to the bug that usually produces it.

The report shows one hint per non-conformant implementation. The rules come from seeding known
bugs into a reference LSTM and recording which invariants catch each one (the table in
LSTM-SEMANTICS.md, section 4). They are a starting point for debugging, never a verdict.

Rules are data, tried in order; the first that matches gives the hint. An ``only`` rule matches
when every failure lies in its group and at least one invariant outside the group was checked
(so "only these fail" says something). An ``includes`` rule matches whenever one of its
invariants fails; those come after the ``only`` rules, root causes first.
"""

from __future__ import annotations

from typing import NamedTuple


class Rule(NamedTuple):
    """At least one of ``trigger`` fails and, unless ``within`` is None, nothing outside it."""

    trigger: frozenset[str]
    within: frozenset[str] | None
    cause: str


def only(trigger: tuple[str, ...], cause: str, *, also: tuple[str, ...] = ()) -> Rule:
    """A rule for "one of ``trigger`` fails, and nothing else but (some of) ``also``"."""
    return Rule(frozenset(trigger), frozenset(trigger + also), cause)


def includes(trigger: tuple[str, ...], cause: str) -> Rule:
    """A rule for "one of ``trigger`` fails", whatever else fails with it."""
    return Rule(frozenset(trigger), None, cause)


#: The oracle comparison catches almost every bug, so most groups allow it to fail too.
ORACLE = ("matches-oracle",)

RULES: tuple[Rule, ...] = (
    only(
        ("first-step-backward", "time-reversal"),
        "The backward direction: its input is not read in reverse, its output is not flipped "
        "back to align with time, or it uses the forward direction's weights.",
        also=ORACLE + ("causality", "packed-per-sequence", "gate-probe", "cell-state-consistency"),
    ),
    only(
        ("gate-probe",),
        "Gate order or gate activations: torch's row blocks are i, f, g, o (ONNX's i, o, f, c "
        "read as torch's order; input and forget gates swapped; tanh instead of sigmoid on a "
        "gate; a forget-gate bias added, or only one of b_ih and b_hh used).",
        also=ORACLE + ("cell-state-consistency", "zero-weights"),
    ),
    only(
        ("packed-per-sequence", "packed-uniform-is-dense"),
        "PackedSequence handling: h_n taken at the padded end instead of each sequence's last "
        "step, the backward direction starting in the padding, or hx not permuted by "
        "sorted_indices.",
        also=ORACLE,
    ),
    only(
        ("hx-none-is-zeros",),
        "The default initial state: hx=None must mean zeros for both h0 and c0.",
        also=ORACLE,
    ),
    only(
        ("state-continuation",),
        "The recurrent state carried between steps: with projections the recurrence must use "
        "W_hr h (not h[:P]), and the returned (h_n, c_n) must be the last step's.",
        also=ORACLE,
    ),
    only(
        ("gradients",),
        "The backward pass: gradients are truncated, detached or computed by a wrong custom "
        "backward.",
    ),
    includes(
        ("no-mutation",),
        "In-place edits of the caller's tensors (input, hx or weights); other failures may "
        "follow from them.",
    ),
    includes(
        ("determinism",),
        "Non-deterministic kernels, or state leaking from one call into the next.",
    ),
    includes(("dropout-eval",), "Dropout is active in eval mode."),
    includes(
        ("dropout-train-structure",),
        "Dropout is applied after the last layer, or to h_n/c_n; it belongs only between layers.",
    ),
    includes(
        ("batch-first",),
        "batch_first applied to h0/h_n (it changes only input and output), or ignored.",
    ),
    includes(
        ("stacked-layers",),
        "Stacked layers: h_n/c_n rows must be ordered layer*D + direction, and each layer must "
        "start from its own rows of h0/c0.",
    ),
    includes(
        ("batch-independence", "batch-permutation"),
        "Batch elements are mixed, typically by reshaping hx instead of indexing it.",
    ),
    includes(
        ("unbatched-is-batch-of-one",),
        "2-D (unbatched) input: it is one sequence (L, I) with 2-D hx, not L sequences of "
        "length 1.",
    ),
    includes(("bounds",), "A missing tanh, on the cell state or on the output."),
)


def matches(rule: Rule, failed: set[str], applicable: set[str]) -> bool:
    """Whether ``rule`` describes this set of failing (and checked) invariants."""
    if not failed & rule.trigger:
        return False
    if rule.within is None:
        return True
    return failed <= rule.within and bool(applicable - rule.within)


def hint(failed: set[str], applicable: set[str]) -> str | None:
    """The likely cause for the invariants in ``failed``, given those that were checked.

    ``failed`` holds the ids whose results were wrong; ``applicable`` the ids that were checked
    and gave results (passed or failed). Returns None when no rule matches.
    """
    return next((rule.cause for rule in RULES if matches(rule, failed, applicable)), None)
