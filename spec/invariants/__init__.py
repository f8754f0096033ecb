"""The invariant catalogue: what a conformant LSTM is, chapter by chapter.

Each chapter is one module, read top to bottom as that part of the specification; they
are imported here in the catalogue's order, and each ``@invariant`` registers itself in
``INVARIANTS`` (``spec.invariants.registry``). Adding an invariant is one decorated
function in a chapter; the runner, the report and ``docs/INVARIANTS.md`` pick it up.

Notation: the output ``o`` is read seq-first, ``o[t, n, :]``, whatever batch_first
says (and padded with zeros for packed input). ``D`` is 2 if bidirectional else 1,
``H_o`` is proj_size or hidden_size, ``top = (num_layers-1)*D`` is the row of the top
layer's forward direction in h_n / c_n (rows are ``layer*D + direction``), ``T`` the
sequence length and ``len_b`` sequence b's true length. Tolerances: ``spec.tolerance``;
exact comparisons are where both sides are by definition the same numbers.
"""

# ruff: noqa: I001  (the chapters are imported in the catalogue's order, not alphabetically)
from lstm_conformance.spec.invariants import (  # noqa: F401  (imported for their registrations)
    notes,
    oracle,
    metamorphic,
    forms,
    training,
    closed_forms,
    side_effects,
    validation,
    scale,
    lifecycle,
    module,
    device,
    stress,
)
from lstm_conformance.spec.invariants.registry import INVARIANTS, Invariant, by_id, invariant

__all__ = ["INVARIANTS", "Invariant", "by_id", "invariant"]
